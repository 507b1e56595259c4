import Foundation
import Testing

/// `[[notify]]` against a real HTTP receiver on loopback (Tests/Support/notify_receiver.py).
@Suite("coffer notifications")
struct NotifyTests {
    /// A secret-looking path part: it must never appear in anything coffer prints.
    static let token = "tok-" + UUID().uuidString.lowercased()

    /// The SQLite workspace with `entries` appended, and the receiver.
    func withNotifying(_ entries: String, _ body: (Workspace, NotifyReceiver) throws -> Void) throws {
        let receiver = try NotifyReceiver()
        try Workspace.withSQLiteApp { ws in
            try ws.appendConfig(entries)
            try body(ws, receiver)
        }
    }

    func lastLine(_ result: CommandResult) -> String { result.stdout.split(separator: "\n").last.map(String.init) ?? "" }

    func expectNoToken(_ results: CommandResult...) {
        for result in results {
            #expect(!result.stdout.contains(Self.token) && !result.stderr.contains(Self.token), "the URL's token leaked: \(result.stdout)\(result.stderr)")
        }
    }

    @Test("each kind's request: Slack text, Discord content, webhook JSON, ntfy headers, Healthchecks start and success with one rid")
    func requestShapes() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "slack"
            url_env = "T_SLACK"
            events = ["snapshot-succeeded"]
            [[notify]]
            kind = "discord"
            url_env = "T_DISCORD"
            events = ["snapshot-succeeded"]
            [[notify]]
            name = "hook"
            kind = "webhook"
            url_env = "T_HOOK"
            [[notify]]
            kind = "ntfy"
            url_env = "T_NTFY"
            events = ["snapshot-succeeded"]
            priority = 4
            tags = ["floppy_disk", "backup"]
            [[notify]]
            kind = "healthchecks"
            url_env = "T_HC"
            """
        ) { ws, receiver in
            let environment = [
                "T_SLACK": receiver.url("/slack/services/T0/B0/\(Self.token)"), "T_DISCORD": receiver.url("/discord/api/webhooks/1/\(Self.token)"),
                "T_HOOK": receiver.url("/hook/\(Self.token)"), "T_NTFY": "http://coffer:\(Self.token)@127.0.0.1:\(receiver.port)/ntfy/topic",
                "T_HC": receiver.url("/hc/\(Self.token)"),
            ]
            let snapshot = try ws.coffer("snapshot", environment: environment)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            expectNoToken(snapshot)
            let id = lastLine(snapshot)

            let slack = receiver.requests(to: "/slack")
            #expect(slack.count == 1)
            #expect(slack.first?.method == "POST")
            #expect(slack.first?.headers["content-type"] == "application/json")
            let text = slack.first?.json["text"] as? String ?? ""
            #expect(text.contains("snapshot succeeded") && text.contains(id) && text.contains("app (sqlite"), "\(text)")

            let discord = receiver.requests(to: "/discord")
            #expect(discord.count == 1)
            let content = discord.first?.json["content"] as? String ?? ""
            #expect(content.contains("snapshot succeeded") && content.contains(id), "\(content)")
            #expect((discord.first?.json["allowed_mentions"] as? [String: Any])?["parse"] as? [Any] != nil)

            // The generic webhook gets every event by default: the start and the success, one run id.
            let hook = receiver.requests(to: "/hook").map(\.json)
            #expect(hook.map { $0["event"] as? String } == ["snapshot-started", "snapshot-succeeded"])
            let success = hook.last ?? [:]
            #expect(success["bundle"] as? String == id)
            #expect(success["environment"] as? String == "development")
            #expect(success["level"] as? String == "info")
            #expect(success["resolved"] as? Bool == false)
            #expect((success["host"] as? String)?.isEmpty == false)
            #expect(ISO8601DateFormatter().date(from: success["at"] as? String ?? "") != nil)
            #expect((success["message"] as? String)?.contains("app (sqlite") == true)
            #expect(success["run_id"] as? String == hook.first?["run_id"] as? String)

            let ntfy = receiver.requests(to: "/ntfy")
            #expect(ntfy.count == 1)
            #expect(ntfy.first?.headers["title"]?.contains("snapshot succeeded") == true)
            #expect(ntfy.first?.headers["priority"] == "4")
            #expect(ntfy.first?.headers["tags"] == "floppy_disk,backup")
            #expect(ntfy.first?.body.contains(id) == true)
            // The URL's user and password become Basic authentication (ntfy's protected topics).
            #expect(ntfy.first?.path == "/ntfy/topic")
            #expect(ntfy.first?.headers["authorization"] == "Basic " + Data("coffer:\(Self.token)".utf8).base64EncodedString())

            let hc = receiver.requests(to: "/hc")
            #expect(hc.map(\.path) == ["/hc/\(Self.token)/start", "/hc/\(Self.token)"])
            let rid = try #require(hc.first?.rid)
            #expect(UUID(uuidString: rid) != nil && rid == rid.lowercased())
            #expect(hc.last?.rid == rid)
            #expect(hc.last?.body.contains(id) == true)
        }
    }

    @Test("Healthchecks: a failed snapshot pings /start then /fail with the same rid, the end of the log in the body; a query in the URL is kept")
    func healthchecksFailure() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "healthchecks"
            url_env = "T_HC"
            [[notify]]
            name = "unset"
            kind = "slack"
            url_env = "T_NOT_SET"
            events = ["snapshot-started"]
            """
        ) { ws, receiver in
            try FileManager.default.removeItem(atPath: ws.path("app.db"))
            let snapshot = try ws.coffer("snapshot", environment: ["T_HC": receiver.url("/ping/\(Self.token)/nightly?create=1")])
            #expect(snapshot.status != 0)
            expectNoToken(snapshot)
            let hc = receiver.requests
            #expect(hc.map(\.path) == ["/ping/\(Self.token)/nightly/start", "/ping/\(Self.token)/nightly/fail"])
            #expect(hc.allSatisfy { $0.query.hasPrefix("create=1&rid=") })
            #expect(hc.first?.rid != nil && hc.first?.rid == hc.last?.rid)
            let body = hc.last?.body ?? ""
            #expect(body.contains("coffer: error: app: the database") && body.contains("does not exist"), "\(body)")
            // An earlier warning of the same run is in the tail too.
            #expect(body.contains("T_NOT_SET"), "\(body)")
        }
    }

    @Test("events: each notifier gets only the events it names; chat kinds default to failures")
    func eventsFilter() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "slack"
            url_env = "T_SLACK"
            [[notify]]
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["snapshot-failed"]
            [[notify]]
            kind = "discord"
            url_env = "T_DISCORD"
            events = ["snapshot-succeeded"]
            """
        ) { ws, receiver in
            let environment = ["T_SLACK": receiver.url("/slack"), "T_HOOK": receiver.url("/hook"), "T_DISCORD": receiver.url("/discord")]
            #expect(try ws.coffer("snapshot", environment: environment).status == 0)
            #expect(receiver.requests.map(\.path) == ["/discord"])
            try receiver.reset()
            try FileManager.default.removeItem(atPath: ws.path("app.db"))
            #expect(try ws.coffer("snapshot", environment: environment).status != 0)
            #expect(Set(receiver.requests.map(\.path)) == ["/slack", "/hook"])
            #expect(receiver.requests(to: "/hook").first?.json["event"] as? String == "snapshot-failed")
            #expect(receiver.requests(to: "/hook").first?.json["level"] as? String == "critical")
            #expect((receiver.requests(to: "/slack").first?.json["text"] as? String)?.contains("snapshot FAILED") == true)
        }
    }

    @Test("stale: sent once when it starts, not on the next runs (two at once included), once when it clears")
    func staleTransitions() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["stale"]
            """
        ) { ws, receiver in
            let start = Date()
            var environment = ["T_HOOK": receiver.url("/hook/\(Self.token)")]
            func at(_ days: Double) -> [String: String] { environment.merging(clock(start, days: days)) { $1 } }
            #expect(try ws.coffer("snapshot", environment: at(0)).status == 0)
            #expect(try ws.coffer("status", environment: at(1)).status == 0)
            #expect(receiver.requests.isEmpty)

            // Development expects a bundle within the retention window (7 days).
            let stale = try ws.coffer("status", environment: at(8))
            #expect(stale.status == 1)
            expectNoToken(stale)
            var events = receiver.requests.map(\.json)
            #expect(events.count == 1)
            #expect(events.first?["event"] as? String == "stale")
            #expect(events.first?["resolved"] as? Bool == false)
            #expect(events.first?["level"] as? String == "warn")
            #expect((events.first?["message"] as? String)?.contains("older than") == true)

            #expect(try ws.coffer("status", environment: at(9)).status == 1)
            let (first, second) = try Self.together(ws, ["status"], environment: at(9.5))
            #expect(first == 1 && second == 1)
            #expect(receiver.requests.count == 1, "stale was announced again: \(receiver.requests.map(\.body))")

            // A snapshot looks again at its end: fresh.
            #expect(try ws.coffer("snapshot", environment: at(10)).status == 0)
            events = receiver.requests.map(\.json)
            #expect(events.count == 2)
            #expect(events.last?["event"] as? String == "stale")
            #expect(events.last?["resolved"] as? Bool == true)
            #expect(events.last?["level"] as? String == "info")
            #expect(try ws.coffer("status", environment: at(10)).status == 0)
            #expect(receiver.requests.count == 2)

            // Two processes that find it stale at the same moment announce it once.
            environment["COFFER_NOW"] = nil
            let (a, b) = try Self.together(ws, ["status"], environment: at(20))
            #expect(a == 1 && b == 1)
            #expect(receiver.requests.count == 3)
            #expect(ws.exists(".coffer/notify/state.json"))
            #expect(try ws.mode(".coffer/notify/state.json") == 0o600)
            #expect(try ws.mode(".coffer/notify") == 0o700)
        }
    }

    @Test("coffer serve: its periodic look at the repository announces stale once, like `coffer status`")
    func serveObserves() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["stale"]
            """
        ) { ws, receiver in
            let start = Date()
            #expect(try ws.coffer("snapshot", environment: clock(start, days: 0)).status == 0)
            let serve = try ServeProcess(ws, environment: clock(start, days: 8).merging(["T_HOOK": receiver.url("/hook/\(Self.token)")]) { $1 })
            for _ in 0..<200 where receiver.requests.isEmpty { usleep(100_000) }
            #expect(receiver.requests.map { $0.json["event"] as? String } == ["stale"])
            #expect(serve.terminate() == 0)
            #expect(!serve.stderr.contains(Self.token))
            // The state is shared: `coffer status` at the same clock announces nothing more.
            #expect(try ws.coffer("status", environment: clock(start, days: 8).merging(["T_HOOK": receiver.url("/hook/\(Self.token)")]) { $1 }).status == 1)
            #expect(receiver.requests.count == 1)
        }
    }

    @Test("storage critical: announced when the repository cannot be read, once, and when it recovers")
    func storageCritical() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["storage-critical"]
            """
        ) { ws, receiver in
            let environment = ["T_HOOK": receiver.url("/hook")]
            #expect(try ws.coffer("snapshot", environment: environment).status == 0)
            #expect(receiver.requests.isEmpty)
            let descriptor = try ws.read("backups/coffer.json")
            try ws.write("backups/coffer.json", Array("not a descriptor".utf8))
            #expect(try ws.coffer("status", environment: environment).status == 2)
            #expect(try ws.coffer("status", environment: environment).status == 2)
            var events = receiver.requests.map(\.json)
            #expect(events.count == 1)
            #expect(events.first?["event"] as? String == "storage-critical")
            #expect(events.first?["resolved"] as? Bool == false)
            #expect((events.first?["message"] as? String)?.contains("cannot be read") == true)
            try ws.write("backups/coffer.json", descriptor)
            #expect(try ws.coffer("status", environment: environment).status == 0)
            events = receiver.requests.map(\.json)
            #expect(events.count == 2)
            #expect(events.last?["resolved"] as? Bool == true)
        }
    }

    @Test("a notifier that answers 500, hangs or is down: the snapshot still succeeds in bounded time, warns naming it, status shows it until a delivery succeeds")
    func failingNotifiers() throws {
        let down = try NotifyReceiver()
        let downURL = down.url("/gone/\(Self.token)")
        _ = consume down
        try withNotifying(
            """
            [[notify]]
            name = "hook"
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["snapshot-succeeded"]
            timeout = 2
            [[notify]]
            name = "gone"
            kind = "slack"
            url_env = "T_GONE"
            events = ["snapshot-succeeded"]
            timeout = 2
            """
        ) { ws, receiver in
            let environment = ["T_HOOK": receiver.url("/hook/\(Self.token)"), "T_GONE": downURL]
            for (rule, words) in [("{\"status\": 500}", "HTTP 500 (after 2 attempts)"), ("{\"hang\": true}", "no answer within 2 s")] {
                try receiver.answer(rule)
                let started = Date()
                let snapshot = try ws.coffer("snapshot", "--json", environment: environment)
                let seconds = Date().timeIntervalSince(started)
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                #expect(seconds < 12, "the snapshot waited \(seconds) s for its notifiers")
                expectNoToken(snapshot)
                #expect(snapshot.stderr.contains("coffer: warning: notifier hook (webhook, 127.0.0.1) could not be told of snapshot-succeeded: \(words)"), "\(snapshot.stderr)")
                #expect(snapshot.stderr.contains("notifier gone (slack, 127.0.0.1) could not be told of snapshot-succeeded: connection refused"), "\(snapshot.stderr)")
                let warnings = try jsonObject(snapshot)["warnings"] as? [String] ?? []
                #expect(warnings.contains { $0.contains("notifier hook") && $0.contains(words) })

                let status = try ws.coffer("status", "--json", environment: environment)
                #expect(status.status == 1)
                expectNoToken(status)
                let report = try jsonObject(status)
                #expect(report["level"] as? String == "warn")
                let problems = report["problems"] as? [String] ?? []
                #expect(problems.contains { $0.hasPrefix("notifier hook (webhook, 127.0.0.1) failed at ") && $0.contains(words) }, "\(problems)")
                #expect(problems.contains { $0.hasPrefix("notifier gone (slack, 127.0.0.1) failed at ") })
            }
            // Back up: a test delivery clears the one that is reachable again.
            try receiver.answer("")
            let test = try ws.coffer("notify", "test", environment: environment)
            #expect(test.status == 1)
            #expect(test.stdout.contains("1 of 2 notifier(s) reached"))
            expectNoToken(test)
            let problems = try jsonObject(try ws.coffer("status", "--json", environment: environment))["problems"] as? [String] ?? []
            #expect(!problems.contains { $0.contains("notifier hook") }, "\(problems)")
            #expect(problems.contains { $0.contains("notifier gone") })
            #expect(receiver.requests.last.map { $0.json["event"] as? String } == "test")
        }
    }

    @Test("an unset url_env variable: the snapshot runs, a warning names the variable, status shows it")
    func missingURLVariable() throws {
        try withNotifying(
            """
            [[notify]]
            name = "ops"
            kind = "ntfy"
            url_env = "T_NOWHERE"
            events = ["snapshot-succeeded"]
            """
        ) { ws, _ in
            let snapshot = try ws.coffer("snapshot")
            #expect(snapshot.status == 0)
            #expect(snapshot.stderr.contains("notifier ops (ntfy) could not be told of snapshot-succeeded: environment variable T_NOWHERE (its url_env) is not set"), "\(snapshot.stderr)")
            let status = try ws.coffer("status")
            #expect(status.status == 1)
            #expect(status.stdout.contains("notifier ops (ntfy) failed at"))
        }
    }

    @Test("verify and audit failures, restore and rollback done")
    func operationEvents() throws {
        try withNotifying(
            """
            [[notify]]
            kind = "webhook"
            url_env = "T_HOOK"
            events = ["verify-failed", "audit-failed", "restore-done", "rollback-done"]
            """
        ) { ws, receiver in
            try ws.pinFormatOne()
            let environment = ["T_HOOK": receiver.url("/hook")]
            let snapshot = try ws.coffer("snapshot", environment: environment)
            let id = lastLine(snapshot)
            #expect(try ws.coffer("verify", "latest", environment: environment).status == 0)
            #expect(receiver.requests.isEmpty)

            let restore = try ws.coffer("restore", "latest", "--yes", "--json", environment: environment)
            #expect(restore.status == 0, "\(restore.stderr)")
            let restoreID = try #require(try jsonObject(restore)["restore_id"] as? String)
            #expect(try ws.coffer("rollback", restoreID, environment: environment).status == 0)
            var events = receiver.requests.map(\.json)
            #expect(events.map { $0["event"] as? String } == ["restore-done", "rollback-done"])
            #expect(events.allSatisfy { $0["restore_id"] as? String == restoreID && $0["bundle"] as? String == id })

            let folder = "backups/bundles/development/\(id)/artifacts"
            let payload = try #require(try FileManager.default.contentsOfDirectory(atPath: ws.path(folder)).first { $0.hasSuffix(".age-payload") })
            var bytes = try ws.read("\(folder)/\(payload)")
            bytes[bytes.count / 2] ^= 0xFF
            try ws.write("\(folder)/\(payload)", bytes)
            #expect(try ws.coffer("verify", "latest", environment: environment).status == 5)
            #expect(try ws.coffer("audit", environment: environment).status == 5)
            events = receiver.requests.map(\.json)
            #expect(events.dropFirst(2).map { $0["event"] as? String } == ["verify-failed", "audit-failed"])
            #expect(events.dropFirst(2).first?["bundle"] as? String == id)
            #expect((events.last?["message"] as? String)?.contains(id) == true)
        }
    }

    @Test("an unknown kind or event is a configuration error naming the key")
    func configErrors() throws {
        try Workspace.with(keys: false) { ws in
            try ws.appendConfig("[[notify]]\nkind = \"pager\"\nurl_env = \"X\"\n")
            let bad = try ws.coffer("status")
            #expect(bad.status == 3)
            #expect(bad.stderr.contains("[notify #1] kind 'pager' is not a notifier kind"), "\(bad.stderr)")
        }
    }

    /// Runs `coffer ARGS` twice at the same moment; the exit statuses.
    static func together(_ ws: Workspace, _ arguments: [String], environment: [String: String]) throws -> (Int32, Int32) {
        let processes = (0..<2).map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: cofferBinary)
            process.arguments = ["--config", ws.config] + arguments
            process.currentDirectoryURL = URL(fileURLWithPath: ws.root)
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return process
        }
        for process in processes { try process.run() }
        for process in processes { process.waitUntilExit() }
        return (processes[0].terminationStatus, processes[1].terminationStatus)
    }
}
