import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferSources

/// A folder with nested folders, an empty file, a binary file and odd modes.
private func makeTree(_ root: String) throws {
    let manager = FileManager.default
    try manager.createDirectory(atPath: root + "/sub/deeper", withIntermediateDirectories: true)
    try Data("hello\n".utf8).write(to: URL(fileURLWithPath: root + "/a.txt"))
    try Data().write(to: URL(fileURLWithPath: root + "/empty"))
    try Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: root + "/sub/blob.bin"))
    try Data("deep".utf8).write(to: URL(fileURLWithPath: root + "/sub/deeper/note"))
    try FileSystem.setPermissions(root + "/a.txt", 0o640)
    try FileSystem.setPermissions(root + "/sub/blob.bin", 0o755)
    try FileSystem.setPermissions(root + "/sub/deeper", 0o750)
}

/// Every path under `root` with its kind, mode and content, to compare two trees exactly.
func treeListing(_ root: String) throws -> [String: String] {
    var listing: [String: String] = [:]
    func visit(_ path: String, _ relative: String) throws {
        let status = try #require(try FileSystem.linkStatus(of: path))
        if status.isDirectory {
            listing[relative] = "dir \(String(status.permissions, radix: 8))"
            for child in try FileSystem.contentsOfDirectory(path) { try visit(path + "/" + child, relative + "/" + child) }
        } else {
            listing[relative] = "file \(String(status.permissions, radix: 8)) \(try FileSystem.readFile(path, limit: 64 << 20))"
        }
    }
    try visit(root, ".")
    return listing
}

/// Takes a snapshot of `source` and returns the archive and an entry carrying its facts.
private func snapshot(_ source: FilesSource) throws -> (archive: [UInt8], entry: ArtifactEntry, facts: SourceFacts) {
    var archive: [UInt8] = []
    let facts = try source.snapshot(workDirectory: "/nonexistent") { archive += $0 }
    let entry = ArtifactEntry(
        name: source.name, kind: .file, path: "artifacts/\(source.name).tar.gz.age", plainBytes: Int64(archive.count),
        header: ObjectDigest(bytes: 0, sha256: ""), payload: ObjectDigest(bytes: 0, sha256: ""), source: facts.source, stats: facts.stats)
    return (archive, entry, facts)
}

private func stage(_ source: FilesSource, _ id: String, _ entry: ArtifactEntry, _ archive: [UInt8]) throws -> StageReport {
    try source.stage(restoreID: id, entry: entry) { sink in try archive.withUnsafeBytes { try sink($0) } }
}

extension FileSystem {
    /// A small new file, written without the fsync `writeFile` does (test trees of thousands of files).
    static func writeNew(_ path: String, _ bytes: [UInt8]) throws {
        var file = try FileDescriptor(opening: path, .createNew(permissions: 0o644))
        try file.write(bytes)
        try file.close()
    }
}

