import Foundation
import Testing

/// A workspace with a SQLite database and a dotenv file configured.
private func withProject(_ body: (Workspace) throws -> Void) throws {
    try Workspace.with { ws in
        try ws.makeSQLiteEnvProject(repository: "backups", sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);")
        try body(ws)
    }
}

private func rows(_ ws: Workspace) throws -> String {
    try ws.run("sqlite3", ["data/app.db", "SELECT count(*) FROM t"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("coffer snapshot, list, verify, restore")
struct BundleCommandTests {
    @Test("the DESIGN interface: id as last line, --json, minisign and age open the bundle by hand")
    func interface() throws {
        try withProject { ws in
            try ws.pinFormatOne()
            let snapshot = try ws.coffer("snapshot", "--label", "first")
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let id = try #require(snapshot.stdout.split(separator: "\n").last.map(String.init))
            let folder = "backups/bundles/development/\(id)"
            #expect(try ws.run("minisign", ["-Vm", "\(folder)/manifest.json", "-p", "keys/signing.pub"]).status == 0)
            let byHand = try ws.run("sh", ["-c", "cat \(folder)/artifacts/app*.age-header \(folder)/artifacts/app*.age-payload | age -d -i keys/development.age | gunzip > by-hand.db && sqlite3 by-hand.db 'PRAGMA integrity_check; SELECT count(*) FROM t'"])
            #expect(byHand.status == 0, "\(byHand.stderr)")
            #expect(byHand.stdout == "ok\n3\n")
            let sums = try ws.run("sh", ["-c", "cd \(folder) && sha256sum artifacts/*"]).stdout
            let manifest = try String(contentsOfFile: ws.path("\(folder)/manifest.json"), encoding: .utf8)
            for line in sums.split(separator: "\n") { #expect(manifest.contains(String(line.prefix(64)))) }
            #expect(!manifest.contains("s3cr3t"))

            let json = try ws.coffer("snapshot", "--json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect((object["id"] as? String)?.count == 25)
            let list = try ws.coffer("list", "--json")
            #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.count == 2)
            let verify = try ws.coffer("verify", "latest", "--deep", "--json")
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("\"passed\" : true"))
        }
    }

    @Test("restore needs --yes without a terminal; --dry-run changes nothing; then restore and rollback")
    func restoreFlow() throws {
        try withProject { ws in
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            let refused = try ws.coffer("restore", "latest")
            #expect(refused.status == 6)
            #expect(refused.stderr.contains("--yes"))
            let dry = try ws.coffer("restore", "latest", "--dry-run")
            #expect(dry.status == 0)
            #expect(dry.stdout.contains("data/app.db"))
            #expect(try rows(ws) == "0")
            let restored = try ws.coffer("restore", "latest", "--yes", "--json")
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try rows(ws) == "3")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(restored.stdout.utf8)) as? [String: Any])
            let restoreID = try #require(object["restore_id"] as? String)
            #expect(try ws.coffer("rollback", restoreID).status == 0)
            #expect(try rows(ws) == "0")
            #expect(try ws.coffer("restore", "--finalize", restoreID).status == 0)
            #expect(try ws.run("sh", ["-c", "ls data | grep -c pre-restore"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }

    @Test("verify of a tampered bundle exits 5 and names the artifact")
    func tampered() throws {
        try withProject { ws in
            try ws.pinFormatOne()
            let id = try #require(try ws.coffer("snapshot").stdout.split(separator: "\n").last.map(String.init))
            let payload = ws.path("backups/bundles/development/\(id)/artifacts/app.sqlite.gz.age-payload")
            var bytes = try ws.read(String(payload.dropFirst(ws.root.count + 1)))
            bytes[bytes.count - 30] ^= 0xff
            try Data(bytes).write(to: URL(fileURLWithPath: payload))
            let result = try ws.coffer("verify", id)
            #expect(result.status == 5)
            #expect(result.stdout.contains("FAIL app"))
        }
    }

    @Test("a snapshot killed mid-way leaves no bundle; the next run removes the leftover")
    func crashDuringSnapshot() throws {
        try withProject { ws in
            let crashed = try ws.coffer("snapshot", environment: ["COFFER_FAULT": "snapshot-after-artifact"])
            #expect(crashed.status != 0)
            #expect(try ws.coffer("list").stdout.contains("no bundles"))
            let leftovers = try ws.run("sh", ["-c", "ls -A backups/bundles/development | grep -c partial"]).stdout
            #expect(leftovers.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(try ws.coffer("snapshot").status == 0)
            let after = try ws.run("sh", ["-c", "ls -A backups/bundles/development | grep -c partial"]).stdout
            #expect(after.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
            #expect(try ws.run("sh", ["-c", "ls -A .coffer/tmp | wc -l"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }

    @Test("a restore killed during commit is finished by --recover")
    func crashDuringRestore() throws {
        try withProject { ws in
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            try "JWT_SECRET_KEY=\"rotated\"\n".write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
            let crashed = try ws.coffer("restore", "latest", "--yes", environment: ["COFFER_FAULT": "restore-after-commit-1"])
            #expect(crashed.status != 0)
            #expect(try rows(ws) == "3")  // the first target was committed
            #expect(try String(contentsOfFile: ws.path("app.env"), encoding: .utf8).contains("rotated"))  // the second not yet
            let blocked = try ws.coffer("restore", "latest", "--yes")
            #expect(blocked.status == 6)
            #expect(blocked.stderr.contains("--recover"))
            let health = try ws.coffer("status")
            #expect(health.status == 2)
            #expect(health.stdout.contains("was interrupted"))
            let recovered = try ws.coffer("restore", "--recover")
            #expect(recovered.status == 0, "\(recovered.stderr)")
            #expect(recovered.stdout.contains("finished"))
            #expect(try String(contentsOfFile: ws.path("app.env"), encoding: .utf8).contains("s3cr3t-value"))
            #expect(try ws.coffer("restore", "--recover").stdout.contains("no interrupted restore"))
        }
    }

    @Test("a restore killed while putting targets back is finished by --recover")
    func crashDuringUndo() throws {
        try withProject { ws in
            try ws.appendConfig("[[sqlite]]\nname = \"second\"\npath = \"data/second.db\"\n")
            #expect(try ws.run("sqlite3", ["data/second.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);"]).status == 0)
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            // Another writer holds second.db for 14 s (the restore gives up after 5): `app` commits, `second` fails, `app` is being put back when we die.
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            holder.arguments = ["sqlite3", ws.path("data/second.db"), "BEGIN IMMEDIATE;", ".shell sleep 14", "ROLLBACK;"]
            holder.standardOutput = FileHandle.nullDevice
            holder.standardError = FileHandle.nullDevice
            try holder.run()
            defer { holder.waitUntilExit() }
            usleep(500_000)
            let crashed = try ws.coffer("restore", "latest", "--yes", environment: ["COFFER_FAULT": "restore-during-undo"])
            #expect(crashed.status != 0)
            let journal = try ws.run("sh", ["-c", "cat .coffer/restores/*.json"]).stdout
            #expect(journal.contains("\"undoing\""))
            let recovered = try ws.coffer("restore", "--recover")
            #expect(recovered.status == 0, "\(recovered.stdout) \(recovered.stderr)")
            #expect(recovered.stdout.contains("putting every target back"))
            #expect(try rows(ws) == "0", "app must hold its content from before the restore")
            #expect(try ws.run("sh", ["-c", "ls data | grep -c -e pre-restore -e coffer-stage"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }

    @Test("prune --dry-run and snapshot --prune")
    func prune() throws {
        try withProject { ws in
            #expect(try ws.coffer("snapshot", environment: ["COFFER_NOW": "2026-10-01T00:00:00Z"]).status == 0)
            #expect(try ws.coffer("snapshot", environment: ["COFFER_NOW": "2026-11-27T00:00:00Z"]).status == 0)
            let dry = try ws.coffer("prune", "--dry-run", environment: ["COFFER_NOW": "2026-11-28T00:00:00Z"])
            #expect(dry.status == 0)
            #expect(dry.stdout.contains("would delete 20261001T"))
            #expect(dry.stdout.contains("keep   20261127T"))
            let snapshot = try ws.coffer("snapshot", "--prune", "--json", environment: ["COFFER_NOW": "2026-11-28T00:00:00Z"])
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(snapshot.stdout.contains("20261001T"))
            let list = try ws.coffer("list", "--json")
            #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.count == 2)
        }
    }

    @Test("export, import of a damaged archive exits 5; copy --to skips what is there")
    func transfer() throws {
        try withProject { ws in
            let id = try #require(try ws.coffer("snapshot").stdout.split(separator: "\n").last.map(String.init))
            #expect(try ws.coffer("export", id, "-o", "b.tar").status == 0)
            #expect(try ws.run("tar", ["-tf", "b.tar"]).stdout.split(separator: "\n").last == "bundles/development/\(id)/manifest.json")
            var archive = try ws.read("b.tar")
            archive[512 + 10] ^= 1
            try ws.write("bad.tar", archive)
            #expect(try ws.run("rm", ["-rf", "backups/bundles/development/\(id)"]).status == 0)
            let bad = try ws.coffer("import", "bad.tar")
            #expect(bad.status == 5, "\(bad.stderr)")
            #expect(try ws.coffer("list").stdout.contains("no bundles"))
            #expect(try ws.coffer("import", "b.tar").status == 0)
            #expect(try ws.coffer("copy", "--all", "--to", "offsite").stdout.contains("copied  \(id)"))
            #expect(try ws.coffer("copy", "--all", "--to", "offsite").stdout.contains("present \(id)"))
        }
    }

    @Test("status exits 2 without bundles, 0 when fresh, 1 when stale")
    func status() throws {
        try withProject { ws in
            let empty = try ws.coffer("status", "--json")
            #expect(empty.status == 2)
            #expect(empty.stdout.contains("\"level\" : \"critical\""))
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.coffer("status").status == 0)
            let stale = try ws.coffer("status", environment: ["COFFER_NOW": "2099-01-01T00:00:00Z"])
            #expect(stale.status == 1)
            #expect(stale.stdout.hasPrefix("WARN"))
        }
    }

    @Test("env diff names what changed, never values")
    func envDiff() throws {
        try withProject { ws in
            try "JWT_SECRET_KEY=\"s3cr3t-value\"\n".write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.coffer("env", "diff").status == 0)
            try "JWT_SECRET_KEY=\"changed-value\"\n".write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
            let diff = try ws.coffer("env", "diff")
            #expect(diff.status == 1)
            #expect(diff.stdout.contains("~ JWT_SECRET_KEY"))
            #expect(!diff.stdout.contains("changed-value") && !diff.stdout.contains("s3cr3t"))
        }
    }
}
