import Foundation
import Testing

/// The status page as Debian's headless Chromium renders it: the DOM it built, and a screenshot that shows the page.
@Suite(.serialized)
struct StatusPageBrowserTests {
    func chromium(_ ws: Workspace, _ arguments: [String]) throws -> CommandResult {
        let profile = ws.path(".chromium-" + UUID().uuidString)
        defer { try? FileManager.default.removeItem(atPath: profile) }
        return try ws.run(
            "timeout",
            ["120", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=\(profile)"]
                + arguments)
    }

    @Test func chromiumRendersTheEnvironmentTheChartAndTheJournal() throws {
        try withProductionApp { ws in
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.coffer("verify", "latest").status == 0)
            #expect(try ws.coffer("drill").status == 0)
            let newest = try ws.coffer("list").stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
                .filter { $0.hasPrefix("20") }.sorted().last
            let serve = try ServeProcess(ws)

            let dom = try chromium(ws, ["--dump-dom", serve.url + "/"])
            #expect(dom.status == 0, "\(dom.stderr)")
            let html = dom.stdout
            #expect(html.contains("<section class=\"environment\" id=\"env-production\">"))
            #expect(html.contains("id=\"level\">ok</span>"))
            #expect(html.contains("<code id=\"newest\">\(try #require(newest))</code>"))
            #expect(html.contains("<span id=\"bundles\">3</span>"))
            #expect(html.components(separatedBy: "<rect class=\"size\"").count - 1 == 3, "one bar per bundle")
            #expect(html.components(separatedBy: "<circle class=\"duration\"").count - 1 == 3, "one duration dot per snapshot run")
            #expect(html.components(separatedBy: "<tr class=\"event\">").count - 1 == 4, "three snapshots and a drill in the journal")
            #expect(html.contains("<span id=\"drill\"><span class=\"level ok\">passed</span>"), "the last restore drill is shown")
            #expect(html.contains("Last verify") && html.contains("passed"))
            // Nothing to run and nothing fetched from elsewhere.
            #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"))

            let shot = ws.path("page.png")
            let screenshot = try chromium(ws, ["--window-size=1200,1400", "--screenshot=\(shot)", serve.url + "/"])
            #expect(screenshot.status == 0, "\(screenshot.stderr)")
            // Debian's python3 with python3-pil reads the PNG: many colours, among them the ok badge and the chart's bars.
            let pixels = try ws.run(
                "/usr/bin/python3",
                [
                    "-c",
                    """
                    import sys
                    from PIL import Image
                    image = Image.open(sys.argv[1]).convert("RGB")
                    colours = image.getcolors(1 << 24)
                    counts = {c: n for n, c in colours}
                    print(image.size[0], image.size[1], len(colours), counts.get((0x2e, 0x7d, 0x32), 0), counts.get((0x5c, 0x8f, 0xc7), 0))
                    """,
                    shot,
                ])
            #expect(pixels.status == 0, "\(pixels.stderr)")
            let numbers = pixels.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try #require(numbers.count == 5, "\(pixels.stdout)")
            #expect(numbers[0] == 1200 && numbers[1] == 1400)
            #expect(numbers[2] > 50, "a blank page has a handful of colours, this one \(numbers[2])")
            #expect(numbers[3] > 200, "the green ok badge is drawn")
            #expect(numbers[4] > 2000, "the chart's bars are drawn")
            #expect(serve.terminate() == 0)
        }
    }
}
