import CofferFormat
import CofferStorage
import Foundation

/// `coffer audit` on a bucket with S3 Object Lock: every object a bundle
/// needs (headers, payloads, manifest and signature) must still carry a
/// retention that lasts as long as retention keeps the bundle. An object
/// without one can be deleted by whoever holds the write credentials, which
/// is what the lock was set up to prevent.
struct ObjectLockAudit {
    let repository: Repository
    let environment: String
    let retentionDays: Int
    let now: Date

    /// Whether this repository is to be checked, and a problem when
    /// `object_lock` is set on a bucket that cannot keep locks.
    static func applies(config: CofferConfig, repository: Repository) throws -> (check: Bool, problem: String?) {
        guard let protection = try repository.storage.protection() else { return (false, nil) }
        if protection.objectLockEnabled { return (true, nil) }
        guard let lock = config.s3?.objectLock, let refusal = protection.refusal(of: lock, in: "the bucket of \(repository.storage.location)") else {
            return (false, nil)
        }
        return (false, "\(refusal): no bundle is immutable")
    }

    func problems(of manifest: Manifest) throws -> [String] {
        let keys = objectList(manifest).map(\.key)
            + [BundleLayout.manifestName, BundleLayout.signatureName].map { repository.key(environment: environment, id: manifest.id, $0) }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        // Until when retention promises the bundle; a lock may end after that, never before.
        let promised = Clock.parse(manifest.createdAt).map { Int64($0.timeIntervalSince1970) + Int64(retentionDays) * 86_400 }
        var problems: [String] = []
        for relative in keys {
            guard let retention = try repository.storage.retention(of: relative) else {
                continue  // gone: the digest check names it
            }
            if retention.legalHold { continue }
            guard retention.mode != nil, let until = retention.retainUntil else {
                problems.append("\(relative) has no Object Lock retention: whoever holds the write credentials can delete it")
                continue
            }
            if until <= nowSeconds, let promised, promised > nowSeconds {
                let ended = Clock.format(Date(timeIntervalSince1970: TimeInterval(until)))
                problems.append("\(relative): its Object Lock ended \(ended), before the \(retentionDays) days retention keeps the bundle")
            }
        }
        return problems
    }
}
