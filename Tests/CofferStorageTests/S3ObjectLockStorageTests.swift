import CofferFormat
import Foundation
import Testing

@testable import CofferStorage

/// A bucket with Object Lock on the test server, made with awscli (Coffer never creates buckets).
private func lockedBucket() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let server = try S3TestServer.require()
    let aws = try #require(env["COFFER_TEST_AWS"], "COFFER_TEST_AWS is not set: run the tests with `make test`")
    let name = "coffer-lock-" + UUID().uuidString.lowercased().prefix(8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: aws)
    process.arguments = ["--endpoint-url", server.endpoint, "s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket"]
    process.environment = env.merging([
        "AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": server.secretKey, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    ]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "aws s3api create-bucket --object-lock-enabled-for-bucket failed")
    return name
}

@Suite("S3 Object Lock in the storage layer (real SeaweedFS)", .serialized)
struct S3ObjectLockStorageTests {
    @Test("a locked multipart bundle: every part checksummed, locked until its retention ends, then deleted version by version")
    func lockExpires() throws {
        let server = try S3TestServer.require()
        let storage = try server.storage(bucket: try lockedBucket(), partSize: 5 << 20, objectLock: S3ObjectLock(mode: .compliance, seconds: 4))
        let prefix = "bundles/development/20261201T120000Z-0badcafe"
        let large = randomBytes(11 << 20)  // three parts of a multipart upload
        let started = Int64(Date().timeIntervalSince1970)
        let writer = try storage.beginBundle(at: prefix)
        try writer.write("artifacts/db.age-payload") { sink in try large.withUnsafeBytes { try sink($0) } }
        try writer.write(BundleLayout.manifestName) { sink in try Array("{}".utf8).withUnsafeBytes { try sink($0) } }
        try writer.commit()

        var read: [UInt8] = []
        try storage.read("\(prefix)/artifacts/db.age-payload") { read.append(contentsOf: $0) }
        #expect(read == large)
        let now = Int64(Date().timeIntervalSince1970)
        let retention = try #require(try storage.retention(of: "\(prefix)/artifacts/db.age-payload"))
        #expect(retention.mode == "COMPLIANCE")
        #expect(((started + 3)...(now + 5)).contains(retention.retainUntil ?? 0), "locked until \(retention.retainUntil ?? 0), written \(started)...\(now)")
        #expect(try storage.protection() == BucketProtection(objectLockEnabled: true, versioning: "Enabled"))

        // While locked: the server refuses, and the bundle stays whole (its manifest is tried first).
        #expect(try storage.lockedUntil(bundleAt: prefix, now: now) != nil)
        #expect { try storage.deleteBundle(at: prefix) } throws: { ($0 as? StorageError)?.kind == .denied }
        #expect(try storage.readSmall("\(prefix)/\(BundleLayout.manifestName)", limit: 100) == Array("{}".utf8))

        // Once the lock has passed: nothing locked, and every version goes.
        usleep(6_000_000)
        #expect(try storage.lockedUntil(bundleAt: prefix, now: Int64(Date().timeIntervalSince1970)) == nil)
        try storage.deleteBundle(at: prefix)
        #expect(try storage.objectVersions(under: prefix + "/").isEmpty)
    }

    @Test("objects outside bundles and the journal are never locked; a write-only probe passes")
    func onlyBundlesAndJournal() throws {
        let server = try S3TestServer.require()
        let storage = try server.storage(bucket: try lockedBucket(), objectLock: S3ObjectLock(mode: .governance, seconds: 60))
        try storage.writeSmall("coffer.json", Array("{}".utf8))
        try storage.createSmall("journal/development/000000000001.json", Array("{}".utf8))
        try storage.createSmall("locks/development/0000000001.lease", Array("{}".utf8))
        #expect(try storage.retention(of: "coffer.json")?.mode == nil)
        #expect(try storage.retention(of: "locks/development/0000000001.lease")?.mode == nil)
        #expect(try storage.retention(of: "journal/development/000000000001.json")?.mode == "GOVERNANCE")
        try storage.checkWritable()
    }
}
