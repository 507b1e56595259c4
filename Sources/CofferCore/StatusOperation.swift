import CofferCrypto
import CofferFormat
import CofferStorage
import Foundation

/// What `coffer status` found, with one level for monitoring.
public struct StatusReport: Sendable {
    public enum Level: Int32, Sendable {
        case ok = 0, warn = 1, critical = 2
        public var name: String { ["ok", "warn", "critical"][Int(rawValue)] }
    }

    public var level: Level
    public var environment: String
    public var repository: String
    public var reachable: Bool
    /// Whether a probe object could be written and deleted.
    public var writable: Bool
    public var freeBytes: Int64?
    public var bundles: Int
    public var newestID: String?
    public var newestCreatedAt: String?
    /// Age of the newest trusted bundle, in seconds.
    public var newestAge: Int64?
    /// The age above which the newest bundle is stale.
    public var freshnessLimit: Int64
    public var problems: [String]
    /// About how many bytes the next bundle needs, when the free space is known.
    public var neededBytes: Int64? = nil
    /// The trusted bundles, oldest first (for the status page's chart and per-source freshness).
    public var history: [BundleSummary] = []
    /// When the repository was read.
    public var checkedAt: Date = Date(timeIntervalSince1970: 0)
    /// The newest trusted drill report, and the newest that passed.
    public var lastDrill: DrillReport?
    public var lastPassedDrill: DrillReport?
    /// The last passing drill's RTO scaled to the newest bundle's size: what a restore of it would take now.
    public var estimatedRTO: Double?
    /// Object Lock and versioning of the bucket, as the server reports them (nil: a local folder).
    public var protection: BucketProtection?
    /// `[s3] object_lock`: the retention new writes carry.
    public var objectLock: S3ObjectLock?

    /// One trusted bundle as the monitoring side needs it.
    public struct BundleSummary: Sendable, Equatable {
        public var id: String
        public var createdAt: Date
        /// Header and payload bytes of every artifact.
        public var storedBytes: Int64
        public var sources: [String]

        init(_ manifest: Manifest) {
            id = manifest.id
            createdAt = Clock.parse(manifest.createdAt) ?? Date(timeIntervalSince1970: 0)
            storedBytes = manifest.storedBytes
            sources = manifest.artifacts.map(\.name)
        }
    }
}

extension StatusReport {
    /// `coffer status --json`, and serve's `GET /status`: the same object.
    public var jsonObject: [String: Any] {
        [
            "level": level.name, "environment": environment, "repository": repository,
            "reachable": reachable, "writable": writable, "free_bytes": freeBytes as Any, "bundles": bundles,
            "newest": newestID as Any, "newest_created_at": newestCreatedAt as Any,
            "newest_age_seconds": newestAge as Any, "freshness_limit_seconds": freshnessLimit,
            "problems": problems, "checked_at": Clock.format(checkedAt),
            "drill": lastDrill.map { drill in
                [
                    "id": drill.id, "bundle": drill.bundle as Any, "passed": drill.passed, "finished_at": drill.finishedAt,
                    "rto_seconds": drill.rtoSeconds as Any, "rpo_seconds": drill.rpoSeconds as Any,
                    "last_passed": lastPassedDrill?.id as Any, "last_passed_at": lastPassedDrill?.finishedAt as Any,
                ] as [String: Any]
            } as Any,
            "estimated_rto_seconds": estimatedRTO as Any,
            "object_lock": protection.map { protection in
                [
                    "bucket_enabled": protection.objectLockEnabled, "versioning": protection.versioning as Any,
                    "default_retention": protection.defaultRetention as Any, "unsupported": protection.unsupported as Any,
                    "mode": objectLock?.mode.rawValue as Any, "lock_days": objectLock.map { $0.seconds / 86_400 } as Any,
                ] as [String: Any]
            } as Any,
        ]
    }

