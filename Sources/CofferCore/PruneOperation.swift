import CofferCrypto
import CofferFormat
import CofferStorage
import Foundation

/// One bundle's fate under the retention policy.
public struct PruneDecision: Sendable {
    public var id: String
    public var createdAt: String?
    public var keep: Bool
    public var reason: String
    /// The manifest does not verify (no trusted signature): its age and origin are unknown.
    public var unverifiable = false
    /// When S3 Object Lock (or a legal hold) keeps it: the server would refuse the delete until then.
    public var lockedUntil: String?
    /// Why the server refused to delete it (a lock or a policy); it stays, whole.
    public var deleteRefused: String?
}

/// What prune decided, oldest bundle first, and how many leftovers of
/// interrupted writes (unpublished bundles, unfinished uploads) it removed.
public struct PruneReport: Sendable {
    public var decisions: [PruneDecision]
    public var leftoversRemoved: Int
    /// Set when the journal event could not be written or signed.
    public var warning: String?
    /// The sweep of format v2 chunks; nil when the environment has none.
    public var chunks: ChunkSweepReport?
    public init(decisions: [PruneDecision], leftoversRemoved: Int, warning: String? = nil) {
        self.decisions = decisions
        self.leftoversRemoved = leftoversRemoved
        self.warning = warning
    }

    /// Bundles kept only because their manifest does not verify.
    public var keptUnverifiable: [String] { decisions.filter { $0.unverifiable && $0.keep }.map(\.id) }

    /// Bundles the server refused to delete.
    public var refusedDeletes: [PruneDecision] { decisions.filter { $0.deleteRefused != nil } }
}

/// A prune that deleted nothing because no bundle verifies: the keys are
/// probably wrong (`category` is `.key`), or every bundle is damaged
/// (`.integrity`). `decisions` say what was found, all kept.
public struct PruneRefusal: Error, CustomStringConvertible, Sendable {
    public let category: CofferError.Category
    public let message: String
    public let decisions: [PruneDecision]

    public var description: String { message }
}

