import Foundation
import Testing

/// `coffer serve` running in a workspace on a port the kernel picked, asked with curl.
final class ServeProcess {
    let process = Process()
    let workspace: Workspace
    let errorPath: String
    private(set) var port = 0

    init(_ workspace: Workspace, _ arguments: [String] = [], environment: [String: String] = [:]) throws {
        self.workspace = workspace
        errorPath = workspace.root + "/.serve-" + UUID().uuidString + ".err"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: cofferBinary)
        process.arguments = ["--config", workspace.config, "serve", "--listen", "127.0.0.1:0"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workspace.root)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        try process.run()
        for _ in 0..<400 where port == 0 && process.isRunning {
            if let line = stderr.split(separator: "\n").first(where: { $0.contains("listening on http://127.0.0.1:") }),
                let value = Int(line.split(separator: ":").last ?? "")
            {
                port = value
            } else {
                usleep(50_000)
            }
        }
        try #require(port != 0, "serve did not start: \(stderr)")
    }

    var stderr: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
    var url: String { "http://127.0.0.1:\(port)" }

    struct Answer {
        let status: Int
        let body: String
        let headers: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    /// One request; `token` goes in `Authorization: Bearer`.
    func request(_ path: String, method: String = "GET", token: String? = nil) throws -> Answer {
        let scratch = workspace.root + "/.curl-" + UUID().uuidString
        defer { for suffix in [".body", ".head"] { try? FileManager.default.removeItem(atPath: scratch + suffix) } }
        var arguments = ["-s", "-m", "20", "-X", method, "-o", scratch + ".body", "-D", scratch + ".head", "-w", "%{http_code}"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let result = try workspace.run("curl", arguments + [url + path])
        return Answer(
            status: Int(result.stdout) ?? 0, body: (try? String(contentsOfFile: scratch + ".body", encoding: .utf8)) ?? "",
            headers: (try? String(contentsOfFile: scratch + ".head", encoding: .utf8)) ?? "")
    }

    /// The job's answer once it is no longer running.
    func waitForJob(_ id: String, token: String? = nil, seconds: Double = 60) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let job = try request("/jobs/\(id)", token: token).json
            if job["state"] as? String != "running" { return job }
            usleep(200_000)
        }
        Issue.record("job \(id) still running after \(seconds) s")
        return [:]
    }

    /// Polls `/metrics` until `condition` holds for the text.
    func waitForMetrics(token: String? = nil, seconds: Double = 30, _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var text = ""
        while Date() < deadline {
            text = try request("/metrics", token: token).body
            if condition(text) { return text }
            usleep(200_000)
        }
        Issue.record("metrics never met the condition; last:\n\(text)")
        return text
    }

    /// Sends SIGTERM and waits for the exit status (nil when it did not exit in time).
    func terminate(seconds: Double = 30) -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: errorPath)
    }
}

/// The value of a sample in Prometheus text, by its name and label text (`{environment="production"}`).
func metricValue(_ text: String, _ series: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
}

/// `promtool check metrics` on the text: its exit status and what it said.
func promtoolCheck(_ workspace: Workspace, _ text: String) throws -> CommandResult {
    try workspace.run("promtool", ["check", "metrics"], stdin: text)
}

/// A production workspace with one SQLite database and one bundle.
func withProductionApp(_ body: (Workspace) throws -> Void) throws {
    try Workspace.withSQLiteApp { ws in
        let text = try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "environment = \"development\"", with: "environment = \"production\"")
        try text.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try #require(try ws.coffer("keys", "init", "--env", "production").status == 0)
        try #require(try ws.coffer("snapshot").status == 0)
        try body(ws)
    }
}
