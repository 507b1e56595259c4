import CofferFormat
import CofferStorage
import Foundation

/// What monitoring knows of one environment: the last look at its repository
/// (kept when a later look fails, with the time it was taken) and this
/// machine's run log. Metrics, the status page and `status --prometheus` all
/// render one of these, so a scrape never touches the repository.
public struct MonitorView: Sendable {
    public var environment: String
    /// The newest look, reachable or not.
    public var latest: StatusReport
    /// The newest look that reached the repository; its values stand while it is unreachable.
    public var lastReached: StatusReport?
    /// Recent repository journal events, newest last (read when the repository was reached).
    public var events: [JournalEvent]
    public var runs: [RunRecord]

    public init(environment: String, latest: StatusReport, lastReached: StatusReport?, events: [JournalEvent], runs: [RunRecord]) {
        self.environment = environment
        self.latest = latest
        self.lastReached = lastReached
        self.events = events
        self.runs = runs
    }

    /// One look at the repository with the run log as it is now; `previous`
    /// supplies the values kept when this look did not reach the repository.
    public init(config: CofferConfig, look report: StatusReport, previous: MonitorView? = nil, events: [JournalEvent] = []) {
        self.init(
            environment: report.environment, latest: report, lastReached: report.reachable ? report : previous?.values, events: events,
            runs: RunLog(config: config).records())
    }

    /// Whether the newest look reached the repository.
    public var up: Bool { latest.reachable }

    /// The values to show: the newest look if it reached the repository, else the last one that did.
    public var values: StatusReport? { latest.reachable ? latest : lastReached }

    public func latestRun(_ kind: RunRecord.Kind) -> RunRecord? { runs.last { $0.kind == kind } }

    /// When each source was last sealed into a trusted bundle: from the repository,
    /// or from a snapshot this machine finished since the repository was read.
    public var lastSuccessBySource: [String: Date] {
        var result: [String: Date] = [:]
        for bundle in values?.history ?? [] {
            for source in bundle.sources { result[source] = max(result[source] ?? bundle.createdAt, bundle.createdAt) }
        }
        for run in runs where run.kind == .snapshot && run.outcome == .succeeded {
            let finished = Date(timeIntervalSince1970: run.finished)
            for source in run.sources ?? [] { result[source] = max(result[source] ?? finished, finished) }
        }
        return result
    }
}

/// Takes the looks a `MonitorView` is made of.
public enum MonitorRefresh {
    /// Reads the repository once (`StatusOperation`, plus the newest `eventCount`
    /// journal events) and pairs it with the run log. `previous` supplies the
    /// values kept when the repository cannot be reached now.
    public static func look(
        config: CofferConfig, environment: [String: String], previous: MonitorView?, eventCount: Int = 20
    ) -> MonitorView {
        let name = config.environment.rawValue
        let report: StatusReport
        do {
            report = try StatusOperation(config: config, environment: environment).run()
        } catch {
            report = StatusReport.unreachable(config: config, problem: "\(error)", at: (try? Clock.now(environment: environment)) ?? Date())
        }
        var events = previous?.events ?? []
        if report.reachable, let repository = try? Repository.open(config),
            let trusted = try? KeyStore(directory: config.keysDirectory).trustedSigners()
        {
            events = (try? recentEvents(Journal(repository: repository, environment: name), trusted: trusted, count: eventCount)) ?? events
        }
        return MonitorView(config: config, look: report, previous: previous, events: events)
    }

    /// The same view with the run log read again: what a scrape costs (one local file).
    public static func withCurrentRuns(_ view: MonitorView, config: CofferConfig) -> MonitorView {
        var copy = view
        copy.runs = RunLog(config: config).records()
        return copy
    }

    /// The newest events whose signatures verify; one that does not is left out (`audit` names it).
    static func recentEvents(_ journal: Journal, trusted: TrustedSigners, count: Int) throws -> [JournalEvent] {
        try journal.sequences().suffix(count).compactMap { try? journal.verifiedEvent($0, trusted: trusted) }
    }
}

extension StatusReport {
    /// A look that failed before the repository answered (the config or keys could not be read).
    public static func unreachable(config: CofferConfig, problem: String, at time: Date) -> StatusReport {
        var report = StatusReport(
            level: .critical, environment: config.environment.rawValue, repository: config.repository, reachable: false, writable: false,
            freeBytes: nil, bundles: 0, newestID: nil, newestCreatedAt: nil, newestAge: nil,
            freshnessLimit: StatusOperation.freshnessLimit(config), problems: [problem])
        report.checkedAt = time
        return report
    }
}
