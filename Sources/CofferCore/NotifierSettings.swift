/// What a notification is about. The raw values are the names used in
/// `[[notify]] events` and in the generic webhook's JSON.
public enum NotificationEventKind: String, Sendable, CaseIterable, Codable {
    /// A snapshot run began (Healthchecks' `/start`).
    case snapshotStarted = "snapshot-started"
    case snapshotSucceeded = "snapshot-succeeded"
    /// A snapshot run ended with an error, wherever in the run it was thrown.
    case snapshotFailed = "snapshot-failed"
    /// `coffer verify` found a mismatch or could not run.
    case verifyFailed = "verify-failed"
    /// `coffer audit` failed or could not run.
    case auditFailed = "audit-failed"
    /// `coffer drill` did not pass (a damaged bundle, a failed check or smoke command, RTO or RPO missed).
    case drillFailed = "drill-failed"
    /// The newest bundle became older than the freshness limit (sent once, and once when it clears).
    case stale
    /// The repository became unreachable, not writable or too full for the next bundle (sent once, and once when it clears).
    case storageCritical = "storage-critical"
    case restoreDone = "restore-done"
    case rollbackDone = "rollback-done"
    /// `coffer notify test`.
    case test

    /// The conditions that are announced when they start and when they clear, not on every run.
    public var isCondition: Bool { self == .stale || self == .storageCritical }
}

/// The services a `[[notify]]` entry can talk to.
public enum NotifierKind: String, Sendable, CaseIterable {
    case webhook, slack, discord, healthchecks, ntfy

    /// The events a notifier of this kind gets when its entry names none: a
    /// Healthchecks check follows every snapshot run; chat and push services
    /// hear of failures and problems; a generic webhook gets everything.
    public var defaultEvents: Set<NotificationEventKind> {
        switch self {
        case .healthchecks: return [.snapshotStarted, .snapshotSucceeded, .snapshotFailed, .test]
        case .slack, .discord, .ntfy: return [.snapshotFailed, .verifyFailed, .auditFailed, .drillFailed, .stale, .storageCritical, .test]
        case .webhook: return Set(NotificationEventKind.allCases)
        }
    }

    /// The events a notifier of this kind can carry at all (a Healthchecks check
    /// is one job's start, success and failure).
    public var allowedEvents: Set<NotificationEventKind> {
        self == .healthchecks ? [.snapshotStarted, .snapshotSucceeded, .snapshotFailed, .test] : Set(NotificationEventKind.allCases)
    }
}

extension CofferConfig {
    /// One `[[notify]]` entry. The URL (which carries the token) is never in
    /// the config: `urlEnv` names the environment variable that holds it.
    public struct Notifier: Sendable {
        /// Names the notifier in warnings and in `coffer status` (default: the kind).
        public var name: String
        public var kind: NotifierKind
        public var urlEnv: String
        /// The events it is sent; `test` is always among them.
        public var events: Set<NotificationEventKind>
        /// Seconds one delivery attempt may take, connecting included.
        public var timeout: Int
        /// ntfy: `1`...`5` or `min`, `low`, `default`, `high`, `max`, `urgent`; nil picks one by the event's level.
        public var priority: String?
        /// ntfy: tags (emoji short codes such as `warning`); nil picks one by the event's level.
        public var tags: [String]?
    }
}

extension ConfigLoader {
    static let ntfyPriorities: Set<String> = ["1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"]

    /// The `[[notify]]` entries; an unknown kind or event is an error naming the key.
    static func notifiers(_ reader: TableReader) throws -> [CofferConfig.Notifier] {
        var notifiers: [CofferConfig.Notifier] = []
        for var entry in try reader.tableArray("notify") {
            try entry.allowOnly(["name", "kind", "url_env", "events", "timeout", "priority", "tags"])
            let kindName = try entry.requiredString("kind")
            guard let kind = NotifierKind(rawValue: kindName) else {
                throw entry.error("kind", "'\(kindName)' is not a notifier kind (known: \(NotifierKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let name = try entry.string("name") ?? kind.rawValue
            guard isValidName(name) else { throw entry.error("name", "'\(name)' must be lowercase letters, digits, '-' or '_'") }
            guard !notifiers.contains(where: { $0.name == name }) else {
                throw entry.error("name", "'\(name)' is used by two [[notify]] entries; give each its own name")
            }
            var events = kind.defaultEvents
            if let names = try entry.stringArray("events") {
                events = [.test]
                for eventName in names {
                    guard let event = NotificationEventKind(rawValue: eventName) else {
                        throw entry.error(
                            "events", "'\(eventName)' is not an event (known: \(NotificationEventKind.allCases.filter { $0 != .test }.map(\.rawValue).joined(separator: ", ")))")
                    }
                    guard kind.allowedEvents.contains(event) else {
                        throw entry.error("events", "'\(eventName)' cannot go to a \(kind.rawValue) check (it takes snapshot-started, snapshot-succeeded, snapshot-failed)")
                    }
                    events.insert(event)
                }
            }
            let priority: String?
            if let number = entry.table["priority"]?.int { priority = String(number) } else { priority = try entry.string("priority") }
            if let priority, !ntfyPriorities.contains(priority) {
                throw entry.error("priority", "'\(priority)' must be 1 to 5, or min, low, default, high, max, urgent")
            }
            if priority != nil || entry.table["tags"] != nil, kind != .ntfy {
                throw entry.error(priority != nil ? "priority" : "tags", "applies only to kind = \"ntfy\"")
            }
            let tags = try entry.stringArray("tags")
            if let bad = tags?.first(where: { $0.isEmpty || $0.contains(",") || !$0.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) }) {
                throw entry.error("tags", "'\(bad)' must be non-empty printable ASCII without commas")
            }
            notifiers.append(
                .init(
                    name: name, kind: kind, urlEnv: try entry.requiredString("url_env"), events: events,
                    timeout: try entry.int("timeout", range: 1...60) ?? 10, priority: priority, tags: tags))
        }
        return notifiers
    }
}
