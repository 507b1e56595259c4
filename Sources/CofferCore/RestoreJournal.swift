import CofferFormat
import CofferSystem
import Foundation

/// The local record of one restore, rewritten durably at every step, so that
/// `coffer restore --recover` can finish or undo a commit a crash interrupted,
/// and `coffer rollback` knows what to put back.
public struct RestoreJournal: Codable, Sendable {
    /// Where the restore as a whole stands; the moves between states are
    /// `RestoreStateMachine`'s table (and docs/RESTORE.md's).
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Artifacts are being decrypted and staged; no target touched yet.
        case staging
        /// Targets are being swapped in order; some may be done.
        case committing
        /// A commit failed and the targets that may have changed are being put back.
        case undoing
        /// Every target holds the bundle's content; pre-restore copies are kept.
        case committed
        /// Failed; every target holds what it held before.
        case failed
        /// `coffer rollback` is putting the pre-restore content back.
        case rollingBack = "rolling-back"
        /// Every target holds its pre-restore content again.
        case rolledBack = "rolled-back"
        /// The kept copies are being dropped.
        case finalizing
        /// Kept copies dropped; rollback no longer possible.
        case finalized

        /// States a process leaves only by finishing its work: found with the lock free, a crash interrupted it.
        public var isInFlight: Bool { [.staging, .committing, .undoing, .rollingBack, .finalizing].contains(self) }
    }

    /// Where one target stands. `committing` and `undoing` mean the step was
    /// started and its outcome is not known yet: the target must be asked.
    public enum Step: String, Codable, Sendable, CaseIterable {
        case pending, staged, committing, committed, undoing, undone, discarded

        /// What a target in this step holds, as far as the journal knows.
        public var holds: Holding {
            switch self {
            case .pending, .staged, .undone, .discarded: .previous
            case .committed: .bundle
            case .committing, .undoing: .unknown
            }
        }
    }

    /// Which content a target holds.
    public enum Holding: String, Codable, Sendable {
        case previous, bundle, unknown
    }

    public struct Target: Codable, Sendable {
        public var name: String
        public var kind: String
        public var target: String
        public var step: Step
        /// The database a PostgreSQL artifact went to when `--to` named one.
        public var database: String?
        /// True when a PostgreSQL artifact was restored `--in-place`.
        public var inPlace: Bool?
    }

    public var restoreID: String
    public var bundle: String
    public var environment: String
    public var startedAt: String
    public var updatedAt: String
    public var state: State
    public var targets: [Target]

    enum CodingKeys: String, CodingKey {
        case bundle, environment, state, targets
        case restoreID = "restore_id"
        case startedAt = "started_at"
        case updatedAt = "updated_at"
    }
}

/// The journals in `.coffer/restores/`.
public struct RestoreJournalStore: Sendable {
    public let directory: String

    public init(state: StateDirectory) {
        directory = state.restores
    }

    init(directory: String) {
        self.directory = directory
    }

    func path(_ id: String) -> String { FileSystem.join(directory, "\(id).json") }

    public func save(_ journal: RestoreJournal) throws {
        var journal = journal
        journal.updatedAt = Clock.format(Date())
        try FileSystem.createDirectory(directory, permissions: 0o700)
        try FileSystem.writeFile(path(journal.restoreID), bytes: try CanonicalJSON.bytes(journal), permissions: 0o600)
    }

    public func load(_ id: String) throws -> RestoreJournal {
        guard FileSystem.exists(path(id)) else {
            throw CofferError(.failure, "no restore \(id) is recorded in \(directory); see `coffer rollback` for the list")
        }
        do {
            return try JSONDecoder().decode(RestoreJournal.self, from: Data(try FileSystem.readFile(path(id))))
        } catch let error as DecodingError {
            throw CofferError(.failure, "the journal of restore \(id) is unreadable: \(error)")
        }
    }

    /// Every journal, oldest first.
    public func all() throws -> [RestoreJournal] {
        guard FileSystem.exists(directory) else { return [] }
        return try FileSystem.contentsOfDirectory(directory).filter { $0.hasSuffix(".json") }.sorted().map {
            try load(String($0.dropLast(5)))
        }
    }
}

/// One restore, recovery or rollback at a time: an exclusive `flock` on
/// `.coffer/restores/lock`, held for the whole operation and released by the
/// kernel if the process dies, so a journal whose lock is free is truly interrupted.
struct RestoreLock {
    private let file: LockFile

    static func acquire(_ journals: RestoreJournalStore) throws -> RestoreLock {
        try FileSystem.createDirectory(journals.directory, permissions: 0o700)
        guard let file = try LockFile(path: FileSystem.join(journals.directory, "lock")) else {
            throw CofferError(.refused, "another coffer restore, recovery or rollback is running for this config; wait for it to finish")
        }
        return RestoreLock(file: file)
    }

    func release() { file.release() }
}
