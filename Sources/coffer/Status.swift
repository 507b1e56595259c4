import ArgumentParser
import CofferCore
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Repository health and backup freshness, for people and monitoring.",
        discussion: "Exit status 0 ok, 1 warn (the newest bundle is stale, or space is short), 2 critical (the repository cannot be read or written (a probe object is written and deleted), there is no bundle, the newest is not trusted or cannot be read, a restore was interrupted, or the repository ends below this machine's high-water mark of the newest bundle and journal event it has seen: someone removed backups); a [[notify]] notifier whose last delivery failed is a warning until one succeeds; the newest bundle going stale and the storage becoming critical (and their clearing) are announced to the [[notify]] entries once, when they change; bundles without a manifest or with an untrusted or unreadable one, and names under bundles/ENV that are not bundle ids or are dated more than 5 minutes in the future, are named as warnings; configuration and key errors keep their own statuses. Stale means older than 25 h in production, 8 days in staging, the retention window in development."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let report = try StatusOperation(config: config, environment: ProcessInfo.processInfo.environment).run()
            // Stale and storage-critical are announced when they start and when they clear.
            let notifyWarnings = Notifications(config: config, environment: ProcessInfo.processInfo.environment).observe(status: report)
            for warning in notifyWarnings { warn(warning) }
            if global.json {
                try printJSON([
                    "level": report.level.name, "environment": report.environment, "repository": report.repository,
                    "reachable": report.reachable, "writable": report.writable, "free_bytes": report.freeBytes as Any, "bundles": report.bundles,
                    "newest": report.newestID as Any, "newest_created_at": report.newestCreatedAt as Any,
                    "newest_age_seconds": report.newestAge as Any, "freshness_limit_seconds": report.freshnessLimit,
                    "problems": report.problems, "warnings": notifyWarnings,
                ])
            } else {
                say("\(report.level.name.uppercased())  \(report.environment)  \(report.repository)")
                say("  bundles: \(report.bundles)\(report.newestID.map { ", newest \($0)" } ?? "")\(report.newestAge.map { " (\($0 / 3600) h old)" } ?? "")")
                if let free = report.freeBytes { say("  free space: \(formatBytes(free))") }
                for problem in report.problems { say("  \(problem)") }
            }
            if report.level != .ok { throw ExitCode(report.level.rawValue) }
        }
    }
}