    /// One line on what keeps bundles from being deleted, for `coffer status`.
    public var protectionText: String? {
        guard let protection else { return nil }
        let bucket =
            protection.objectLockEnabled
            ? "enabled on the bucket\(protection.defaultRetention.map { " (default \($0))" } ?? "")"
            : protection.unsupported ?? "not enabled on the bucket"
        let versioning = "versioning \(protection.versioning ?? "off")"
        let writes = objectLock.map { "new objects locked \($0.mode.rawValue) for \($0.seconds / 86_400) days" } ?? "object_lock not set"
        return "object lock: \(bucket); \(versioning); \(writes)"
    }
}

/// `coffer status`: can the repository be reached and written, is there room for the next
/// bundle, are there bundles without a manifest or signature, is the newest bundle trusted and fresh enough (production 25 h,
/// staging 8 days, development the retention window), did no restore stop
/// half-way, and does the repository not end below this machine's high-water
/// mark (newest bundle and journal event seen; critical: someone removed backups).
public struct StatusOperation {
    public let config: CofferConfig
    public let environment: [String: String]

    public init(config: CofferConfig, environment: [String: String]) {
        self.config = config
        self.environment = environment
    }

    static func freshnessLimit(_ config: CofferConfig) -> Int64 {
        switch config.environment {
        case .production: return 25 * 3600
        case .staging: return 8 * 86_400
        case .development: return Int64(config.retention.days) * 86_400
        }
    }

    public func run() throws -> StatusReport {
        let environmentName = config.environment.rawValue
        let repository = try Repository.open(config)
        var report = StatusReport(
            level: .ok, environment: environmentName, repository: repository.storage.location, reachable: true, writable: false, freeBytes: nil,
            bundles: 0, newestID: nil, newestCreatedAt: nil, newestAge: nil, freshnessLimit: Self.freshnessLimit(config), problems: [])
        func raise(_ level: StatusReport.Level, _ problem: String) {
            if level.rawValue > report.level.rawValue { report.level = level }
            report.problems.append(problem)
        }
        // Before the repository is listed, so a bundle written meanwhile is in the listing.
        let (mark, markWarning) = RollbackGuard.mark(config)
        if let markWarning { raise(.warn, markWarning) }
        // Notifiers whose last delivery failed (kept in the state folder until one succeeds).
        for problem in Notifications(config: config, environment: environment).problems() { raise(.warn, problem) }
        // An interrupted restore may leave targets half-replaced until it is recovered.
        let journals = RestoreJournalStore(state: StateDirectory(config: config))
        for journal in (try? journals.all()) ?? [] where journal.state.isInFlight {
            raise(.critical, "restore \(journal.restoreID) was interrupted (\(journal.state.rawValue)); run `coffer restore --recover`")
        }
        // A killed drill's scratch databases, servers and files, until the next drill or `drill --cleanup` removes them.
        for record in DrillScratch(state: StateDirectory(config: config)).leftovers() {
            raise(.warn, "drill \(record.drill) was interrupted and left \(record.resources.map(\.description).joined(separator: "; ")); run `coffer drill --cleanup`")
        }
        let now = try Clock.now(environment: environment)
        report.checkedAt = now
        let listing: Repository.BundleListing
        do {
            try repository.checkFormat()
            listing = try repository.listing(environment: environmentName, now: now)
            report.freeBytes = try repository.storage.availableBytes()
        } catch {
            report.reachable = false
            raise(.critical, "the repository cannot be read: \(error)")
            return report
        }
        do {
            try repository.storage.checkWritable()
            report.writable = true
        } catch {
            raise(.critical, "the repository does not accept writes: \(error)")
        }
        let standing = protectionStanding(repository)
        report.protection = standing.protection
        report.objectLock = config.s3?.objectLock
        if let warning = standing.warning { raise(.warn, warning) }
        let ids = listing.ids
        for id in listing.unpublished {
            raise(.warn, "bundle \(id) has no manifest (an interrupted write, or a deleted manifest); it is ignored, and `coffer prune` removes unfinished uploads after a day")
        }
        for stray in listing.stray {
            raise(.warn, "\(BundleLayout.environmentPrefix(environmentName))/\(stray.id) is ignored: \(stray.reason); look at it and remove it by hand")
        }
        let trusted: TrustedSigners
        do {
            trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        } catch {
            raise(.critical, "the signing key cannot be read: \(error)")
            return report
        }
        // A repository that ends below what this machine has seen was rolled back.
        let rollback = RollbackGuard(config: config, repository: repository, trusted: trusted, now: try Clock.now(environment: environment))
            .assess(mark, present: ids, journal: true)
        for problem in rollback.problems { raise(.critical, problem) }
        for warning in rollback.warnings { raise(.warn, warning) }
        for id in ids.dropLast() {
            do {
                let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
                report.history.append(.init(manifest))
            } catch let error as StorageError where error.kind == .invalid {
                raise(.warn, "bundle \(id) is ignored, its manifest cannot be read: \(error)")
            } catch {
                raise(.warn, "bundle \(id) is not trusted and is ignored: \(error)")
            }
        }
        report.bundles = ids.count
        if let problem = assessDrills(&report, repository: repository, trusted: trusted, now: now) { raise(.warn, problem) }
        guard let newest = ids.last else {
            raise(.critical, "no bundle for \(environmentName) yet; run `coffer snapshot`")
            return report
        }
        do {
            let manifest = try repository.verifiedManifest(environment: environmentName, id: newest, trusted: trusted)
            report.history.append(.init(manifest))
            if let drill = report.lastPassedDrill, let rto = drill.rtoSeconds, let drilled = drill.plainBytes, drilled > 0 {
                report.estimatedRTO = rto * Double(manifest.artifacts.reduce(0) { $0 + $1.plainBytes }) / Double(drilled)
            }
            report.newestID = newest
            report.newestCreatedAt = manifest.createdAt
            if let created = Clock.parse(manifest.createdAt) {
                let age = Int64(now.timeIntervalSince(created))
                report.newestAge = age
                if age > report.freshnessLimit {
                    raise(.warn, "the newest bundle is \(age / 3600) h old, older than the \(report.freshnessLimit / 3600) h expected for \(environmentName)")
                }
            }
            if let free = report.freeBytes, let sources = try? SourceCatalog.sources(config, environment: environment) {
                let needed = SpaceCheck.neededBytes(sources, previous: manifest)
                report.neededBytes = needed
                if free < needed { raise(.warn, "\(free) bytes free, the next bundle needs about \(needed)") }
            }
        } catch let error as StorageError where error.kind == .invalid {
            raise(.critical, "the newest bundle \(newest) cannot be read: \(error)")
        } catch {
            raise(.critical, "the newest bundle \(newest) is not trusted: \(error)")
        }
        return report
    }

