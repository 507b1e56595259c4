import Foundation
import Testing

private let systemdAnalyze = "/usr/bin/systemd-analyze"

/// A workspace with a config for `environment`, extra TOML appended.
private func withScheduleProject(environment: String = "production", _ extra: String = "", _ body: (Workspace) throws -> Void) throws {
    try Workspace.with(keys: false) { ws in
        try """
            environment = "\(environment)"
            repository = "backups"
            keys = "keys"

            [[sqlite]]
            name = "app"
            path = "app.db"
            \(extra)
            """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try body(ws)
    }
}

private func lines(_ text: String, _ prefix: String) -> [String] {
    text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
}

@Suite("coffer schedule: systemd units and cron jobs", .serialized)
struct ScheduleCommandTests {
    @Test("install --systemd writes one service and one timer that systemd-analyze verify accepts; one OnCalendar, Persistent, no Requires")
    func systemdUnits() throws {
        try #require(FileManager.default.isExecutableFile(atPath: systemdAnalyze), "systemd-analyze is missing: `make deps` installs the systemd package")
        try withScheduleProject("[schedule]\nuser = \"root\"\nenvironment_file = \"coffer.env\"\n") { ws in
            try "DATABASE_URL='x'\n".write(toFile: ws.path("coffer.env"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: ws.path("units"), withIntermediateDirectories: true)
            let install = try ws.coffer("schedule", "install", "--systemd", "--dir", "units", "--binary", cofferBinary)
            #expect(install.status == 0, "\(install.stderr)")
            #expect(install.stdout.contains("systemctl daemon-reload") && install.stdout.contains("systemctl enable --now coffer-snapshot-production.timer"))
            let files = try FileManager.default.contentsOfDirectory(atPath: ws.path("units")).sorted()
            #expect(files == ["coffer-snapshot-production.service", "coffer-snapshot-production.timer"])
            let service = try String(contentsOfFile: ws.path("units/coffer-snapshot-production.service"), encoding: .utf8)
            let timer = try String(contentsOfFile: ws.path("units/coffer-snapshot-production.timer"), encoding: .utf8)

            #expect(lines(timer, "OnCalendar=") == ["OnCalendar=*-*-* 02:00:00"])
            #expect(lines(timer, "Persistent=") == ["Persistent=true"])
            #expect(lines(timer, "RandomizedDelaySec=") == ["RandomizedDelaySec=10m"])
            #expect(lines(timer, "Requires=").isEmpty)
            #expect(timer.contains("[Install]\nWantedBy=timers.target"))
            #expect(lines(service, "Type=") == ["Type=oneshot"])
            #expect(service.contains("Wants=network-online.target") && service.contains("After=network-online.target"))
            #expect(lines(service, "ExecStart=") == [
                "ExecStart=\(cofferBinary) --config \(ws.config) snapshot --prune --wait 30m",
                "ExecStart=\(cofferBinary) --config \(ws.config) verify latest --deep",
            ])
            #expect(lines(service, "EnvironmentFile=") == ["EnvironmentFile=\(ws.path("coffer.env"))"])
            #expect(lines(service, "User=") == ["User=root"])
            for setting in ["Nice=19", "IOSchedulingClass=idle", "NoNewPrivileges=yes", "PrivateTmp=yes", "UMask=0077"] {
                #expect(lines(service, setting).count == 1, "\(setting)")
            }

            let verify = try ws.run(systemdAnalyze, ["verify", "--man=no", ws.path("units/coffer-snapshot-production.service"), ws.path("units/coffer-snapshot-production.timer")])
            #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
            // The check is real: the same units naming a binary that is not there fail it.
            let broken = service.replacingOccurrences(of: cofferBinary, with: ws.path("no-such-coffer"))
            try broken.write(toFile: ws.path("units/coffer-snapshot-production.service"), atomically: true, encoding: .utf8)
            let failing = try ws.run(systemdAnalyze, ["verify", "--man=no", ws.path("units/coffer-snapshot-production.service")])
            #expect(failing.status != 0 && failing.stderr.contains("not executable"), "\(failing.stderr)")
        }
    }

    @Test("install refuses to overwrite a different file (exit 6, both files kept); an identical one is unchanged; --force replaces")
    func installRefusesOverwrite() throws {
        try withScheduleProject { ws in
            try FileManager.default.createDirectory(atPath: ws.path("units"), withIntermediateDirectories: true)
            #expect(try ws.coffer("schedule", "install", "--dir", "units").status == 0)
            let again = try ws.coffer("schedule", "install", "--dir", "units")
            #expect(again.status == 0 && again.stdout.contains("unchanged"), "\(again.stdout)\(again.stderr)")

            try "# mine\n".write(toFile: ws.path("units/coffer-snapshot-production.timer"), atomically: true, encoding: .utf8)
            let serviceBefore = try ws.read("units/coffer-snapshot-production.service")
            try ws.appendConfig("[schedule]\non_calendar = \"*-*-* 04:30:00\"\n")
            let refused = try ws.coffer("schedule", "install", "--dir", "units")
            #expect(refused.status == 6, "\(refused.stderr)")
            #expect(refused.stderr.contains("exists and differs from what coffer schedule would write") && refused.stderr.contains("--force"), "\(refused.stderr)")
            #expect(try String(contentsOfFile: ws.path("units/coffer-snapshot-production.timer"), encoding: .utf8) == "# mine\n")
            #expect(try ws.read("units/coffer-snapshot-production.service") == serviceBefore)

            let forced = try ws.coffer("schedule", "install", "--dir", "units", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try String(contentsOfFile: ws.path("units/coffer-snapshot-production.timer"), encoding: .utf8).contains("OnCalendar=*-*-* 04:30:00\n"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("units")).count == 2, "no temporary file left")
        }
    }

    @Test("staging is weekly; development without [schedule] is refused with a clear message (exit 3)")
    func cadence() throws {
        try withScheduleProject(environment: "staging") { ws in
            let printed = try ws.coffer("schedule", "print", "--systemd")
            #expect(printed.status == 0, "\(printed.stderr)")
            #expect(lines(printed.stdout, "OnCalendar=") == ["OnCalendar=Sun *-*-* 02:00:00"])
            let cron = try ws.coffer("--json", "schedule", "print", "--cron")
            let object = try jsonObject(cron)
            #expect(object["fields"] as? String == "0 2 * * 0")
        }
        try withScheduleProject(environment: "development") { ws in
            let refused = try ws.coffer("schedule", "print")
            #expect(refused.status == 3)
            #expect(refused.stderr.contains("development has no default schedule") && refused.stderr.contains("on_calendar"), "\(refused.stderr)")
            try ws.appendConfig("[schedule]\non_calendar = \"Mon..Fri 06:30\"\n")
            let scheduled = try ws.coffer("schedule", "print", "--cron")
            #expect(scheduled.status == 0 && scheduled.stdout.contains("\n30 6 * * 1-5 root "), "\(scheduled.stdout)\(scheduled.stderr)")
        }
    }

    @Test("an expression systemd rejects: exit 3 naming the key and the expression; nothing written")
    func badExpression() throws {
        try #require(FileManager.default.isExecutableFile(atPath: systemdAnalyze), "systemd-analyze is missing: `make deps` installs the systemd package")
        try withScheduleProject("[schedule]\non_calendar = \"Mon 25:00\"\n") { ws in
            try FileManager.default.createDirectory(atPath: ws.path("units"), withIntermediateDirectories: true)
            for arguments in [["schedule", "print"], ["schedule", "install", "--dir", "units"], ["schedule", "print", "--cron"]] {
                let result = try ws.run(cofferBinary, ["--config", ws.config] + arguments)
                #expect(result.status == 3, "\(arguments)")
                #expect(result.stderr.contains("[schedule] on_calendar 'Mon 25:00' is not a calendar expression systemd accepts"), "\(result.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("units")).isEmpty)
        }
    }

    @Test("cron: the exact translation or [schedule] cron; an untranslatable expression is refused; the line runs snapshot then verify")
    func cronLine() throws {
        try withScheduleProject("[schedule]\non_calendar = \"*-*-* 03:15:30\"\nuser = \"backup\"\nenvironment_file = \"coffer.env\"\n") { ws in
            let refused = try ws.coffer("schedule", "print", "--cron")
            #expect(refused.status == 3 && refused.stderr.contains("no exact cron equivalent") && refused.stderr.contains("[schedule] cron"), "\(refused.stderr)")
            // systemd has no such problem with the same expression.
            #expect(try ws.coffer("schedule", "print", "--systemd").status == 0)
        }
        try withScheduleProject("[schedule]\non_calendar = \"*-*-* 03:15:30\"\ncron = \"15 3 * * *\"\n") { ws in
            let printed = try ws.coffer("schedule", "print", "--cron")
            #expect(printed.status == 0 && printed.stdout.contains("\n15 3 * * * root "), "\(printed.stdout)\(printed.stderr)")
        }
        // A folder with a % in its name: escaped for cron, which would end the command there.
        let root = NSTemporaryDirectory() + "coffer-cron-100%-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ws = Workspace(root: root)
        try """
            environment = "production"
            repository = "backups"
            keys = "keys"

            [[sqlite]]
            name = "app"
            path = "app.db"

            [env]
            include = ["APP_TOKEN"]

            [schedule]
            on_calendar = "Sun 04:00"
            user = "backup"
            environment_file = "coffer.env"
            """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try "APP_TOKEN='from-the-file'\n".write(toFile: ws.path("coffer.env"), atomically: true, encoding: .utf8)
        #expect(try ws.run("sqlite3", ["app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);"]).status == 0)
        #expect(try ws.coffer("keys", "init").status == 0)
        try FileManager.default.createDirectory(atPath: ws.path("cron.d"), withIntermediateDirectories: true)
        let install = try ws.coffer("schedule", "install", "--cron", "--dir", "cron.d", "--binary", cofferBinary)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("cron.d")) == ["coffer-snapshot-production"])
        let file = try String(contentsOfFile: ws.path("cron.d/coffer-snapshot-production"), encoding: .utf8)
        let jobs = file.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.contains("=") }.map(String.init)
        try #require(jobs.count == 1, "\(file)")
        let job = jobs[0]
        let escapedConfig = ws.config.replacingOccurrences(of: "%", with: "\\%")
        #expect(job.hasPrefix("0 4 * * 0 backup set -a && . "), "\(job)")
        #expect(job.contains("nice -n 19 ionice -c 3 \(cofferBinary) --config \(escapedConfig) snapshot --prune --wait 30m && nice -n 19 ionice -c 3 "), "\(job)")
        #expect(job.hasSuffix("verify latest --deep"))
        #expect(!job.replacingOccurrences(of: "\\%", with: "").contains("%"), "an unescaped % in \(job)")

        // What cron would run: the command after the five fields and the user, % unescaped, in a bare environment.
        let command = job.split(separator: " ", maxSplits: 6).last.map(String.init)?.replacingOccurrences(of: "\\%", with: "%") ?? ""
        let ran = try ws.run("/usr/bin/env", ["-i", "HOME=\(ws.root)", "PATH=/usr/bin:/bin", "/bin/sh", "-c", command])
        #expect(ran.status == 0, "\(ran.stdout)\(ran.stderr)")
        let bundles = try FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/production"))
        #expect(bundles.count == 1)
        #expect(!ran.stderr.contains("APP_TOKEN"), "the variable came from the environment file: \(ran.stderr)")
    }
}
