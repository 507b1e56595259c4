import ArgumentParser
import CofferCore
import CofferSystem
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Repository health and backup freshness, for people and monitoring.",
        discussion: "Exit status 0 ok, 1 warn (the newest bundle is stale, or space is short), 2 critical (the repository cannot be read or written (a probe object is written and deleted), there is no bundle, the newest is not trusted or cannot be read, a restore was interrupted, or the repository ends below this machine's high-water mark of the newest bundle and journal event it has seen: someone removed backups); a [[notify]] notifier whose last delivery failed is a warning until one succeeds; the newest bundle going stale and the storage becoming critical (and their clearing) are announced to the [[notify]] entries once, when they change; bundles without a manifest or with an untrusted or unreadable one, and names under bundles/ENV that are not bundle ids or are dated more than 5 minutes in the future, are named as warnings; on S3 it shows the bucket's Object Lock and versioning as the server reports them, and warns when [s3] object_lock is set but the bucket cannot keep locks, or the bucket has Object Lock but nothing locks new bundles; configuration and key errors keep their own statuses. Stale means older than 25 h in production, 8 days in staging, the retention window in development."
    )

    @OptionGroup var global: GlobalOptions

    @Option(
        help: ArgumentHelp(
            "Also write the metrics in the Prometheus text format to this file, atomically (for node_exporter's textfile collector; the file is written even when the status is not ok).",
            valueName: "file"))
    var prometheus: String?

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let environment = ProcessInfo.processInfo.environment
            let report: StatusReport
            do {
                report = try StatusOperation(config: config, environment: environment).run()
            } catch {
                // The metrics still say so (coffer_up 0) before the error is reported.
                if let prometheus {
                    try writeMetrics(.unreachable(config: config, problem: classify(error).1, at: Date()), config: config, to: prometheus)
                }
                throw error
            }
            if let prometheus { try writeMetrics(report, config: config, to: prometheus) }
            // Stale and storage-critical are announced when they start and when they clear.
            let notifyWarnings = Notifications(config: config, environment: environment).observe(status: report)
            for warning in notifyWarnings { warn(warning) }
            if global.json {
                try printJSON(report.jsonObject.merging(["warnings": notifyWarnings]) { $1 })
            } else {
                say("\(report.level.name.uppercased())  \(report.environment)  \(report.repository)")
                say("  bundles: \(report.bundles)\(report.newestID.map { ", newest \($0)" } ?? "")\(report.newestAge.map { " (\($0 / 3600) h old)" } ?? "")")
                if let free = report.freeBytes { say("  free space: \(ByteCount.format(free))") }
                if let protection = report.protectionText { say("  \(protection)") }
                if let drill = report.lastDrill {
                    say("  last drill: \(drill.id) \(drill.passed ? "passed" : "FAILED"), RTO \(DrillReport.text(seconds: drill.rtoSeconds))\(report.estimatedRTO.map { "; estimated RTO for the newest bundle \(DrillReport.text(seconds: $0))" } ?? "")")
                } else {
                    say("  last drill: none yet (`coffer drill` restores a bundle into scratch targets and records the evidence)")
                }
                for problem in report.problems { say("  \(problem)") }
            }
            if report.level != .ok { throw ExitCode(report.level.rawValue) }
        }
    }
}

/// The metrics of `report` and the run log, written whole or not at all, readable by the collector's user.
func writeMetrics(_ report: StatusReport, config: CofferConfig, to path: String) throws {
    let view = MonitorView(config: config, look: report)
    let file = try AtomicFile(creating: FileSystem.absolute(path), permissions: 0o644)
    try file.write(Array(PrometheusMetrics.render([view]).utf8))
    try file.commit()
}