    /// What the bucket protects, and a warning when `object_lock` asks for
    /// more than it can keep or the bucket locks nothing by itself.
    private func protectionStanding(_ repository: Repository) -> (protection: BucketProtection?, warning: String?) {
        let protection: BucketProtection?
        do {
            protection = try repository.storage.protection()
        } catch {
            return (nil, "the bucket's Object Lock and versioning cannot be read: \(error)")
        }
        guard let protection else { return (nil, nil) }
        if let lock = config.s3?.objectLock, !protection.objectLockEnabled {
            return (
                protection,
                "[s3] object_lock = \"\(lock.mode.rawValue)\" is set, but the bucket cannot keep locks (\(protection.unsupported ?? "its Object Lock is not enabled")): snapshots are refused until the bucket has Object Lock or object_lock is removed"
            )
        }
        if protection.objectLockEnabled && config.s3?.objectLock == nil && protection.defaultRetention == nil {
            return (protection, "the bucket has Object Lock enabled, but neither [s3] object_lock nor a default retention locks new bundles: set object_lock = \"compliance\"")
        }
        return (protection, nil)
    }

    /// Fills in the drills; returns a warning when the last one failed or the
    /// last passing one is too old. No drill yet is shown, not raised.
    private func assessDrills(_ report: inout StatusReport, repository: Repository, trusted: TrustedSigners, now: Date) -> String? {
        do {
            let standing = try DrillStanding(config: config, repository: repository, trusted: trusted, now: now)
            report.lastDrill = standing.last
            report.lastPassedDrill = standing.lastPassed
            return standing.last == nil ? nil : standing.problem
        } catch {
            return "the drill reports cannot be read: \(error)"
        }
    }
}
