/// Which announced command a run is.
public enum NotifiedCommand: Sendable {
    case snapshot, verify, audit, drill

    /// The run log's name for the same command.
    public var runKind: RunRecord.Kind {
        switch self {
        case .snapshot: return .snapshot
        case .verify: return .verify
        case .audit: return .audit
        case .drill: return .drill
        }
    }

    var failure: NotificationEventKind {
        switch self {
        case .snapshot: return .snapshotFailed
        case .verify: return .verifyFailed
        case .audit: return .auditFailed
        case .drill: return .drillFailed
        }
    }
}

/// One run of a command, announced: a snapshot sends `snapshot-started`
/// before its work begins and `snapshot-succeeded` or `snapshot-failed` at
/// its end, all with the same run id; verify and audit send their failure.
/// After a snapshot, the stale and storage conditions are looked at again.
/// Used on one thread, by the command that owns it.
public final class NotificationRun {
    public let notifications: Notifications
    public let command: NotifiedCommand
    /// The run id (Healthchecks' `rid`).
    public let id = NotificationEvent.newRunID()
    /// Every delivery problem so far, for the command's output.
    public private(set) var warnings: [String] = []
    private var finished = false
    private let report: (String) -> Void

    /// `report` shows each warning as it happens (the CLI's `warn`).
    public init(_ notifications: Notifications, command: NotifiedCommand, report: @escaping (String) -> Void) {
        self.notifications = notifications
        self.command = command
        self.report = report
    }

    /// Runs `body` as this run: announced before, and as failed if it throws
    /// (the error is rethrown; `describe` words it as the user sees it) unless
    /// `succeeded` or `failed` was called already.
    public func run<T>(describe: (any Error) -> String, _ body: (NotificationRun) throws -> T) throws -> T {
        if command == .snapshot { note(notifications.send(notifications.event(.snapshotStarted, message: "snapshot started", runID: id))) }
        do {
            let result = try body(self)
            if !finished && command == .snapshot { succeeded(message: "snapshot finished") }
            return result
        } catch {
            if !finished {
                let message = describe(error)
                LogTail.shared.append("coffer: error: \(message)")
                failed(message: message)
            }
            throw error
        }
    }

    /// The snapshot made `bundle`: `snapshot-succeeded`, then the conditions.
    public func succeeded(message: String, bundle: String? = nil) {
        guard !finished else { return }
        finished = true
        guard command == .snapshot else { return }
        note(notifications.send(notifications.event(.snapshotSucceeded, message: message, bundle: bundle, runID: id)))
        observeConditions()
    }

    /// The run failed (a verification that did not pass, or an error): its failure event, with the end of the log.
    public func failed(message: String, bundle: String? = nil) {
        guard !finished else { return }
        finished = true
        note(notifications.send(notifications.event(command.failure, message: message, bundle: bundle, runID: id, log: LogTail.shared.text())))
        if command == .snapshot { observeConditions() }
    }

    /// After a snapshot the newest bundle and the storage may have changed.
    private func observeConditions() {
        guard notifications.watchesConditions,
            let status = try? StatusOperation(config: notifications.config, environment: notifications.environment).run()
        else { return }
        note(notifications.observe(status: status))
    }

    private func note(_ new: [String]) {
        for warning in new { report(warning) }
        warnings += new
    }
}
