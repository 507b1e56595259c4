import ArgumentParser
import CofferCore
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prove that every backup of the environment exists, is intact and was made by us.",
        discussion: """
            Checks every manifest signature against the trusted signing key, every object's SHA-256 (streamed; no secret key needed), the chain of manifests (each names the one before), the signed journal's chain, that every bundle the journal says was made is still there unless a prune record deleted it, that the newest bundle is younger than 25 h (production), 8 days (staging) or the retention window (development), and that neither the bundles nor the journal end below this machine's high-water mark (the newest bundle and journal event it has seen: a rollback). On a bucket with S3 Object Lock, also that every object of every bundle still carries a retention lasting as long as retention keeps the bundle. --deep also decrypts and checks every artifact (needs ENV.age). Exit status 0 when the audit passes, 5 when it does not.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Also decrypt and check every artifact.")
    var deep = false

    @Option(name: .customLong("env"), help: ArgumentHelp("Environment to audit (default: the config's).", valueName: "name"))
    var environmentName: String?

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig().selecting(environment: environmentName)
            try await announcedRun(.audit, config: config) { record, run in
                let report = try AuditOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
                    .run(deep: deep)
                for warning in report.warnings { warn(warning) }
                if !report.passed {
                    record.message = "audit failed: \(report.problems.first ?? "a bundle failed")"
                    let failing = report.bundles.filter { !$0.problems.isEmpty }.map { "\($0.id): \($0.problems.joined(separator: "; "))" }
                    run.failed(message: "audit of \(report.environment) failed: " + (report.problems + failing).joined(separator: "; "))
                }
                if global.json {
                    try printJSON([
                        "environment": report.environment, "deep": report.deep, "passed": report.passed, "journal_events": report.journalEvents, "drill_reports": report.drillReports,
                        "problems": report.problems, "warnings": report.warnings + run.warnings,
                        "bundles": report.bundles.map { ["id": $0.id, "created_at": $0.createdAt as Any, "problems": $0.problems] },
                    ])
                } else {
                    for bundle in report.bundles {
                        say("\(bundle.problems.isEmpty ? "ok  " : "FAIL") \(bundle.id)\(bundle.problems.isEmpty ? "" : ": " + bundle.problems.joined(separator: "; "))")
                    }
                    say("journal: \(report.journalEvents) event(s); drill reports: \(report.drillReports)")
                    for problem in report.problems { say("FAIL \(problem)") }
                    say(report.passed ? "audit passed (\(report.deep ? "deep" : "signatures and digests"))" : "audit FAILED")
                }
                if !report.passed { throw ExitCode(CofferError.Category.integrity.rawValue) }
            }
        }
    }
}
