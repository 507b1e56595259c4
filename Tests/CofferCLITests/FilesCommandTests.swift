import Foundation
import Testing

/// Every path under `root` (relative) with its kind, permission bits and content: two equal listings are byte-identical trees.
private func listing(_ root: String) throws -> [String: String] {
    let manager = FileManager.default
    var result: [String: String] = [:]
    func describe(_ path: String) throws -> String {
        let attributes = try manager.attributesOfItem(atPath: path)
        let mode = String((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1, radix: 8)
        if attributes[.type] as? FileAttributeType == .typeDirectory { return "dir \(mode)" }
        return "file \(mode) \(Array(try Data(contentsOf: URL(fileURLWithPath: path))))"
    }
    result["."] = try describe(root)
    for case let relative as String in manager.enumerator(atPath: root) ?? FileManager.DirectoryEnumerator() {
        result[relative] = try describe(root + "/" + relative)
    }
    return result
}

/// An uploads folder: nested folders, an empty file, a binary file, several modes.
private func makeUploads(_ ws: Workspace, _ name: String = "uploads") throws {
    let root = ws.path(name)
    try FileManager.default.createDirectory(atPath: root + "/2026/11", withIntermediateDirectories: true)
    try ws.write("\(name)/index.json", Array("{\"files\": 2}\n".utf8))
    try ws.write("\(name)/empty.txt", [])
    try ws.write("\(name)/2026/11/photo.bin", randomBytes(300_000))
    try ws.write("\(name)/2026/script.sh", Array("#!/bin/sh\necho hi\n".utf8))
    chmod(root + "/2026/script.sh", 0o750)
    chmod(root + "/index.json", 0o600)
    chmod(root + "/2026/11", 0o700)
}

private let filesConfig = """
    environment = "development"
    repository = "backups"
    keys = "keys"

    [[files]]
    name = "uploads"
    path = "uploads"
    """

/// A workspace with the `[[files]] uploads` config, keys and an uploads folder.
private func withUploads(_ body: (Workspace) throws -> Void) throws {
    try Workspace.with { ws in
        try filesConfig.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try makeUploads(ws)
        try body(ws)
    }
}

/// Changes the tree: a file edited, one added, one removed.
private func changeUploads(_ ws: Workspace) throws {
    try ws.write("uploads/index.json", Array("{\"files\": 3}\n".utf8))
    try ws.write("uploads/only-in-new.txt", Array("later".utf8))
    try FileManager.default.removeItem(atPath: ws.path("uploads/empty.txt"))
}

@Suite("coffer with a [[files]] source", .serialized)
struct FilesCommandTests {
    @Test("snapshot, verify --deep, restore over a different tree (replaced whole), rollback brings the old tree back")
    func restoreAndRollback() throws {
        try withUploads { ws in
            let original = try listing(ws.path("uploads"))
            let snapshot = try ws.coffer("snapshot")
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            let verify = try ws.coffer("verify", "latest", "--deep")
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            try changeUploads(ws)
            let changed = try listing(ws.path("uploads"))
            let restore = try ws.coffer("restore", "latest", "--yes", "--json")
            try #require(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            let id = try #require(try jsonObject(restore)["restore_id"] as? String)
            #expect(try listing(ws.path("uploads")) == original)
            #expect(!ws.exists("uploads/only-in-new.txt"))
            #expect(try listing(ws.path("uploads.pre-restore-\(id)")) == changed)
            let rollback = try ws.coffer("rollback", id)
            #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
            #expect(try listing(ws.path("uploads")) == changed)
            #expect(try ws.coffer("restore", "--finalize", id).status == 0)
            let leftovers = try ws.files().filter { $0.hasPrefix(".uploads") || $0.hasPrefix("uploads.") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }

    @Test("the artifact opens by hand: age -d | gunzip | tar -xf gives the same tree")
    func byHand() throws {
        try withUploads { ws in
            try ws.pinFormatOne()
            let original = try listing(ws.path("uploads"))
            try #require(try ws.coffer("snapshot").status == 0)
            let script = """
                set -euo pipefail
                mkdir by-hand
                cat backups/bundles/development/*/artifacts/uploads.tar.gz.age-header backups/bundles/development/*/artifacts/uploads.tar.gz.age-payload \\
                  | age -d -i keys/development.age | gunzip | tar -xf - -C by-hand
                """
            let run = try ws.run("bash", ["-c", script])
            #expect(run.status == 0, "\(run.stderr)")
            var extracted = try listing(ws.path("by-hand"))
            var expected = original
            // tar -xf into an existing folder gives it the archived mode too; compare the contents.
            extracted["."] = nil
            expected["."] = nil
            #expect(extracted == expected)
        }
    }

    @Test("a tampered artifact fails the restore and leaves the target exactly as it was")
    func tampered() throws {
        try withUploads { ws in
            try ws.pinFormatOne()
            try #require(try ws.coffer("snapshot").status == 0)
            try changeUploads(ws)
            let changed = try listing(ws.path("uploads"))
            let payload = try #require(
                try FileManager.default.subpathsOfDirectory(atPath: ws.path("backups/bundles")).first { $0.hasSuffix("uploads.tar.gz.age-payload") })
            var bytes = try ws.read("backups/bundles/" + payload)
            bytes[bytes.count / 2] ^= 0x01
            try ws.write("backups/bundles/" + payload, bytes)
            let restore = try ws.coffer("restore", "latest", "--yes")
            #expect(restore.status != 0)
            #expect(restore.stderr.contains("corrupted") || restore.stderr.contains("does not match"), "\(restore.stderr)")
            #expect(try listing(ws.path("uploads")) == changed)
            let leftovers = try ws.files().filter { $0.hasPrefix(".uploads") || $0.hasPrefix("uploads.") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }

    @Test("killed after the stage or after the commit, then --recover: the tree is whole, old or new, never a mix", arguments: [
        ("restore-after-stage-1", false), ("restore-after-commit-1", true),
    ])
    func crash(_ fault: String, _ committed: Bool) throws {
        try withUploads { ws in
            let original = try listing(ws.path("uploads"))
            try #require(try ws.coffer("snapshot").status == 0)
            try changeUploads(ws)
            let changed = try listing(ws.path("uploads"))
            let killed = try ws.coffer("restore", "latest", "--yes", environment: ["COFFER_FAULT": fault])
            #expect(killed.status == 137, "\(killed.stderr)")
            let recovered = try ws.coffer("restore", "--recover")
            #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
            #expect(try listing(ws.path("uploads")) == (committed ? original : changed))
        }
    }

    @Test("a single-file entry is restored whole with its mode")
    func singleFile() throws {
        try Workspace.with { ws in
            try (filesConfig.replacingOccurrences(of: "name = \"uploads\"\npath = \"uploads\"", with: "name = \"tls\"\npath = \"certs/app.pem\""))
                .write(toFile: ws.config, atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: ws.path("certs"), withIntermediateDirectories: true)
            let pem = Array("-----BEGIN PRIVATE KEY-----\nabc\n".utf8)
            try ws.write("certs/app.pem", pem)
            chmod(ws.path("certs/app.pem"), 0o600)
            let snapshot = try ws.coffer("snapshot")
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            try ws.write("certs/app.pem", Array("rotated".utf8))
            let restore = try ws.coffer("restore", "latest", "--yes")
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try ws.read("certs/app.pem") == pem)
            #expect(try ws.mode("certs/app.pem") == 0o600)
        }
    }

    @Test("a missing path fails the snapshot, naming the entry and the path, and leaves no bundle")
    func missingPath() throws {
        try withUploads { ws in
            try FileManager.default.removeItem(atPath: ws.path("uploads"))
            let snapshot = try ws.coffer("snapshot")
            #expect(snapshot.status != 0)
            #expect(snapshot.stderr.contains("uploads: [[files]] path \(ws.path("uploads")) does not exist"), "\(snapshot.stderr)")
            let bundles = (try? FileManager.default.subpathsOfDirectory(atPath: ws.path("backups/bundles"))) ?? []
            #expect(!bundles.contains { $0.hasSuffix("manifest.json") }, "\(bundles)")
        }
    }

    @Test("a file that changes while read: the snapshot succeeds, says which file, and the manifest records it")
    func changedWhileRead() throws {
        try withUploads { ws in
            let snapshot = try ws.coffer("snapshot", environment: ["COFFER_FAULT": "files-change-during-read"])
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(snapshot.stderr.contains("changed while") && snapshot.stderr.contains("2026/11/photo.bin"), "\(snapshot.stderr)")
            let manifest = try #require(
                try FileManager.default.subpathsOfDirectory(atPath: ws.path("backups/bundles")).first { $0.hasSuffix("/manifest.json") })
            let text = String(decoding: try ws.read("backups/bundles/" + manifest), as: UTF8.self)
            #expect(text.contains("\"changed_while_read\""), "\(text)")
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
        }
    }
}
