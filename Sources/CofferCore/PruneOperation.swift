import CofferFormat
import Foundation

/// One bundle's fate under the retention policy.
public struct PruneDecision: Sendable {
    public var id: String
    public var createdAt: String?
    public var keep: Bool
    public var reason: String
}

/// `coffer prune`: applies retention. A bundle is kept when it is younger than
/// the policy's days, or when it is one of the newest `keep_last` bundles that
/// verify (signature and every object's digest), however old; every other
/// bundle is deleted. So the newest good bundle survives even if backups
/// stopped long ago, and a damaged newest bundle does not count as one.
/// What prune decided, oldest bundle first, and how many leftovers of
/// interrupted writes (unpublished bundles, unfinished uploads) it removed.
public struct PruneReport: Sendable {
    public var decisions: [PruneDecision]
    public var leftoversRemoved: Int
    /// Set when the journal event could not be written or signed.
    public var warning: String?
}

public struct PruneOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    public func run(dryRun: Bool) throws -> PruneReport {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environmentName = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        let now = try Clock.now(environment: environment)
        let days = config.retention.days
        let cutoff = now.addingTimeInterval(-Double(days) * 86_400)

        var decisions: [PruneDecision] = []
        var goodKept = 0
        // Newest first, so the newest bundles that verify are found first.
        for id in try repository.bundleIDs(environment: environmentName, now: now).reversed() {
            var decision = PruneDecision(id: id, createdAt: nil, keep: false, reason: "")
            var verified = false
            var created: Date?
            do {
                let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
                decision.createdAt = manifest.createdAt
                created = Clock.parse(manifest.createdAt)
                if goodKept < config.retention.keepLast {
                    progress.begin("\(id): checking digests")
                    let reader = BundleReader(repository: repository, manifest: manifest)
                    try manifest.artifacts.forEach { try reader.checkObjects($0) }
                    progress.end()
                    verified = true
                }
            } catch {
                progress.end()
                decision.reason = "does not verify (\(error)); "
            }
            if let created, created > cutoff {
                decision.keep = true
                decision.reason += "younger than \(days) days"
                if verified { goodKept += 1 }
            } else if verified {
                decision.keep = true
                goodKept += 1
                decision.reason += "one of the newest \(config.retention.keepLast) bundle(s) that verify"
            } else {
                decision.reason += created == nil ? "untrusted and outside the window" : "older than \(days) days"
            }
            decisions.append(decision)
        }
        var leftovers = 0
        if !dryRun {
            for decision in decisions where !decision.keep {
                try repository.storage.deleteBundle(at: BundleLayout.bundlePrefix(environment: environmentName, id: decision.id))
            }
            leftovers = try repository.storage.removeAbandonedWrites(now: Int64(now.timeIntervalSince1970))
        }
        var report = PruneReport(decisions: decisions.reversed(), leftoversRemoved: leftovers)
        let deleted = decisions.filter { !$0.keep }.map(\.id)
        if !dryRun && !deleted.isEmpty {
            // The record that explains the gaps in the bundle chain.
            report.warning = JournalRecorder.record(
                repository: repository, environment: environmentName, kind: "prune",
                details: ["deleted": .array(deleted.map { .string($0) }), "retention_days": .int(Int64(days))], at: now,
                signingKey: JournalRecorder.unattendedSigningKey(config))
        }
        return report
    }
}
