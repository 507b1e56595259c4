import CofferSystem
import Foundation

/// Sends `[[notify]]` notifications and keeps their state. A notifier that is
/// down, slow or refuses never fails the operation: each problem comes back
/// as a warning (naming the notifier by name, kind and host, never its URL,
/// which holds a token), is recorded in the state folder, and shows in
/// `coffer status` until a later delivery to it succeeds.
///
/// Blocking: a delivery waits at most the notifier's `timeout` (plus one quick
/// retry after a refused connection or a 5xx). Safe to call from any thread
/// but an event loop's; the state is changed under a lock file.
public struct Notifications: Sendable {
    public let config: CofferConfig
    public let environment: [String: String]
    let store: NotificationStateStore

    public init(config: CofferConfig, environment: [String: String]) {
        self.config = config
        self.environment = environment
        store = NotificationStateStore(state: StateDirectory(config: config))
    }

    /// False when the config has no `[[notify]]` entry: nothing is sent or written.
    public var isEnabled: Bool { !config.notify.isEmpty }

    /// An event of this config's environment, dated now (`COFFER_NOW` in tests).
    public func event(
        _ kind: NotificationEventKind, message: String, bundle: String? = nil, restoreID: String? = nil,
        runID: String = NotificationEvent.newRunID(), log: String? = nil, resolved: Bool = false
    ) -> NotificationEvent {
        NotificationEvent(
            kind: kind, resolved: resolved, environment: config.environment.rawValue, at: (try? Clock.now(environment: environment)) ?? Date(),
            message: message, bundle: bundle, restoreID: restoreID, runID: runID, log: log)
    }

    /// Sends `event` to every notifier that wants it (`only`: to these names alone);
    /// returns the warnings, one per notifier that could not be told.
    @discardableResult
    public func send(_ event: NotificationEvent, only: Set<String>? = nil) -> [String] {
        let targets = config.notify.filter { $0.events.contains(event.kind) && (only?.contains($0.name) ?? true) }
        guard !targets.isEmpty else { return [] }
        let outcomes = deliver(targets.map { ($0, event) })
        return record(outcomes)
    }

    /// Looks at a status report and announces what changed since the last
    /// look: the newest bundle became stale or fresh again, the storage became
    /// critical (unreachable, not writable, too full for the next bundle) or
    /// recovered. Each change is sent once; a notifier that missed it is told
    /// on a later call. Returns warnings. Another process evaluating at the
    /// same moment makes this call wait up to 5 s, then skip (the next one catches up).
    @discardableResult
    public func observe(status report: StatusReport) -> [String] {
        guard isEnabled else { return [] }
        let now = (try? Clock.now(environment: environment)) ?? Date()
        do {
            let warnings = try store.update { state -> [String] in
                var deliveries: [(CofferConfig.Notifier, NotificationEvent)] = []
                for (kind, current) in Self.conditions(report) {
                    let key = "\(report.environment)/\(kind.rawValue)"
                    let subscribers = config.notify.filter { $0.events.contains(kind) }.map(\.name)
                    var condition = state.conditions[key]
                    // Unknown (the repository could not be read to tell): nothing changes.
                    if let (active, message) = current, active != (condition?.active ?? false) {
                        condition = .init(active: active, since: Clock.format(now), message: message, undelivered: subscribers)
                    }
                    guard var condition else { continue }
                    condition.undelivered = condition.undelivered.filter(subscribers.contains)
                    state.conditions[key] = condition.active || !condition.undelivered.isEmpty ? condition : nil
                    for notifier in config.notify where condition.undelivered.contains(notifier.name) {
                        var event = self.event(kind, message: condition.message, bundle: report.newestID, resolved: !condition.active)
                        event.at = Clock.parse(condition.since) ?? now
                        deliveries.append((notifier, event))
                    }
                }
                let outcomes = deliver(deliveries)
                for (index, (notifier, event)) in deliveries.enumerated() where outcomes[index].error == nil {
                    let key = "\(report.environment)/\(event.kind.rawValue)"
                    state.conditions[key]?.undelivered.removeAll { $0 == notifier.name }
                    if state.conditions[key]?.active == false && state.conditions[key]?.undelivered.isEmpty == true {
                        state.conditions[key] = nil
                    }
                }
                return Self.apply(outcomes, to: &state, at: now)
            }
            return warnings ?? ["notifications: another coffer process held \(store.path).lock for 5 s; the stale and storage checks are left to the next run"]
        } catch {
            return ["notifications: the state in \(store.path) could not be kept (\(error)); a change may be announced again"]
        }
    }

    /// The notifiers whose last delivery failed, as `coffer status` problems.
    public func problems() -> [String] {
        guard isEnabled else { return [] }
        let names = Set(config.notify.map(\.name))
        return store.load().failures.filter { names.contains($0.key) }.sorted { $0.key < $1.key }.map { _, failure in
            "\(failure.notifier) failed at \(failure.at) (\(failure.event)): \(failure.error); it is reported here until a delivery to it succeeds (`coffer notify test`)"
        }
    }

