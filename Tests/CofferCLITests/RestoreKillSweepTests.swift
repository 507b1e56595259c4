import Foundation
import Testing

/// A SQLite database and an env file, restored while `strace` kills coffer
/// (`kill -9`, `inject=SYSCALL:signal=KILL:when=N`) at the N-th rename, link
/// or unlink, for N = 1, 2, ... until a run gets through. After each kill,
/// `coffer restore --recover`, and then every target must hold exactly the
/// bundle's content or exactly its previous content, never a mix.
private struct SweepProject {
    let ws: Workspace
    /// The live SQLite file starts damaged (its header overwritten) with a WAL beside it: the rename path.
    let damaged: Bool
    var bundle: [String: String] = [:]
    var previous: [String: String] = [:]

    /// A file that is not a SQLite database (and its WAL) is compared byte
    /// for byte, without letting sqlite3 near it; a database by its `.dump`.
    func contents() throws -> [String: String] {
        func bytes(_ name: String) throws -> String { ws.exists(name) ? Data(try ws.read(name)).base64EncodedString() : "absent" }
        let isDatabase = try ws.exists("app.db") && ws.read("app.db").starts(with: Array("SQLite format 3\0".utf8))
        return [
            "app": isDatabase ? try ws.run("sqlite3", ["app.db", ".dump"]).stdout : "raw \(try bytes("app.db")) wal \(try bytes("app.db-wal"))",
            "env": String(decoding: try ws.read("app.env"), as: UTF8.self).split(separator: "\n").filter { $0.contains("API_KEY") }
                .map { $0.replacingOccurrences(of: "\"", with: "") }.joined(separator: "\n"),
        ]
    }

    /// Puts the previous content in place (after a restore committed).
    func makePrevious() throws {
        for name in ["app.db", "app.db-wal", "app.db-shm"] { try? FileManager.default.removeItem(atPath: ws.path(name)) }
        if damaged {
            try ws.write("app.db", Array("this is not a database, but it is ours".utf8) + [UInt8](repeating: 7, count: 5000))
            try ws.write("app.db-wal", [UInt8](repeating: 9, count: 4096))
        } else {
            try #require(try ws.run("sqlite3", ["app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (101),(102);"]).status == 0)
        }
        try ws.write("app.env", Array("# settings\nAPI_KEY=changed\nOTHER=1\n".utf8))
    }

    /// The `.coffer-stage-` and `.partial` files left in the workspace.
    func strayFiles() throws -> [String] {
        try ws.files().filter { $0.contains(".coffer-stage-") || $0.hasSuffix(".partial") }.sorted()
    }

    /// Runs coffer under strace, killed at the `n`-th `syscall`; true when it was killed.
    func killed(_ syscall: String, _ n: Int, _ arguments: [String]) throws -> Bool {
        let result = try ws.run(
            "strace", ["-f", "-qq", "-o", "/dev/null", "-e", "trace=\(syscall)", "-e", "inject=\(syscall):signal=KILL:when=\(n)", cofferBinary, "--config", ws.config] + arguments)
        if result.status == 0 { return false }
        #expect(result.status == 9 || result.status == 137, "coffer failed without being killed: \(result.stderr)")
        return true
    }

    /// The ids of the recorded restores.
    func restoreIDs() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: ws.path(".coffer/restores"))) ?? []).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) })
    }

    /// The WAL the damaged database had must never sit beside the restored one.
    func checkNoOldWAL() throws {
        if damaged && ws.exists("app.db-wal") { #expect(try ws.read("app.db-wal") != [UInt8](repeating: 9, count: 4096), "the old WAL is beside the new database") }
    }
}

