import Foundation
import Testing

/// Format v2 end to end with the real binary and the real tools: chunked
/// bundles deduplicate, open by hand with `docs/open-bundle.sh`, live beside
/// format v1 bundles, and survive faults without losing a referenced chunk.
@Suite("format v2: chunked bundles")
struct ChunkedFormatTests {
    static let openScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/open-bundle.sh").standardized.path

    /// A SQLite + env project of about 3 MB (a few chunks; `rows` more, more chunks).
    func project(rows: Int = 3000, _ body: (Workspace) throws -> Void) throws {
        try Workspace.with { ws in
            try ws.makeSQLiteEnvProject(repository: "backups", sql: randomRowsSQL(rows))
            try body(ws)
        }
    }

    func snapshot(_ ws: Workspace, environment: [String: String] = [:]) throws -> [String: Any] {
        let result = try ws.coffer("snapshot", "--json", environment: environment)
        try #require(result.status == 0, "\(result.stderr)")
        return try jsonObject(result)
    }

    func manifest(_ ws: Workspace, _ id: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(ws.read("backups/bundles/development/\(id)/manifest.json"))) as? [String: Any])
    }

    func chunks(_ manifest: [String: Any], artifact: String = "app") -> [[String: Any]] {
        let artifacts = manifest["artifacts"] as? [[String: Any]] ?? []
        return artifacts.first { $0["name"] as? String == artifact }?["chunks"] as? [[String: Any]] ?? []
    }

    func chunkFiles(_ ws: Workspace) -> [String] {
        let root = ws.path("backups/chunks/development")
        return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".age-payload") || $0.hasSuffix(".age-header") }
            .map { "backups/chunks/development/" + $0 }.sorted()
    }

    func dump(_ ws: Workspace, _ file: String) throws -> String {
        let result = try ws.run("sqlite3", [file, ".dump"])
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    func openByHand(_ ws: Workspace, _ id: String, _ artifact: String, output: String) throws -> CommandResult {
        try ws.run("sh", ["-c", "sh \"$0\" backups development \"$1\" \"$2\" keys/development.age keys/signing.pub > \"$3\"", Self.openScript, id, artifact, output])
    }

    @Test("a new repository writes coffer/2; an unchanged second snapshot uploads nothing; stats count what is shared")
    func dedup() throws {
        try project(rows: 6000) { ws in
            let first = try snapshot(ws)
            #expect(first["format"] as? String == "coffer/2")
            let firstChunks = try #require(first["chunks"] as? [String: Any])
            #expect((firstChunks["new"] as? Int ?? 0) >= 3, "\(firstChunks)")
            #expect(try String(decoding: ws.read("backups/coffer.json"), as: UTF8.self).contains("\"chunked\" : true"))
            #expect(try !FileManager.default.fileExists(atPath: ws.path("backups/bundles/development/\(#require(first["id"] as? String))/artifacts")))

            let second = try snapshot(ws)
            let secondChunks = try #require(second["chunks"] as? [String: Any])
            #expect(secondChunks["new"] as? Int == 0, "\(secondChunks)")
            #expect(secondChunks["index"] as? String == "cache")
            #expect(secondChunks["reused"] as? Int == (firstChunks["new"] as? Int ?? -1))

            // A change in one place stores a little, not the whole database again.
            #expect(try ws.run("sqlite3", ["data/app.db", "UPDATE t SET x = randomblob(1000) WHERE rowid = 2500;"]).status == 0)
            let third = try snapshot(ws)
            let thirdChunks = try #require(third["chunks"] as? [String: Any])
            #expect((thirdChunks["new"] as? Int ?? 99) < (firstChunks["new"] as? Int ?? 0), "\(thirdChunks)")

            let stats = try jsonObject(try ws.coffer("stats", "--json"))
            let total = try #require(stats["total"] as? [String: Any])
            #expect(stats["bundles"] as? Int == 3 && stats["format_2_bundles"] as? Int == 3)
            // Three bundles, two the same and one with a page or two changed (and SQLite's header page).
            #expect((total["dedup_ratio"] as? Double ?? 0) > 1.4, "\(total)")
            #expect(Double(total["referenced_bytes"] as? Int ?? 0) > 1.4 * Double(total["unique_bytes"] as? Int ?? .max))
            let app = try #require((stats["sources"] as? [String: Any])?["app"] as? [String: Any])
            #expect((app["chunks"] as? Int ?? 0) > 0 && app["chunks"] as? Int == chunkFiles(ws).count / 2 - 1, "\(app) \(chunkFiles(ws).count)")
            #expect(stats["unreferenced_objects"] as? Int == 0)
        }
    }

    @Test("docs/open-bundle.sh opens a v2 bundle with minisign, sha256sum, age and gunzip, and refuses damage")
    func openByHandScript() throws {
        try project { ws in
            let id = try #require(try snapshot(ws)["id"] as? String)
            let opened = try openByHand(ws, id, "app", output: "by-hand.db")
            #expect(opened.status == 0, "\(opened.stderr)")
            #expect(try dump(ws, "by-hand.db") == dump(ws, "data/app.db"))
            #expect(try openByHand(ws, id, "env", output: "by-hand.env").status == 0)
            #expect(try String(decoding: ws.read("by-hand.env"), as: UTF8.self).contains("JWT_SECRET_KEY=\"s3cr3t-value\""))

            #expect(try openByHand(ws, id, "nothing", output: "x").stderr.contains("has no artifact 'nothing'"))
            // A foreign signing key, a damaged chunk, a missing chunk: each a non-zero exit.
            try ws.run("cp", ["keys/signing.pub", "keys/real.pub"])
            try Workspace.with { other in try ws.run("cp", [other.path("keys/signing.pub"), "keys/signing.pub"]) }
            let foreign = try openByHand(ws, id, "app", output: "x")
            #expect(foreign.status != 0 && foreign.stderr.contains("does not verify"), "\(foreign.stderr)")
            try ws.run("cp", ["keys/real.pub", "keys/signing.pub"])
            let appChunk = try #require(chunks(try manifest(ws, id)).first?["id"] as? String)
            let payload = try #require(chunkFiles(ws).first { $0.contains(appChunk) && $0.hasSuffix(".age-payload") })
            var bytes = try ws.read(payload)
            bytes[bytes.count / 2] ^= 1
            try ws.write(payload, bytes)
            let damaged = try openByHand(ws, id, "app", output: "x")
            #expect(damaged.status != 0 && damaged.stderr.contains("SHA-256"), "\(damaged.stderr)")
            try FileManager.default.removeItem(atPath: ws.path(payload))
            #expect(try openByHand(ws, id, "app", output: "x").status != 0)
        }
    }

    @Test("v1 and v2 bundles side by side: verify, restore, rotate (also --reencrypt), audit, copy, export and import")
    func sideBySide() throws {
        try project { ws in
            try ws.appendConfig("[format]\nchunked = false\n")
            let v1 = try #require(try snapshot(ws)["id"] as? String)
            #expect(try manifest(ws, v1)["format"] as? String == "coffer/1")
            try String(try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "chunked = false", with: "chunked = true"))
                .write(toFile: ws.config, atomically: true, encoding: .utf8)
            let v2 = try #require(try snapshot(ws)["id"] as? String)
            #expect(try manifest(ws, v2)["format"] as? String == "coffer/2")
            let original = try dump(ws, "data/app.db")

            for id in [v1, v2] {
                #expect(try ws.coffer("verify", id, "--deep").status == 0)
                #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t;"]).status == 0)
                let restored = try ws.coffer("restore", id, "--yes")
                #expect(restored.status == 0, "\(restored.stderr)")
                #expect(try dump(ws, "data/app.db") == original)
            }
            for arguments in [["keys", "rotate"], ["keys", "rotate", "--reencrypt"]] {
                let rotated = try ws.run(cofferBinary, ["--config", ws.config] + arguments)
                #expect(rotated.status == 0, "\(rotated.stderr)")
                for id in [v1, v2] { #expect(try ws.coffer("verify", id, "--deep").status == 0, "\(arguments) \(id)") }
                #expect(try ws.coffer("audit", "--deep").status == 0)
            }
            // The chunks are opened with the newest identity alone once the old ones are retired.
            #expect(try ws.coffer("keys", "rotate", "--retire").status == 0)
            #expect(try ws.coffer("restore", v2, "--yes").status == 0)

            let copied = try ws.coffer("copy", "--all", "--to", ws.path("second"))
            #expect(copied.status == 0, "\(copied.stderr)")
            #expect(try ws.coffer("copy", "--all", "--to", ws.path("second")).stdout.contains("present"))
            #expect(try ws.coffer("export", v2, "-o", "v2.tar").status == 0)
            try ws.write("import.toml", Array(try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "repository = \"backups\"", with: "repository = \"imported\"").utf8))
            let imported = try ws.run(cofferBinary, ["--config", ws.path("import.toml"), "import", "v2.tar"])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(try ws.run(cofferBinary, ["--config", ws.path("import.toml"), "verify", v2, "--deep"]).status == 0)
            try ws.write("second.toml", Array(try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "repository = \"backups\"", with: "repository = \"second\"").utf8))
            for id in [v1, v2] { #expect(try ws.run(cofferBinary, ["--config", ws.path("second.toml"), "verify", id, "--deep"]).status == 0) }
        }
    }

    @Test("an existing repository (a descriptor without chunked) keeps writing coffer/1 until the config switches")
    func existingRepositoryKeepsFormat1() throws {
        try project { ws in
            try FileManager.default.createDirectory(atPath: ws.path("backups"), withIntermediateDirectories: true)
            try ws.write("backups/coffer.json", Array("{\n  \"format\" : \"coffer-repository/1\"\n}\n".utf8))
            let id = try #require(try snapshot(ws)["id"] as? String)
            #expect(try manifest(ws, id)["format"] as? String == "coffer/1")
        }
    }

    @Test("a missing chunk: restore refuses before touching anything and names every bundle that references it")
    func missingChunk() throws {
        try project { ws in
            let first = try #require(try snapshot(ws)["id"] as? String)
            let second = try #require(try snapshot(ws)["id"] as? String)
            let before = try ws.read("data/app.db")
            let lost = try #require(chunks(try manifest(ws, second)).first?["id"] as? String)
            for file in chunkFiles(ws) where file.contains(lost) { try FileManager.default.removeItem(atPath: ws.path(file)) }
            let restore = try ws.coffer("restore", "latest", "--yes")
            #expect(restore.status != 0)
            #expect(restore.stderr.contains("missing") && restore.stderr.contains(first) && restore.stderr.contains(second), "\(restore.stderr)")
            #expect(try ws.read("data/app.db") == before)
            let audit = try ws.coffer("audit")
            #expect(audit.status != 0 && audit.stdout.contains(first) && audit.stdout.contains(second), "\(audit.stdout)")
            // The next snapshot does not reuse what is gone: it uploads the chunk again.
            let healed = try snapshot(ws)
            #expect((healed["chunks"] as? [String: Any])?["new"] as? Int == 1)
            #expect(try ws.coffer("verify", #require(healed["id"] as? String), "--deep").status == 0)
        }
    }

    @Test("a damaged chunk and a chunk swapped for another valid one are refused, the target untouched")
    func damagedAndSwapped() throws {
        try project { ws in
            let id = try #require(try snapshot(ws)["id"] as? String)
            let before = try ws.read("data/app.db")
            let list = chunks(try manifest(ws, id))
            try #require(list.count >= 2)
            func payload(_ chunk: [String: Any]) throws -> String {
                let id = try #require(chunk["id"] as? String)
                return try #require(chunkFiles(ws).first { $0.contains(id) && $0.hasSuffix(".age-payload") })
            }
            let (a, b) = (try payload(list[0]), try payload(list[1]))
            let original = try ws.read(a)
            try ws.write(a, try ws.read(b))
            let swapped = try ws.coffer("restore", "latest", "--yes")
            #expect(swapped.status != 0 && swapped.stderr.contains("swapped"), "\(swapped.stderr)")
            #expect(try ws.read("data/app.db") == before)
            var flipped = original
            flipped[100] ^= 0x80
            try ws.write(a, flipped)
            let damaged = try ws.coffer("restore", "latest", "--yes")
            #expect(damaged.status != 0 && damaged.stderr.contains("does not match the manifest"), "\(damaged.stderr)")
            #expect(try ws.coffer("verify", "latest").status != 0)
            #expect(try ws.read("data/app.db") == before)
        }
    }

    @Test("a FIFO in place of a chunk object: verify, restore and audit refuse it within seconds, and the next snapshot writes the chunk anew")
    func fifoInPlaceOfChunk() throws {
        try project { ws in
            let id = try #require(try snapshot(ws)["id"] as? String)
            let before = try ws.read("data/app.db")
            let appChunk = try #require(chunks(try manifest(ws, id)).first?["id"] as? String)
            let payload = try #require(chunkFiles(ws).first { $0.contains(appChunk) && $0.hasSuffix(".age-payload") })
            try FileManager.default.removeItem(atPath: ws.path(payload))
            #expect(try ws.run("mkfifo", [payload]).status == 0)
            let started = Date()
            for arguments in [["verify", id, "--deep"], ["restore", id, "--yes"], ["audit"]] {
                let result = try ws.run(cofferBinary, ["--config", ws.config] + arguments)
                #expect(result.status == 5, "\(arguments): \(result.stdout) \(result.stderr)")
            }
            #expect(Date().timeIntervalSince(started) < 30)
            #expect(try ws.read("data/app.db") == before)
            let healed = try snapshot(ws)
            #expect(((healed["chunks"] as? [String: Any])?["new"] as? Int ?? 0) >= 1)
            #expect(try ws.coffer("verify", #require(healed["id"] as? String), "--deep").status == 0)
        }
    }

    @Test("repeated content: a manifest references one chunk several times and restores it; a forged repeat is refused")
    func repeatedChunk() throws {
        try Workspace.with { ws in
            // 13 MiB of zeros after some random bytes: the rolling hash of a run of equal bytes is
            // constant, so the run is cut into equal chunks, the same chunk again and again.
            let content = randomBytes(100_000) + [UInt8](repeating: 0, count: 13 << 20)
            try FileManager.default.createDirectory(atPath: ws.path("tree"), withIntermediateDirectories: true)
            try ws.write("tree/big.bin", content)
            try ws.appendConfig("[[files]]\nname = \"tree\"\npath = \"tree\"\n")
            let id = try #require(try snapshot(ws)["id"] as? String)
            let list = chunks(try manifest(ws, id), artifact: "tree").compactMap { $0["id"] as? String }
            #expect(Set(list).count < list.count, "\(list)")
            try FileManager.default.removeItem(atPath: ws.path("tree"))
            let restored = try ws.coffer("restore", "latest", "--yes")
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try ws.read("tree/big.bin") == content)
            let opened = try openByHand(ws, id, "tree", output: "tree.tar")
            #expect(opened.status == 0, "\(opened.stderr)")
            #expect(try ws.run("sh", ["-c", "tar -xOf tree.tar | cmp - tree/big.bin"]).status == 0)

            // One more reference in a re-signed manifest: the sizes no longer add up.
            let path = "backups/bundles/development/\(id)/manifest.json"
            var object = try manifest(ws, id)
            var artifacts = try #require(object["artifacts"] as? [[String: Any]])
            var refs = try #require(artifacts[0]["chunks"] as? [[String: Any]])
            refs.append(refs[0])
            artifacts[0]["chunks"] = refs
            object["artifacts"] = artifacts
            try ws.write(path, Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])))
            #expect(try ws.coffer("file", "sign", path, "--force").status == 0)
            let forged = try ws.coffer("restore", "latest", "--yes")
            #expect(forged.status != 0 && forged.stderr.contains("its chunks hold"), "\(forged.stderr)")
        }
    }

    @Test("kill -9 during a snapshot: no bundle appears; its chunks go with the first prune a day later")
    func killedSnapshot() throws {
        try project { ws in
            let kept = try #require(try snapshot(ws)["id"] as? String)
            #expect(try ws.run("sqlite3", ["data/app.db", "UPDATE t SET x = randomblob(1000);"]).status == 0)
            for fault in ["snapshot-after-artifact", "snapshot-before-commit"] {
                let crashed = try ws.coffer("snapshot", environment: ["COFFER_FAULT": fault])
                #expect(crashed.status != 0)
                #expect(try ws.coffer("list").stdout.split(separator: "\n").filter { $0.hasPrefix("2026") }.count == 1, "\(fault)")
            }
            let orphans = try jsonObject(try ws.coffer("stats", "--json"))["unreferenced_objects"] as? Int ?? 0
            #expect(orphans >= 6, "the killed snapshots' chunks")
            let early = try jsonObject(try ws.coffer("prune", "--json"))
            #expect((early["chunks"] as? [String: Any])?["kept_young"] as? Int == orphans)
            let later = ["COFFER_NOW": rfc3339(Date().addingTimeInterval(25 * 3600))]
            let pruned = try jsonObject(try ws.coffer("prune", "--json", environment: later))
            #expect((pruned["chunks"] as? [String: Any])?["deleted"] as? Int == orphans, "\(pruned)")
            #expect(try jsonObject(try ws.coffer("stats", "--json"))["unreferenced_objects"] as? Int == 0)
            #expect(try ws.coffer("verify", kept, "--deep").status == 0)
        }
    }

    @Test("kill -9 at every point of a prune's sweep: no chunk a remaining bundle names is ever deleted")
    func killedSweep() throws {
        try project { ws in
            // Old bundles whose chunks only they hold, a kept one, and orphans of a rotation.
            for round in 0..<3 {
                #expect(try ws.run("sqlite3", ["data/app.db", "UPDATE t SET x = randomblob(1000) WHERE rowid % 3 = \(round);"]).status == 0)
                _ = try snapshot(ws, environment: ["COFFER_NOW": rfc3339(Date().addingTimeInterval(-Double(10 - round) * 86_400))])
            }
            _ = try snapshot(ws)
            #expect(try ws.coffer("keys", "rotate").status == 0)
            let later = ["COFFER_NOW": rfc3339(Date().addingTimeInterval(25 * 3600))]
            let plan = try jsonObject(try ws.coffer("prune", "--dry-run", "--json", environment: later))
            let doomed = (plan["chunks"] as? [String: Any])?["deleted"] as? Int ?? 0
            #expect(doomed > 4, "\(plan)")
            // Killed right after each deletion in turn: every point of the sweep.
            var kills = 0
            while try jsonObject(try ws.coffer("stats", "--json"))["unreferenced_objects"] as? Int != 0, kills < doomed + 2 {
                let killed = try ws.coffer("prune", environment: later.merging(["COFFER_FAULT": "prune-sweep-after-1"]) { $1 })
                #expect(killed.status != 0)
                kills += 1
                let audit = try ws.coffer("audit", "--deep", environment: later)
                #expect(audit.status == 0, "after a kill at deletion \(kills): \(audit.stdout)")
            }
            #expect(kills == doomed)
            let finished = try jsonObject(try ws.coffer("prune", "--json", environment: later))
            #expect((finished["chunks"] as? [String: Any])?["deleted"] as? Int == 0)
            #expect(try jsonObject(try ws.coffer("stats", "--json"))["unreferenced_objects"] as? Int == 0)
        }
    }

    @Test("two snapshots racing a prune: the lock serializes them and every bundle stays whole")
    func snapshotsRacePrune() throws {
        try project { ws in
            for round in 0..<2 {
                #expect(try ws.run("sqlite3", ["data/app.db", "UPDATE t SET x = randomblob(1000) WHERE rowid % 2 = \(round);"]).status == 0)
                _ = try snapshot(ws, environment: ["COFFER_NOW": rfc3339(Date().addingTimeInterval(-Double(20 - round) * 86_400))])
            }
            let later = rfc3339(Date().addingTimeInterval(25 * 3600))
            // Three processes at once, each waiting for the repository lock.
            let runs: [(arguments: [String], environment: [String: String])] = [
                (["snapshot", "--wait", "120s"], [:]), (["prune", "--wait", "120s"], ["COFFER_NOW": later]), (["snapshot", "--wait", "120s"], [:]),
            ]
            let processes = try runs.enumerated().map { index, run -> Process in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: cofferBinary)
                process.arguments = ["--config", ws.config] + run.arguments
                process.environment = ProcessInfo.processInfo.environment.merging(run.environment) { $1 }
                _ = FileManager.default.createFile(atPath: ws.path("race-\(index).log"), contents: nil)
                let log = FileHandle(forWritingAtPath: ws.path("race-\(index).log"))
                process.standardOutput = log
                process.standardError = log
                try process.run()
                return process
            }
            for process in processes { process.waitUntilExit() }
            let logs = try (0..<3).map { try String(contentsOfFile: ws.path("race-\($0).log"), encoding: .utf8) }.joined(separator: "\n")
            #expect(processes.map(\.terminationStatus) == [0, 0, 0], "\(logs)")
            #expect(logs.contains("waiting up to"), "at least one run waited for the lock: \(logs)")
            let audit = try ws.coffer("audit", "--deep")
            #expect(audit.status == 0, "\(audit.stdout)")
            #expect(try ws.coffer("list").stdout.split(separator: "\n").filter { $0.hasPrefix("2026") }.count >= 2)
        }
    }
}
