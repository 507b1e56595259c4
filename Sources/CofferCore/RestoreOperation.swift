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

/// A restore that did not commit, with what each target holds now (the
/// journal's record, resolved by asking the targets), so the message and
/// `--json` can say exactly where things stand.
public struct RestoreFailure: Error, CustomStringConvertible, Sendable {
    public let journal: RestoreJournal
    public let message: String

    public var description: String { message }
}

extension RestoreJournal {
    /// One line per target: where it stands, for messages.
    var holdingsText: String {
        targets.map { target in
            let holds = switch target.step.holds {
            case .bundle: "holds the bundle's content"
            case .previous: "holds its previous content"
            case .unknown: "could not be asked what it holds (its previous content is kept)"
            }
            return "\(target.name) (\(target.target)) \(holds)"
        }.joined(separator: "; ")
    }
}

/// `coffer restore`, following DESIGN.md: verify the signature and every
/// object while decrypting, stage every artifact beside its target and check
/// it, then commit the targets one by one with quick swaps, undoing those
/// already committed if a later one fails. All or nothing; every move goes
/// through `RestoreStateMachine`, and after an error the target is asked what
/// it holds instead of assuming.
public struct RestoreOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter
    /// PostgreSQL sources restored into another database than their connection's (`--to NAME=DB`).
    public var databases: [String: String] = [:]
    /// PostgreSQL sources restored inside one transaction into the target (`--in-place`).
    public var inPlace = false
    /// `latest` may resolve to a bundle older than the newest this machine has
    /// seen (`--allow-older`); without it such a restore is refused.
    public var allowOlder = false
    /// Restore only these artifacts (`--only`), still all or nothing among them; nil: every one.
    public var only: Set<String>?
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
    /// Refuses (`CofferError`, `.refused`) when `latest` is older than the newest
    /// bundle this machine has seen and no prune record explains it, unless `allowOlder`.
    public func plan(reference: String) throws -> (Manifest, [RestorePlanItem], [any SnapshotSource & RestoreTarget]) {
        // Before the repository is listed, so a bundle written meanwhile is in the listing.
        let (mark, _) = RollbackGuard.mark(config)
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environmentName = config.environment.rawValue
        let id = try repository.resolve(reference, environment: environmentName, now: try Clock.now(environment: environment))
        let trusted = try keys.trustedSigners()
        if reference == "latest", !allowOlder, let mark,
            let missing = try RollbackGuard(config: config, repository: repository, trusted: trusted, now: try Clock.now(environment: environment))
                .newerThan(id, mark: mark)
        {
            throw CofferError(
                .refused,
                "the newest bundle of \(environmentName) is \(id), but this machine has seen a newer one, \(missing), and no prune record explains why it is not the newest any more: someone removed backups (or put back an older copy of the storage), and `latest` would quietly restore something older. Nothing was changed; restore \(id) anyway with `--allow-older`, or name a bundle (see `coffer list`)")
        }
        let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
        RollbackGuard.raise(config, bundle: id)
        let sources = try SourceCatalog.sources(config, environment: environment, databases: databases, inPlace: inPlace)
        if let only {
            let names = Set(manifest.artifacts.map(\.name))
            let unknown = only.subtracting(names)
            guard unknown.isEmpty else {
                throw CofferError(
                    .config, "--only names \(unknown.sorted().joined(separator: ", ")), which bundle \(id) does not hold; it holds \(manifest.artifacts.map(\.name).joined(separator: ", "))")
            }
        }
        var items: [RestorePlanItem] = []
        for entry in manifest.artifacts {
            if let only, !only.contains(entry.name) {
                // Not restored: a source for it need not be configured.
                items.append(
                    RestorePlanItem(artifact: entry.name, kind: entry.kind, target: "-", plainBytes: entry.plainBytes, skipped: "not named by --only"))
                continue
            }
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
        let identities = try keys.identities(config.environment.rawValue)
        // A lost chunk stops the restore before anything is staged, naming every bundle it damages.
        try ChunkPresence.requireAll(
            manifest, repository: repository, ids: try repository.bundleIDs(environment: manifest.environment, now: try Clock.now(environment: environment)),
            trusted: try keys.trustedSigners())
        let restoreID = BundleID.make(at: try Clock.now(environment: environment))
        result.restoreID = restoreID
        // A target that cannot be undone commits last, after every other one committed.
        let work: [(ArtifactEntry, any SnapshotSource & RestoreTarget)] = manifest.artifacts.compactMap { entry in
            guard let target = SourceCatalog.target(for: entry, in: sources),
                plan.first(where: { $0.artifact == entry.name })?.skipped == nil
            else { return nil }
            return (entry, target)
        }.sorted { $0.1.canUndo && !$1.1.canUndo }
        let final = work.filter { !$0.1.canUndo }
        guard final.count <= 1 else {
            throw CofferError(
                .refused,
                "\(final.map(\.0.name).joined(separator: " and ")) would all be restored in place, and two targets that cannot be undone cannot be all or nothing; restore with a role that may create databases, or one PostgreSQL source at a time (a config with only that source)")
        }
        let now = Clock.format(try Clock.now(environment: environment))
        var machine = try RestoreStateMachine.begin(
            RestoreJournal(
                restoreID: restoreID, bundle: manifest.id, environment: manifest.environment, startedAt: now, updatedAt: now,
                state: .staging,
                targets: work.map {
                    .init(
                        name: $0.0.name, kind: $0.0.kind.rawValue, target: $0.1.targetDescription, step: .pending, database: databases[$0.0.name],
                        inPlace: $0.1.canUndo ? nil : true)
                }),
            in: journals)
        let targets = work.map(\.1)

        // 1. Decrypt, check every object's digest on the way, stage and check
        //    everything before touching any target. Artifacts verified only
        //    (an env artifact with nowhere to go) have their digests checked.
        do {
            for entry in manifest.artifacts where !work.contains(where: { $0.0.name == entry.name }) && only?.contains(entry.name) != false {
                try reader.checkObjects(entry)
            }
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
                try machine.move(index, to: .staged)
                if environment["COFFER_FAULT"] == "restore-after-stage-\(index + 1)" { ProcessIdentity.crashForTesting() }
            }
        } catch {
            abandonStaging(&machine, targets)
            throw error
        }

        // 2. Commit with quick swaps; undo on failure. Hooks around it.
        do {
            try runHook(config.hooks.preRestore, "pre_restore")
        } catch {
            abandonStaging(&machine, targets)
            throw error
        }
        do {
            try machine.move(to: .committing)
            result.warnings += try commitAll(&machine, targets)
        } catch {
            if let problem = runPostHook() { throw RestoreFailure(journal: machine.journal, message: "\(error); and then \(problem)") }
            throw error
        }
        if let problem = runPostHook() { result.warnings.append("\(problem); the restore itself was committed") }
        result.committed = work.map(\.0.name)
        if let problem = recordInJournal(
            "restore", ["bundle": .string(manifest.id), "restore": .string(restoreID), "targets": .array(result.committed.map { .string($0) })])
        {
            result.warnings.append(problem)
        }
        return result
    }

    /// Runs a `[hooks]` command in the config's folder (around a restore's commit and a rollback).
    private func runHook(_ command: String?, _ name: String) throws {
        guard let command else { return }
        try Hooks.run(command, name: name, in: FileSystem.directoryName(of: config.path), environment: environment)
    }

    /// post_restore runs after a commit, an undo or a rollback, failed or not: the
    /// application must come back either way. Returns the problem, if any.
    private func runPostHook() -> String? {
        do {
            try runHook(config.hooks.postRestore, "post_restore")
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Staging failed or was stopped: removes every staged copy; no target was touched.
    private func abandonStaging(_ machine: inout RestoreStateMachine, _ targets: [any RestoreTarget]) {
        for (index, target) in targets.enumerated() {
            target.discardStage(restoreID: machine.restoreID)
            try? machine.move(index, to: .discarded)
        }
        try? machine.move(to: .failed)
    }

    /// Asks a target what it holds, a few times (a server may be restarting);
    /// nil, with the reason, when it cannot be asked.
    func ask(_ target: any RestoreTarget, _ restoreID: String) -> (TargetContent?, String) {
        var reason = ""
        for attempt in 0..<3 {
            do {
                return (try target.content(restoreID: restoreID), "")
            } catch {
                reason = "\(error)"
                if attempt < 2 { usleep(300_000) }
            }
        }
        return (nil, reason)
    }

    /// Commits every staged target in order (resuming after a crash); returns
    /// notes for the operator. When a commit fails, the target is asked what
    /// it holds: the bundle means the answer was lost and the restore goes on;
    /// anything else puts every target that may have changed back, and throws
    /// `RestoreFailure` saying what each holds.
    func commitAll(_ machine: inout RestoreStateMachine, _ targets: [any RestoreTarget]) throws -> [String] {
        let restoreID = machine.restoreID
        var notes: [String] = []
        var failure: (name: String, error: String)?
        /// A target that cannot be undone and cannot be asked: undoing the others could leave a mix, so wait.
        func unanswered(_ target: any RestoreTarget, _ reason: String) -> RestoreFailure {
            RestoreFailure(
                journal: machine.journal,
                message: "restore \(restoreID): \(target.name) cannot be asked whether its commit happened (\(reason)), and it cannot be undone, so nothing is put back yet. Now: \(machine.journal.holdingsText). Run `coffer restore --recover` once it answers")
        }
        for (index, target) in targets.enumerated() where machine.step(index) != .committed {
            if machine.step(index) == .committing {  // resumed after a crash: ask before committing again
                let (content, reason) = ask(target, restoreID)
                if content == .bundle {
                    try machine.move(index, to: .committed)
                    continue
                }
                if content == nil && !target.canUndo { throw unanswered(target, reason) }
            }
            try machine.move(index, to: .committing)
            do {
                try target.commit(restoreID: restoreID)
            } catch {
                let (content, reason) = ask(target, restoreID)
                if content == nil && !target.canUndo { throw unanswered(target, "\(error); \(reason)") }
                if content == .bundle {
                    notes.append("\(target.name): the commit reported an error (\(error)), but \(target.targetDescription) holds the bundle's content: the change happened and its answer was lost")
                } else {
                    if content == .previous { try machine.move(index, to: .staged) }
                    failure = (target.name, content == nil ? "\(error); and it cannot be asked what it holds now: \(reason)" : "\(error)")
                    break
                }
            }
            try machine.move(index, to: .committed)
            if environment["COFFER_FAULT"] == "restore-after-commit-\(index + 1)" { ProcessIdentity.crashForTesting() }
        }
        guard let failure else {
            try machine.move(to: .committed)
            return notes
        }
        try machine.move(to: .undoing)
        let problems = undoAll(&machine, targets)
        if problems.isEmpty {
            throw RestoreFailure(
                journal: machine.journal, message: "restore failed at \(failure.name): \(failure.error); every target was put back, nothing changed")
        }
        throw RestoreFailure(
            journal: machine.journal,
            message: "restore \(restoreID) failed at \(failure.name) (\(failure.error)) and could not put everything back: \(problems.joined(separator: "; ")). Now: \(machine.journal.holdingsText). Fix the cause and run `coffer restore --recover`")
    }

    /// Puts back every target that was committed or may have been (newest
    /// first) and removes the staged copies; safe to resume after a crash.
    /// A kept copy is dropped only once its target confirmed holding the
    /// previous content again. Returns the problems; none means `failed`.
    func undoAll(_ machine: inout RestoreStateMachine, _ targets: [any RestoreTarget]) -> [String] {
        let restoreID = machine.restoreID
        var problems: [String] = []
        for (index, target) in targets.enumerated().reversed() {
            switch machine.step(index) {
            case .pending, .staged:
                target.discardStage(restoreID: restoreID)
                try? machine.move(index, to: .discarded)
            case .committing where ask(target, restoreID).0 == .previous:
                // The commit never happened: nothing to put back.
                target.discardStage(restoreID: restoreID)
                try? machine.move(index, to: .staged)
                try? machine.move(index, to: .discarded)
            case .committed, .committing, .undoing:
                guard target.canUndo else {
                    problems.append("\(target.name) was restored in place and cannot be undone")
                    continue
                }
                if let problem = undo(&machine, index, target) {
                    problems.append(problem)
                    continue
                }
                do { try target.finalize(restoreID: restoreID) } catch { problems.append("\(target.name): put back, but its restored copy could not be removed: \(error)") }
                if environment["COFFER_FAULT"] == "restore-during-undo" { ProcessIdentity.crashForTesting() }
            case .undone, .discarded:
                continue
            }
        }
        if problems.isEmpty { try? machine.move(to: .failed) }
        return problems
    }

    /// One target's undo, journaled first; after an error the target is asked,
    /// and only its word that it holds the previous content counts as done.
    /// Returns the problem, if any.
    private func undo(_ machine: inout RestoreStateMachine, _ index: Int, _ target: any RestoreTarget) -> String? {
        let restoreID = machine.restoreID
        do {
            try machine.move(index, to: .undoing)
        } catch {
            return "\(target.name): \(error)"
        }
        do {
            try target.undo(restoreID: restoreID)
            if environment["COFFER_FAULT"] == "undo-fails-\(target.name)" { throw CofferError(.failure, "injected undo failure") }
        } catch {
            let (content, reason) = ask(target, restoreID)
            guard content == .previous else {
                let now = content.map { "it holds \($0 == .bundle ? "the bundle's content" : "either content")" } ?? "it cannot be asked what it holds (\(reason))"
                return "\(target.name): cannot put the previous content back (\(error)); \(now), and the previous content is kept"
            }
        }
        do {
            try machine.move(index, to: .undone)
        } catch {
            return "\(target.name): \(error)"
        }
        return nil
    }

    /// A restore interrupted mid-way must be recovered before another starts.
    func refuseWhileInterrupted() throws {
        if let interrupted = try journals.all().first(where: { $0.state.isInFlight }) {
            throw CofferError(.refused, "restore \(interrupted.restoreID) was interrupted (\(interrupted.state.rawValue)); run `coffer restore --recover` first")
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

    /// Finishes what a crash interrupted: a commit (or, failing that, its
    /// undo), an undo, a rollback or a finalize. Returns one line per restore
    /// it handled, and whether every one ended consistent.
    public func recover() throws -> (lines: [String], succeeded: Bool) {
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        var lines: [String] = []
        var succeeded = true
        for journal in try journals.all() where journal.state.isInFlight {
            var machine = RestoreStateMachine(journal: journal, store: journals)
            let id = journal.restoreID
            do {
                let targets = try targets(of: journal)
                switch journal.state {
                case .staging:
                    abandonStaging(&machine, targets)
                    lines.append("\(id): interrupted before any target changed; staged copies removed")
                case .committing:
                    let notes = try commitAll(&machine, targets)
                    lines.append(([ "\(id): finished the interrupted commit; every target holds bundle \(journal.bundle)"] + notes).joined(separator: "\n"))
                case .undoing:
                    let problems = undoAll(&machine, targets)
                    if problems.isEmpty {
                        lines.append("\(id): finished putting every target back; nothing is changed")
                    } else {
                        succeeded = false
                        lines.append("\(id): still cannot put back: \(problems.joined(separator: "; ")). Now: \(machine.journal.holdingsText)")
                    }
                case .rollingBack:
                    try rollBackAll(&machine, targets)
                    lines.append("\(id): finished the interrupted rollback; every target holds its content from before the restore")
                case .finalizing:
                    try finalizeAll(&machine, targets)
                    lines.append("\(id): finished dropping the kept copies")
                default:
                    continue
                }
            } catch let failure as RestoreFailure {
                succeeded = succeeded && failure.journal.state == .failed
                lines.append("\(id): \(failure.message)")
            } catch {
                succeeded = false
                lines.append("\(id): could not recover: \(error). Now: \(machine.journal.holdingsText)")
            }
        }
        return (lines, succeeded)
    }

    /// Puts back the pre-restore content of a committed restore (or finishes a
    /// rollback that was interrupted). Journaled like a commit: `rolling-back`
    /// first, then each target `undoing` before and `undone` after.
    public func rollback(restoreID: String) throws -> RestoreJournal {
        let lock = try RestoreLock.acquire(journals)
        defer { lock.release() }
        var machine = RestoreStateMachine(journal: try journals.load(restoreID), store: journals)
        guard [.committed, .rollingBack].contains(machine.state) else {
            throw CofferError(.refused, "restore \(restoreID) is \(machine.state.rawValue); only a committed restore can be rolled back")
        }
        let targets = try targets(of: machine.journal)
        if machine.state == .committed {
            for target in targets {
                guard target.canUndo else {
                    throw CofferError(.refused, "\(target.name) was restored in place (--in-place), so there is no earlier copy to put back; nothing was changed")
                }
                let kept: Bool
                do { kept = try target.hasPreRestoreCopy(restoreID: restoreID) } catch {
                    throw CofferError(.failure, "cannot tell whether the pre-restore copy of \(target.name) is still kept (\(error)); nothing was changed")
                }
                guard kept else { throw CofferError(.refused, "the pre-restore copy of \(target.name) for restore \(restoreID) is gone; cannot roll back, nothing was changed") }
            }
            // The application is stopped around a rollback as around a restore.
            try runHook(config.hooks.preRestore, "pre_restore")
            try machine.move(to: .rollingBack)
        }
        do {
            try rollBackAll(&machine, targets)
        } catch {
            if let problem = runPostHook() { throw RestoreFailure(journal: machine.journal, message: "\(error); and then \(problem)") }
            throw error
        }
        if let problem = runPostHook() { FileHandle.standardError.write(Data("coffer: warning: \(problem); the rollback itself is done\n".utf8)) }
        if let problem = recordInJournal("rollback", ["bundle": .string(machine.journal.bundle), "restore": .string(restoreID)]) {
            FileHandle.standardError.write(Data("coffer: warning: \(problem)\n".utf8))
        }
        return machine.journal
    }

    /// Undoes every target not yet undone, newest first; throws `RestoreFailure`
    /// (the journal stays `rolling-back`, to be resumed) when one cannot be.
    func rollBackAll(_ machine: inout RestoreStateMachine, _ targets: [any RestoreTarget]) throws {
        for (index, target) in targets.enumerated().reversed() where machine.step(index) != .undone {
            if let problem = undo(&machine, index, target) {
                throw RestoreFailure(
                    journal: machine.journal,
                    message: "rollback of restore \(machine.restoreID) is not finished: \(problem). Now: \(machine.journal.holdingsText). Fix the cause and run `coffer rollback \(machine.restoreID)` again (or `coffer restore --recover`)")
            }
            if environment["COFFER_FAULT"] == "rollback-after-\(index + 1)" { ProcessIdentity.crashForTesting() }
        }
        try machine.move(to: .rolledBack)
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
        var machine = RestoreStateMachine(journal: try journals.load(restoreID), store: journals)
        guard [.committed, .rolledBack, .finalizing].contains(machine.state) else {
            throw CofferError(.refused, "restore \(restoreID) is \(machine.state.rawValue); nothing to finalize")
        }
        try finalizeAll(&machine, try targets(of: machine.journal))
        return machine.journal
    }

    /// Each target's finalize is safe to repeat, so a crash part-way is resumed from `finalizing`.
    func finalizeAll(_ machine: inout RestoreStateMachine, _ targets: [any RestoreTarget]) throws {
        try machine.move(to: .finalizing)
        for target in targets { try target.finalize(restoreID: machine.restoreID) }
        try machine.move(to: .finalized)
    }

    /// Every recorded restore.
    public func history() throws -> [RestoreJournal] { try journals.all() }
}
