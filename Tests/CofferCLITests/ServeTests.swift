import Foundation
import Testing

/// `coffer serve` as a real process on loopback, asked by curl, its metrics read by the real promtool.
@Suite(.serialized)
struct ServeTests {
    let read = "read-" + UUID().uuidString
    let admin = "admin-" + UUID().uuidString
    var tokens: [String: String] { ["COFFER_READ_TOKEN": read, "COFFER_ADMIN_TOKEN": admin] }

    @Test func tokensGuardEveryEndpointButHealth() throws {
        try withProductionApp { ws in
            let serve = try ServeProcess(ws, environment: tokens)
            #expect(try serve.request("/healthz").status == 200)
            for path in ["/metrics", "/status", "/", "/jobs/x"] {
                #expect(try serve.request(path).status == 401, "\(path) without a token")
                #expect(try serve.request(path, token: "wrong").status == 401, "\(path) with a wrong token")
                #expect(try serve.request(path, token: read).status != 401, "\(path) with the read token")
            }
            let bundles = try ws.coffer("list", "--json").stdout
            // The read token cannot start a snapshot; nothing runs.
            #expect(try serve.request("/snapshot", method: "POST").status == 401)
            #expect(try serve.request("/snapshot", method: "POST", token: read).status == 401)
            #expect(try ws.coffer("list", "--json").stdout == bundles)
            let status = try serve.request("/status", token: read)
            #expect(status.json["level"] as? String == "ok")
            #expect(status.json["bundles"] as? Int == 1)
            #expect(!serve.stderr.contains(read) && !serve.stderr.contains(admin))
            #expect(serve.terminate() == 0)
        }
    }

    @Test func snapshotJobRunsOneAtATimeAndIsVerified() throws {
        try withProductionApp { ws in
            let serve = try ServeProcess(ws, environment: tokens.merging(["COFFER_FAULT": "snapshot-pause-2"]) { $1 })
            let started = try serve.request("/snapshot", method: "POST", token: admin)
            #expect(started.status == 202)
            let id = try #require(started.json["job"] as? String)
            #expect(started.headers.contains("/jobs/\(id)"))
            let second = try serve.request("/snapshot", method: "POST", token: admin)
            #expect(second.status == 409)
            #expect(second.json["job"] as? String == id)
            let job = try serve.waitForJob(id, token: read)
            #expect(job["state"] as? String == "succeeded", "\(job)")
            let bundle = try #require(job["bundle"] as? String)
            #expect(try ws.coffer("list").stdout.contains(bundle))
            // The job's verify and snapshot are in the run log, so in the metrics.
            let metrics = try serve.waitForMetrics(token: read) { metricValue($0, "coffer_bundles{environment=\"production\"}") == 2 }
            #expect(metricValue(metrics, "coffer_verify_success{environment=\"production\"}") == 1)
            #expect(try serve.request("/snapshot", method: "POST", token: admin).status == 202)
            #expect(serve.terminate() == 0)
        }
    }

    @Test func failedJobSaysWhy() throws {
        try withProductionApp { ws in
            try FileManager.default.removeItem(atPath: ws.path("app.db"))
            let serve = try ServeProcess(ws)
            let id = try #require(try serve.request("/snapshot", method: "POST").json["job"] as? String)
            let job = try serve.waitForJob(id)
            #expect(job["state"] as? String == "failed")
            #expect((job["error"] as? String ?? "").contains("app.db"), "\(job)")
            let metrics = try serve.waitForMetrics { metricValue($0, "coffer_snapshot_failures_total{environment=\"production\"}") == 1 }
            #expect(metricValue(metrics, "coffer_last_snapshot_success{environment=\"production\"}") == 0)
            #expect(serve.terminate() == 0)
        }
    }

    @Test func sigtermLetsTheRunningSnapshotFinish() throws {
        try withProductionApp { ws in
            let serve = try ServeProcess(ws, environment: ["COFFER_FAULT": "snapshot-pause-2"])
            #expect(try serve.request("/snapshot", method: "POST").status == 202)
            usleep(300_000)
            let before = try ws.coffer("list", "--json").stdout
            let clock = ContinuousClock()
            let start = clock.now
            #expect(serve.terminate(seconds: 60) == 0)
            // It waited for the job: the paused snapshot takes 2 s per source.
            #expect(clock.now - start > .milliseconds(1000))
            let after = try ws.coffer("list", "--json").stdout
            #expect(after != before, "the running snapshot was cut short")
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
            #expect(try ws.coffer("status").status == 0)
        }
    }

