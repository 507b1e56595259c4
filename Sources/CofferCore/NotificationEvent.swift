import CofferSystem
import Foundation

/// One thing worth telling someone about. Carries no secret: messages are the
/// same text the CLI shows, and the notifier URLs never enter it.
public struct NotificationEvent: Sendable {
    /// How bad it is; chooses ntfy's priority and tag and Slack's wording.
    public enum Level: String, Sendable {
        case info, warn, critical
    }

    public var kind: NotificationEventKind
    /// For a condition (`stale`, `storage-critical`): true when it cleared.
    public var resolved: Bool
    public var environment: String
    public var host: String
    public var at: Date
    /// One or more lines saying what happened and what to do.
    public var message: String
    public var bundle: String?
    public var restoreID: String?
    /// One id per run, the same on its start and its end (Healthchecks' `rid`), a lowercase UUID.
    public var runID: String
    /// The last lines the run reported (sent with failures).
    public var log: String?

    public init(
        kind: NotificationEventKind, resolved: Bool = false, environment: String, at: Date, message: String,
        bundle: String? = nil, restoreID: String? = nil, runID: String = NotificationEvent.newRunID(), log: String? = nil,
        host: String = ProcessIdentity.hostName
    ) {
        self.kind = kind
        self.resolved = resolved
        self.environment = environment
        self.host = host
        self.at = at
        self.message = message
        self.bundle = bundle
        self.restoreID = restoreID
        self.runID = runID
        self.log = log
    }

    /// A random UUID in the canonical lowercase form Healthchecks expects.
    public static func newRunID() -> String {
        UUID().uuidString.lowercased()
    }

    public var level: Level {
        if resolved { return .info }
        switch kind {
        case .snapshotFailed, .verifyFailed, .auditFailed, .drillFailed, .storageCritical: return .critical
        case .stale: return .warn
        case .snapshotStarted, .snapshotSucceeded, .restoreDone, .rollbackDone, .test: return .info
        }
    }

    /// One line: what happened, where.
    public var title: String {
        let what: String
        switch kind {
        case .snapshotStarted: what = "snapshot started"
        case .snapshotSucceeded: what = "snapshot succeeded"
        case .snapshotFailed: what = "snapshot FAILED"
        case .verifyFailed: what = "verify FAILED"
        case .auditFailed: what = "audit FAILED"
        case .drillFailed: what = "restore drill FAILED"
        case .stale: what = resolved ? "backups fresh again" : "backups are stale"
        case .storageCritical: what = resolved ? "storage recovered" : "storage critical"
        case .restoreDone: what = "restore done"
        case .rollbackDone: what = "rollback done"
        case .test: what = "test notification"
        }
        return "coffer \(environment) on \(host): \(what)"
    }
}
