import CofferCore
import CofferFormat
import Foundation

/// The status page (`GET /`): one HTML document, styles inline, the chart as
/// SVG drawn here; no script and nothing fetched from elsewhere, so it renders
/// the same behind any proxy and says what it says without JavaScript.
enum StatusPage {
    static func render(_ views: [MonitorView], now: Date) -> String {
        var body = ""
        for view in views { body += section(view, now: now) }
        if views.isEmpty { body = "<p id=\"waiting\">The first look at the repository has not finished yet; reload in a moment.</p>" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Coffer status</title>
            <style>
            body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; padding: 0 1em; color: #1d2329; background: #fff; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
            .level { display: inline-block; padding: .1em .6em; border-radius: .3em; color: #fff; font-weight: 600; }
            .ok { background: #2e7d32; } .warn { background: #b26a00; } .critical { background: #c62828; }
            table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25em .6em; border-bottom: 1px solid #e3e6e8; vertical-align: top; }
            th { font-weight: 600; color: #44505a; width: 14em; } code { font-size: .92em; }
            ul.problems li { margin: .2em 0; } svg { width: 100%; height: auto; background: #fafbfc; border: 1px solid #e3e6e8; }
            .muted { color: #66727c; }
            </style></head>
            <body>
            <h1>Coffer status</h1>
            <p class="muted">Rendered \(escape(Clock.format(now))); values come from the last look at the repository and this machine's run log.</p>
            \(body)
            </body></html>

            """
    }

    static func section(_ view: MonitorView, now: Date) -> String {
        let level = view.latest.level.name
        let values = view.values
        var rows: [(String, String)] = []
        rows.append(("Repository", "<code>\(escape(view.latest.repository))</code>" + (view.up ? "" : " <strong>unreachable</strong>")))
        rows.append(("Last look", "\(escape(Clock.format(view.latest.checkedAt)))" + (view.up ? "" : ", values from \(view.lastReached.map { escape(Clock.format($0.checkedAt)) } ?? "never")")))
        if let newest = values?.history.last {
            let age = Int64(now.timeIntervalSince(newest.createdAt))
            let limit = view.latest.freshnessLimit
            let stale = age > limit
            rows.append((
                "Newest bundle",
                "<code id=\"newest\">\(escape(newest.id))</code>, \(duration(age)) old "
                    + "<span class=\"level \(stale ? "warn" : "ok")\" id=\"freshness\">\(stale ? "stale" : "fresh")</span> (limit \(duration(limit)))"
            ))
        } else {
            rows.append(("Newest bundle", "<span id=\"newest\">none</span>"))
        }
        rows.append(("Bundles", "<span id=\"bundles\">\(values?.bundles ?? 0)</span>"))
        let stored = values?.history.reduce(Int64(0)) { $0 + $1.storedBytes } ?? 0
        let free = values?.freeBytes.map { ", \(ByteCount.format($0)) free" } ?? ""
        rows.append(("Storage", "<span id=\"storage\">\(ByteCount.format(stored)) in trusted bundles\(free)</span>" + (view.up && view.latest.writable ? "" : " <strong>not writable</strong>")))
        rows.append(("Last snapshot", runText(view.latestRun(.snapshot), now: now)))
        rows.append(("Last verify", runText(view.latestRun(.verify), now: now)))
        rows.append(("Last audit", runText(view.latestRun(.audit), now: now)))
        rows.append(("Last restore drill", drillText(values, now: now)))
        let table = rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined(separator: "\n")
        let problems = view.latest.problems.isEmpty
            ? "<p>No problems.</p>" : "<ul class=\"problems\">" + view.latest.problems.map { "<li>\(escape($0))</li>" }.joined() + "</ul>"
        return """
            <section class="environment" id="env-\(escape(view.environment))">
            <h2>\(escape(view.environment)) <span class="level \(level)" id="level">\(level)</span></h2>
            <table>\(table)</table>
            <h3>Problems</h3>
            \(problems)
            <h3>Bundles of the last 30 days</h3>
            \(chart(view, now: now))
            <h3>Recent journal events</h3>
            \(events(view))
            </section>

            """
    }

    /// The newest signed drill report in the repository (any machine's), with its RTO.
    static func drillText(_ values: StatusReport?, now: Date) -> String {
        guard let drill = values?.lastDrill else { return "<span class=\"muted\" id=\"drill\">none yet</span>" }
        let ago = Clock.parse(drill.finishedAt).map { duration(Int64(now.timeIntervalSince($0))) + " ago" } ?? drill.finishedAt
        let verdict = drill.passed ? "<span class=\"level ok\">passed</span>" : "<span class=\"level critical\">failed</span>"
        let detail = drill.passed
            ? ", bundle <code>\(escape(drill.bundle ?? "-"))</code>, RTO \(escape(DrillReport.text(seconds: drill.rtoSeconds)))"
            : ": \(escape(drill.failure ?? "see coffer drill --history"))"
        return "<span id=\"drill\">\(verdict) \(ago)\(detail)</span>"
    }

    static func runText(_ run: RunRecord?, now: Date) -> String {
        guard let run else { return "<span class=\"muted\">never on this machine</span>" }
        let ago = duration(Int64(now.timeIntervalSince1970 - run.finished))
        let took = String(format: "%.1f s", run.seconds)
        switch run.outcome {
        case .succeeded: return "<span class=\"level ok\">passed</span> \(ago) ago, took \(took)"
        case .failed: return "<span class=\"level critical\">failed</span> \(ago) ago: \(escape(run.message ?? "no message"))"
        }
    }

    /// Bars for stored size, dots for the snapshot's duration (from this machine's run log), one per bundle.
    static func chart(_ view: MonitorView, now: Date) -> String {
        let since = now.addingTimeInterval(-30 * 86_400)
        let bundles = (view.values?.history ?? []).filter { $0.createdAt >= since }
        guard !bundles.isEmpty else { return "<p id=\"chart-empty\">No bundle in the last 30 days.</p>" }
        var durations: [String: Double] = [:]
        for run in view.runs where run.kind == .snapshot && run.outcome == .succeeded { if let id = run.bundle { durations[id] = run.seconds } }
        let (width, height, left, bottom, top) = (720.0, 240.0, 64.0, 28.0, 16.0)
        let plotWidth = width - left - 64
        let plotHeight = height - bottom - top
        let maxBytes = Double(max(1, bundles.map(\.storedBytes).max() ?? 1))
        let maxSeconds = max(0.001, durations.values.max() ?? 0.001)
        let step = plotWidth / Double(bundles.count)
        var shapes = ""
        for (index, bundle) in bundles.enumerated() {
            let barHeight = Double(bundle.storedBytes) / maxBytes * plotHeight
            let x = left + Double(index) * step
            let title = "\(bundle.id): \(ByteCount.format(bundle.storedBytes))" + (durations[bundle.id].map { String(format: ", %.1f s", $0) } ?? "")
            let barX = x + step * 0.15
            let barY = top + plotHeight - barHeight
            shapes += "<rect class=\"size\" x=\"\(number(barX))\" y=\"\(number(barY))\" width=\"\(number(max(1, step * 0.7)))\" height=\"\(number(max(1, barHeight)))\" fill=\"#5c8fc7\"><title>\(escape(title))</title></rect>\n"
            if let seconds = durations[bundle.id] {
                let dotY = top + plotHeight - seconds / maxSeconds * plotHeight
                shapes += "<circle class=\"duration\" cx=\"\(number(x + step / 2))\" cy=\"\(number(dotY))\" r=\"3.5\" fill=\"#c0531b\"/>\n"
            }
        }
        let first = Clock.format(bundles.first!.createdAt).prefix(10)
        let last = Clock.format(bundles.last!.createdAt).prefix(10)
        return """
            <svg id="chart" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-label="Stored size and snapshot duration of \(bundles.count) bundles" xmlns="http://www.w3.org/2000/svg">
            <line x1="\(left)" y1="\(top + plotHeight)" x2="\(left + plotWidth)" y2="\(top + plotHeight)" stroke="#8a949c"/>
            <text x="\(left - 6)" y="\(top + 10)" text-anchor="end" font-size="11" fill="#5c8fc7">\(escape(ByteCount.format(Int64(maxBytes))))</text>
            <text x="\(left + plotWidth + 6)" y="\(top + 10)" font-size="11" fill="#c0531b">\(String(format: "%.1f s", maxSeconds))</text>
            <text x="\(left)" y="\(height - 8)" font-size="11" fill="#44505a">\(first)</text>
            <text x="\(left + plotWidth)" y="\(height - 8)" text-anchor="end" font-size="11" fill="#44505a">\(last)</text>
            \(shapes)</svg>
            <p class="muted">Bars: stored size of each bundle. Dots: how long its snapshot took (runs on this machine).</p>
            """
    }

    static func events(_ view: MonitorView) -> String {
        guard !view.events.isEmpty else { return "<p id=\"events-empty\">No journal events.</p>" }
        let rows = view.events.reversed().map { event in
            let details = event.details.sorted { $0.key < $1.key }.map { "\($0.key): \(summary($0.value))" }.joined(separator: "; ")
            return "<tr class=\"event\"><td>\(event.sequence)</td><td>\(escape(event.at))</td><td>\(escape(event.kind))</td><td>\(escape(event.user))@\(escape(event.host))</td><td>\(escape(details))</td></tr>"
        }
        return "<table id=\"events\"><tr><th>#</th><th>at</th><th>what</th><th>who</th><th>details</th></tr>\(rows.joined(separator: "\n"))</table>"
    }

    static func summary(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return String(text.prefix(80))
        case .array(let items): return items.count <= 3 ? items.map(summary).joined(separator: ", ") : "\(items.count) items"
        default: return "\(value)".prefix(80).description
        }
    }

    static func duration(_ seconds: Int64) -> String {
        let seconds = max(0, seconds)
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        if seconds < 172_800 { return "\(seconds / 3600) h" }
        return "\(seconds / 86_400) days"
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