    @Test func refusesToListenBeyondLoopbackWithoutTokens() throws {
        try withProductionApp { ws in
            let refused = try ws.coffer("serve", "--listen", "0.0.0.0:0")
            #expect(refused.status == 6)
            #expect(refused.stderr.contains("COFFER_READ_TOKEN") && refused.stderr.contains("127.0.0.1"))
            let half = try ws.coffer("serve", "--listen", "0.0.0.0:0", environment: ["COFFER_READ_TOKEN": read])
            #expect(half.status == 6)
            #expect(try ws.coffer("serve", "--listen", "nonsense").status == 3)
            // Tokens from files named in [serve]: a file others can read is refused.
            try ws.appendConfig("[serve]\nread_token_file = \"read.token\"\nadmin_token_file = \"admin.token\"\n")
            try "\(read)\n".write(toFile: ws.path("read.token"), atomically: true, encoding: .utf8)
            try "\(admin)\n".write(toFile: ws.path("admin.token"), atomically: true, encoding: .utf8)
            chmod(ws.path("read.token"), 0o600)
            chmod(ws.path("admin.token"), 0o644)
            let open = try ws.coffer("serve", "--listen", "0.0.0.0:0")
            #expect(open.status == 4)
            #expect(open.stderr.contains("admin.token") && !open.stderr.contains(admin))
            chmod(ws.path("admin.token"), 0o600)
            let serve = try ServeProcess(ws)
            #expect(try serve.request("/metrics").status == 401)
            #expect(try serve.request("/metrics", token: read).status == 200)
            #expect(serve.terminate() == 0)
        }
    }

