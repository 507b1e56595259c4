import CofferFormat
import CofferStorage
import CofferSystem
import Foundation

/// What the mark and sweep of format v2 chunks found and did.
public struct ChunkSweepReport: Sendable {
    /// Chunk objects some bundle's manifest names: never deleted.
    public var referenced = 0
    /// Unreferenced objects deleted (or, in a dry run, that would be), and their bytes.
    public var deleted = 0
    public var deletedBytes: Int64 = 0
    /// Unreferenced objects kept: younger than a day (a snapshot may still be
    /// writing them), still under Object Lock, or refused by the server.
    public var keptYoung = 0
    public var keptLocked = 0
    public var refused = 0
    /// Why nothing was swept, when a manifest could not be read.
    public var skipped: String?
}

/// Prune's second half for format v2: a chunk object is deleted only when no
/// manifest in `bundles/ENV/` names it. Marking reads every manifest there,
/// verified or not (one that does not verify is kept by prune, so its chunks
/// stay too), also a rotation's pending `manifest.json.rotating`; one that
/// cannot be parsed stops the sweep. An unreferenced object is deleted only
/// once it is older than a day, so the chunks of a snapshot still writing
/// (whose manifest does not exist yet) are safe even from a prune that does
/// not hold the lock it holds. Runs under the environment's repository lock,
/// after the bundles are deleted; a sweep killed at any point deletes nothing
/// a bundle names, and the next prune finishes it.
enum ChunkSweep {
    static let grace: Int64 = 86_400

    /// `deleting`: bundles a dry run would delete, whose chunks it then counts as unreferenced.
    static func run(
        repository: Repository, environment: String, now: Date, dryRun: Bool, deleting: Set<String> = [], faults: [String: String]
    ) throws -> ChunkSweepReport? {
        let storage = repository.storage
        let objects = try storage.objects(under: BundleLayout.chunkPrefix(environment))
        guard !objects.isEmpty else { return nil }
        var report = ChunkSweepReport()
        var marked: Set<String> = []
        let prefix = BundleLayout.environmentPrefix(environment)
        for name in try storage.children(of: prefix) where !(dryRun && deleting.contains(name)) {
            for file in [BundleLayout.manifestName, BundleLayout.rotatingManifestName] {
                let key = "\(prefix)/\(name)/\(file)"
                let bytes: [UInt8]?
                do {
                    bytes = try storage.readSmall(key, limit: 64 << 20)
                } catch let error as StorageError where error.kind == .invalid {
                    report.skipped = "\(key) cannot be read (\(error.message)); no chunk was deleted"
                    return report
                }
                guard let bytes else { continue }
                guard let manifest = try? Manifest.parse(bytes) else {
                    report.skipped = "\(key) is not a manifest this coffer reads; no chunk was deleted"
                    return report
                }
                for chunk in manifest.artifacts.flatMap({ $0.chunks ?? [] }) {
                    marked.insert(chunk.headerKey(environment: manifest.environment))
                    marked.insert(chunk.payloadKey(environment: manifest.environment))
                }
            }
        }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let locked = try storage.protection()?.objectLockEnabled ?? false
        var deletes = 0
        for object in objects {
            if marked.contains(object.key) {
                report.referenced += 1
                continue
            }
            if nowSeconds - object.modified < grace {
                report.keptYoung += 1
                continue
            }
            if locked, let until = try storage.retention(of: object.key)?.retainUntil, until > nowSeconds {
                report.keptLocked += 1
                continue
            }
            if !dryRun {
                do {
                    try storage.delete(object.key)
                } catch let error as StorageError where error.kind == .denied {
                    report.refused += 1
                    continue
                }
                deletes += 1
                if faults["COFFER_FAULT"] == "prune-sweep-after-\(deletes)" { ProcessIdentity.crashForTesting() }
            }
            report.deleted += 1
            report.deletedBytes += object.size
        }
        return report
    }
}
