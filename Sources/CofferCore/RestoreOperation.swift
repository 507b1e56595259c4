import Foundation
import CofferCrypto
import CofferFormat
import CofferSources
import CofferSystem

/// One line of a restore plan.
public struct RestorePlanItem: Sendable {
    public var artifact: String
    public var kind: ArtifactKind
    public var target: String
    public var plainBytes: Int64
    /// Why this artifact is verified but not restored, if it is not.
    public var skipped: String?
}

/// What a restore did (or, with a dry run, would do).
public struct RestoreResult: Sendable {
    public var restoreID: String?
    public var bundle: String
    public var plan: [RestorePlanItem]
    public var committed: [String]
    /// Things the operator should know, such as a failed post_restore hook.
    public var warnings: [String] = []
}

/// `coffer restore`, following DESIGN.md: verify the signature and every
/// object first, decrypt and stage every artifact beside its target and check
/// it, then commit the targets one by one with quick swaps, undoing those
/// already committed if a later one fails. All or nothing; every step journaled.
public struct RestoreOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter
    /// PostgreSQL sources restored into another database than their connection's (`--to NAME=DB`).
    public var databases: [String: String] = [:]
    /// PostgreSQL sources restored inside one transaction into the target (`--in-place`).
    public var inPlace = false
    let keys: KeyStore
    let journals: RestoreJournalStore

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
        keys = KeyStore(directory: config.keysDirectory)
        journals = RestoreJournalStore(state: StateDirectory(config: config))
    }

    /// The plan for a bundle: which artifact goes where.
    public func plan(reference: String) throws -> (Manifest, [RestorePlanItem], [any SnapshotSource & RestoreTarget]) {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environmentName = config.environment.rawValue
        let id = try repository.resolve(reference, environment: environmentName)
        let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: try keys.trustedSigners())
        let sources = try SourceCatalog.sources(config, environment: environment, databases: databases, inPlace: inPlace)
        var items: [RestorePlanItem] = []
        for entry in manifest.artifacts {
            guard let target = SourceCatalog.target(for: entry, in: sources) else {
                throw CofferError(.config, "the bundle has \(entry.kind.rawValue) artifact '\(entry.name)' but \(config.path) configures no such source to restore it into")
            }
            var item = RestorePlanItem(artifact: entry.name, kind: entry.kind, target: target.targetDescription, plainBytes: entry.plainBytes)
            if let env = target as? EnvSource, env.restoreTo == nil {
                item.skipped = "no [env] restore_to or file configured; verified only (see `coffer env diff`)"
            }
            items.append(item)
        }
        return (manifest, items, sources)
    }

    /// Restores `reference` (an id or `latest`). `dryRun` stops after the plan.
    public func run(reference: String, dryRun: Bool, confirm: ([RestorePlanItem]) -> Bool) throws -> RestoreResult {
        let (manifest, plan, sources) = try plan(reference: reference)
        var result = RestoreResult(restoreID: nil, bundle: manifest.id, plan: plan, committed: [])
        if dryRun { return result }
        guard confirm(plan) else { throw CofferError(.refused, "restore cancelled; nothing was changed") }
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        try refuseWhileInterrupted()

        let repository = try Repository.open(config)
        let reader = BundleReader(repository: repository, manifest: manifest)
        // 1. Every object must be the one the signed manifest lists.
        for entry in manifest.artifacts {
            progress.begin("\(entry.name): checking digests")
            try reader.checkObjects(entry)
            progress.end()
        }
        let identities = try keys.identities(config.environment.rawValue)
        let restoreID = BundleID.make(at: try Clock.now(environment: environment))
        result.restoreID = restoreID
        let work: [(ArtifactEntry, any SnapshotSource & RestoreTarget)] = manifest.artifacts.compactMap { entry in
            guard let target = SourceCatalog.target(for: entry, in: sources),
                plan.first(where: { $0.artifact == entry.name })?.skipped == nil
            else { return nil }
            return (entry, target)
        }
        let now = Clock.format(try Clock.now(environment: environment))
        var journal = RestoreJournal(
            restoreID: restoreID, bundle: manifest.id, environment: manifest.environment, startedAt: now, updatedAt: now,
            state: .staging,
            targets: work.map {
                .init(
                    name: $0.0.name, kind: $0.0.kind.rawValue, target: $0.1.targetDescription, step: "pending", database: databases[$0.0.name],
                    inPlace: $0.0.kind == .postgres && inPlace ? true : nil)
            })
        try journals.save(journal)

        // 2. Decrypt, stage and check everything before touching any target.
        do {
            for (index, (entry, target)) in work.enumerated() {
                progress.begin("\(entry.name): decrypting and staging beside \(target.targetDescription)")
                let staged = try target.stage(restoreID: restoreID, entry: entry) { sink in
                    try reader.open(entry, identities: identities) { chunk in
                        progress.advance(by: chunk.count)
                        try sink(chunk)
                    }
                }
                progress.end()
                try compareStats(staged.stats, entry)
                result.warnings += staged.notes
                journal.targets[index].step = "staged"
                if environment["COFFER_FAULT"] == "restore-after-stage-\(index + 1)" { ProcessIdentity.crashForTesting() }
            }
            try journals.save(journal)
        } catch {
            for (_, target) in work { target.discardStage(restoreID: restoreID) }
            journal.state = .failed
            try? journals.save(journal)
            throw error
        }

        // 3. Commit with quick swaps; undo on failure. Hooks around it.
        if let hook = config.hooks.preRestore {
            do {
                try Hooks.run(hook, name: "pre_restore", in: FileSystem.directoryName(of: config.path), environment: environment)
            } catch {
                for (_, target) in work { target.discardStage(restoreID: restoreID) }
                journal.state = .failed
                try? journals.save(journal)
                throw error
            }
        }
        // post_restore runs after a commit or an undo: the application must come back either way.
        func runPostHook() -> String? {
            guard let hook = config.hooks.postRestore else { return nil }
            do {
                try Hooks.run(hook, name: "post_restore", in: FileSystem.directoryName(of: config.path), environment: environment)
                return nil
            } catch {
                return "\(error)"
            }
        }
        journal.state = .committing
        try journals.save(journal)
        do {
            try commitAll(&journal, work.map(\.1))
        } catch {
            if let problem = runPostHook() { throw CofferError(.failure, "\(error); and then \(problem)") }
            throw error
        }
        if let problem = runPostHook() { result.warnings.append("\(problem); the restore itself was committed") }
        result.committed = work.map(\.0.name)
        if let problem = recordInJournal(
            "restore", ["bundle": .string(manifest.id), "restore": .string(journal.restoreID), "targets": .array(result.committed.map { .string($0) })])
        {
            result.warnings.append(problem)
        }
        return result
    }

    /// Commits every staged target in order; on a failure, puts every touched
    /// target back. Every step is journaled before it is taken.
    func commitAll(_ journal: inout RestoreJournal, _ targets: [any RestoreTarget]) throws {
        let restoreID = journal.restoreID
        for (index, target) in targets.enumerated() where journal.targets[index].step != "committed" {
            journal.targets[index].step = "committing"
            try journals.save(journal)
            do {
                try target.commit(restoreID: restoreID)
            } catch {
                // A failed commit left its own target as it was; drop its kept copy, undo the others.
                journal.targets[index].step = "failed"
                try? journals.save(journal)
                try? target.finalize(restoreID: restoreID)
                let problems = undoAll(&journal, targets)
                if !problems.isEmpty {
                    throw CofferError(
                        .failure,
                        "restore \(restoreID) failed at \(target.name) (\(error)) and could not put everything back: \(problems.joined(separator: "; ")). The previous content is kept beside each target as NAME.pre-restore-\(restoreID); fix the cause and run `coffer restore --recover`")
                }
                throw CofferError(.failure, "restore failed at \(target.name): \(error); every target was put back, nothing changed")
            }
            journal.targets[index].step = "committed"
            try journals.save(journal)
            if environment["COFFER_FAULT"] == "restore-after-commit-\(index + 1)" { ProcessIdentity.crashForTesting() }
        }
        journal.state = .committed
        try journals.save(journal)
    }

    /// Puts back every target that was committed (or was being committed when
    /// a crash came) and still has its pre-restore copy, newest first, and
    /// removes the staged copies. Journaled as `undoing` first, so a crash
    /// part-way is resumed by `--recover`; each undo is safe to repeat.
    /// Returns the problems.
    func undoAll(_ journal: inout RestoreJournal, _ targets: [any RestoreTarget]) -> [String] {
        let restoreID = journal.restoreID
        journal.state = .undoing
        try? journals.save(journal)
        var problems: [String] = []
        for (index, target) in targets.enumerated().reversed()
        where ["committed", "committing"].contains(journal.targets[index].step) && target.hasPreRestoreCopy(restoreID: restoreID) {
            do {
                try target.undo(restoreID: restoreID)
                if environment["COFFER_FAULT"] == "restore-during-undo" { ProcessIdentity.crashForTesting() }
                journal.targets[index].step = "undone"
                try journals.save(journal)
                try target.finalize(restoreID: restoreID)
            } catch {
                problems.append("\(target.name): \(error)")
            }
        }
        for target in targets { target.discardStage(restoreID: restoreID) }
        if problems.isEmpty {
            journal.state = .failed
            try? journals.save(journal)
        }
        return problems
    }

    /// A restore interrupted mid-commit must be recovered before another starts.
    func refuseWhileInterrupted() throws {
        if let interrupted = try journals.all().first(where: { [.committing, .staging, .undoing].contains($0.state) }) {
            throw CofferError(.refused, "restore \(interrupted.restoreID) was interrupted; run `coffer restore --recover` first")
        }
    }

    /// The configured targets of a journal, in its order.
    func targets(of journal: RestoreJournal) throws -> [any RestoreTarget] {
        var databases: [String: String] = [:]
        for record in journal.targets { if let database = record.database { databases[record.name] = database } }
        let inPlace = journal.targets.contains { $0.inPlace == true }
        let sources = try SourceCatalog.sources(config, environment: environment, databases: databases, inPlace: inPlace)
        return try journal.targets.map { record in
            guard let target = sources.first(where: { $0.name == record.name && $0.kind.rawValue == record.kind }) else {
                throw CofferError(.config, "restore \(journal.restoreID) touched \(record.name), which the config no longer has")
            }
            guard target.targetDescription == record.target else {
                throw CofferError(
                    .config, "restore \(journal.restoreID) touched \(record.target) for \(record.name), but the config now names \(target.targetDescription); put the config back first")
            }
            return target
        }
    }

    /// Finishes (or, failing that, undoes) restores a crash interrupted, and
    /// resumes undos that were interrupted. Returns one line per restore it
    /// handled, and whether every one ended consistent.
    public func recover() throws -> (lines: [String], succeeded: Bool) {
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        var lines: [String] = []
        var succeeded = true
        for var journal in try journals.all() {
            switch journal.state {
            case .staging:
                for target in try targets(of: journal) { target.discardStage(restoreID: journal.restoreID) }
                journal.state = .failed
                try journals.save(journal)
                lines.append("\(journal.restoreID): interrupted before any target changed; staged copies removed")
            case .committing:
                do {
                    try commitAll(&journal, try targets(of: journal))
                    lines.append("\(journal.restoreID): finished the interrupted commit; every target holds bundle \(journal.bundle)")
                } catch {
                    succeeded = succeeded && journal.state == .failed
                    lines.append("\(journal.restoreID): could not finish the commit: \(error)")
                }
            case .undoing:
                let problems = undoAll(&journal, try targets(of: journal))
                if problems.isEmpty {
                    lines.append("\(journal.restoreID): finished putting every target back; nothing is changed")
                } else {
                    succeeded = false
                    lines.append("\(journal.restoreID): still cannot put back: \(problems.joined(separator: "; "))")
                }
            default:
                continue
            }
        }
        return (lines, succeeded)
    }

    /// Puts back the pre-restore content of a committed restore.
    public func rollback(restoreID: String) throws -> RestoreJournal {
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        var journal = try journals.load(restoreID)
        guard journal.state == .committed else {
            throw CofferError(.refused, "restore \(restoreID) is \(journal.state.rawValue); only a committed restore can be rolled back")
        }
        let targets = try targets(of: journal)
        for target in targets where !target.hasPreRestoreCopy(restoreID: restoreID) {
            throw CofferError(.refused, "the pre-restore copy of \(target.name) for restore \(restoreID) is gone; cannot roll back")
        }
        for (index, target) in targets.enumerated().reversed() {
            try target.undo(restoreID: restoreID)
            journal.targets[index].step = "undone"
        }
        journal.state = .rolledBack
        try journals.save(journal)
        if let problem = recordInJournal("rollback", ["bundle": .string(journal.bundle), "restore": .string(restoreID)]) {
            FileHandle.standardError.write(Data("coffer: warning: \(problem)\n".utf8))
        }
        return journal
    }

    /// Records a finished restore or rollback in the repository's journal; returns a warning if it could not.
    private func recordInJournal(_ kind: String, _ details: [String: JSONValue]) -> String? {
        do {
            return JournalRecorder.record(
                repository: try Repository.open(config), environment: config.environment.rawValue, kind: kind, details: details,
                at: try Clock.now(environment: environment), signingKey: JournalRecorder.unattendedSigningKey(config))
        } catch {
            return "the \(kind) succeeded but its journal event was not written: \(error)"
        }
    }

    /// Drops the pre-restore copies of a restore (after which it cannot be rolled back).
    public func finalize(restoreID: String) throws -> RestoreJournal {
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        var journal = try journals.load(restoreID)
        guard journal.state == .committed || journal.state == .rolledBack else {
            throw CofferError(.refused, "restore \(restoreID) is \(journal.state.rawValue); nothing to finalize")
        }
        for target in try targets(of: journal) { try target.finalize(restoreID: restoreID) }
        journal.state = .finalized
        try journals.save(journal)
        return journal
    }

    /// Every recorded restore.
    public func history() throws -> [RestoreJournal] { try journals.all() }
}