    @Test func metricsPassPromtoolAndStatusWritesTheTextfile() throws {
        try withProductionApp { ws in
            #expect(try ws.coffer("verify", "latest").status == 0)
            #expect(try ws.coffer("verify", "nonexistent").status != 0)
            let status = try ws.coffer("status", "--prometheus", "metrics/coffer.prom")
            #expect(status.status == 3 || status.status == 1, "no such folder yet: \(status.stderr)")
            try FileManager.default.createDirectory(atPath: ws.path("metrics"), withIntermediateDirectories: true)
            #expect(try ws.coffer("status", "--prometheus", "metrics/coffer.prom").status == 0)
            let text = try String(contentsOfFile: ws.path("metrics/coffer.prom"), encoding: .utf8)
            let check = try promtoolCheck(ws, text)
            #expect(check.status == 0, "promtool: \(check.stdout) \(check.stderr)")
            #expect(try ws.mode("metrics/coffer.prom") == 0o644)
            #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("metrics")) == ["coffer.prom"])
            for name in [
                "coffer_up", "coffer_last_success_timestamp_seconds", "coffer_last_snapshot_duration_seconds", "coffer_last_bundle_size_bytes",
                "coffer_snapshot_failures_total", "coffer_bundles", "coffer_storage_free_bytes", "coffer_verify_success",
            ] {
                #expect(text.contains("# HELP \(name) ") && text.contains("# TYPE \(name) "), "\(name) missing")
            }
            #expect(metricValue(text, "coffer_up{environment=\"production\"}") == 1)
            #expect(metricValue(text, "coffer_last_success_timestamp_seconds{environment=\"production\",source=\"app\"}") != nil)
            #expect(metricValue(text, "coffer_verify_success{environment=\"production\"}") == 0, "the last verify failed")
            #expect(try ws.coffer("audit").status == 0)
            #expect(try ws.coffer("drill").status == 0)
            #expect(try ws.coffer("status", "--prometheus", "metrics/coffer.prom").status == 0)
            let audited = try String(contentsOfFile: ws.path("metrics/coffer.prom"), encoding: .utf8)
            #expect(metricValue(audited, "coffer_audit_success{environment=\"production\"}") == 1)
            #expect(metricValue(audited, "coffer_drill_success{environment=\"production\"}") == 1)
            #expect((metricValue(audited, "coffer_drill_rto_seconds{environment=\"production\"}") ?? 0) > 0)
            #expect(try promtoolCheck(ws, audited).status == 0)

            // The ready alert rules: promtool accepts them, their own unit tests pass, and every metric they name exists.
            let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/prometheus").standardized.path
            let checked = try ws.run("promtool", ["check", "rules", rules + "/coffer-alerts.yml"])
            #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
            let tested = try ws.run("sh", ["-c", "cd '\(rules)' && promtool test rules coffer-alerts.test.yml"])
            #expect(tested.status == 0, "\(tested.stdout) \(tested.stderr)")
            let ruleText = try String(contentsOfFile: rules + "/coffer-alerts.yml", encoding: .utf8)
            let named = Set(ruleText.matches(of: /coffer_[a-z_]+/).map { String($0.output) })
            for name in named { #expect(audited.contains("# TYPE \(name) "), "the rules name \(name), which coffer does not export") }

            // A stale bundle: status exits 1 and still writes the file.
            #expect(try ws.coffer("status", "--prometheus", "metrics/coffer.prom", environment: ["COFFER_NOW": "2099-01-01T00:00:00Z"]).status == 1)
            let stale = try String(contentsOfFile: ws.path("metrics/coffer.prom"), encoding: .utf8)
            #expect(metricValue(stale, "coffer_status_level{environment=\"production\"}") == 1)
            // The served text passes promtool too.
            let serve = try ServeProcess(ws)
            let served = try serve.request("/metrics")
            #expect(served.headers.lowercased().contains("content-type: text/plain; version=0.0.4"))
            #expect(try promtoolCheck(ws, served.body).status == 0)
            #expect(serve.terminate() == 0)
        }
    }

    @Test func scrapesCostTheRepositoryNothingAndKeepValuesWhenItIsGone() throws {
        let server = try S3Server.require()
        let proxy = try CLIFaultProxy(server: server)
        try withS3Project(endpoint: proxy.endpoint) { ws, server, _ in
            #expect(try ws.coffer("snapshot", environment: server.credentials).status == 0)
            // Between two looks (every 300 s here), scrapes send nothing to the repository.
            let quiet = try ServeProcess(ws, ["--refresh", "300"], environment: server.credentials)
            let first = try quiet.waitForMetrics { metricValue($0, "coffer_bundles{environment=\"development\"}") == 1 }
            #expect(metricValue(first, "coffer_up{environment=\"development\"}") == 1)
            #expect(!(try proxy.takeLog().isEmpty), "the first look went through the proxy")
            for _ in 0..<30 { #expect(try quiet.request("/metrics").status == 200) }
            #expect(try quiet.request("/").status == 200)
            #expect(try quiet.request("/status").status == 200)
            #expect(try proxy.takeLog().isEmpty, "scrapes between looks reached the repository")
            #expect(quiet.terminate() == 0)

            let serve = try ServeProcess(ws, ["--refresh", "1"], environment: server.credentials)
            _ = try serve.waitForMetrics { metricValue($0, "coffer_up{environment=\"development\"}") == 1 }
            // The repository goes away: coffer_up 0, the last values stay with the time they were read.
            try proxy.control("{\"down\": true}")
            let down = try serve.waitForMetrics { metricValue($0, "coffer_up{environment=\"development\"}") == 0 }
            #expect(metricValue(down, "coffer_bundles{environment=\"development\"}") == 1)
            let reached = try #require(metricValue(down, "coffer_last_reached_timestamp_seconds{environment=\"development\"}"))
            let looked = try #require(metricValue(down, "coffer_last_refresh_timestamp_seconds{environment=\"development\"}"))
            #expect(reached < looked)
            #expect(try promtoolCheck(ws, down).status == 0)
            let page = try serve.request("/")
            #expect(page.status == 200 && page.body.contains("unreachable"))
            try proxy.control("{}")
            _ = try serve.waitForMetrics { metricValue($0, "coffer_up{environment=\"development\"}") == 1 }
            #expect(serve.terminate() == 0)
        }
    }
}
