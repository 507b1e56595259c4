import ArgumentParser
import CofferCore
import Foundation

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a bundle into the configured targets, all or nothing.",
        discussion: """
            Verifies the signature and every object, decrypts and checks every artifact into a staging copy beside its target, runs the pre_restore hook, then swaps the targets in one by one (SQLite through its backup API, so open connections see the new data; PostgreSQL by renaming a staging database into place; Redis with SWAPDB), undoing those already swapped if one fails, and runs the post_restore hook. After an error a target is asked what it holds before anything is undone; the message and --json say which target holds the bundle, its previous content, or could not be asked. A target restored --in-place commits last. The previous content is kept: `coffer rollback RESTORE-ID` brings it back. `latest` that is older than the newest bundle this host has seen (newer bundles were removed, and no prune record explains it) is refused with exit status 6 unless --allow-older is given. Exit status 0 only when every target was committed.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Bundle id (or a unique prefix), or `latest`.", valueName: "id"))
    var bundle: String?

    @Flag(help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .customLong("dry-run"), help: "Print the plan and change nothing.")
    var dryRun = false

    @Flag(help: "Finish or undo a restore that a crash interrupted.")
    var recover = false

    @Option(help: ArgumentHelp("Drop the pre-restore copies kept by this restore (no rollback afterwards).", valueName: "restore-id"))
    var finalize: String?

    @Option(
        name: .customLong("to"),
        help: ArgumentHelp("Restore the [[postgres]] source NAME into database DB instead (created if missing); repeatable.", valueName: "NAME=DB"))
    var to: [String] = []

    @Flag(
        name: .customLong("in-place"),
        help: "PostgreSQL: restore inside one transaction into the target itself, for a role without CREATEDB (all or nothing, but no copy is kept for rollback).")
    var inPlace = false

    @Option(
        name: .customLong("only"),
        help: ArgumentHelp("Restore only these artifacts of the bundle (comma-separated names, repeatable), still all or nothing among them.", valueName: "NAME[,NAME]"))
    var only: [String] = []

    @Flag(
        name: .customLong("allow-older"),
        help: "Restore `latest` even when it is older than the newest bundle this host has seen (the newer ones were removed).")
    var allowOlder = false

    func validate() throws {
        let modes = [bundle != nil, recover, finalize != nil].filter { $0 }.count
        if modes != 1 { throw ValidationError("give a bundle id (or `latest`), or --recover, or --finalize RESTORE-ID") }
        for mapping in to where mapping.split(separator: "=", omittingEmptySubsequences: false).count != 2 || mapping.hasSuffix("=") || mapping.hasPrefix("=") {
            throw ValidationError("--to \(mapping): expected NAME=DATABASE, such as --to main=main_copy")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            var operation = RestoreOperation(
                config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
            operation.inPlace = inPlace
            operation.allowOlder = allowOlder
            let selected = only.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
            if !selected.isEmpty { operation.only = Set(selected) }
            for mapping in to {
                let parts = mapping.split(separator: "=", maxSplits: 1).map(String.init)
                operation.databases[parts[0]] = parts[1]
            }
            if recover {
                let (lines, succeeded) = try operation.recover()
                if global.json {
                    try printJSON(["recovered": lines, "succeeded": succeeded])
                } else {
                    say(lines.isEmpty ? "no interrupted restore" : lines.joined(separator: "\n"))
                }
                if !succeeded { throw ExitCode.failure }
                return
            }
            if let finalize {
                let journal = try operation.finalize(restoreID: finalize)
                if global.json { try printJSON(["restore_id": journal.restoreID, "state": journal.state.rawValue]) } else { say("restore \(journal.restoreID) finalized: pre-restore copies removed") }
                return
            }
            let result: RestoreResult
            do {
                result = try operation.run(reference: bundle ?? "latest", dryRun: dryRun) { plan in
                    if yes { return true }
                    printPlan(plan, heading: "restore will replace:")
                    return askYes("Replace these targets? [y/N] ")
                }
            } catch let failure as RestoreFailure where global.json {
                try printJSON(journalJSON(failure.journal).merging(["error": failure.message]) { $1 })
                throw failure
            }
            for warning in result.warnings { warn(warning) }
            let notifyWarnings =
                dryRun ? [] : announce(config, .restoreDone, message: "restored bundle \(result.bundle) into \(result.committed.joined(separator: ", "))", bundle: result.bundle, restoreID: result.restoreID)
            if global.json {
                try printJSON([
                    "bundle": result.bundle, "restore_id": result.restoreID as Any, "dry_run": dryRun, "committed": result.committed,
                    "state": dryRun ? "dry-run" : "committed",
                    "targets": dryRun ? [] : result.plan.filter { $0.skipped == nil }.map { ["name": $0.artifact, "target": $0.target, "holds": "bundle"] },
                    "warnings": result.warnings + notifyWarnings,
                    "plan": result.plan.map { ["artifact": $0.artifact, "kind": $0.kind.rawValue, "target": $0.target, "plain_bytes": $0.plainBytes, "skipped": $0.skipped as Any] },
                ])
                return
            }
            if dryRun {
                printPlan(result.plan, heading: "restore of bundle \(result.bundle) would replace (dry run, nothing changed):")
                return
            }
            say("restored bundle \(result.bundle): \(result.committed.joined(separator: ", "))")
            if let id = result.restoreID {
                // An in-place restore keeps no copy: there is no rollback to offer.
                say(
                    inPlace
                        ? "restore id \(id); restored in place: no copy was kept, so it cannot be rolled back (restore an older bundle instead); `coffer restore --finalize \(id)` closes the record"
                        : "restore id \(id); undo with `coffer rollback \(id)`, drop the kept copies with `coffer restore --finalize \(id)`")
            }
        }
    }
}

/// A restore's journal for `--json`: its state and what each target holds.
func journalJSON(_ journal: RestoreJournal) -> [String: Any] {
    [
        "restore_id": journal.restoreID, "bundle": journal.bundle, "state": journal.state.rawValue,
        "targets": journal.targets.map { ["name": $0.name, "kind": $0.kind, "target": $0.target, "step": $0.step.rawValue, "holds": $0.step.holds.rawValue] },
    ]
}

func printPlan(_ plan: [RestorePlanItem], heading: String) {
    say(heading)
    for item in plan {
        let action = item.skipped.map { "not restored: \($0)" } ?? "-> \(item.target)"
        say("  \(item.artifact) (\(item.kind.rawValue), \(ByteCount.format(item.plainBytes))) \(action)")
    }
}

/// Asks on the terminal; false without one (use --yes in scripts).
func askYes(_ prompt: String) -> Bool {
    guard isatty(0) == 1 else {
        warn("no terminal to confirm on; pass --yes to restore non-interactively")
        return false
    }
    FileHandle.standardError.write(Data(prompt.utf8))
    guard let answer = readLine() else { return false }
    return ["y", "yes"].contains(answer.lowercased().trimmingCharacters(in: .whitespaces))
}
