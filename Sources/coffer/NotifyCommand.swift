import ArgumentParser
import CofferCore
import Foundation

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Try the [[notify]] notifiers.",
        subcommands: [NotifyTest.self]
    )
}

struct NotifyTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Send a test notification to every [[notify]] entry (or the named ones).",
        discussion: """
            Each notifier gets one message of the event `test` (Healthchecks: a ping to URL/log, which changes nothing on the check). A delivery that succeeds clears the notifier's failure from `coffer status`. Exit status 0 when every notifier was reached, 1 when one was not (its URL variable unset, its server down, slow or refusing); the messages name the notifier and its host, never the URL.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("name"), help: ArgumentHelp("Only this notifier (repeatable).", valueName: "name"))
    var names: [String] = []

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            guard !config.notify.isEmpty else { throw CofferError(.config, "\(config.path) has no [[notify]] entry") }
            let known = Set(config.notify.map(\.name))
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw CofferError(.config, "no [[notify]] entry is named \(unknown) (known: \(known.sorted().joined(separator: ", ")))")
            }
            let notifications = Notifications(config: config, environment: ProcessInfo.processInfo.environment)
            let event = notifications.event(.test, message: "a test notification from `coffer notify test`; notifications from \(config.path) reach this notifier")
            let warnings = notifications.send(event, only: names.isEmpty ? nil : Set(names))
            let tried = config.notify.filter { names.isEmpty || names.contains($0.name) }
            if global.json {
                try printJSON(["sent": tried.map(\.name), "failed": warnings.count, "warnings": warnings])
            } else {
                for warning in warnings { warn(warning) }
                say("\(tried.count - warnings.count) of \(tried.count) notifier(s) reached")
            }
            if !warnings.isEmpty { throw ExitCode.failure }
        }
    }
}
