import CofferSystem
import NIOCore

extension S3Storage {
    /// Sets the Object Lock retention of objects written earlier as a write made
    /// now would get it (`[s3] object_lock`): a format v2 chunk that a new
    /// bundle references must stay locked as long as that bundle. PutObjectRetention,
    /// 16 at a time. A refusal is checked against what the server holds (a
    /// compliance lock cannot be shortened, so an object locked longer already
    /// is refused and fine); only a shorter lock is an error.
    public func extendLocks(_ keys: [String]) throws {
        guard let lock = client.objectLock else { return }
        let covered = keys.filter(S3ObjectLock.covers)
        for start in stride(from: 0, to: covered.count, by: 16) {
            let batch = Array(covered[start..<min(covered.count, start + 16)])
            _ = try parallelMap(batch.count) { index in try extendLock(batch[index], lock) }
        }
    }

    private func extendLock(_ key: String, _ lock: S3ObjectLock) throws {
        let until = client.now.seconds + lock.seconds
        let body = Array(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>\(lock.mode.rawValue.uppercased())</Mode><RetainUntilDate>\(UTCTime(seconds: until).iso8601)</RetainUntilDate></Retention>"
                .utf8)
        let checksum = body.withUnsafeBytes { S3ObjectLock.checksum($0) }
        do {
            _ = try client.send(
                .PUT, key: key, query: [("retention", "")], headers: [("x-amz-checksum-crc32", checksum)], body: ByteBuffer(bytes: body))
        } catch let error as StorageError where error.kind == .denied {
            // Asked what is true before the refusal counts: locked long enough already is fine.
            if let held = try retention(of: key)?.retainUntil, held >= until - 60 { return }
            throw StorageError(.denied, "the S3 server refused to extend the Object Lock of \(location)/\(key), which a new bundle references: \(error.message)")
        }
    }
}
