import ArgumentParser
import CofferCore
import CofferSystem
import Foundation

/// Which scheduler the units are for.
enum Scheduler: String, EnumerableFlag {
    case systemd, cron

    static func help(for value: Scheduler) -> ArgumentHelp? {
        switch value {
        case .systemd: return "A systemd service and timer."
        case .cron: return "A cron.d file with one job line."
        }
    }
}

/// Options `schedule print` and `schedule install` share.
struct ScheduleOptions: ParsableArguments {
    @Flag var scheduler: Scheduler = .systemd

    @Option(help: ArgumentHelp("The coffer binary the units run (default: this one).", valueName: "path"))
    var binary: String?

    /// The plan for the config, warning about variables no environment_file provides.
    func plan(_ global: GlobalOptions) throws -> SchedulePlan {
        let config = try ConfigLoader.load(path: ConfigLoader.resolvePath(explicit: global.config, environment: ProcessInfo.processInfo.environment))
        let plan = try SchedulePlan.make(config: config, binary: try binaryPath())
        if let file = plan.settings.environmentFile {
            if !FileSystem.exists(file) { warn("[schedule] environment_file \(file) does not exist yet; the runs fail until it does") }
        } else if !plan.neededVariables.isEmpty {
            warn(
                "the runs need \(plan.neededVariables.joined(separator: ", ")) in their environment; put them in a file only the user that runs Coffer can read and name it in [schedule] environment_file (see docs/OPERATIONS.md, \"Scheduled snapshots: exporting the variables\")")
        }
        return plan
    }

    private func binaryPath() throws -> String {
        if let binary {
            let absolute = FileSystem.absolute(binary)
            guard FileManager.default.isExecutableFile(atPath: absolute) else {
                throw CofferError(.config, "--binary \(absolute) is not an executable file")
            }
            return absolute
        }
        return FileSystem.resolvingSymbolicLinks("/proc/self/exe")
    }
}

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Generate the systemd timer or cron job that takes snapshots unattended.",
        discussion: """
            The job runs `coffer --config CONFIG snapshot --prune --wait 30m` and, only if that succeeded, `coffer verify latest --deep`, at low CPU and I/O priority, with the config and the coffer binary by absolute path. When: [schedule] on_calendar (a systemd calendar expression, checked with systemd-analyze where it exists), else production daily at 02:00 and staging weekly (Sunday 02:00); development needs on_calendar. cron gets the exact translation of the expression, or [schedule] cron when set; an expression cron cannot express exactly is refused (exit 3). Other [schedule] keys: randomized_delay, user, environment_file (the variables the config's *_env keys name), wait, verify.
            """,
        subcommands: [Print.self, Install.self]
    )
}

extension ScheduleCommand {
    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the units (or the cron.d file) on standard output; change nothing.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: ScheduleOptions

        func run() async throws {
            try await reportingErrors {
                let plan = try options.plan(global)
                switch options.scheduler {
                case .systemd:
                    if global.json {
                        try printJSON([
                            "scheduler": "systemd", "on_calendar": plan.onCalendar, "origin": plan.origin,
                            "files": ["\(plan.name).service": plan.service, "\(plan.name).timer": plan.timer],
                        ])
                        return
                    }
                    FileHandle.standardOutput.write(Data("# \(plan.name).service\n\(plan.service)\n# \(plan.name).timer\n\(plan.timer)".utf8))
                case .cron:
                    let file = try plan.cronFile()
                    if global.json {
                        try printJSON([
                            "scheduler": "cron", "on_calendar": plan.onCalendar, "origin": plan.origin, "fields": try plan.cronFields(),
                            "line": try plan.cronLine(), "files": [plan.name: file],
                        ])
                        return
                    }
                    FileHandle.standardOutput.write(Data(file.utf8))
                }
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the units into a folder (default /etc/systemd/system, or /etc/cron.d with --cron); start nothing.",
            discussion: """
                Writes NAME.service and NAME.timer (NAME = coffer-snapshot-ENV), or the cron.d file NAME, atomically, mode 0644. A different file already there is refused (exit 6) unless --force; an identical one is left as it is. Then prints the commands to enable the timer (systemctl daemon-reload, systemctl enable --now NAME.timer); it never runs them itself.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: ScheduleOptions

        @Option(help: ArgumentHelp("Folder to write into.", valueName: "dir"))
        var dir: String?

        @Flag(help: "Replace files that differ from what would be written.")
        var force = false

        func run() async throws {
            try await reportingErrors {
                let plan = try options.plan(global)
                let folder = FileSystem.absolute(dir ?? (options.scheduler == .systemd ? "/etc/systemd/system" : "/etc/cron.d"))
                let files: [(String, String)] =
                    options.scheduler == .systemd
                    ? [("\(plan.name).service", plan.service), ("\(plan.name).timer", plan.timer)] : [(plan.name, try plan.cronFile())]
                guard (try FileSystem.status(of: folder))?.isDirectory == true else {
                    throw CofferError(.config, "\(folder) is not a folder; pass --dir DIR")
                }
                // Refuse before writing anything, so that a refusal leaves both files as they were.
                var unchanged: Set<String> = []
                for (name, text) in files {
                    let path = FileSystem.join(folder, name)
                    guard FileSystem.exists(path) else { continue }
                    let existing = try? FileSystem.readFile(path, limit: 1 << 20)
                    if existing == Array(text.utf8) {
                        unchanged.insert(name)
                    } else if !force {
                        throw CofferError(.refused, "\(path) exists and differs from what coffer schedule would write; compare with `coffer schedule print`, and pass --force to replace it")
                    }
                }
                for (name, text) in files where !unchanged.contains(name) {
                    try FileSystem.writeFile(FileSystem.join(folder, name), bytes: Array(text.utf8), permissions: 0o644)
                }
                let commands =
                    options.scheduler == .systemd
                    ? ["systemctl daemon-reload", "systemctl enable --now \(plan.name).timer", "systemctl list-timers \(plan.name).timer"]
                    : []
                if global.json {
                    try printJSON([
                        "scheduler": options.scheduler.rawValue, "written": files.map(\.0).filter { !unchanged.contains($0) }.map { FileSystem.join(folder, $0) },
                        "unchanged": unchanged.sorted().map { FileSystem.join(folder, $0) }, "commands": commands,
                    ])
                    return
                }
                for (name, _) in files { say("\(unchanged.contains(name) ? "unchanged" : "wrote") \(FileSystem.join(folder, name))") }
                if options.scheduler == .systemd {
                    say("enable it (this command starts nothing):")
                    for command in commands { say("  \(command)") }
                    say("try one run now with `systemctl start \(plan.name).service`; `journalctl -u \(plan.name)` shows the runs")
                } else {
                    say("cron reads \(folder) by itself; the job runs \(try plan.cronFields()) as \(plan.settings.user ?? "root")")
                }
            }
        }
    }
}
