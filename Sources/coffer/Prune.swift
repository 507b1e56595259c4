import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation

struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the bundles that fall outside the retention policy.",
        discussion: """
            Deletes only bundles it has verified. Keeps every bundle younger than [retention] days (default by environment: production 30, staging 14, development 7) and the newest keep_last bundles (default 1) that verify (signature and every object's digest), however old; deletes the other verified ones and prints what it keeps and why. A bundle whose manifest does not verify (damaged, planted, or signed by a key this host does not trust) has no age it can trust: it is kept and named, and `coffer status` and `coffer audit` report it, until --delete-unverifiable removes it (by name; --dry-run shows which). When no bundle verifies at all, nothing is deleted and the exit status is 4: the keys are probably wrong (a wrong signing.pub, or a signing key rotated on another host without its keys/trusted-signers); 5 when bundles are signed but none has intact objects. In a repository of format v2 bundles it then sweeps the chunks: a chunk object is deleted only when no remaining manifest names it and it is older than a day (a snapshot may still be writing it), and on Object Lock only once its lock has passed. Also removes what interrupted snapshots left behind: bundles that never got a manifest and unfinished multipart uploads, once older than a day. On a bucket with S3 Object Lock it asks the server first and keeps (and names) every bundle still locked; on a versioned bucket it deletes every version of a bundle, not just adds delete markers. A bundle whose delete the server refuses (a lock, a policy) is kept and named, and the others are still deleted. The clock is COFFER_NOW when set. Holds the repository lock of the environment (exit 7 while another run holds it; see --wait).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("dry-run"), help: "Print the decisions and delete nothing.")
    var dryRun = false

    @Flag(
        name: .customLong("delete-unverifiable"),
        help: "Also delete the bundles whose manifest does not verify, naming each (never when no bundle verifies).")
    var deleteUnverifiable = false

    @Option(
        name: .customLong("password-env"),
        help: ArgumentHelp("Password of an encrypted signing key, from this environment variable, to sign the journal event.", valueName: "var"))
    var passwordVariable: String?

    @OptionGroup var lock: LockOptions

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            try await recordingRun(.prune, config: config) { _ in
                var operation = PruneOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
                if let passwordVariable {
                    operation.signingKey = try loadSigningKey(config, passwordVariable: passwordVariable)
                }
                // A dry run deletes nothing: it does not need to exclude anyone.
                let lease = dryRun ? nil : try lock.acquire(config, purpose: "prune")
                defer { try? lease?.release() }
                let result: PruneReport
                do {
                    result = try operation.run(dryRun: dryRun, deleteUnverifiable: deleteUnverifiable)
                } catch let refusal as PruneRefusal {
                    try report(PruneReport(decisions: refusal.decisions, leftoversRemoved: 0), dryRun: dryRun, json: global.json, refused: refusal.message)
                    throw CofferError(refusal.category, refusal.message)
                }
                try lease?.release()
                try report(result, dryRun: dryRun, json: global.json)
            }
        }
    }
}

/// Prints prune decisions as lines or JSON, and a warning for the bundles kept
/// only because they do not verify. `refused` is the reason a prune deleted nothing.
func report(_ result: PruneReport, dryRun: Bool, json: Bool, refused: String? = nil) throws {
    let decisions = result.decisions
    if let warning = result.warning { warn(warning) }
    if refused == nil, case let kept = result.keptUnverifiable, !kept.isEmpty {
        warn(
            "\(kept.count) bundle(s) do not verify and were kept: \(kept.joined(separator: ", ")); see `coffer audit`, and remove them with `coffer prune --delete-unverifiable` once you know why")
    }
    if json {
        try printJSON([
            "dry_run": dryRun,
            "refused": refused as Any,
            "bundles": decisions.map {
                [
                    "id": $0.id, "created_at": $0.createdAt as Any, "keep": $0.keep, "unverifiable": $0.unverifiable, "reason": $0.reason,
                    "locked_until": $0.lockedUntil as Any, "delete_refused": $0.deleteRefused as Any,
                ]
            },
            "leftovers_removed": result.leftoversRemoved,
            "chunks": result.chunks.map { chunks in
                [
                    "referenced": chunks.referenced, "deleted": chunks.deleted, "deleted_bytes": chunks.deletedBytes, "kept_young": chunks.keptYoung,
                    "kept_locked": chunks.keptLocked, "delete_refused": chunks.refused, "skipped": chunks.skipped as Any,
                ] as [String: Any]
            } as Any,
        ])
        return
    }
    if result.leftoversRemoved > 0 { say("removed \(result.leftoversRemoved) leftover(s) of interrupted writes") }
    if let chunks = result.chunks, chunks.skipped == nil {
        var line = "chunks: \(chunks.referenced) object(s) in use, \(chunks.deleted) unreferenced \(dryRun ? "would be " : "")deleted (\(ByteCount.format(chunks.deletedBytes)))"
        if chunks.keptYoung > 0 { line += ", \(chunks.keptYoung) kept until a day old" }
        if chunks.keptLocked > 0 { line += ", \(chunks.keptLocked) kept under Object Lock" }
        if chunks.refused > 0 { line += ", \(chunks.refused) refused by the server" }
        say(line)
    }
    if decisions.isEmpty { say("no bundles") }
    for decision in decisions {
        let verb = decision.keep ? "keep  " : (dryRun ? "would delete" : "delete")
        say("\(verb) \(decision.id)  \(decision.reason)")
    }
}
