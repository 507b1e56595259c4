import Foundation
import Testing

@testable import CofferCore

private func notifiers(_ entries: String) throws -> [CofferConfig.Notifier] {
    try ConfigLoader.parse("environment = \"production\"\n" + entries, path: "/srv/app/coffer.toml").notify
}

private func notifyError(_ entries: String) -> String? {
    do {
        _ = try notifiers(entries)
        return nil
    } catch let error as CofferError {
        #expect(error.category == .config)
        return error.message
    } catch {
        return "\(error)"
    }
}

@Suite("Notifications: config, requests, log tail")
struct NotificationTests {
    @Test("[[notify]]: defaults per kind; events, timeout, ntfy priority and tags")
    func configDefaults() throws {
        let parsed = try notifiers(
            """
            [[notify]]
            kind = "healthchecks"
            url_env = "HC_URL"
            [[notify]]
            kind = "slack"
            url_env = "SLACK_URL"
            [[notify]]
            name = "phone"
            kind = "ntfy"
            url_env = "NTFY_URL"
            events = ["stale", "restore-done"]
            timeout = 3
            priority = "urgent"
            tags = ["floppy_disk"]
            [[notify]]
            kind = "webhook"
            url_env = "HOOK_URL"
            """)
        #expect(parsed.map(\.name) == ["healthchecks", "slack", "phone", "webhook"])
        #expect(parsed[0].events == [.snapshotStarted, .snapshotSucceeded, .snapshotFailed, .test])
        #expect(parsed[1].events == [.snapshotFailed, .verifyFailed, .auditFailed, .drillFailed, .stale, .storageCritical, .test])
        #expect(parsed[1].timeout == 10)
        #expect(parsed[2].events == [.stale, .restoreDone, .test])
        #expect(parsed[2].timeout == 3 && parsed[2].priority == "urgent" && parsed[2].tags == ["floppy_disk"])
        #expect(parsed[3].events == Set(NotificationEventKind.allCases))
        #expect(try notifiers("[[notify]]\nkind = \"ntfy\"\nurl_env = \"N\"\npriority = 5\n").first?.priority == "5")
    }

    @Test("[[notify]] errors name the key")
    func configErrors() {
        #expect(notifyError("[[notify]]\nkind = \"pager\"\nurl_env = \"X\"\n")?.contains("[notify #1] kind 'pager' is not a notifier kind (known: webhook, slack") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\nevents = [\"snapshot-exploded\"]\n")?.contains("[notify #1] events 'snapshot-exploded' is not an event") == true)
        #expect(notifyError("[[notify]]\nkind = \"healthchecks\"\nurl_env = \"X\"\nevents = [\"verify-failed\"]\n")?.contains("cannot go to a healthchecks check") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\n")?.contains("[notify #1] url_env is required") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\nurl = \"https://hooks.slack.com/x\"\n")?.contains("[notify #1] url is not a known setting") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\npriority = \"high\"\n")?.contains("priority applies only to kind = \"ntfy\"") == true)
        #expect(notifyError("[[notify]]\nkind = \"ntfy\"\nurl_env = \"X\"\npriority = 9\n")?.contains("priority '9' must be 1 to 5") == true)
        #expect(notifyError("[[notify]]\nkind = \"ntfy\"\nurl_env = \"X\"\ntags = [\"a,b\"]\n")?.contains("tags 'a,b'") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\ntimeout = 600\n")?.contains("timeout must be between 1 and 60") == true)
        #expect(notifyError("[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\n[[notify]]\nkind = \"slack\"\nurl_env = \"Y\"\n")?.contains("'slack' is used by two [[notify]] entries") == true)
    }

    func event(_ kind: NotificationEventKind, message: String = "m", log: String? = nil) -> NotificationEvent {
        NotificationEvent(kind: kind, environment: "production", at: Date(timeIntervalSince1970: 0), message: message, bundle: "B1", runID: "r-1", log: log, host: "db1")
    }

