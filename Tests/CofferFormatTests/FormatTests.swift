import CofferCrypto
import CofferSystem
import Foundation
import Testing

@testable import CofferFormat

func sampleManifest(artifacts: [ArtifactEntry] = [], signer: String = "0000000000000000") -> Manifest {
    Manifest(
        id: "20261128T064512Z-3f9a1c2e", environment: "development", label: nil, createdAt: "2026-11-28T06:45:12Z",
        host: "test", tool: "coffer test", recipients: ["age1example"], signer: signer, previous: nil, artifacts: artifacts)
}

@Suite("manifest")
struct ManifestTests {
    @Test("canonical bytes: sorted keys, explicit nulls, round trip")
    func canonical() throws {
        let entry = ArtifactEntry(
            name: "app", kind: .sqlite, path: "artifacts/app.sqlite.gz.age", plainBytes: 10,
            header: ObjectDigest(bytes: 1, sha256: "aa"), payload: ObjectDigest(bytes: 2, sha256: "bb"),
            source: ["sqlite_version": .string("3.40.1")], stats: ["tables": .object(["users": .int(3)])])
        let manifest = sampleManifest(artifacts: [entry])
        let bytes = try manifest.canonicalBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"previous\" : null"))
        #expect(text.contains("\"label\" : null"))
        #expect(text.range(of: "\"artifacts\"")!.lowerBound < text.range(of: "\"created_at\"")!.lowerBound)
        #expect(try Manifest.parse(bytes) == manifest)
        #expect(try Manifest.parse(bytes).canonicalBytes() == bytes)
    }

    @Test("unknown format versions and non-manifests are refused clearly")
    func versions() throws {
        var text = String(decoding: try sampleManifest().canonicalBytes(), as: UTF8.self)
        text = text.replacingOccurrences(of: "coffer/1", with: "coffer/9")
        #expect(throws: FormatError.self) { try Manifest.parse(Array(text.utf8)) }
        do {
            _ = try Manifest.parse(Array(text.utf8))
        } catch let error as FormatError {
            #expect(error.kind == .unsupportedVersion)
            #expect(error.message.contains("coffer/2"))
        }
        #expect(throws: FormatError.self) { try Manifest.parse(Array("not json".utf8)) }
        #expect(throws: FormatError.self) { try Manifest.parse(Array("{\"format\":\"coffer/1\"}".utf8)) }
    }

    @Test("signatures: trusted key verifies; another key, an edit or no signature is refused")
    func signatures() throws {
        let key = MinisignSecretKey()
        let manifest = sampleManifest(signer: key.keyID.description)
        let bytes = try manifest.canonicalBytes()
        let signature = ManifestSignature.sign(bytes, manifest: manifest, with: key)
        #expect(try ManifestSignature.verify(manifest: bytes, signature: signature, trusted: key.publicKey) == manifest)

        let other = MinisignSecretKey()
        let foreign = ManifestSignature.sign(bytes, manifest: manifest, with: other)
        #expect(throws: FormatError.self) { try ManifestSignature.verify(manifest: bytes, signature: foreign, trusted: key.publicKey) }
        var edited = bytes
        edited[edited.count / 2] ^= 0x01
        #expect(throws: FormatError.self) { try ManifestSignature.verify(manifest: edited, signature: signature, trusted: key.publicKey) }
        #expect(throws: FormatError.self) { try ManifestSignature.verify(manifest: bytes, signature: nil, trusted: key.publicKey) }
    }

    @Test("bundle ids sort by time and are validated")
    func ids() {
        let id = BundleID.make(at: Date(timeIntervalSince1970: 1_795_900_000))
        #expect(BundleID.isValid(id))
        #expect(id.hasPrefix("20261128T"))
        #expect(!BundleID.isValid("../../etc/passwd"))
        #expect(!BundleID.isValid("20261128T064512Z-3F9A1C2E"))
        #expect(BundleID.make(at: Date(timeIntervalSince1970: 1)) < id)
        // Within one second, ids still increase (from a low suffix: 200 random steps from a random one can reach ffffffff, where they stop).
        var last = String(id.prefix(17)) + "00000001"
        for _ in 0..<200 {
            let next = BundleID.make(at: Date(timeIntervalSince1970: 1_795_900_000), after: last)
            #expect(next > last && BundleID.isValid(next), "\(next) after \(last)")
            last = next
        }
        // The time is always the clock's, whatever the newest id says (a clock that went back, or a planted id).
        #expect(BundleID.make(at: Date(timeIntervalSince1970: 1), after: id).hasPrefix("19700101T000001Z-"))
        #expect(BundleID.make(at: Date(timeIntervalSince1970: 1_795_900_000), after: "99991231T235959Z-ffffffff").hasPrefix("20261128T"))
        let full = BundleID.make(at: Date(timeIntervalSince1970: 1_795_900_000), after: String(id.prefix(17)) + "ffffffff")
        #expect(full.hasPrefix(String(id.prefix(17))) && BundleID.isValid(full), "no digits above ffffffff: still this second")

        // Dates: a real time, and the allowed clock skew.
        #expect(BundleID.date(of: id) == Date(timeIntervalSince1970: 1_795_900_000))
        #expect(BundleID.date(of: "20261399T999999Z-00000000") == nil)
        #expect(BundleID.date(of: "20260431T000000Z-00000000") == nil)
        let now = Date(timeIntervalSince1970: 1_795_900_000)
        #expect(BundleID.isCurrent(BundleID.make(at: now.addingTimeInterval(299)), now: now))
        #expect(!BundleID.isCurrent(BundleID.make(at: now.addingTimeInterval(301)), now: now))
        #expect(!BundleID.isCurrent("99991231T235959Z-ffffffff", now: now))
    }
}

