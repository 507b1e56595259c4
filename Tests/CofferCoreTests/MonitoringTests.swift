import CofferSystem
import Foundation
import Testing

@testable import CofferCore

@Suite("run log and metrics text")
struct MonitoringTests {
    @Test("the failure counter counts on across trimming; a torn line is skipped")
    func runLogCounts() throws {
        try Project.with { project in
            var log = RunLog(state: StateDirectory(config: project.config), environment: "development")
            log.keep = 5
            for index in 0..<23 {
                let outcome: RunRecord.Outcome = index % 2 == 0 ? .failed : .succeeded
                try log.append(RunRecord(kind: .snapshot, environment: "x", started: Double(index), finished: Double(index) + 1.5, outcome: outcome))
            }
            try log.append(RunRecord(kind: .verify, environment: "x", started: 100, finished: 101, outcome: .failed))
            let records = log.records()
            #expect(records.count <= 10, "trimmed to its newest lines")
            #expect(records.allSatisfy { $0.environment == "development" })
            #expect(log.latest(.snapshot)?.failuresTotal == 12, "12 of 23 snapshots failed")
            #expect(log.latest(.verify)?.failuresTotal == 1)
            #expect(log.latest(.snapshot)?.seconds == 1.5)
            #expect(try FileSystem.status(of: log.path)?.permissions == 0o600)
            // A crash mid-append leaves a partial line: it is skipped, the rest still read.
            let file = try FileDescriptor(opening: log.path, .append(permissions: 0o600))
            try file.write(Array("{\"kind\":\"snap".utf8))
            #expect(log.records().count == records.count)
            try log.append(RunRecord(kind: .audit, environment: "x", started: 200, finished: 201, outcome: .succeeded))
            #expect(log.records().count == records.count + 1 && log.latest(.audit)?.started == 200)
        }
    }

    @Test("labels are escaped; families without samples are left out")
    func prometheusText() throws {
        try Project.with { project in
            _ = try project.snapshot(at: "2026-11-20T00:00:00Z")
            let report = try StatusOperation(config: project.config, environment: ["COFFER_NOW": "2026-11-20T01:00:00Z"]).run()
            let run = RunRecord(
                kind: .snapshot, environment: "development", started: 10, finished: 12.25, outcome: .succeeded, bundle: "b", bytes: 99,
                sources: ["we\"ird\\name\nx"])
            let view = MonitorView(environment: "development", latest: report, lastReached: report, events: [], runs: [run])
            let text = PrometheusMetrics.render([view])
            #expect(text.contains("coffer_last_success_timestamp_seconds{environment=\"development\",source=\"we\\\"ird\\\\name\\nx\"} 12.250"))
            #expect(text.contains("coffer_last_snapshot_duration_seconds{environment=\"development\"} 2.250"))
            #expect(!text.contains("coffer_verify_success"), "no verify ran: no sample, so an alert uses absent()")
            #expect(text.contains("# TYPE coffer_snapshot_failures_total counter\ncoffer_snapshot_failures_total{environment=\"development\"} 0\n"))

            // Unreachable now: up 0, the values of the last look kept.
            let gone = StatusReport.unreachable(config: project.config, problem: "down", at: Date(timeIntervalSince1970: 5000))
            let kept = PrometheusMetrics.render([MonitorView(environment: "development", latest: gone, lastReached: report, events: [], runs: [])])
            #expect(kept.contains("coffer_up{environment=\"development\"} 0"))
            #expect(kept.contains("coffer_bundles{environment=\"development\"} 1"))
            #expect(kept.contains("coffer_storage_writable{environment=\"development\"} 0"))
        }
    }
}
