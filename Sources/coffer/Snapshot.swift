import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal every configured source into one signed, encrypted bundle.",
        discussion: """
            Needs keys/ENV.age.pub and keys/signing.key. The bundle appears whole or not at all; leftovers of an interrupted snapshot are removed by the next one. The new bundle id is the last line of standard output (with --json: an object with "id"). Holds the repository lock of the environment for the whole run (with --prune too): while another snapshot, prune or key rotation holds it, exits 7 naming who holds it since when, unless --wait gives it time. [[notify]] entries hear of the start (before any work), the success or the failure; a notifier that cannot be reached is a warning, never a failed snapshot.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("A note stored in the manifest.", valueName: "text"))
    var label: String?

    @Option(name: .customLong("password-env"), help: ArgumentHelp("Password of an encrypted signing key, from this environment variable.", valueName: "var"))
    var passwordVariable: String?

    @Flag(help: "After a successful snapshot, apply the retention policy (as `coffer prune`).")
    var prune = false

    @OptionGroup var lock: LockOptions

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            try await announcedRun(.snapshot, config: config) { record, run in
                let environment = ProcessInfo.processInfo.environment
                let signingKey = try loadSigningKey(config, passwordVariable: passwordVariable)
                let lease = try lock.acquire(config, purpose: "snapshot")
                defer { try? lease.release() }
                let operation = SnapshotOperation(config: config, environment: environment, progress: TerminalProgress())
                let result = try operation.run(label: label, signingKey: signingKey)
                for warning in result.warnings { warn(warning) }
                let manifest = result.manifest
                record.bundle = manifest.id
                record.bytes = manifest.storedBytes
                record.sources = manifest.artifacts.map(\.name)
                // The bundle exists now: a prune that refuses still lets its id be printed, then fails.
                var pruned: [PruneDecision] = []
                var pruneRefusal: PruneRefusal?
                if prune {
                    try lease.checkHeld()
                    var pruning = PruneOperation(config: config, environment: environment, progress: TerminalProgress())
                    pruning.signingKey = signingKey
                    do {
                        let report = try pruning.run(dryRun: false)
                        pruned = report.decisions
                        if let warning = report.warning { warn(warning) }
                        if !report.keptUnverifiable.isEmpty {
                            warn(
                                "prune kept \(report.keptUnverifiable.count) bundle(s) that do not verify: \(report.keptUnverifiable.joined(separator: ", ")); see `coffer audit`, and remove them with `coffer prune --delete-unverifiable` once you know why")
                        }
                    } catch let refusal as PruneRefusal {
                        warn("prune: \(refusal.message)")
                        pruneRefusal = refusal
                    }
                }
                try lease.release()
                run.succeeded(message: "sealed " + manifest.artifacts.map { "\($0.name) (\($0.kind.rawValue), \(ByteCount.format($0.plainBytes)))" }.joined(separator: ", "), bundle: manifest.id)
                if global.json {
                    try printJSON([
                        "id": manifest.id, "environment": manifest.environment, "created_at": manifest.createdAt,
                        "artifacts": manifest.artifacts.map { ["name": $0.name, "kind": $0.kind.rawValue, "plain_bytes": $0.plainBytes, "stored_bytes": $0.storedBytes] },
                        "warnings": result.warnings + run.warnings,
                        "deleted": pruned.filter { !$0.keep }.map(\.id),
                        "prune_refused": pruneRefusal?.message as Any,
                        "format": manifest.format,
                        "chunks": result.chunks.map {
                            [
                                "new": $0.newChunks, "new_bytes": $0.newBytes, "reused": $0.reusedChunks, "reused_plain_bytes": $0.reusedPlainBytes,
                                "index": $0.index,
                            ] as [String: Any]
                        } as Any,
                    ])
                    if let pruneRefusal { throw ExitCode(pruneRefusal.category.rawValue) }
                    return
                }
                for decision in pruned where !decision.keep { say("  pruned \(decision.id): \(decision.reason)") }
                for artifact in manifest.artifacts {
                    say("  \(artifact.name) (\(artifact.kind.rawValue)): \(ByteCount.format(artifact.plainBytes)) -> \(ByteCount.format(artifact.storedBytes)) sealed")
                }
                if let chunks = result.chunks {
                    say("  chunks: \(chunks.newChunks) new (\(ByteCount.format(chunks.newBytes)) uploaded), \(chunks.reusedChunks) already stored (\(ByteCount.format(chunks.reusedPlainBytes)) of data not sent again)")
                }
                say(manifest.id)
                if let pruneRefusal { throw ExitCode(pruneRefusal.category.rawValue) }
            }
        }
    }
}

/// A warning line on standard error.
func warn(_ message: String) {
    LogTail.shared.append("coffer: warning: \(message)")
    FileHandle.standardError.write(Data("coffer: warning: \(message)\n".utf8))
}
