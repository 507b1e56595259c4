import Foundation
import ArgumentParser
import CofferCore

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put back what a restore replaced (while its pre-restore copies are kept).",
        discussion: "Runs the pre_restore hook first and post_restore afterwards, as a restore does. Every step is journaled: a rollback that was interrupted or could not finish is resumed by running it again (or `coffer restore --recover`); an in-place restore cannot be rolled back. Without an id, lists the recorded restores and their state."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The restore id that `coffer restore` printed.", valueName: "restore-id"))
    var restoreID: String?

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let operation = RestoreOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: SilentProgress())
            guard let restoreID else {
                let history = try operation.history()
                if global.json {
                    try printJSON(history.map { ["restore_id": $0.restoreID, "bundle": $0.bundle, "state": $0.state.rawValue, "started_at": $0.startedAt] })
                } else {
                    if history.isEmpty { say("no restores recorded") }
                    for journal in history { say("\(journal.restoreID)  bundle \(journal.bundle)  \(journal.state.rawValue)  \(journal.startedAt)") }
                }
                return
            }
            let journal: RestoreJournal
            do {
                journal = try operation.rollback(restoreID: restoreID)
            } catch let failure as RestoreFailure where global.json {
                try printJSON(journalJSON(failure.journal).merging(["error": failure.message]) { $1 })
                throw failure
            }
            let notifyWarnings = announce(
                config, .rollbackDone, message: "rolled back restore \(journal.restoreID): \(journal.targets.map(\.name).joined(separator: ", ")) hold their previous content",
                bundle: journal.bundle, restoreID: journal.restoreID)
            if global.json {
                try printJSON(journalJSON(journal).merging(["warnings": notifyWarnings]) { $1 })
            } else {
                say("rolled back restore \(journal.restoreID): \(journal.targets.map(\.name).joined(separator: ", ")) hold their previous content")
            }
        }
    }
}
