/// The only way a restore's journal changes. Each move is checked against
/// the table below (the one in docs/RESTORE.md) and written durably before
/// the caller acts on it, so that after a crash the journal never claims
/// less than what may have happened: `committing` and `undoing` are written
/// before the swap, and resolved only by the target's own answer.
struct RestoreStateMachine {
    private(set) var journal: RestoreJournal
    let store: RestoreJournalStore

    /// Moves of the restore as a whole.
    static let stateMoves: [RestoreJournal.State: Set<RestoreJournal.State>] = [
        .staging: [.committing, .failed],
        .committing: [.committed, .undoing],
        .undoing: [.failed],
        .committed: [.rollingBack, .finalizing],
        .rollingBack: [.rolledBack],
        .rolledBack: [.finalizing],
        .finalizing: [.finalized],
        .failed: [],
        .finalized: [],
    ]

    /// Moves of one target.
    static let stepMoves: [RestoreJournal.Step: Set<RestoreJournal.Step>] = [
        .pending: [.staged, .discarded],
        .staged: [.committing, .discarded],
        .committing: [.committed, .staged, .undoing],
        .committed: [.undoing],
        .undoing: [.undone],
        .undone: [],
        .discarded: [],
    ]

    /// Records a new restore (in `staging`, every target `pending`).
    static func begin(_ journal: RestoreJournal, in store: RestoreJournalStore) throws -> RestoreStateMachine {
        precondition(journal.state == .staging && journal.targets.allSatisfy { $0.step == .pending })
        try store.save(journal)
        return RestoreStateMachine(journal: journal, store: store)
    }

    /// Continues a recorded restore.
    init(journal: RestoreJournal, store: RestoreJournalStore) {
        self.journal = journal
        self.store = store
    }

    var state: RestoreJournal.State { journal.state }
    var restoreID: String { journal.restoreID }
    func step(_ index: Int) -> RestoreJournal.Step { journal.targets[index].step }

    mutating func move(to state: RestoreJournal.State) throws {
        if state == journal.state { return }
        guard Self.stateMoves[journal.state]?.contains(state) == true else {
            throw CofferError(.failure, "internal error: restore \(restoreID) cannot go from \(journal.state.rawValue) to \(state.rawValue)")
        }
        var next = journal
        next.state = state
        try store.save(next)
        journal = next
    }

    mutating func move(_ index: Int, to step: RestoreJournal.Step) throws {
        let current = journal.targets[index].step
        if step == current { return }
        guard Self.stepMoves[current]?.contains(step) == true else {
            throw CofferError(.failure, "internal error: target \(journal.targets[index].name) of restore \(restoreID) cannot go from \(current.rawValue) to \(step.rawValue)")
        }
        var next = journal
        next.targets[index].step = step
        try store.save(next)
        journal = next
    }
}
