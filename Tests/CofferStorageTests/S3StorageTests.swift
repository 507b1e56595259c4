import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferStorage

private let bundle = "bundles/development/20261128T120000Z-0badcafe"

private func readAll(_ storage: S3Storage, _ key: String, range: Range<Int64>? = nil) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try storage.read(key, range: range, into: { bytes.append(contentsOf: $0) })
    return bytes
}

/// Writes `objects` (pushed in uneven slices) and a manifest, then commits.
private func writeBundle(_ storage: S3Storage, _ objects: [(String, [UInt8])], manifest: [UInt8] = Array("{}".utf8)) throws {
    let writer = try storage.beginBundle(at: bundle)
    for (name, bytes) in objects {
        try writer.write(name) { sink in
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + 700_001)
                try bytes[offset..<end].withUnsafeBytes { try sink($0) }
                offset = end
            }
        }
    }
    try writer.write(BundleLayout.manifestName) { sink in try manifest.withUnsafeBytes { try sink($0) } }
    try writer.commit()
}

@Suite("S3 storage against a real SeaweedFS server", .serialized)
struct S3StorageTests {
    @Test("multipart and single-part objects round-trip; ranges cross part boundaries; no upload is left open")
    func roundTrip() throws {
        let storage = try S3TestServer.require().storage()
        let large = randomBytes(12 << 20 + 12_345)
        let small = Array("header bytes".utf8)
        try writeBundle(storage, [("artifacts/db.age-payload", large), ("artifacts/db.age-header", small), ("artifacts/empty", [])])

        #expect(try readAll(storage, "\(bundle)/artifacts/db.age-payload") == large)
        let boundary = Int64(5 << 20)
        #expect(try readAll(storage, "\(bundle)/artifacts/db.age-payload", range: boundary - 10..<boundary + 10) == Array(large[Int(boundary) - 10..<Int(boundary) + 10]))
        #expect(try readAll(storage, "\(bundle)/artifacts/empty") == [])
        #expect(try storage.readSmall("\(bundle)/artifacts/db.age-header", limit: 100) == small)
        #expect(try storage.readSmall("\(bundle)/artifacts/absent", limit: 100) == nil)
        #expect(try storage.size(of: "\(bundle)/artifacts/db.age-payload") == Int64(large.count))
        #expect(try storage.size(of: "\(bundle)/nothing") == nil)
        #expect(try storage.children(of: "bundles/development") == ["20261128T120000Z-0badcafe"])
        #expect(try storage.children(of: bundle) == ["artifacts", "manifest.json"])
        #expect(try storage.multipartUploads().isEmpty)
        #expect(throws: StorageError.self) { try readAll(storage, "\(bundle)/artifacts/absent") }
    }

    @Test("the manifest goes up last, only on commit, and an existing bundle is never replaced")
    func publishing() throws {
        let storage = try S3TestServer.require().storage()
        let writer = try storage.beginBundle(at: bundle)
        try writer.write("artifacts/a") { sink in try [1, 2, 3].withUnsafeBytes { try sink($0) } }
        try writer.write(BundleLayout.manifestName) { sink in try Array("{\"first\":1}".utf8).withUnsafeBytes { try sink($0) } }
        #expect(try storage.size(of: "\(bundle)/\(BundleLayout.manifestName)") == nil, "visible before commit")
        try writer.commit()
        #expect(try storage.readSmall("\(bundle)/\(BundleLayout.manifestName)", limit: 100) == Array("{\"first\":1}".utf8))

        #expect { try storage.beginBundle(at: bundle) } throws: { ($0 as? StorageError)?.kind == .exists }
        // A second writer that got past the check still cannot replace the manifest (If-None-Match: *).
        let racer = S3BundleWriter(client: storage.client, prefix: bundle, partSize: 5 << 20)
        try racer.write(BundleLayout.manifestName) { sink in try Array("{\"evil\":1}".utf8).withUnsafeBytes { try sink($0) } }
        #expect { try racer.commit() } throws: { ($0 as? StorageError)?.kind == .exists }
        #expect(try storage.readSmall("\(bundle)/\(BundleLayout.manifestName)", limit: 100) == Array("{\"first\":1}".utf8))
    }

