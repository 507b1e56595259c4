import CofferFormat
import Foundation

/// A drill report for people: the same facts as the signed JSON, as Markdown
/// (the JSON is the evidence; this is what an auditor reads first).
enum DrillMarkdown {
    static func render(_ report: DrillReport) -> String {
        var lines: [String] = []
        lines.append("# Restore drill \(report.id): \(report.passed ? "PASSED" : "FAILED")")
        lines.append("")
        if let failure = report.failure { lines += ["**Why it failed:** \(failure)", ""] }
        lines.append("| | |")
        lines.append("| --- | --- |")
        lines.append("| environment | \(report.environment) |")
        lines.append("| bundle | \(report.bundle ?? "none") (created \(report.bundleCreatedAt ?? "-")) |")
        var pick = report.pick.method
        if let seed = report.pick.seed { pick += ", seed \(seed)" }
        if let within = report.pick.withinSeconds { pick += ", within \(DurationText.format(within))" }
        lines.append("| picked | \(pick), among \(report.pick.candidates) bundles |")
        lines.append("| repository | \(report.repository) |")
        lines.append("| size | \(report.plainBytes.map(ByteCount.format) ?? "-") restored, \(report.storedBytes.map(ByteCount.format) ?? "-") stored |")
        lines.append("| RTO | \(DrillReport.text(seconds: report.rtoSeconds)) (target \(DurationText.format(report.rtoTargetSeconds))): \(report.rtoPassed ? "pass" : "FAIL") |")
        lines.append("| RPO | \(DrillReport.text(seconds: report.rpoSeconds)) (target \(DurationText.format(report.rpoTargetSeconds))): \(report.rpoPassed ? "pass" : "FAIL") |")
        lines.append("| started | \(report.startedAt) |")
        lines.append("| finished | \(report.finishedAt) |")
        lines.append("| by | \(report.user) on \(report.host), \(report.tool) |")
        lines.append("")
        lines.append("## Phases")
        lines.append("")
        lines.append("| phase | seconds | result |")
        lines.append("| --- | ---: | --- |")
        for phase in report.phases {
            lines.append("| \(phase.name) | \(String(format: "%.3f", phase.seconds)) | \(phase.ok ? "ok" : "FAILED")\(phase.detail.map { ": \(cell($0))" } ?? "") |")
        }
        if !report.checks.isEmpty {
            lines += ["", "## Checks", "", "| artifact | target | compared | manifest | found | result |", "| --- | --- | --- | --- | --- | --- |"]
            for check in report.checks {
                lines.append(
                    "| \(check.artifact) (\(check.kind)) | \(cell(check.target)) | \(check.what) | \(cell("\(check.expected)")) | \(cell("\(check.found)")) | \(check.ok ? "ok" : "DIFFERS") |")
            }
        }
        if let smoke = report.smoke {
            lines += ["", "## Smoke command", "", "`\(smoke.command.replacingOccurrences(of: "`", with: "'"))`: "
                + (smoke.timedOut ? "killed after the timeout" : "exit status \(smoke.exitStatus.map(String.init) ?? "?")")
                + String(format: " in %.2f s", smoke.seconds), ""]
            if !smoke.lastLines.isEmpty { lines += ["```"] + smoke.lastLines.map { $0.replacingOccurrences(of: "```", with: "'''") } + ["```"] }
        }
        if !report.leftovers.isEmpty {
            lines += ["", "## Not removed", ""] + report.leftovers.map { "- \($0)" }
        }
        lines += ["", "Signed: `minisign -Vm \(report.id).json -p keys/signing.pub`", ""]
        return lines.joined(separator: "\n")
    }

    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
