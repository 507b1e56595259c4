import CofferCore
import Foundation

/// Runs a command's body as an announced run of `command`: `[[notify]]`
/// entries hear of its start and end (see `NotificationRun`); a notifier that
/// fails is a warning on standard error, never the command's failure.
func announced<T>(_ config: CofferConfig, _ command: NotifiedCommand, _ body: (NotificationRun) throws -> T) throws -> T {
    try NotificationRun(Notifications(config: config, environment: ProcessInfo.processInfo.environment), command: command, report: warn)
        .run(describe: { classify($0).1 }, body)
}

/// A command's run both recorded in the run log (`recordingRun`) and announced (`announced`): one wrapper per command.
func announcedRun<T>(
    _ command: NotifiedCommand, config: CofferConfig, _ body: (inout RunRecord, NotificationRun) throws -> T
) async throws -> T {
    try await recordingRun(command.runKind, config: config) { record in
        try announced(config, command) { run in try body(&record, run) }
    }
}

/// Sends one event (a restore or rollback done); returns the warnings, already shown on standard error.
@discardableResult
func announce(_ config: CofferConfig, _ kind: NotificationEventKind, message: String, bundle: String? = nil, restoreID: String? = nil) -> [String] {
    let notifications = Notifications(config: config, environment: ProcessInfo.processInfo.environment)
    guard notifications.isEnabled else { return [] }
    let warnings = notifications.send(notifications.event(kind, message: message, bundle: bundle, restoreID: restoreID))
    for warning in warnings { warn(warning) }
    return warnings
}
