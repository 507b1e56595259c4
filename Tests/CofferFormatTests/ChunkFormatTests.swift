import CofferCrypto
import CofferSystem
import Foundation
import Testing

@testable import CofferFormat

/// The pieces of format v2 below the storage: keyed chunking, one-member gzip
/// chunks sealed with age, and the manifest's checks of chunk lists.
@Suite("format v2 pieces")
struct ChunkFormatTests {
    static func key(_ folder: String) throws -> ChunkKey {
        let path = folder + "/chunk.key"
        try ChunkKey.create(at: path, created: "2026-12-01T00:00:00Z")
        return try ChunkKey(reading: path)
    }

    static func withFolder<R>(_ body: (String) throws -> R) throws -> R {
        let folder = NSTemporaryDirectory() + "coffer-chunks-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return try body(folder)
    }

    static func cut(_ data: [UInt8], key: ChunkKey, pieceSize: Int = 100_000) throws -> [[UInt8]] {
        var chunker = ContentChunker(key: key)
        var chunks: [[UInt8]] = []
        var index = 0
        while index < data.count {
            let end = min(data.count, index + pieceSize)
            try data[index..<end].withUnsafeBytes { try chunker.update($0) { chunks.append(Array($0)) } }
            index = end
        }
        try chunker.finish { chunks.append(Array($0)) }
        return chunks
    }

    @Test("chunks are within 256 KiB..4 MiB, add up to the input, do not depend on how it is fed, and an insertion changes only the chunks near it")
    func chunking() throws {
        try Self.withFolder { folder in
            let key = try Self.key(folder)
            let data = (0..<(12 << 20)).map { _ in UInt8.random(in: 0...255) }
            let chunks = try Self.cut(data, key: key)
            #expect(chunks.reduce(0) { $0 + $1.count } == data.count)
            #expect(Array(chunks.joined()) == data)
            #expect(chunks.dropLast().allSatisfy { $0.count >= ContentChunker.minimumSize && $0.count <= ContentChunker.maximumSize })
            #expect(chunks.count >= 4 && chunks.count <= 40, "\(chunks.map(\.count))")
            #expect(try Self.cut(data, key: key, pieceSize: 7_777_777).map(\.count) == chunks.map(\.count))

            var edited = data
            edited.insert(contentsOf: [1, 2, 3, 4, 5], at: 6 << 20)
            let after = try Self.cut(edited, key: key)
            let before = Set(chunks.map { chunk in chunk.withUnsafeBytes { key.chunkID($0) } })
            let shared = after.filter { chunk in chunk.withUnsafeBytes { before.contains(key.chunkID($0)) } }
            #expect(shared.count >= chunks.count - 3, "\(shared.count) of \(chunks.count) chunks unchanged")

            // Another repository's key cuts the same data elsewhere and names it otherwise.
            let other = try Self.withFolder { try Self.key($0) }
            let otherChunks = try Self.cut(data, key: other)
            #expect(otherChunks.map(\.count) != chunks.map(\.count))
            #expect(chunks[0].withUnsafeBytes { key.chunkID($0) } != chunks[0].withUnsafeBytes { other.chunkID($0) })
        }
    }

    @Test("the chunk key is a 0600 secret: refused when others can read it, and never overwritten")
    func keyFile() throws {
        try Self.withFolder { folder in
            _ = try Self.key(folder)
            let path = folder + "/chunk.key"
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600)
            #expect(throws: KeyFileError.self) { try ChunkKey.create(at: path, created: "now") }
            chmod(path, 0o644)
            #expect(throws: KeyFileError.self) { try ChunkKey(reading: path) }
            chmod(path, 0o600)
            try Data("COFFER-CHUNK-KEY-1 nothex\n".utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: KeyFileError.self) { try ChunkKey(reading: path) }
        }
    }

    @Test("a sealed chunk opens to its plaintext; a damaged payload, a wrong size or another identity is refused", arguments: [1, 1000, 3 << 20])
    func codec(_ size: Int) throws {
        let identity = AgeX25519Identity()
        let plain = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 31 / 7) }
        let sealed = try plain.withUnsafeBytes { try ChunkCodec.seal($0, level: 6, recipients: [identity.recipient]) }
        let reference = sealed.reference(id: String(repeating: "a", count: 64), plainBytes: size)
        let piece = ArtifactPiece(
            label: "t: chunk 1", headerKey: "h", payloadKey: "p", header: reference.header, payload: reference.payload, plainBytes: Int64(size), chunk: reference)
        #expect(try ChunkCodec.open(piece, header: sealed.header, payload: sealed.payload, identities: [identity]) == plain)
        // One standard age file of one gzip member.
        #expect(try AgeFile.decrypt(sealed.header + sealed.payload, identities: [identity]).prefix(2) == [0x1f, 0x8b])
        var damaged = sealed.payload
        damaged[damaged.count - 1] ^= 1
        #expect(throws: FormatError.self) { try ChunkCodec.open(piece, header: sealed.header, payload: damaged, identities: [identity]) }
        var wrongSize = piece
        wrongSize.plainBytes += 1
        #expect(throws: (any Error).self) { try ChunkCodec.open(wrongSize, header: sealed.header, payload: sealed.payload, identities: [identity]) }
        #expect(throws: (any Error).self) { try ChunkCodec.open(piece, header: sealed.header, payload: sealed.payload, identities: [AgeX25519Identity()]) }
    }

    @Test("a coffer/2 manifest must list chunks whose sizes add up; a coffer/1 one must not list any")
    func manifestShape() throws {
        let digest = ObjectDigest(bytes: 10, sha256: String(repeating: "b", count: 64))
        let chunk = ChunkReference(id: String(repeating: "c", count: 64), plainBytes: 300, header: digest, payload: digest)
        func manifest(format: String, _ entry: ArtifactEntry) throws -> [UInt8] {
            var manifest = sampleManifest(artifacts: [entry])
            manifest.format = format
            return try manifest.canonicalBytes()
        }
        let chunked = ArtifactEntry(name: "app", kind: .sqlite, path: "artifacts/app.sqlite.gz.age", plainBytes: 600, chunks: [chunk, chunk], source: [:], stats: [:])
        let parsed = try Manifest.parse(try manifest(format: "coffer/2", chunked))
        #expect(parsed.artifacts[0].chunks?.count == 2 && parsed.isChunked)
        #expect(parsed.artifacts[0].pieces(environment: "development", bundleID: parsed.id)[1].payloadKey.hasPrefix("chunks/development/cc/" + chunk.id + "-bbbbbbbbbbbbbbbb"))

        var short = chunked
        short.plainBytes = 900  // a third reference taken out, or one added: the sizes no longer add up
        #expect(throws: FormatError.self) { try Manifest.parse(try manifest(format: "coffer/2", short)) }
        var badID = chunked
        badID.chunks = [ChunkReference(id: "../../etc", plainBytes: 600, header: digest, payload: digest)]
        #expect(throws: FormatError.self) { try Manifest.parse(try manifest(format: "coffer/2", badID)) }
        #expect(throws: FormatError.self) { try Manifest.parse(try manifest(format: "coffer/1", chunked)) }
        let single = ArtifactEntry(
            name: "app", kind: .sqlite, path: "artifacts/app.sqlite.gz.age", plainBytes: 600, header: digest, payload: digest, source: [:], stats: [:])
        #expect(throws: FormatError.self) { try Manifest.parse(try manifest(format: "coffer/2", single)) }
        #expect(try Manifest.parse(try manifest(format: "coffer/1", single)).isChunked == false)
    }
}
