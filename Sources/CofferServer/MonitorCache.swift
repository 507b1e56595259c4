import CofferCore
import CofferSystem
import Foundation

/// What `serve` knows of the repository between two looks at it. A scrape reads
/// only this and the run log (a local file, read again only when it changed),
/// so a repository of 1,000 bundles on S3 costs no request per scrape.
actor MonitorCache {
    let config: CofferConfig
    let environment: [String: String]
    private var view: MonitorView?
    private var runsStamp: (size: Int64, modified: Int64)?
    private var metricsText: String?
    private var refreshing: Task<Void, Never>?

    init(config: CofferConfig, environment: [String: String]) {
        self.config = config
        self.environment = environment
    }

    /// Looks at the repository now (one look at a time; a second caller waits for the running one).
    func refresh() async {
        if let refreshing { return await refreshing.value }
        let task = Task { await self.lookNow() }
        refreshing = task
        await task.value
        refreshing = nil
    }

    private func lookNow() async {
        let (config, environment, previous) = (self.config, self.environment, view)
        let look = await runBlocking {
            let look = MonitorRefresh.look(config: config, environment: environment, previous: previous)
            // [[notify]]: stale and storage-critical announced when they change (delivery problems are kept for `status`).
            _ = Notifications(config: config, environment: environment).observe(status: look.latest)
            return look
        }
        view = look
        runsStamp = stamp()
        metricsText = nil
    }

    /// The view with the run log as it is now; nil before the first look ended.
    func current() -> MonitorView? {
        guard var view else { return nil }
        let now = stamp()
        if now == nil || now?.size != runsStamp?.size || now?.modified != runsStamp?.modified {
            view = MonitorRefresh.withCurrentRuns(view, config: config)
            self.view = view
            runsStamp = now
            metricsText = nil
        }
        return view
    }

    /// The Prometheus text, rendered again only when the view changed.
    func metrics() -> String? {
        guard let view = current() else { return nil }
        if let metricsText { return metricsText }
        let text = PrometheusMetrics.render([view])
        metricsText = text
        return text
    }

    private func stamp() -> (size: Int64, modified: Int64)? {
        let log = RunLog(config: config)
        return (try? FileSystem.status(of: log.path)).flatMap { $0 }.map { ($0.size, $0.modifiedNanoseconds) }
    }
}