    /// Whether any notifier wants `stale` or `storage-critical`, or one of them is still owed a change.
    public var watchesConditions: Bool {
        config.notify.contains { $0.events.contains(.stale) || $0.events.contains(.storageCritical) }
            || store.load().conditions.values.contains { !$0.undelivered.isEmpty }
    }

    // MARK: - Delivery

    struct Outcome {
        let notifier: CofferConfig.Notifier
        let label: String
        let event: NotificationEvent
        let error: String?
    }

    /// Sends each (notifier, event) pair, concurrently; a notifier without a usable URL is an outcome too.
    func deliver(_ pairs: [(CofferConfig.Notifier, NotificationEvent)]) -> [Outcome] {
        var outcomes: [Outcome?] = Array(repeating: nil, count: pairs.count)
        var batch: [(request: NotificationRequest, timeout: Int)] = []
        var positions: [Int] = []
        for (index, (notifier, event)) in pairs.enumerated() {
            let url = environment[notifier.urlEnv]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let label = Self.label(notifier, url: url)
            guard !url.isEmpty else {
                outcomes[index] = Outcome(
                    notifier: notifier, label: label, event: event,
                    error: "environment variable \(notifier.urlEnv) (its url_env) is not set; nothing was sent")
                continue
            }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
                outcomes[index] = Outcome(
                    notifier: notifier, label: label, event: event, error: "environment variable \(notifier.urlEnv) does not hold an http(s) URL; nothing was sent")
                continue
            }
            batch.append((NotificationRequest.make(for: notifier, event: event, url: url), notifier.timeout))
            positions.append(index)
        }
        for (position, error) in zip(positions, NotificationTransport.send(batch)) {
            let (notifier, event) = pairs[position]
            let url = environment[notifier.urlEnv]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            outcomes[position] = Outcome(notifier: notifier, label: Self.label(notifier, url: url), event: event, error: error)
        }
        return outcomes.compactMap { $0 }
    }

    /// Records outcomes in the state (under its lock) and returns the warnings.
    func record(_ outcomes: [Outcome]) -> [String] {
        let now = (try? Clock.now(environment: environment)) ?? Date()
        do {
            if let warnings = try store.update({ state in Self.apply(outcomes, to: &state, at: now) }) { return warnings }
        } catch {
            return Self.warnings(outcomes) + ["notifications: the state in \(store.path) could not be kept (\(error))"]
        }
        return Self.warnings(outcomes)
    }

    /// A failure is remembered until a delivery to the same notifier succeeds.
    static func apply(_ outcomes: [Outcome], to state: inout NotificationState, at now: Date) -> [String] {
        for outcome in outcomes {
            if let error = outcome.error {
                state.failures[outcome.notifier.name] = .init(at: Clock.format(now), event: outcome.event.kind.rawValue, error: error, notifier: outcome.label)
            } else {
                state.failures[outcome.notifier.name] = nil
            }
        }
        return warnings(outcomes)
    }

    static func warnings(_ outcomes: [Outcome]) -> [String] {
        outcomes.compactMap { outcome in
            outcome.error.map { "\(outcome.label) could not be told of \(outcome.event.kind.rawValue): \($0)" }
        }
    }

    /// `notifier ops (slack, hooks.slack.com)`: never more of the URL than its host.
    static func label(_ notifier: CofferConfig.Notifier, url: String) -> String {
        let host = URL(string: url)?.host.map { ", \($0)" } ?? ""
        return "notifier \(notifier.name) (\(notifier.kind.rawValue)\(host))"
    }

    // MARK: - Conditions

    /// Each condition's state in a report: on or off with a message, or nil when the report cannot tell.
    static func conditions(_ report: StatusReport) -> [(NotificationEventKind, (Bool, String)?)] {
        var stale: (Bool, String)?
        if let age = report.newestAge {
            stale =
                age > report.freshnessLimit
                ? (true, "the newest bundle \(report.newestID ?? "") is \(age / 3600) h old, older than the \(report.freshnessLimit / 3600) h expected for \(report.environment); is the scheduled snapshot running?")
                : (false, "the newest bundle \(report.newestID ?? "") is \(age / 3600) h old, within the \(report.freshnessLimit / 3600) h expected")
        }
        var storage: [String] = []
        if !report.reachable { storage.append(report.problems.first { $0.hasPrefix("the repository cannot be read") } ?? "the repository cannot be read") }
        if report.reachable && !report.writable {
            storage.append(report.problems.first { $0.hasPrefix("the repository does not accept writes") } ?? "the repository does not accept writes")
        }
        if let free = report.freeBytes, let needed = report.neededBytes, free < needed {
            storage.append("\(free) bytes free at \(report.repository), the next bundle needs about \(needed)")
        }
        let critical: (Bool, String) =
            storage.isEmpty ? (false, "the repository \(report.repository) can be read and written again and has room for the next bundle") : (true, storage.joined(separator: "; "))
        return [(.stale, stale), (.storageCritical, critical)]
    }
}
