import CofferCrypto
import CofferFormat
import CofferSources
import CofferStorage
import CofferSystem
import Foundation

/// What a drill did: its signed report, where it is stored, and the exit
/// status category of its failure.
public struct DrillOutcome: Sendable {
    public var report: DrillReport
    /// The report's key in the repository (`drills/ENV/ID.json`); nil when it could not be stored.
    public var storedAt: String?
    /// Problems that did not change the verdict (the journal event not written, say).
    public var warnings: [String]
    /// Why it failed, as an exit status category (integrity for a damaged bundle).
    public var category: CofferError.Category?

    /// Passed, and the evidence is stored: a drill whose report could not be kept proves nothing.
    public var succeeded: Bool { report.passed && storedAt != nil }
}

/// `coffer drill`: picks a bundle, fetches it, verifies it, restores every
/// artifact into scratch targets (never the live ones), compares them with
/// the manifest, runs the smoke command against them, and times each phase.
/// The sum of the phases is the measured RTO; the newest bundle's age at the
/// start is the RPO. The report is signed and stored in the repository, and
/// every scratch target is removed, also those a killed drill left.
public struct DrillOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter
    public var pick = DrillPickMethod.latest
    public var within: Int?
    public var seed: UInt64?
    public var smoke: String?
    public var smokeTimeout: Int?
    /// Fetch from the `[offsite]` repository instead of the main one.
    public var fromOffsite = false

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    private var state: StateDirectory { StateDirectory(config: config) }

    /// What a killed drill left, removed first; returns (removed, problems).
    public func cleanup() -> (removed: [String], problems: [String]) {
        DrillScratch(state: state).removeLeftovers(environment: environment)
    }

    public func run(signingKey: MinisignSecretKey) throws -> DrillOutcome {
        let environmentName = config.environment.rawValue
        let keys = KeyStore(directory: config.keysDirectory)
        let trusted = try keys.trustedSigners()
        guard trusted.allows(signingKey.keyID, at: try Clock.now(environment: environment)) else {
            throw CofferError(.key, "signing key \(signingKey.keyID) is not a trusted signer now (see \(keys.trustedSignersPath)); a report it signed would not verify")
        }
        let mainRepository = try Repository.open(config)
        let repository: Repository
        if fromOffsite {
            guard let offsite = config.offsite else {
                throw CofferError(.config, "--from offsite: \(config.path) has no [offsite] repository")
            }
            repository = try Repository.open(offsite.repository, s3: config.s3, environment: environment)
        } else {
            repository = mainRepository
        }
        let scratch = DrillScratch(state: state)
        var warnings: [String] = []
        let (removed, leftoverProblems) = scratch.removeLeftovers(environment: environment)
        if !removed.isEmpty { warnings.append("removed what an interrupted drill left: \(removed.joined(separator: "; "))") }
        warnings += leftoverProblems.map { "an interrupted drill's scratch target could not be removed: \($0)" }

        let now = try Clock.now(environment: environment)
        // Ids sort as the drills ran, also several in one second (a fixed COFFER_NOW).
        let drillID = BundleID.make(at: now, after: try? DrillReportStore(repository: mainRepository, environment: environmentName).ids().last)
        let clockStart = MonotonicTime.now
        var report = DrillReport(
            id: drillID, environment: environmentName, bundle: nil, bundleCreatedAt: nil, plainBytes: nil, storedBytes: nil,
            pick: DrillReport.Pick(method: pick.rawValue, seed: nil, withinSeconds: nil, candidates: 0), repository: repository.storage.location,
            startedAt: Clock.format(now), finishedAt: Clock.format(now), host: ProcessIdentity.hostName, user: Journal.userName,
            tool: CofferVersion.tool, phases: [], checks: [], smoke: nil, rtoSeconds: nil, rpoSeconds: nil,
            rtoTargetSeconds: config.targets.rto, rpoTargetSeconds: config.targets.rpo, rtoPassed: false, rpoPassed: false,
            bundleAgeSeconds: nil, passed: false, failure: nil, leftovers: [])
        var category: CofferError.Category?
        var targets: [DrillTarget] = []
        let phases = DrillPhases(environment: environment)
        do {
            try drill(&report, phases: phases, repository: repository, trusted: trusted, now: now, scratch: scratch, targets: &targets)
        } catch {
            (category, report.failure) = CofferError.classify(error)
        }
        report.phases = phases.phases
        for target in targets { target.stop?() }
        report.leftovers = scratch.remove(drillID, environment: environment)
        if !report.leftovers.isEmpty {
            warnings.append("scratch targets could not be removed (the next drill or `coffer drill --cleanup` tries again): \(report.leftovers.joined(separator: "; "))")
        }
        if environment["COFFER_FAULT"] == "drill-before-report" { ProcessIdentity.crashForTesting() }
        report.finishedAt = Clock.format(now.addingTimeInterval(MonotonicTime.now - clockStart))
        if report.failure == nil {
            var missed: [String] = []
            if !report.rtoPassed { missed.append("RTO \(DrillReport.text(seconds: report.rtoSeconds)) is over the target \(DurationText.format(report.rtoTargetSeconds))") }
            if !report.rpoPassed { missed.append("RPO \(DrillReport.text(seconds: report.rpoSeconds)) is over the target \(DurationText.format(report.rpoTargetSeconds))") }
            if !missed.isEmpty {
                report.failure = missed.joined(separator: "; ")
                category = .failure
            }
        }
        report.passed = report.failure == nil
        var storedAt: String?
        do {
            storedAt = try DrillReportStore(repository: mainRepository, environment: environmentName)
                .store(report, markdown: DrillMarkdown.render(report), signingKey: signingKey)
            if let problem = JournalRecorder.record(
                repository: mainRepository, environment: environmentName, kind: "drill",
                details: [
                    "drill": .string(drillID), "bundle": report.bundle.map { .string($0) } ?? .null, "passed": .bool(report.passed),
                    "report": .string(storedAt ?? ""),
                ], at: now, signingKey: signingKey)
            {
                warnings.append(problem)
            }
        } catch {
            warnings.append("the drill report could not be stored in \(mainRepository.storage.location): \(error)")
            category = category ?? .failure
        }
        return DrillOutcome(report: report, storedAt: storedAt, warnings: warnings, category: category)
    }

    /// The phases; throws at the first one that fails (recorded as failed in `report`).
    private func drill(
        _ report: inout DrillReport, phases: DrillPhases, repository: Repository, trusted: TrustedSigners, now: Date, scratch: DrillScratch,
        targets: inout [DrillTarget]
    ) throws {
        let environmentName = config.environment.rawValue
        let ids = try repository.bundleIDs(environment: environmentName, now: now)
        let chosen: String
        do {
            (chosen, report.pick) = try DrillPick(method: pick, within: within ?? config.drill.within, seed: seed)
                .choose(from: ids, now: now, environment: environmentName)
        } catch let refusal as DrillPickRefusal {
            report.pick = refusal.pick
            throw CofferError(.failure, refusal.message)
        }
        report.bundle = chosen
        if let newest = ids.last.flatMap(BundleID.date(of:)) { report.rpoSeconds = max(0, now.timeIntervalSince(newest)) }
        if let picked = BundleID.date(of: chosen) { report.bundleAgeSeconds = max(0, now.timeIntervalSince(picked)) }
        report.rpoPassed = (report.rpoSeconds ?? .infinity) <= Double(config.targets.rpo)

        let manifest = try repository.verifiedManifest(environment: environmentName, id: chosen, trusted: trusted)
        report.bundleCreatedAt = manifest.createdAt
        report.plainBytes = manifest.artifacts.reduce(0) { $0 + $1.plainBytes }
        report.storedBytes = manifest.storedBytes
        let folder = FileSystem.join(scratch.folder, "\(report.id).d")
        try scratch.record(.init(kind: "folder", name: folder), drill: report.id)
        try FileSystem.createDirectory(folder, permissions: 0o700)
        let builder = DrillTargets(config: config, environment: environment, scratch: scratch, drillID: report.id, folder: folder)
        try builder.preflight(manifest)
        let identities = try KeyStore(directory: config.keysDirectory).identities(environmentName)

        // Fetch: every object copied out of the repository, each checked against the manifest on the way.
        let local = Repository(storage: LocalStorage(root: FileSystem.join(folder, "repository"), durable: false))
        try phases.run("fetch") {
            progress.begin("fetching bundle \(chosen) from \(repository.storage.location)")
            defer { progress.end() }
            try copyBundle(manifest, from: repository, to: local)
            return "\(manifest.artifacts.count * 2 + 2) objects, \(ByteCount.format(manifest.storedBytes)), each checked against the manifest's SHA-256"
        }
        // Verify: the fetched copy's signature, by a trusted key at the bundle's date.
        let fetched = try phases.run("verify") {
            let fetched = try local.verifiedManifest(environment: environmentName, id: chosen, trusted: trusted)
            guard fetched == manifest else { throw FormatError(.signature, "the fetched manifest of \(chosen) differs from the one in the repository") }
            return (fetched, "manifest signature by \(manifest.signer) verified")
        }
        // Decrypt and stage: each artifact restored into its scratch target as a restore would, then committed there.
        var reader = BundleReader(repository: local, manifest: fetched)
        reader.checksPayloadDigest = false  // fetch checked every byte it wrote
        var staged: [String: StageReport] = [:]
        try phases.run("decrypt_and_stage") {
            for entry in fetched.artifacts {
                let target = try builder.make(entry)
                targets.append(target)
                progress.begin("\(entry.name): decrypting and restoring into \(target.description)")
                staged[entry.name] = try target.target.stage(restoreID: builder.restoreID, entry: entry) { sink in
                    try reader.open(entry, identities: identities) { chunk in
                        progress.advance(by: chunk.count)
                        try sink(chunk)
                    }
                }
                progress.end()
                try target.target.commit(restoreID: builder.restoreID)
                try target.afterCommit?()
            }
            return "\(fetched.artifacts.count) artifacts, \(ByteCount.format(report.plainBytes ?? 0)) restored into scratch targets"
        }
        // Checks: what staging counted, and what the restored servers hold, against the manifest.
        try phases.run("checks") {
            for target in targets {
                let entry = target.entry
                let found = staged[entry.name]?.stats ?? [:]
                report.checks.append(
                    .init(
                        artifact: entry.name, kind: entry.kind.rawValue, target: target.description, what: Self.countsDescription(entry.kind),
                        expected: .object(entry.stats), found: .object(found), ok: found == entry.stats))
                if let live = try target.liveCheck?() {
                    report.checks.append(
                        .init(artifact: entry.name, kind: entry.kind.rawValue, target: target.description, what: live.what, expected: live.expected, found: live.found, ok: live.ok))
                }
            }
            let failed = report.checks.filter { !$0.ok }
            guard failed.isEmpty else {
                throw CofferError(.integrity, "counts differ from the manifest: " + failed.map { "\($0.artifact) (\($0.what)): found \($0.found), manifest says \($0.expected)" }.joined(separator: "; "))
            }
            return "\(report.checks.count) checks passed"
        }
        // Smoke: the operator's own test, against the scratch targets only.
        if let command = smoke ?? config.drill.smoke {
            var variables: [String: String] = [:]
            for target in targets { variables.merge(target.variables) { first, _ in first } }
            if let first = targets.first(where: { $0.entry.kind == .postgres }) { variables["DATABASE_URL"] = first.variables["DATABASE_URL_\(DrillTargets.variableName(first.entry.name))"] }
            if let first = targets.first(where: { $0.entry.kind == .redis }) { variables["REDIS_URL"] = first.variables["REDIS_URL_\(DrillTargets.variableName(first.entry.name))"] }
            variables["COFFER_DRILL_ID"] = report.id
            variables["COFFER_DRILL_BUNDLE"] = chosen
            let runner = SmokeCommand(
                command: command, timeout: smokeTimeout ?? config.drill.smokeTimeout, directory: FileSystem.directoryName(of: config.path),
                environment: environment.merging(variables) { $1 }, secrets: targets.flatMap(\.secrets))
            let smokeFolder = folder
            var result: DrillReport.Smoke?
            defer { report.smoke = result }
            try phases.run("smoke") {
                progress.begin("smoke command")
                defer { progress.end() }
                let ran = try runner.run(outputFolder: smokeFolder)
                result = ran
                if ran.timedOut {
                    throw CofferError(.failure, "the smoke command did not finish within \(DurationText.format(runner.timeout)) and was killed with its process group")
                }
                guard ran.exitStatus == 0 else {
                    throw CofferError(.failure, "the smoke command failed with exit status \(ran.exitStatus.map(String.init) ?? "?")\(ran.lastLines.last.map { ": \($0)" } ?? "")")
                }
                return "exit status 0 in \(DrillReport.text(seconds: ran.seconds))"
            }
        }
        report.rtoSeconds = phases.total
        report.rtoPassed = (report.rtoSeconds ?? .infinity) <= Double(config.targets.rto)
    }

    static func countsDescription(_ kind: ArtifactKind) -> String {
        switch kind {
        case .sqlite: return "integrity_check and rows per table of the restored file"
        case .postgres: return "rows per table of the restored database"
        case .redis: return "keys per database and function libraries of the restored RDB"
        case .env: return "number of variables restored"
        case .file: return "files, folders and bytes restored"
        }
    }

}

/// Times a drill's phases and records each as passed or failed, in order.
final class DrillPhases {
    private(set) var phases: [DrillReport.Phase] = []
    let environment: [String: String]

    init(environment: [String: String]) {
        self.environment = environment
    }

    /// Runs one phase; a failure is recorded, then rethrown.
    func run<T>(_ name: String, _ body: () throws -> (T, String)) throws -> T {
        let started = MonotonicTime.now
        do {
            let (value, detail) = try body()
            phases.append(.init(name: name, seconds: MonotonicTime.now - started, ok: true, detail: detail))
            if environment["COFFER_FAULT"] == "drill-after-\(name)" { ProcessIdentity.crashForTesting() }
            return value
        } catch {
            phases.append(.init(name: name, seconds: MonotonicTime.now - started, ok: false, detail: CofferError.classify(error).1))
            throw error
        }
    }

    func run(_ name: String, _ body: () throws -> String) throws {
        try run(name) { ((), try body()) }
    }

    var total: Double { phases.reduce(0) { $0 + $1.seconds } }
}
