import Foundation

/// The Prometheus text exposition format (version 0.0.4) of monitoring views:
/// what `serve` answers on `/metrics` and `status --prometheus` writes for
/// node_exporter's textfile collector. Names follow the backup exporters
/// operators already run: `_timestamp_seconds` gauges for "when", `_total`
/// counters, `_bytes`, and `coffer_up` for "could the repository be read".
public enum PrometheusMetrics {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ views: [MonitorView]) -> String {
        var families: [Family] = []
        func family(_ name: String, _ type: String, _ help: String, _ samples: (MonitorView) -> [Sample]) {
            families.append(Family(name: name, type: type, help: help, samples: views.flatMap(samples)))
        }
        func one(_ view: MonitorView, _ value: Double?) -> [Sample] {
            value.map { [Sample(labels: [("environment", view.environment)], value: $0)] } ?? []
        }
        func seconds(_ date: Date?) -> Double? { date.map { $0.timeIntervalSince1970 } }
        func flag(_ value: Bool?) -> Double? { value.map { $0 ? 1 : 0 } }

        family("coffer_up", "gauge", "1 when the last look at the repository reached it, 0 when it could not be read.") { one($0, flag($0.up)) }
        family("coffer_last_refresh_timestamp_seconds", "gauge", "When the repository was last looked at (reached or not).") {
            one($0, seconds($0.latest.checkedAt))
        }
        family("coffer_last_reached_timestamp_seconds", "gauge", "When the repository was last reached; the values below are from then.") {
            one($0, seconds($0.lastReached?.checkedAt))
        }
        family("coffer_status_level", "gauge", "The status level of the last look: 0 ok, 1 warn, 2 critical (as `coffer status` exits).") {
            one($0, Double($0.latest.level.rawValue))
        }
        family(
            "coffer_last_success_timestamp_seconds", "gauge",
            "When each source was last sealed into a trusted bundle (the bundle's creation time)."
        ) { view in
            view.lastSuccessBySource.sorted { $0.key < $1.key }.map {
                Sample(labels: [("environment", view.environment), ("source", $0.key)], value: $0.value.timeIntervalSince1970)
            }
        }
        family("coffer_newest_bundle_timestamp_seconds", "gauge", "Creation time of the newest trusted bundle.") {
            one($0, seconds($0.values?.history.last?.createdAt))
        }
        family("coffer_freshness_limit_seconds", "gauge", "The age above which the newest bundle is stale for this environment.") {
            one($0, Double($0.latest.freshnessLimit))
        }
        family("coffer_last_snapshot_timestamp_seconds", "gauge", "When the last snapshot on this machine ended, succeeded or not.") {
            one($0, $0.latestRun(.snapshot)?.finished)
        }
        family("coffer_last_snapshot_success", "gauge", "1 when the last snapshot on this machine succeeded, 0 when it failed.") {
            one($0, flag($0.latestRun(.snapshot).map { $0.outcome == .succeeded }))
        }
        family("coffer_last_snapshot_duration_seconds", "gauge", "How long the last successful snapshot on this machine took.") {
            one($0, $0.runs.last { $0.kind == .snapshot && $0.outcome == .succeeded }?.seconds)
        }
        family("coffer_last_bundle_size_bytes", "gauge", "Stored bytes (encrypted, compressed) of the newest bundle.") { view in
            let run = view.runs.last { $0.kind == .snapshot && $0.outcome == .succeeded }
            let newest = view.values?.history.last
            if let run, let bytes = run.bytes, run.finished >= (newest?.createdAt.timeIntervalSince1970 ?? 0) { return one(view, Double(bytes)) }
            return one(view, newest.map { Double($0.storedBytes) })
        }
        family("coffer_snapshot_failures_total", "counter", "Snapshots on this machine that failed.") {
            one($0, Double($0.latestRun(.snapshot)?.failuresTotal ?? 0))
        }
        family("coffer_bundles", "gauge", "Bundles of this environment in the repository.") { one($0, $0.values.map { Double($0.bundles) }) }
        family("coffer_storage_free_bytes", "gauge", "Bytes the repository can still take, where the storage tells (a local disk).") {
            one($0, $0.values?.freeBytes.map(Double.init))
        }
        family("coffer_storage_writable", "gauge", "1 when a probe object could be written to and deleted from the repository.") {
            one($0, flag($0.up ? $0.latest.writable : false))
        }
        family("coffer_verify_success", "gauge", "1 when the last `coffer verify` on this machine passed, 0 when it failed.") {
            one($0, flag($0.latestRun(.verify).map { $0.outcome == .succeeded }))
        }
        family("coffer_last_verify_timestamp_seconds", "gauge", "When the last `coffer verify` on this machine ended.") {
            one($0, $0.latestRun(.verify)?.finished)
        }
        family("coffer_audit_success", "gauge", "1 when the last `coffer audit` on this machine passed, 0 when it failed.") {
            one($0, flag($0.latestRun(.audit).map { $0.outcome == .succeeded }))
        }
        family("coffer_last_audit_timestamp_seconds", "gauge", "When the last `coffer audit` on this machine ended.") {
            one($0, $0.latestRun(.audit)?.finished)
        }
        // Restore drills: the signed reports in the repository, not only this machine's runs.
        family("coffer_drill_success", "gauge", "1 when the newest restore drill report passed, 0 when it failed.") {
            one($0, flag($0.values?.lastDrill?.passed))
        }
        family("coffer_last_drill_timestamp_seconds", "gauge", "When the newest restore drill ended.") {
            one($0, $0.values?.lastDrill.flatMap { Clock.parse($0.finishedAt) }.map { $0.timeIntervalSince1970 })
        }
        family("coffer_last_drill_success_timestamp_seconds", "gauge", "When the newest passing restore drill ended.") {
            one($0, $0.values?.lastPassedDrill.flatMap { Clock.parse($0.finishedAt) }.map { $0.timeIntervalSince1970 })
        }
        family("coffer_drill_rto_seconds", "gauge", "The measured RTO (sum of the phases) of the newest passing restore drill.") {
            one($0, $0.values?.lastPassedDrill?.rtoSeconds)
        }
        family("coffer_drill_rto_target_seconds", "gauge", "[targets] rto: the RTO a drill must stay within.") {
            one($0, $0.values?.lastDrill.map { Double($0.rtoTargetSeconds) })
        }
        var text = ""
        for family in families where !family.samples.isEmpty {
            text += "# HELP \(family.name) \(escapeHelp(family.help))\n# TYPE \(family.name) \(family.type)\n"
            for sample in family.samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
                text += "\(family.name){\(labels)} \(format(sample.value))\n"
            }
        }
        return text
    }

    struct Family {
        let name: String
        let type: String
        let help: String
        let samples: [Sample]
    }

    struct Sample {
        let labels: [(String, String)]
        let value: Double
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.3f", value)
    }

    static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
