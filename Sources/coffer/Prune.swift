import ArgumentParser
import CofferCore
import Foundation

struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the bundles that fall outside the retention policy.",
        discussion: """
            Keeps every bundle younger than [retention] days (default by environment: production 30, staging 14, development 7) and the newest keep_last bundles (default 1) that verify (signature and every object's digest), however old. Deletes the rest and prints what it keeps and why. Also removes what interrupted snapshots left behind: bundles that never got a manifest and unfinished multipart uploads, once older than a day. The clock is COFFER_NOW when set.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("dry-run"), help: "Print the decisions and delete nothing.")
    var dryRun = false

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let result = try PruneOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
                .run(dryRun: dryRun)
            try report(result, dryRun: dryRun, json: global.json)
        }
    }
}

/// Prints prune decisions as lines or JSON.
func report(_ result: PruneReport, dryRun: Bool, json: Bool) throws {
    let decisions = result.decisions
    if let warning = result.warning { warn(warning) }
    if json {
        try printJSON([
            "dry_run": dryRun,
            "bundles": decisions.map { ["id": $0.id, "created_at": $0.createdAt as Any, "keep": $0.keep, "reason": $0.reason] },
            "leftovers_removed": result.leftoversRemoved,
        ])
        return
    }
    if result.leftoversRemoved > 0 { say("removed \(result.leftoversRemoved) leftover(s) of interrupted writes") }
    if decisions.isEmpty { say("no bundles") }
    for decision in decisions {
        let verb = decision.keep ? "keep  " : (dryRun ? "would delete" : "delete")
        say("\(verb) \(decision.id)  \(decision.reason)")
    }
}