/// `coffer prune`: applies retention, and deletes only bundles it has
/// verified. A bundle whose manifest carries a trusted signature has a known
/// age: it is kept when it is younger than the policy's days, or when it is one
/// of the newest `keep_last` bundles that verify completely (signature and
/// every object's digest), however old; otherwise it is deleted. So the newest
/// good bundle survives even if backups stopped long ago, and a damaged newest
/// bundle does not count as one. A bundle whose manifest does not verify
/// (damaged, planted, or signed by a key this machine does not trust) is kept
/// and reported until `deleteUnverifiable` asks for it by name. When no bundle
/// verifies completely, nothing at all is deleted (`PruneRefusal`): a wrong
/// `signing.pub` or a missing `trusted-signers` must not empty the repository.
public struct PruneOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter
    /// Signs the prune's journal event; nil: the signing key if it needs no
    /// password (else the event is unsigned: audit reports that, and the
    /// high-water mark does not take it as the explanation of a gap).
    public var signingKey: MinisignSecretKey?

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    /// Decides, and unless `dryRun` deletes. `deleteUnverifiable` also deletes
    /// the bundles whose manifest does not verify (never when none verifies).
    /// Throws `PruneRefusal` before deleting anything when no bundle verifies,
    /// and `CofferError` when the storage does not answer while objects are checked.
    public func run(dryRun: Bool, deleteUnverifiable: Bool = false) throws -> PruneReport {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environmentName = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        let now = try Clock.now(environment: environment)
        let days = config.retention.days
        let cutoff = now.addingTimeInterval(-Double(days) * 86_400)

        var decisions: [PruneDecision] = []
        var goodKept = 0
        var signed = 0
        var unreadable = 0  // manifests that are not regular files, or too large: the repository's fault, not the keys'
        // Newest first, so the newest bundles that verify are found first.
        for id in try repository.bundleIDs(environment: environmentName, now: now).reversed() {
            var decision = PruneDecision(id: id, createdAt: nil, keep: false, reason: "")
            let manifest: Manifest
            do {
                manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
            } catch {
                // Nothing about it can be trusted, its age least of all.
                if let error = error as? StorageError, error.kind == .invalid { unreadable += 1 }
                decision.unverifiable = true
                decision.keep = !deleteUnverifiable
                decision.reason = "does not verify (\(error)); "
                    + (deleteUnverifiable
                        ? "deleted as asked (--delete-unverifiable)"
                        : "kept: prune deletes only bundles it can verify; `coffer prune --delete-unverifiable` removes it")
                decisions.append(decision)
                continue
            }
            signed += 1
            decision.createdAt = manifest.createdAt
            let created = Clock.parse(manifest.createdAt)
            var verified = false
            if goodKept < config.retention.keepLast {
                progress.begin("\(id): checking digests")
                do {
                    let reader = BundleReader(repository: repository, manifest: manifest)
                    try manifest.artifacts.forEach { try reader.checkObjects($0) }
                    verified = true
                } catch let error as StorageError where error.kind != .notFound && error.kind != .invalid {
                    // The storage did not answer: no decision can rest on that.
                    progress.end()
                    throw CofferError(.failure, "prune stopped before deleting anything: the objects of \(id) could not be read: \(error.message)")
                } catch {
                    decision.reason = "does not verify (\(error)); "
                }
                progress.end()
            }
            if let created, created > cutoff {
                decision.keep = true
                decision.reason += "younger than \(days) days"
                if verified { goodKept += 1 }
            } else if verified {
                decision.keep = true
                goodKept += 1
                decision.reason += "one of the newest \(config.retention.keepLast) bundle(s) that verify"
            } else if created == nil {
                decision.keep = true
                decision.reason += "kept: its created_at '\(manifest.createdAt.prefix(40))' is not a time"
            } else {
                decision.reason += "older than \(days) days"
            }
            decisions.append(decision)
        }
        if !decisions.isEmpty && goodKept == 0 {
            for index in decisions.indices where !decisions[index].keep {
                decisions[index].keep = true
                decisions[index].reason += "; kept: prune deletes nothing while no bundle verifies"
            }
            let example = decisions.first { $0.unverifiable }.map { " (\($0.id): \($0.reason.prefix { $0 != ";" }))" } ?? ""
            let keysWrong = signed == 0 && unreadable < decisions.count
            let message =
                signed == 0 && !keysWrong
                ? "no bundle of \(environmentName) can be read\(example), so prune deleted nothing: a repository holds only regular files of their listed sizes; see `coffer audit`"
                : signed == 0
                ? "no bundle of \(environmentName) verifies\(example), so prune deleted nothing. The keys are probably wrong: \(KeyStore(directory: config.keysDirectory).signingPublicKeyPath) is not the key that signed these bundles (copied from the wrong host?), or the signing key was rotated elsewhere and its keys/trusted-signers was not copied here. Compare `coffer keys list` with the backup host"
                : "no bundle of \(environmentName) verifies completely (every signed bundle's objects fail their digests; see `coffer audit`), so prune deleted nothing: none is known good"
            throw PruneRefusal(category: keysWrong ? .key : .integrity, message: message, decisions: decisions.reversed())
        }
        try keepLocked(&decisions, repository: repository, now: now)
        var report = PruneReport(decisions: [], leftoversRemoved: 0)
        let deleted = decisions.filter { !$0.keep }.map(\.id)
        if !dryRun {
            if !deleted.isEmpty {
                // The record that explains the gaps in the bundle chain, written
                // first: no reader (audit, the high-water mark) ever sees a bundle
                // gone without it. A prune that stops half-way leaves some of the
                // named bundles in place, which is harmless; the next one deletes them.
                var details: [String: JSONValue] = ["deleted": .array(deleted.map { .string($0) }), "retention_days": .int(Int64(days))]
                let unverifiable = decisions.filter { $0.unverifiable && !$0.keep }.map(\.id)
                if !unverifiable.isEmpty { details["unverifiable"] = .array(unverifiable.map { .string($0) }) }
                report.warning = JournalRecorder.record(
                    repository: repository, environment: environmentName, kind: "prune", details: details, at: now,
                    signingKey: signingKey ?? JournalRecorder.unattendedSigningKey(config))
            }
            for index in decisions.indices where !decisions[index].keep {
                do {
                    try repository.storage.deleteBundle(at: BundleLayout.bundlePrefix(environment: environmentName, id: decisions[index].id))
                } catch let error as StorageError where error.kind == .denied {
                    // A lock the server knows and Coffer did not, or a credential
                    // without delete rights: this bundle stays; the others go on.
                    decisions[index].keep = true
                    decisions[index].deleteRefused = error.message
                    decisions[index].reason += "; kept: the server refused the delete"
                }
            }
            report.leftoversRemoved = try repository.storage.removeAbandonedWrites(now: Int64(now.timeIntervalSince1970))
        }
        report.chunks = try ChunkSweep.run(
            repository: repository, environment: environmentName, now: now, dryRun: dryRun, deleting: Set(deleted), faults: environment)
        if let skipped = report.chunks?.skipped { report.warning = report.warning.map { $0 + "; " + skipped } ?? skipped }
        report.decisions = decisions.reversed()
        if case let refused = report.refusedDeletes, !refused.isEmpty {
            let first = refused[0].deleteRefused ?? ""
            let warning = "the server refused to delete \(refused.count) bundle(s) (\(refused.map(\.id).joined(separator: ", "))), which were kept: \(first)"
            report.warning = report.warning.map { $0 + "; " + warning } ?? warning
        }
        return report
    }

    /// Keeps what S3 Object Lock still holds, asked of the server before
    /// anything is deleted (and in a dry run): a delete it would refuse is never tried.
    func keepLocked(_ decisions: inout [PruneDecision], repository: Repository, now: Date) throws {
        for index in decisions.indices where !decisions[index].keep {
            let id = decisions[index].id
            let until: Int64?
            do {
                until = try repository.storage.lockedUntil(
                    bundleAt: BundleLayout.bundlePrefix(environment: config.environment.rawValue, id: id), now: Int64(now.timeIntervalSince1970))
            } catch let error as StorageError {
                throw CofferError(.failure, "prune stopped before deleting anything: the Object Lock retention of \(id) could not be read: \(error.message)")
            }
            guard let until else { continue }
            let when = until == .max ? "legal hold" : Clock.format(Date(timeIntervalSince1970: TimeInterval(until)))
            decisions[index].keep = true
            decisions[index].lockedUntil = when
            decisions[index].reason += until == .max ? "; kept: an S3 legal hold holds it" : "; kept: S3 Object Lock holds it until \(when)"
        }
    }
}
