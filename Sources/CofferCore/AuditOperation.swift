import CofferCrypto
import CofferFormat
import CofferStorage
import Foundation

/// What `coffer audit` found.
public struct AuditReport: Sendable {
    public struct BundleResult: Sendable {
        public var id: String
        public var createdAt: String?
        public var problems: [String]
    }

    public var environment: String
    public var deep: Bool
    public var bundles: [BundleResult]
    public var journalEvents: Int
    /// Drill reports checked (their signatures; a journal `drill` event whose report is gone is a problem).
    public var drillReports = 0
    /// Problems of the repository as a whole: chain breaks, missing bundles, journal, retention.
    public var problems: [String]
    /// What the operator should know that is not a failure (the high-water mark could not be kept).
    public var warnings: [String] = []
    public var passed: Bool { problems.isEmpty && bundles.allSatisfy(\.problems.isEmpty) }
}

/// `coffer audit`: proves that every backup of the environment exists, is
/// intact and was made by us. Every manifest signature against the trusted
/// key, every object's SHA-256 (streamed; no secret key needed), `--deep`
/// decrypts and checks every artifact; the `previous` chain of manifests and
/// the journal's chain are followed, and a bundle that the journal says was
/// made but that is gone without a prune record is named; the newest bundle
/// must be younger than the freshness window (25 h production, 8 days staging);
/// and neither the bundles nor the journal may end below this machine's
/// high-water mark (the newest bundle and journal event it has seen). On a
/// bucket with S3 Object Lock every object of every bundle must still carry
/// its lock (`ObjectLockAudit`).
public struct AuditOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    public func run(deep: Bool) throws -> AuditReport {
        // Before the repository is listed, so a bundle written meanwhile is in the listing.
        let (mark, markWarning) = RollbackGuard.mark(config)
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environmentName = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        var report = AuditReport(environment: environmentName, deep: deep, bundles: [], journalEvents: 0, problems: [])
        if let markWarning { report.warnings.append(markWarning) }

        // 1. Every bundle: signature, digests, and with --deep the contents.
        let verifier = VerifyOperation(config: config, progress: progress)
        var originals: [String: String] = [:]  // id -> digest its successor names
        var previousOf: [String: String?] = [:]
        var newest: Date?
        let now = try Clock.now(environment: environment)
        let listing = try repository.listing(environment: environmentName, now: now)
        let lockCheck = try ObjectLockAudit.applies(config: config, repository: repository)
        if let problem = lockCheck.problem { report.problems.append(problem) }
        let locks = ObjectLockAudit(repository: repository, environment: environmentName, retentionDays: config.retention.days, now: now)
        for id in listing.ids {
            var result = AuditReport.BundleResult(id: id, createdAt: nil, problems: [])
            do {
                let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
                result.createdAt = manifest.createdAt
                let bytes = try repository.manifestBytes(environment: environmentName, id: id).manifest
                originals[id] = manifest.original ?? Manifest.digest(of: bytes)
                previousOf[id] = manifest.previous
                if let created = Clock.parse(manifest.createdAt) { newest = max(newest ?? created, created) }
                let verify = try verifier.check(manifest, in: repository, deep: deep)
                result.problems += verify.artifacts.compactMap { artifact in artifact.problem.map { "\(artifact.name): \($0)" } }
                if lockCheck.check { result.problems += try locks.problems(of: manifest) }
            } catch {
                result.problems.append("\(error)")
            }
            report.bundles.append(result)
        }
        for id in listing.unpublished {
            report.problems.append("bundle \(id) has objects but no manifest (an interrupted write, or its manifest was deleted)")
        }
        for stray in listing.stray {
            report.problems.append("\(BundleLayout.environmentPrefix(environmentName))/\(stray.id) is not a bundle this audit can count: \(stray.reason)")
        }

        // 2. The journal: its own chain, then what it says was made and pruned.
        let journal = Journal(repository: repository, environment: environmentName)
        let (events, journalProblems) = try journal.check(trusted: trusted)
        report.journalEvents = events.count
        report.problems += journalProblems
        var made: [String: String] = [:]  // manifest digest -> bundle id
        var madeOrder: [String] = []
        var pruned: Set<String> = []
        for event in events {
            if event.kind == "snapshot", case .string(let id)? = event.details["bundle"] {
                madeOrder.append(id)
                if case .string(let digest)? = event.details["manifest_sha256"] { made[digest] = id }
            }
            if event.kind == "prune", case .array(let deleted)? = event.details["deleted"] {
                for case .string(let id) in deleted { pruned.insert(id) }
            }
        }
        let present = Set(report.bundles.map(\.id))
        for id in madeOrder where !present.contains(id) && !pruned.contains(id) {
            report.problems.append("bundle \(id) was made (journal) but is gone, and no prune record explains it: deleted outside prune")
        }

        // Drill reports: each signed by a trusted key, and each one the journal names still there.
        let drills = DrillReportStore(repository: repository, environment: environmentName)
        let reports = try drills.all(trusted: trusted)
        report.drillReports = reports.count
        report.problems += reports.compactMap(\.problem)
        let stored = Set(reports.map(\.id))
        for event in events where event.kind == "drill" {
            guard case .string(let id)? = event.details["drill"], !stored.contains(id) else { continue }
            report.problems.append("drill report \(id) is recorded in the journal (event \(event.sequence)) but is gone from \(drills.prefix)/")
        }

        // 3. The manifests' own chain: each names the one before it. A missing
        // predecessor the journal knows was reported above (or pruned); one it
        // does not know means the journal was cut too, or a manifest was replaced.
        let presentDigests = Set(originals.values)
        for (id, previous) in previousOf.sorted(by: { $0.key < $1.key }) {
            guard let previous = previous, !presentDigests.contains(previous), made[previous] == nil else { continue }
            report.problems.append("bundle \(id) follows a manifest that is neither in the repository nor in the journal (deleted or replaced)")
        }

        // 4. Retention: a backup inside the window.
        let limit = StatusOperation.freshnessLimit(config)
        // 5. Rollback: the bundles or the journal end below what this machine has seen.
        let rollback = RollbackGuard(config: config, repository: repository, trusted: trusted, now: now)
            .assess(mark, present: report.bundles.map(\.id), journal: true)
        report.problems += rollback.problems
        report.warnings += rollback.warnings
        if let newest {
            let age = Int64(now.timeIntervalSince(newest))
            if age > limit {
                report.problems.append("the newest bundle is \(age / 3600) h old; \(environmentName) needs one younger than \(limit / 3600) h")
            }
        } else {
            report.problems.append("there is no trusted bundle for \(environmentName)")
        }
        return report
    }
}
