import Foundation
import Testing

/// Every file below the workspace, relative to it (hidden ones included).
private func allFiles(_ ws: Workspace) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: ws.root)
    var files: [String] = []
    while let path = enumerator?.nextObject() as? String {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: ws.path(path), isDirectory: &isFolder), !isFolder.boolValue, !path.contains("/.run-"), !path.hasPrefix(".run-") {
            files.append(path)
        }
    }
    return files.sorted()
}

/// The files that hold `text` in plain bytes.
private func files(_ ws: Workspace, containing text: String) -> [String] {
    allFiles(ws).filter { path in
        guard let data = FileManager.default.contents(atPath: ws.path(path)) else { return false }
        return data.range(of: Data(text.utf8)) != nil
    }
}

@Suite("nothing secret outlives a crash", .serialized)
struct LeftoverSecretsTests {
    /// Kills `arguments` at the `n`-th fsync (a temporary file is written and not yet renamed); true when it was killed.
    private func killedAtFsync(_ ws: Workspace, _ n: Int, _ arguments: [String]) throws -> Bool {
        let result = try ws.run("strace", ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:signal=KILL:when=\(n)", cofferBinary, "--config", ws.config] + arguments)
        return result.status != 0
    }

    /// After a kill, the next command (any) removes the temporary files; secret keys stay in the identity files only.
    private func checkClean(_ ws: Workspace, _ context: String) throws {
        #expect(try ws.coffer("list").status == 0, "\(context)")
        let temporary = allFiles(ws).filter { ($0 as NSString).lastPathComponent.hasPrefix(".coffer-tmp-") }
        #expect(temporary.isEmpty, "\(context): \(temporary)")
        // Identity files: the active one, and the next one a rotation cut short resumes with.
        let keys = files(ws, containing: "AGE-SECRET-KEY").filter { !($0.hasPrefix("keys/") && ($0.hasSuffix(".age") || $0.hasSuffix(".age.next"))) }
        #expect(keys.isEmpty, "\(context): an age identity outside the identity files: \(keys)")
    }

    @Test("snapshot, export, keys rotate --reencrypt and restore killed at each fsync: the next command removes every temporary file, and no age identity is left outside the identity files")
    func killedCommandsLeaveNothing() throws {
        try Workspace.withSQLiteApp { ws in
            try ws.appendConfig("[env]\ninclude = [\"API_TOKEN\"]\nfile = \"app.env\"\n")
            try ws.write("app.env", Array("API_TOKEN=tok-3f9a-secret\nOTHER=1\n".utf8))
            try #require(try ws.coffer("snapshot").status == 0)
            // The keys folder's .gitignore keeps temporary key files out of git too.
            try #require(try ws.run("git", ["init", "-q"]).status == 0)
            #expect(try ws.run("git", ["check-ignore", "-q", "keys/.coffer-tmp-development.age.123.456"]).status == 0)

            var n = 1
            while try killedAtFsync(ws, n, ["snapshot"]), n < 40 {
                try checkClean(ws, "snapshot killed at fsync \(n)")
                n += 1
            }
            #expect(n > 1, "strace never stopped the snapshot")

            var killedExport = false
            for n in 1...3 where try killedAtFsync(ws, n, ["export", "latest", "-o", "bundle.tar"]) {
                killedExport = true
                try checkClean(ws, "export killed at fsync \(n)")
            }
            #expect(killedExport)

            n = 1
            while try killedAtFsync(ws, n, ["keys", "rotate", "--reencrypt"]), n < 40 {
                try checkClean(ws, "keys rotate --reencrypt killed at fsync \(n)")
                n += 1
            }
            #expect(n > 1, "strace never stopped the rotation")
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)

            try ws.write("app.env", Array("API_TOKEN=changed\nOTHER=1\n".utf8))
            n = 1
            while try killedAtFsync(ws, n, ["restore", "latest", "--yes"]), n < 60 {
                try checkClean(ws, "restore killed at fsync \(n)")
                #expect(try ws.coffer("restore", "--recover").status == 0)
                n += 1
            }
            #expect(n > 1)
            for journal in try FileManager.default.contentsOfDirectory(atPath: ws.path(".coffer/restores")) where journal.hasSuffix(".json") {
                _ = try ws.coffer("restore", "--finalize", String(journal.dropLast(5)))
            }
            // Once the kept copies are dropped, the secret is in the live file alone.
            #expect(files(ws, containing: "tok-3f9a-secret") == ["app.env"])
        }
    }

    @Test("started with `ulimit -c unlimited`, coffer runs with a core limit of 0 (its hook sees the limits of its parent)")
    func noCoreDumps() throws {
        try Workspace.withSQLiteApp { ws in
            try ws.appendConfig("[hooks]\npre_restore = \"cat /proc/$PPID/limits > limits.txt\"\n")
            try #require(try ws.coffer("snapshot").status == 0)
            let restore = try ws.run("sh", ["-c", "ulimit -c unlimited && exec \"$0\" --config coffer.toml restore latest --yes", cofferBinary])
            #expect(restore.status == 0, "\(restore.stderr)")
            let limits = String(decoding: try ws.read("limits.txt"), as: UTF8.self)
            let core = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") })
            #expect(Array(core.split(separator: " ").dropFirst(4).prefix(2)) == ["0", "0"], "\(core)")
        }
    }
}
