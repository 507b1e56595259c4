import Foundation

/// One HTTP request to a notifier, built from an event: the payload each
/// service documents. Holds the URL, so it is never printed or logged.
struct NotificationRequest: Sendable {
    var method = "POST"
    var url: String
    var headers: [(String, String)]
    var body: [UInt8]

    /// Healthchecks.io keeps the first 100 kB of a ping's body, self-hosted instances 10 kB by default.
    static let healthchecksBodyLimit = 10_000
    /// Discord refuses `content` over 2000 characters.
    static let discordContentLimit = 2000
    /// ntfy turns a longer message into an attachment.
    static let ntfyMessageLimit = 4000
    static let slackTextLimit = 12_000

    /// The request `notifier` sends for `event` to `url`.
    static func make(for notifier: CofferConfig.Notifier, event: NotificationEvent, url: String) -> NotificationRequest {
        switch notifier.kind {
        case .slack:
            let text = slackEscape("*\(event.title)*\n\(chatBody(event, limit: slackTextLimit - event.title.count - 4))")
            return json(url, ["text": text])
        case .discord:
            let content = "**\(event.title)**\n\(chatBody(event, limit: discordContentLimit - event.title.count - 5))"
            // No @everyone or role pings, whatever the log says.
            return json(url, ["content": String(content.prefix(discordContentLimit)), "allowed_mentions": ["parse": [String]()]])
        case .webhook:
            return json(url, webhookPayload(event))
        case .ntfy:
            var headers = [
                ("Content-Type", "text/plain; charset=utf-8"), ("Title", headerSafe(event.title)),
                ("Priority", notifier.priority ?? ntfyPriority(event.level)),
                ("Tags", (notifier.tags ?? ntfyTags(event)).joined(separator: ",")),
            ]
            if notifier.tags?.isEmpty == true { headers.removeLast() }
            return NotificationRequest(url: url, headers: headers, body: Array(chatBody(event, limit: ntfyMessageLimit).utf8))
        case .healthchecks:
            let suffix: String
            var body = event.message + (event.bundle.map { "\nbundle \($0)" } ?? "")
            switch event.kind {
            case .snapshotStarted: suffix = "/start"
            case .snapshotFailed:
                suffix = "/fail"
                // The end of the run's log, which ends with the error itself.
                let log = event.log ?? ""
                body = log.contains(event.message) ? log : log + body
            case .test: suffix = "/log"
            default: suffix = ""
            }
            return NotificationRequest(
                url: healthchecksURL(url, suffix: suffix, runID: event.runID), headers: [("Content-Type", "text/plain; charset=utf-8")],
                body: tail(body, bytes: healthchecksBodyLimit))
        }
    }

    /// `URL/suffix?...&rid=ID`: the suffix goes before any query the URL has (`?create=1`).
    static func healthchecksURL(_ url: String, suffix: String, runID: String) -> String {
        let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var base = String(parts[0])
        while base.hasSuffix("/") { base.removeLast() }
        let query = parts.count > 1 && !parts[1].isEmpty ? parts[1] + "&" : ""
        return "\(base)\(suffix)?\(query)rid=\(runID)"
    }

    /// The JSON body of the generic webhook (keys sorted; absent values are null).
    static func webhookPayload(_ event: NotificationEvent) -> [String: Any] {
        [
            "event": event.kind.rawValue, "resolved": event.resolved, "level": event.level.rawValue, "title": event.title,
            "environment": event.environment, "host": event.host, "at": Clock.format(event.at), "message": event.message,
            "bundle": event.bundle ?? NSNull(), "restore_id": event.restoreID ?? NSNull(), "run_id": event.runID,
            "log": event.log ?? NSNull(), "tool": CofferVersion.tool,
        ]
    }

    /// The message, the bundle, and for a failure the end of the log, in at most `limit` characters.
    static func chatBody(_ event: NotificationEvent, limit: Int) -> String {
        var text = event.message + (event.bundle.map { "\nbundle \($0)" } ?? "") + (event.restoreID.map { "\nrestore \($0)" } ?? "")
        if text.count > limit { text = String(text.prefix(max(limit - 1, 0))) + "…" }
        if let log = event.log, !log.isEmpty, event.level == .critical {
            let room = limit - text.count - 9
            if room > 80 {
                var lines = log.split(separator: "\n").suffix(15).joined(separator: "\n")
                if lines.count > room { lines = "…" + String(lines.suffix(room - 1)) }
                text += "\n```\n\(lines)\n```"
            }
        }
        return text
    }

    static func ntfyPriority(_ level: NotificationEvent.Level) -> String {
        switch level {
        case .critical: return "high"
        case .warn: return "default"
        case .info: return "low"
        }
    }

    /// ntfy shows tags that are emoji short codes as emojis.
    static func ntfyTags(_ event: NotificationEvent) -> [String] {
        let emoji: String
        switch event.level {
        case .critical: emoji = "rotating_light"
        case .warn: emoji = "warning"
        case .info: emoji = event.resolved || event.kind == .snapshotSucceeded ? "white_check_mark" : "information_source"
        }
        return [emoji, "coffer", event.environment]
    }

    /// Slack reads `&`, `<` and `>` as markup: they are escaped.
    static func slackEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// A header value: printable ASCII only (a host name or message may hold anything).
    static func headerSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }

    /// The last `bytes` bytes of `text` (the end of a log matters most), on a character boundary.
    static func tail(_ text: String, bytes: Int) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count > bytes else { return utf8 }
        var start = utf8.count - bytes
        while start < utf8.count && utf8[start] & 0xC0 == 0x80 { start += 1 }
        return Array(utf8[start...])
    }

    private static func json(_ url: String, _ object: [String: Any]) -> NotificationRequest {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
        return NotificationRequest(url: url, headers: [("Content-Type", "application/json")], body: body)
    }
}