private func withSweepProject(damaged: Bool, _ body: (inout SweepProject) throws -> Void) throws {
    try Workspace.withSQLiteApp { ws in
        try ws.appendConfig("[env]\ninclude = [\"API_KEY\"]\nfile = \"app.env\"\n")
        try ws.write("app.env", Array("# settings\nAPI_KEY=original\nOTHER=1\n".utf8))
        try #require(try ws.coffer("snapshot").status == 0)
        var project = SweepProject(ws: ws, damaged: damaged)
        project.bundle = try project.contents()
        try project.makePrevious()
        project.previous = try project.contents()
        try #require(project.previous["app"] != project.bundle["app"] && project.previous["env"] != project.bundle["env"])
        try body(&project)
    }
}

@Suite("kill -9 at every rename, link and unlink of a restore's commit and of a rollback", .serialized)
struct RestoreKillSweepTests {
    @Test(
        "restore killed at the N-th call, then --recover: all bundle or all previous",
        arguments: [("rename", false), ("link", false), ("unlink", false), ("rename", true), ("link", true), ("unlink", true)])
    func restoreSweep(syscall: String, damaged: Bool) throws {
        try withSweepProject(damaged: damaged) { project in
            var kills = 0
            for n in 1...80 {
                let before = project.restoreIDs()
                guard try project.killed(syscall, n, ["restore", "latest", "--yes"]) else { break }
                kills += 1
                let recovered = try project.ws.coffer("restore", "--recover")
                #expect(recovered.status == 0, "n=\(n): \(recovered.stdout)\(recovered.stderr)")
                let now = try project.contents()
                let id = project.restoreIDs().subtracting(before).first
                if now == project.bundle {
                    try project.checkNoOldWAL()
                    let id = try #require(id)
                    #expect(try restoreJournal(project.ws, id: id)["state"] as? String == "committed", "n=\(n)")
                    #expect(try project.ws.coffer("restore", "--finalize", id).status == 0)
                    try project.makePrevious()
                } else {
                    #expect(now == project.previous, "n=\(n): a mix of old and new: \(now)")
                    if let id { #expect(try restoreJournal(project.ws, id: id)["state"] as? String == "failed", "n=\(n)") }
                }
                let strays = try project.strayFiles()
                #expect(strays.isEmpty, "n=\(n): \(strays)")
                #expect(try project.contents() == project.previous, "n=\(n)")
            }
            #expect(kills > 0, "strace never hit a \(syscall)")
            #expect(try project.contents() == project.bundle, "the run that got through restored the bundle")
            try project.checkNoOldWAL()
        }
    }

    @Test(
        "rollback killed at the N-th call, then --recover: all previous (or, killed before it began, all bundle)",
        arguments: [("rename", false), ("link", false), ("unlink", false), ("rename", true)])
    func rollbackSweep(syscall: String, damaged: Bool) throws {
        try withSweepProject(damaged: damaged) { project in
            var kills = 0
            for n in 1...80 {
                let before = project.restoreIDs()
                let restore = try project.ws.coffer("restore", "latest", "--yes")
                try #require(restore.status == 0, "\(restore.stderr)")
                let id = try #require(project.restoreIDs().subtracting(before).first)
                let wasKilled = try project.killed(syscall, n, ["rollback", id])
                if wasKilled {
                    kills += 1
                    let recovered = try project.ws.coffer("restore", "--recover")
                    #expect(recovered.status == 0, "n=\(n): \(recovered.stdout)\(recovered.stderr)")
                }
                let now = try project.contents()
                let state = try restoreJournal(project.ws, id: id)["state"] as? String
                if now == project.bundle {
                    #expect(state == "committed", "n=\(n)")
                    #expect(try project.ws.coffer("rollback", id).status == 0)
                } else {
                    #expect(now == project.previous, "n=\(n): a mix of old and new: \(now)")
                    #expect(state == "rolled-back", "n=\(n)")
                }
                #expect(try project.contents() == project.previous, "n=\(n)")
                #expect(try project.ws.coffer("restore", "--finalize", id).status == 0)
                let strays = try project.strayFiles()
                #expect(strays.isEmpty, "n=\(n): \(strays)")
                if !wasKilled { break }
            }
            #expect(kills > 0, "strace never hit a \(syscall)")
        }
    }
}