@Suite("[[files]] source")
struct FilesSourceTests {
    @Test("tar: folders, modes, mtimes and a name over 100 bytes (ustar prefix) round-trip; one that cannot be split is refused")
    func tarEntries() throws {
        var bytes: [UInt8] = []
        let writer = TarWriter { bytes += $0 }
        let long = String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 90)
        try writer.addDirectory("./", mode: 0o750, modificationTime: 1_700_000_000)
        try writer.addFile(long, size: 3, mode: 0o600, modificationTime: 1_700_000_001) { try [UInt8]([1, 2, 3]).withUnsafeBytes($0) }
        #expect(throws: Tar.Failure.self) { try writer.addFile(String(repeating: "x", count: 101), size: 0) { _ in } }
        try writer.finish()
        var offset = 0
        var reader = TarReader { buffer in
            let n = min(buffer.count, bytes.count - offset)
            buffer.copyBytes(from: bytes[offset..<(offset + n)])
            offset += n
            return n
        }
        var seen: [TarEntry] = []
        try reader.forEachEntry { entry, content in
            seen.append(entry)
            try forEachBlock(read: content, blockSize: 64) { _ in }
        }
        #expect(seen.map(\.name) == ["./", long])
        #expect(seen.map(\.mode) == [0o750, 0o600])
        #expect(seen.map(\.modificationTime) == [1_700_000_000, 1_700_000_001])
        #expect(seen.map(\.kind) == [.directory, .file])
        // More bytes than announced would shift every later header: refused.
        #expect(throws: Tar.Failure.self) { try TarWriter { _ in }.addFile("short", size: 1) { try [UInt8]([1, 2]).withUnsafeBytes($0) } }
    }

    @Test("a folder is archived in sorted order with per-file sizes and SHA-256, and restored byte for byte with its modes; commit, undo and finalize answer from the files")
    func folderRoundTrip() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/uploads")
        let original = try treeListing(dir + "/uploads")
        let source = FilesSource(name: "uploads", path: dir + "/uploads")
        let (archive, entry, facts) = try snapshot(source)
        #expect(facts.stats == ["files": .int(4), "directories": .int(2), "bytes": .int(6 + 70_000 + 4)])
        let listed = FilesFacts.listed(facts.source)
        #expect(listed.keys.sorted() == ["a.txt", "empty", "sub/blob.bin", "sub/deeper/note"])
        #expect(listed["empty"]?.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(facts.source["changed_while_read"] == nil && facts.notes.isEmpty)
        #expect(try snapshot(source).archive == archive, "the archive is not deterministic")

        // The target now differs: a file only in the new tree must be gone after the restore.
        try Data("changed".utf8).write(to: URL(fileURLWithPath: dir + "/uploads/a.txt"))
        try Data("new".utf8).write(to: URL(fileURLWithPath: dir + "/uploads/only-now"))
        let changed = try treeListing(dir + "/uploads")
        let report = try stage(source, "r1", entry, archive)
        #expect(report.stats == entry.stats)
        #expect(try treeListing(dir + "/uploads") == changed, "staging touched the target")
        #expect(try source.content(restoreID: "r1") == .previous)
        try source.commit(restoreID: "r1")
        try source.commit(restoreID: "r1")  // idempotent, as recovery needs
        #expect(try source.content(restoreID: "r1") == .bundle)
        #expect(try treeListing(dir + "/uploads") == original)
        #expect(try treeListing(dir + "/uploads.pre-restore-r1") == changed)
        #expect(try source.hasPreRestoreCopy(restoreID: "r1"))
        try source.undo(restoreID: "r1")
        try source.undo(restoreID: "r1")
        #expect(try source.content(restoreID: "r1") == .previous)
        #expect(try treeListing(dir + "/uploads") == changed)
        try source.finalize(restoreID: "r1")
        #expect(try FileSystem.contentsOfDirectory(dir) == ["uploads"])
    }

    @Test("a crash between the exchange and the rename of a commit: content says bundle, commit finishes, undo puts the old tree back")
    func commitCutShort() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/tree")
        let source = FilesSource(name: "tree", path: dir + "/tree")
        let (archive, entry, _) = try snapshot(source)
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/tree/old-only"))
        let old = try treeListing(dir + "/tree")
        _ = try stage(source, "r2", entry, archive)
        let swap = TreeSwap(name: "tree", target: dir + "/tree", restoreID: "r2")
        try FileSystem.exchange(swap.staging, swap.target)  // the commit's first step, then a crash
        #expect(try source.content(restoreID: "r2") == .bundle)
        #expect(try source.hasPreRestoreCopy(restoreID: "r2"))
        try source.undo(restoreID: "r2")
        #expect(try source.content(restoreID: "r2") == .previous)
        #expect(try treeListing(dir + "/tree") == old)
        try FileSystem.exchange(swap.staging, swap.target)
        try source.commit(restoreID: "r2")
        #expect(FileSystem.exists(swap.kept) && !FileSystem.exists(swap.staging))
        #expect(try treeListing(swap.kept) == old)
        // An undo cut short after its exchange: the kept name holds the bundle's tree.
        try FileSystem.exchange(swap.kept, swap.target)
        #expect(try source.content(restoreID: "r2") == .previous)
        try source.undo(restoreID: "r2")
        #expect(try treeListing(dir + "/tree") == old)
        #expect(FileSystem.exists(swap.staging) && !FileSystem.exists(swap.kept))
        source.discardStage(restoreID: "r2")
        #expect(try treeListing(dir + "/tree") == old)
        #expect(try FileSystem.contentsOfDirectory(dir) == ["tree"])
    }

    @Test("a target that did not exist is created by rename and removed again by undo")
    func absentTarget() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/data")
        let original = try treeListing(dir + "/data")
        let (archive, entry, _) = try snapshot(FilesSource(name: "data", path: dir + "/data"))
        let target = FilesSource(name: "data", path: dir + "/elsewhere/data")
        _ = try stage(target, "r3", entry, archive)
        try target.commit(restoreID: "r3")
        #expect(try treeListing(dir + "/elsewhere/data") == original)
        #expect(try target.hasPreRestoreCopy(restoreID: "r3"))
        try target.undo(restoreID: "r3")
        #expect(!FileSystem.exists(dir + "/elsewhere/data"))
        try target.finalize(restoreID: "r3")
        #expect(try FileSystem.contentsOfDirectory(dir + "/elsewhere") == [])
    }

    @Test("a single file is stored under its base name and replaced whole, its mode kept")
    func singleFile() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try Data("-----BEGIN CERTIFICATE-----\n".utf8).write(to: URL(fileURLWithPath: dir + "/cert.pem"))
        try FileSystem.setPermissions(dir + "/cert.pem", 0o600)
        let source = FilesSource(name: "tls", path: dir + "/cert.pem")
        let (archive, entry, facts) = try snapshot(source)
        #expect(facts.stats == ["files": .int(1), "directories": .int(0), "bytes": .int(28)])
        #expect(FilesFacts.listed(facts.source).keys.sorted() == ["cert.pem"])
        try Data("replaced".utf8).write(to: URL(fileURLWithPath: dir + "/cert.pem"))
        _ = try stage(source, "r4", entry, archive)
        try source.commit(restoreID: "r4")
        #expect(try FileSystem.readFile(dir + "/cert.pem") == Array("-----BEGIN CERTIFICATE-----\n".utf8))
        #expect(try FileSystem.status(of: dir + "/cert.pem")?.permissions == 0o600)
        #expect(try FileSystem.readFile(dir + "/cert.pem.pre-restore-r4") == Array("replaced".utf8))
    }

    @Test("a file whose digest differs from the manifest fails the stage, naming it; nothing is left and the target is untouched")
    func digestMismatch() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/tree")
        let source = FilesSource(name: "tree", path: dir + "/tree")
        var (archive, entry, _) = try snapshot(source)
        guard case .array(var records)? = entry.source["files"], case .object(var first) = records[0] else { throw SourceError("test", "no records") }
        first["sha256"] = .string(String(repeating: "0", count: 64))
        records[0] = .object(first)
        entry.source["files"] = .array(records)
        let before = try treeListing(dir + "/tree")
        do {
            _ = try stage(source, "r5", entry, archive)
            Issue.record("a digest mismatch was staged")
        } catch let error as SourceError {
            #expect(error.description.contains("a.txt does not match the manifest"), "\(error)")
        }
        #expect(try FileSystem.contentsOfDirectory(dir) == ["tree"])
        #expect(try treeListing(dir + "/tree") == before)
        archive[archive.count / 2] ^= 1  // not caught by a digest here, but never a crash or a half tree
        _ = try? stage(source, "r6", entry, archive)
        source.discardStage(restoreID: "r6")
        #expect(try FileSystem.contentsOfDirectory(dir) == ["tree"])
    }

    @Test("entry names that could leave the root are refused", arguments: ["../evil", "/etc/evil", "a/../../evil", "./evil", "a//b"])
    func escapingNames(_ name: String) throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        var archive: [UInt8] = []
        let writer = TarWriter { archive += $0 }
        try writer.addDirectory("./")
        try writer.addDirectory("a")
        try writer.addFile(name, size: 1) { try [UInt8]([0x41]).withUnsafeBytes($0) }
        try writer.finish()
        let source = FilesSource(name: "tree", path: dir + "/tree")
        let entry = ArtifactEntry(
            name: "tree", kind: .file, path: "x", plainBytes: 0, header: ObjectDigest(bytes: 0, sha256: ""), payload: ObjectDigest(bytes: 0, sha256: ""),
            source: [:], stats: [:])
        #expect(throws: SourceError.self) { try stage(source, "r7", entry, archive) }
        #expect(try FileSystem.contentsOfDirectory(dir) == [])
        #expect(!FileSystem.exists(dir + "/../evil") && !FileSystem.exists("/etc/evil"))
    }

    @Test("a symbolic link inside the tree is refused, naming it; a missing path names the entry and the path")
    func refusals() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/tree")
        try FileManager.default.createSymbolicLink(atPath: dir + "/tree/sub/link", withDestinationPath: "/etc/passwd")
        let error = #expect(throws: SourceError.self) { try snapshot(FilesSource(name: "tree", path: dir + "/tree")) }
        #expect(error?.description.contains("sub/link is a symbolic link") == true, "\(String(describing: error))")
        let missing = #expect(throws: SourceError.self) { try snapshot(FilesSource(name: "gone", path: dir + "/nothing")) }
        #expect(missing?.description == "gone: [[files]] path \(dir)/nothing does not exist; nothing was backed up")
    }

    @Test("a configured path that is a symbolic link is followed once: the real folder is backed up")
    func linkedRoot() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try makeTree(dir + "/real")
        try FileManager.default.createSymbolicLink(atPath: dir + "/current", withDestinationPath: dir + "/real")
        let (_, _, facts) = try snapshot(FilesSource(name: "tree", path: dir + "/current"))
        #expect(facts.stats["files"] == .int(4))
    }

    @Test("a small file that changes while read is read again, then flagged; a large one is flagged; the archive stays well formed", arguments: [
        ("files-change-during-read", 100), ("files-change-during-read", 5 << 20), ("files-shrink-during-read", 5 << 20),
    ])
    func changedWhileRead(_ fault: String, _ size: Int) throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/tree", withIntermediateDirectories: true)
        try Data(repeating: 0x61, count: size).write(to: URL(fileURLWithPath: dir + "/tree/log"))
        let source = FilesSource(name: "tree", path: dir + "/tree", fault: fault)
        let (archive, entry, facts) = try snapshot(source)
        #expect(facts.source["changed_while_read"] == .array([.string("log")]))
        #expect(facts.notes.contains { $0.contains("changed while it was read") && $0.contains("log") }, "\(facts.notes)")
        #expect((facts.stats["bytes"]?.intValue ?? 0) >= Int64(size))  // a small file is stored as its last read found it
        // What was stored is consistent with its own facts: staging checks the digest and the totals.
        let target = FilesSource(name: "tree", path: dir + "/restored")
        let report = try stage(target, "r8", entry, archive)
        #expect(report.stats == entry.stats)
        #expect(report.notes.contains { $0.contains("changed") })
        target.discardStage(restoreID: "r8")
    }

    @Test("a small file that changes once while read is read again and stored as it then was, not flagged")
    func readAgain() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/tree", withIntermediateDirectories: true)
        try Data(repeating: 0x61, count: 100).write(to: URL(fileURLWithPath: dir + "/tree/log"))
        let (archive, entry, facts) = try snapshot(FilesSource(name: "tree", path: dir + "/tree", fault: "files-change-once-during-read"))
        #expect(facts.source["changed_while_read"] == nil && facts.notes.isEmpty, "\(facts.notes)")
        #expect(facts.source["files_read_again"] == .int(1))
        let size = Int64(100 + "written meanwhile\n".utf8.count)
        #expect(facts.stats["bytes"] == .int(size))
        let target = FilesSource(name: "tree", path: dir + "/restored")
        _ = try stage(target, "r10", entry, archive)
        try target.commit(restoreID: "r10")
        #expect(try FileSystem.readFile(dir + "/restored/log") == (try FileSystem.readFile(dir + "/tree/log")))
    }

    @Test("more than 10,000 files: totals cover all, per-file facts the first 10,000, and the facts say so")
    func manyFiles() throws {
        let dir = try scratchFolder()
        defer { try? FileSystem.removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/many", withIntermediateDirectories: true)
        for index in 0..<10_005 { try FileSystem.writeNew(dir + "/many/\(index)", [1]) }
        let (archive, entry, facts) = try snapshot(FilesSource(name: "many", path: dir + "/many"))
        #expect(facts.stats == ["files": .int(10_005), "directories": .int(0), "bytes": .int(10_005)])
        #expect(facts.source["files_listed"] == .int(10_000) && facts.source["files_complete"] == .bool(false))
        #expect(facts.notes.contains { $0.contains("first 10000") })
        let report = try stage(FilesSource(name: "many", path: dir + "/back"), "r9", entry, archive)
        #expect(report.stats == entry.stats)
    }
}
