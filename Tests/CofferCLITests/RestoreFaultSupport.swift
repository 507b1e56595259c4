import Foundation
import Testing

/// `Tests/Support/tcp_fault_proxy.py` in front of a real server: answers lost
/// after the change happened, connections cut before a command arrives, a
/// server gone — the faults a real server does not make on cue.
final class TCPFaultProxy {
    let folder = NSTemporaryDirectory() + "coffer-tcp-proxy-" + UUID().uuidString
    private let process = Process()
    private(set) var port = ""
    var control: String { folder + "/control.json" }
    var log: String { folder + "/log" }

    init(upstream: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [supportFolder + "/tcp_fault_proxy.py", "--upstream", upstream, "--control", control, "--port-file", folder + "/port", "--log", log]
        try process.run()
        for _ in 0..<200 where port.isEmpty {
            port = ((try? String(contentsOfFile: folder + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if port.isEmpty { usleep(50_000) }
        }
        try #require(!port.isEmpty, "the TCP fault proxy did not start")
    }

    /// Replaces the rules (JSON, see the script's docstring).
    func set(_ rules: String) throws { try rules.write(toFile: control, atomically: true, encoding: .utf8) }

    /// What the proxy did, one event a line.
    var events: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// The journal of restore `id`, or of the newest restore (ids sort by the second they were made in).
func restoreJournal(_ ws: Workspace, id: String? = nil) throws -> [String: Any] {
    let folder = ws.path(".coffer/restores")
    let name = try id.map { $0 + ".json" } ?? #require(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }.sorted().last)
    return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) as? [String: Any])
}

/// Each target's step in a journal, by name.
func steps(_ journal: [String: Any]) -> [String: String] {
    var steps: [String: String] = [:]
    for target in journal["targets"] as? [[String: Any]] ?? [] { steps[target["name"] as? String ?? "?"] = target["step"] as? String }
    return steps
}

/// The `--json` answer of a command, as an object.
func jsonObject(_ result: CommandResult) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "not JSON: \(result.stdout)\(result.stderr)")
}

/// `targets[].holds` of a `--json` answer, by name.
func holdings(_ object: [String: Any]) -> [String: String] {
    var holds: [String: String] = [:]
    for target in object["targets"] as? [[String: Any]] ?? [] { holds[target["name"] as? String ?? "?"] = target["holds"] as? String }
    return holds
}

/// A config with the four kinds of target: SQLite `app` (app.db), PostgreSQL `main`
/// (`DATABASE_URL`), Redis `cache` (`REDIS_URL`) and the env variable API_KEY from `envFile`.
func fourTargetConfig(environment: String, envFile: String, extra: String = "") -> String {
    """
    environment = "\(environment)"
    repository = "backups"
    keys = "keys"

    [[sqlite]]
    name = "app"
    path = "app.db"

    [[postgres]]
    name = "main"
    url_env = "DATABASE_URL"

    [[redis]]
    name = "cache"
    url_env = "REDIS_URL"

    [env]
    include = ["API_KEY"]
    file = "\(envFile)"

    \(extra)
    """
}
