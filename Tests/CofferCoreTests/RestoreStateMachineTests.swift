import CofferSystem
import Foundation
import Testing

@testable import CofferCore

@Suite("restore state machine")
struct RestoreStateMachineTests {
    /// A journal store in a fresh folder, removed afterwards.
    func withStore(_ body: (RestoreJournalStore) throws -> Void) throws {
        let folder = NSTemporaryDirectory() + "coffer-journal-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try body(RestoreJournalStore(directory: folder))
    }

    func journal(_ state: RestoreJournal.State, step: RestoreJournal.Step = .pending) -> RestoreJournal {
        RestoreJournal(
            restoreID: "20261201T000000Z-00000001", bundle: "20261130T000000Z-00000002", environment: "production", startedAt: "", updatedAt: "",
            state: state, targets: [.init(name: "app", kind: "sqlite", target: "app.db", step: step)])
    }

    @Test("every move of the restore in the table is journaled before it returns; any other is refused and leaves the journal as it was")
    func stateMoves() throws {
        try withStore { store in
            for from in RestoreJournal.State.allCases {
                for to in RestoreJournal.State.allCases where to != from {
                    try store.save(journal(from))
                    var machine = RestoreStateMachine(journal: journal(from), store: store)
                    let allowed = RestoreStateMachine.stateMoves[from]?.contains(to) == true
                    #expect(((try? machine.move(to: to)) != nil) == allowed, "\(from) -> \(to)")
                    #expect(try store.load("20261201T000000Z-00000001").state == (allowed ? to : from), "\(from) -> \(to)")
                    #expect(machine.state == (allowed ? to : from))
                }
            }
        }
    }

    @Test("every move of a target in the table is journaled before it returns; any other is refused")
    func stepMoves() throws {
        try withStore { store in
            for from in RestoreJournal.Step.allCases {
                for to in RestoreJournal.Step.allCases where to != from {
                    try store.save(journal(.committing, step: from))
                    var machine = RestoreStateMachine(journal: journal(.committing, step: from), store: store)
                    let allowed = RestoreStateMachine.stepMoves[from]?.contains(to) == true
                    #expect(((try? machine.move(0, to: to)) != nil) == allowed, "\(from) -> \(to)")
                    #expect(try store.load("20261201T000000Z-00000001").targets[0].step == (allowed ? to : from), "\(from) -> \(to)")
                }
            }
        }
    }

    /// The rows of a markdown table after `heading`: its cells, with a blank first cell continuing the row above.
    func table(after heading: String) throws -> [[String]] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/RESTORE.md").standardized.path
        let text = try String(contentsOfFile: docs, encoding: .utf8)
        let section = try #require(text.range(of: heading)).upperBound
        var rows: [[String]] = []
        var current = ""
        for line in text[section...].split(separator: "\n", omittingEmptySubsequences: false).drop(while: { !$0.hasPrefix("|") }).prefix(while: { $0.hasPrefix("|") }).dropFirst(2) {
            var cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
            if cells[0].isEmpty { cells[0] = current } else { current = cells[0] }
            rows.append(cells)
        }
        return rows
    }

    @Test("the tables in docs/RESTORE.md list exactly the moves the machine allows, and which states are in flight")
    func documentedTables() throws {
        var documented: [String: Set<String>] = [:]
        for row in try table(after: "The restore:") {
            documented[row[0], default: []].formUnion(row[3] == "—" ? [] : [row[3]])
            let state = try #require(RestoreJournal.State(rawValue: row[0]), "unknown state \(row[0])")
            if !row[1].isEmpty { #expect((row[1] == "yes") == state.isInFlight, "\(row[0])") }
        }
        #expect(documented == Dictionary(uniqueKeysWithValues: RestoreStateMachine.stateMoves.map { ($0.key.rawValue, Set($0.value.map(\.rawValue))) }))

        var steps: [String: Set<String>] = [:]
        for row in try table(after: "Each target (") { steps[row[0], default: []].formUnion(row[2] == "—" ? [] : [row[2]]) }
        #expect(steps == Dictionary(uniqueKeysWithValues: RestoreStateMachine.stepMoves.map { ($0.key.rawValue, Set($0.value.map(\.rawValue))) }))
    }
}