    func notifier(_ kind: NotifierKind) -> CofferConfig.Notifier {
        .init(name: kind.rawValue, kind: kind, urlEnv: "X", events: kind.defaultEvents, timeout: 10, priority: nil, tags: nil)
    }

    @Test("Healthchecks URLs: the suffix before any query, rid last")
    func healthchecksURL() {
        #expect(NotificationRequest.healthchecksURL("https://hc-ping.com/u1", suffix: "/start", runID: "r") == "https://hc-ping.com/u1/start?rid=r")
        #expect(NotificationRequest.healthchecksURL("https://hc-ping.com/u1/", suffix: "", runID: "r") == "https://hc-ping.com/u1?rid=r")
        #expect(NotificationRequest.healthchecksURL("https://hc-ping.com/k/slug?create=1", suffix: "/fail", runID: "r") == "https://hc-ping.com/k/slug/fail?create=1&rid=r")
    }

    @Test("chat payloads stay within the services' limits; Slack markup escaped; the log tail only with failures")
    func chatPayloads() throws {
        let long = String(repeating: "x", count: 5000)
        let discord = NotificationRequest.make(for: notifier(.discord), event: event(.snapshotFailed, message: long, log: "line 1\nline 2\n"), url: "http://h/d")
        let content = try #require((try JSONSerialization.jsonObject(with: Data(discord.body)) as? [String: Any])?["content"] as? String)
        #expect(content.count <= 2000)
        let slack = NotificationRequest.make(for: notifier(.slack), event: event(.snapshotFailed, message: "a <b> & c", log: "boom\n"), url: "http://h/s")
        let text = try #require((try JSONSerialization.jsonObject(with: Data(slack.body)) as? [String: Any])?["text"] as? String)
        #expect(text.contains("a &lt;b&gt; &amp; c"))
        #expect(text.contains("```\nboom\n```"))
        let fine = NotificationRequest.make(for: notifier(.slack), event: event(.restoreDone, log: "secret-ish line\n"), url: "http://h/s")
        #expect(!String(decoding: fine.body, as: UTF8.self).contains("secret-ish"))
        let ntfy = NotificationRequest.make(for: notifier(.ntfy), event: event(.stale), url: "http://h/t")
        #expect(ntfy.headers.contains { $0 == ("Priority", "default") })
        #expect(ntfy.headers.contains { $0 == ("Tags", "warning,coffer,production") })
        let fail = NotificationRequest.make(for: notifier(.healthchecks), event: event(.snapshotFailed, log: String(repeating: "é", count: 9000) + "\nthe end\n"), url: "http://h/u")
        #expect(fail.body.count <= NotificationRequest.healthchecksBodyLimit)
        #expect(String(decoding: fail.body, as: UTF8.self).hasSuffix("the end\nm\nbundle B1"))
        #expect(String(validating: fail.body, as: UTF8.self) != nil)
    }

    @Test("error texts lose the URL's path, query and user info")
    func scrub() {
        let url = "https://user:pw@hooks.example.com/services/T/B/SECRET?x=1"
        let scrubbed = NotificationTransport.scrub("failed: \(url) and /services/T/B/SECRET?x=1 (user:pw)", url: url)
        #expect(!scrubbed.contains("SECRET") && !scrubbed.contains("pw"), "\(scrubbed)")
        #expect(Notifications.label(notifier(.slack), url: url) == "notifier slack (slack, hooks.example.com)")
    }

    @Test("the log tail keeps the newest lines within its bounds, from many threads")
    func logTail() {
        let tail = LogTail(maximumLines: 5, maximumBytes: 60)
        for index in 0..<20 { tail.append("line \(index)") }
        #expect(tail.text() == "line 15\nline 16\nline 17\nline 18\nline 19\n")
        tail.append(String(repeating: "y", count: 100))
        #expect(tail.text().utf8.count <= 61)
        #expect(tail.text().hasPrefix("yyy"))
        let shared = LogTail(maximumLines: 50, maximumBytes: 10_000)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<500 { shared.append("t\(thread) \(index)") }
        }
        #expect(shared.text().split(separator: "\n").count == 50)
    }
}