@Suite("artifact pipeline")
struct ArtifactPipelineTests {
    func seal(_ plaintext: [UInt8], to identity: AgeX25519Identity) throws -> (header: [UInt8], payload: [UInt8], ArtifactEntry) {
        var header: [UInt8] = [], payload: [UInt8] = []
        let sealed = try ArtifactPipeline.seal(recipients: [identity.recipient], header: { header += $0 }, payload: { payload += $0 }) { sink in
            var index = 0
            while index < plaintext.count {
                let end = min(index + 70_000, plaintext.count)
                try plaintext[index..<end].withUnsafeBytes { try sink($0) }
                index = end
            }
        }
        let entry = ArtifactEntry(
            name: "app", kind: .file, path: "artifacts/app.bin.gz.age", plainBytes: sealed.plainBytes, header: sealed.header,
            payload: sealed.payload, source: [:], stats: [:])
        return (header, payload, entry)
    }

    func open(_ entry: ArtifactEntry, header: [UInt8], payload: [UInt8], identity: AgeX25519Identity) throws -> [UInt8] {
        var out: [UInt8] = []
        try ArtifactPipeline.open(entry.pieces(environment: "development", bundleID: "20261201T000000Z-00000000")[0], header: header, identities: [identity], read: { sink in try payload.withUnsafeBytes { try sink($0) } }) { out += $0 }
        return out
    }

    @Test("seal then open gives the plaintext; digests are of the stored objects", arguments: [0, 1, 300_000])
    func roundTrip(_ size: Int) throws {
        let identity = AgeX25519Identity()
        let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let (header, payload, entry) = try seal(plaintext, to: identity)
        #expect(entry.header?.sha256 == hexString(SHA256.hash(header)))
        #expect(entry.payload?.bytes == Int64(payload.count))
        #expect(entry.plainBytes == Int64(size))
        #expect(try open(entry, header: header, payload: payload, identity: identity) == plaintext)
    }

    @Test("age and gunzip open what the pipeline wrote (the emergency path)")
    func byHand() throws {
        let identity = AgeX25519Identity()
        let plaintext = Array(String(repeating: "INSERT INTO t VALUES (1, 'coffer');\n", count: 5000).utf8)
        let (header, payload, _) = try seal(plaintext, to: identity)
        let dir = NSTemporaryDirectory() + "coffer-format-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SecretFile.write(dir + "/id.age", AgeKeyFiles.identityFile(identity, created: "now"))
        _ = FileManager.default.createFile(atPath: dir + "/a.age-header", contents: Data(header))
        _ = FileManager.default.createFile(atPath: dir + "/a.age-payload", contents: Data(payload))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cat '\(dir)/a.age-header' '\(dir)/a.age-payload' | age -d -i '\(dir)/id.age' | gunzip > '\(dir)/out'"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(FileManager.default.contents(atPath: dir + "/out").map { [UInt8]($0) } == plaintext)
    }

    @Test("a swapped, truncated or altered object is refused")
    func tampering() throws {
        let identity = AgeX25519Identity()
        let (header, payload, entry) = try seal(Array(repeating: 7, count: 200_000), to: identity)
        let (otherHeader, otherPayload, _) = try seal(Array(repeating: 7, count: 200_000), to: identity)
        #expect(throws: FormatError.self) { try open(entry, header: otherHeader, payload: payload, identity: identity) }
        #expect(throws: (any Error).self) { try open(entry, header: header, payload: otherPayload, identity: identity) }
        #expect(throws: (any Error).self) { try open(entry, header: header, payload: Array(payload.dropLast(100)), identity: identity) }
        var flipped = payload
        flipped[flipped.count / 2] ^= 1
        #expect(throws: (any Error).self) { try open(entry, header: header, payload: flipped, identity: identity) }
        #expect(throws: AgeError.self) { try open(entry, header: header, payload: payload, identity: AgeX25519Identity()) }
    }
}