    @Test("a write that fails half-way leaves no object and no multipart upload")
    func abortedWrite() throws {
        struct Boom: Error {}
        let storage = try S3TestServer.require().storage()
        let writer = try storage.beginBundle(at: bundle)
        try writer.write("artifacts/small") { sink in try [1].withUnsafeBytes { try sink($0) } }
        #expect(throws: Boom.self) {
            try writer.write("artifacts/large") { sink in
                try randomBytes(11 << 20).withUnsafeBytes { try sink($0) }
                throw Boom()
            }
        }
        writer.abort()
        #expect(try storage.listObjects(under: "").isEmpty)
        #expect(try storage.multipartUploads().isEmpty)
    }

    @Test("create-if-absent: the first writer wins, the second is told the object exists")
    func createSmall() throws {
        let storage = try S3TestServer.require().storage()
        try storage.createSmall("journal/development/000000000001.json", [1])
        #expect { try storage.createSmall("journal/development/000000000001.json", [2]) } throws: { ($0 as? StorageError)?.kind == .exists }
        #expect(try storage.readSmall("journal/development/000000000001.json", limit: 10) == [1])
    }

    @Test("listings are read page by page, hidden names left out")
    func pagination() throws {
        let storage = try S3TestServer.require().storage(listPageSize: 2)
        let names = (1...7).map { "bundles/development/2026112\($0)T000000Z-00000000/manifest.json" }
        for name in names { try storage.writeSmall(name, [0]) }
        try storage.writeSmall("bundles/development/.hidden", [0])
        #expect(try storage.children(of: "bundles/development") == (1...7).map { "2026112\($0)T000000Z-00000000" })
        #expect(try storage.listObjects(under: "bundles/").count == 8)
    }

    @Test("delete removes the manifest first and then every object")
    func deleteBundle() throws {
        let storage = try S3TestServer.require().storage()
        try writeBundle(storage, [("artifacts/x", randomBytes(1000))])
        try storage.deleteBundle(at: bundle)
        #expect(try storage.listObjects(under: "").isEmpty)
    }

    @Test("unpublished bundles and open multipart uploads are removed once a day old, not before")
    func abandonedWrites() throws {
        let storage = try S3TestServer.require().storage()
        try storage.writeSmall("\(bundle)/artifacts/orphan", [1, 2, 3])
        let upload = S3ObjectUpload(client: storage.client, key: "\(bundle)/artifacts/big", partSize: 5 << 20)
        try randomBytes(5 << 20).withUnsafeBytes { try upload.append($0) }
        #expect(try storage.multipartUploads().count == 1)
        let now = Int64(Date().timeIntervalSince1970)
        #expect(try storage.removeAbandonedWrites(now: now) == 0)
        #expect(try storage.listObjects(under: "").count == 1)
        #expect(try storage.removeAbandonedWrites(now: now + 2 * 86_400) == 2)
        #expect(try storage.listObjects(under: "").isEmpty)
        #expect(try storage.multipartUploads().isEmpty)
    }

    @Test("wrong credentials, a read-only identity and a missing bucket get clear errors that never show the secret")
    func refusals() throws {
        let server = try S3TestServer.require()
        let wrongSecret = try server.storage(secret: "not-the-secret-4242")
        #expect {
            try wrongSecret.children(of: "bundles")
        } throws: { error in
            let error = error as? StorageError
            return error?.kind == .denied && error?.message.contains("TEST_KEY / TEST_SECRET") == true && error?.message.contains("4242") == false
        }
        let unknownKey = try server.storage(accessKey: "nobody")
        #expect { try unknownKey.size(of: "x") } throws: { ($0 as? StorageError)?.kind == .denied }
        let readOnly = try server.storage(accessKey: server.readOnlyAccessKey, secret: server.readOnlySecretKey)
        #expect(try readOnly.children(of: "bundles") == [])
        #expect { try readOnly.checkWritable() } throws: { ($0 as? StorageError)?.kind == .denied }
        try server.storage().checkWritable()
        let missing = try server.storage(bucket: "no-such-bucket-\(UInt32.random(in: 0...UInt32.max))")
        #expect {
            try missing.children(of: "bundles")
        } throws: { error in
            (error as? StorageError)?.kind == .config && (error as? StorageError)?.message.contains("does not exist") == true
        }
    }

    @Test("a clock the server finds too far off is named as the problem")
    func clockSkew() throws {
        let skewed = try S3TestServer.require().storage(clockOffset: -3600)
        #expect {
            try skewed.children(of: "bundles")
        } throws: { error in
            (error as? StorageError)?.message.contains("clock") == true
        }
    }

    @Test("5xx answers are retried with backoff; when they do not stop, the error says how often it tried")
    func retries() throws {
        let server = try S3TestServer.require()
        let proxy = try FaultProxy(server: server)
        let storage = try server.storage(endpoint: proxy.endpoint)
        try proxy.control(["fail": 3])
        try storage.writeSmall("a", [1, 2, 3])
        #expect(try storage.readSmall("a", limit: 10) == [1, 2, 3])
        #expect(proxy.log().filter { $0.contains("500") }.count == 3)

        try proxy.control(["fail": 100])
        #expect {
            try storage.writeSmall("b", [1])
        } throws: { error in
            (error as? StorageError)?.message.contains("failed 4 times") == true
        }
        try proxy.control([:])
    }

    @Test("answers lost on the way back (manifest PUT, multipart completion): the retry recognises its own work and the bundle is published")
    func lostManifestAnswer() throws {
        let server = try S3TestServer.require()
        let proxy = try FaultProxy(server: server)
        let storage = try server.storage(endpoint: proxy.endpoint)
        try proxy.control(["lose_response": BundleLayout.manifestName])
        try writeBundle(storage, [("artifacts/a", randomBytes(1000))], manifest: Array("{\"m\":1}".utf8))
        #expect(proxy.log().contains { $0.contains("lost on the way back") })
        #expect(try storage.readSmall("\(bundle)/\(BundleLayout.manifestName)", limit: 100) == Array("{\"m\":1}".utf8))
        #expect(try storage.size(of: "\(bundle)/artifacts/a") == 1000)

        // The same for the request that completes a multipart upload.
        try storage.deleteBundle(at: bundle)
        let large = randomBytes(11 << 20)
        try proxy.control(["lose_response": "?uploadId="])
        try writeBundle(storage, [("artifacts/large", large)])
        #expect(proxy.log().filter { $0.contains("lost on the way back") }.count == 2)
        #expect(try readAll(storage, "\(bundle)/artifacts/large") == large)
        #expect(try storage.multipartUploads().isEmpty)
    }

    @Test("a server that dies mid-upload: the part is sent again; a server that stays down leaves no visible bundle")
    func serverDiesMidUpload() throws {
        let server = try S3TestServer.require()
        let proxy = try FaultProxy(server: server)
        let storage = try server.storage(endpoint: proxy.endpoint)
        let data = randomBytes(11 << 20)
        try proxy.control(["drop_after_bytes": 1 << 20])
        try writeBundle(storage, [("artifacts/payload", data)])
        #expect(try readAll(storage, "\(bundle)/artifacts/payload") == data)
        try storage.deleteBundle(at: bundle)

        let writer = try storage.beginBundle(at: bundle)
        #expect(throws: StorageError.self) {
            try writer.write("artifacts/payload") { sink in
                try data[..<(6 << 20)].withUnsafeBytes { try sink($0) }
                try proxy.control(["down": true])
                try data[(6 << 20)...].withUnsafeBytes { try sink($0) }
            }
        }
        writer.abort()
        try proxy.control([:])
        let direct = try server.storage(prefix: storage.client.location.prefix)
        #expect(try direct.size(of: "\(bundle)/\(BundleLayout.manifestName)") == nil)
        _ = try direct.removeAbandonedWrites(now: Int64(Date().timeIntervalSince1970) + 2 * 86_400)
        #expect(try direct.listObjects(under: "").isEmpty)
        #expect(try direct.multipartUploads().isEmpty)
    }

    @Test("a deleted bundle's prefix holds no object, even where the server keeps its folders (SeaweedFS)")
    func emptyFoldersAfterDelete() throws {
        let storage = try S3TestServer.require().storage()
        try writeBundle(storage, [("artifacts/x.age-header", [1, 2]), ("artifacts/x.age-payload", randomBytes(1000))])
        #expect(try storage.containsObjects(under: bundle))
        #expect(try storage.containsObjects(under: "\(bundle)/artifacts"))
        try storage.deleteBundle(at: bundle)
        #expect(try storage.listObjects(under: "").isEmpty)
        #expect(try !storage.containsObjects(under: bundle))
        #expect(try !storage.containsObjects(under: "\(bundle)/artifacts"))
        // Only an object counts, not a folder marker some tools write.
        try storage.writeSmall("\(bundle)/artifacts/", [])
        #expect(try !storage.containsObjects(under: bundle))
        try storage.writeSmall("\(bundle)/artifacts/orphan", [1])
        #expect(try storage.containsObjects(under: bundle))
    }

    @Test("small reads fetch at most limit + 1 bytes; a read of the listed size + 1 stops there, in one request: counted on the wire")
    func boundedReads() throws {
        let server = try S3TestServer.require()
        let proxy = try FaultProxy(server: server)
        let storage = try server.storage(endpoint: proxy.endpoint)
        let large = randomBytes(3 << 20)
        try storage.writeStream("big") { sink in try large.withUnsafeBytes { try sink($0) } }
        func downloaded(_ body: () throws -> Void) rethrows -> (bytes: Int, requests: Int) {
            let before = proxy.log().count
            try body()
            // The proxy writes its log line after the answer went out: wait until the log stops growing.
            var log = proxy.log()
            for _ in 0..<40 {
                usleep(50_000)
                let again = proxy.log()
                if again.count == log.count && again.count > before { break }
                log = again
            }
            let lines = log.dropFirst(before).filter { $0.hasPrefix("GET ") }
            let bytes = lines.reduce(0) { total, line in
                total + (line.split(separator: " ").first { $0.hasPrefix("down=") }.flatMap { Int($0.dropFirst(5)) } ?? 0)
            }
            return (bytes, lines.count)
        }
        let small = downloaded {
            #expect { try storage.readSmall("big", limit: 1000) } throws: { error in
                (error as? StorageError)?.kind == .invalid && (error as? StorageError)?.message.contains("is \(3 << 20) bytes, more than the 1000 expected") == true
            }
        }
        #expect(small.bytes <= 1001, "readSmall downloaded \(small.bytes) bytes for a limit of 1000")
        #expect(try storage.readSmall("big", limit: 3 << 20) == large)

        var got: [UInt8] = []
        let ranged = try downloaded { try storage.read("big", range: 0..<1001) { got += $0 } }
        #expect(got == Array(large[0..<1001]) && ranged.bytes == 1001)
        // A range that ends past the object: the object's end is the end, no request beyond it.
        try storage.writeSmall("exact", [1, 2, 3])
        got = []
        let past = try downloaded { try storage.read("exact", range: 0..<4) { got += $0 } }
        #expect(got == [1, 2, 3] && past.requests == 1, "\(past)")
        try storage.writeSmall("empty", [])
        #expect(try storage.readSmall("empty", limit: 10) == [])
    }
}
