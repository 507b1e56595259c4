import ArgumentParser
import CofferCore
import Foundation

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a bundle: signature and every object's SHA-256; --deep also decrypts and checks contents.",
        discussion: """
            Quick verification needs only keys/signing.pub. --deep needs keys/ENV.age and checks each artifact's format (SQLite integrity_check, pg_restore --list, the RDB's records and CRC-64) and counts against the manifest. --restore-test also restores PostgreSQL dumps into a temporary database and counts their rows. Exit status 5 when anything does not match.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Bundle id (or a unique prefix), or `latest`.", valueName: "id"))
    var bundle: String = "latest"

    @Flag(help: "Also decrypt, decompress and check every artifact.")
    var deep = false

    @Flag(
        name: .customLong("restore-test"),
        help: "With PostgreSQL artifacts: also restore each into a temporary database on its server, compare row counts, drop it (implies --deep).")
    var restoreTest = false

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            var operation = VerifyOperation(config: config, progress: TerminalProgress())
            try await announcedRun(.verify, config: config) { record, run in
                if restoreTest { operation.restoreTestEnvironment = ProcessInfo.processInfo.environment }
                let report = try operation.run(reference: bundle, deep: deep || restoreTest)
                record.bundle = report.id
                record.message = report.passed ? nil : "bundle \(report.id) failed verification: \(report.artifacts.filter { $0.problem != nil }.map(\.name).joined(separator: ", "))"
                if !report.passed {
                    run.failed(
                        message: "bundle \(report.id) did not verify: " + report.artifacts.compactMap { a in a.problem.map { "\(a.name): \($0)" } }.joined(separator: "; "),
                        bundle: report.id)
                }
                if global.json {
                    try printJSON([
                        "id": report.id, "environment": report.environment, "deep": report.deep, "signer": report.signer,
                        "passed": report.passed, "warnings": run.warnings,
                        "artifacts": report.artifacts.map { ["name": $0.name, "kind": $0.kind.rawValue, "ok": $0.problem == nil, "problem": $0.problem as Any, "checked": $0.checked] },
                    ])
                } else {
                    say("bundle \(report.id): signature by \(report.signer) verified")
                    for artifact in report.artifacts {
                        say("  \(artifact.problem == nil ? "ok  " : "FAIL") \(artifact.name) (\(artifact.kind.rawValue))\(artifact.problem.map { ": \($0)" } ?? ": \(artifact.checked)")")
                    }
                    say(report.passed ? "verified\(report.deep ? " (deep)" : "")" : "verification FAILED")
                }
                if !report.passed { throw ExitCode(CofferError.Category.integrity.rawValue) }
            }
        }
    }
}
