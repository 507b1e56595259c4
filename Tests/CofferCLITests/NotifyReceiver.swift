import Foundation
import Testing

/// `Tests/Support/notify_receiver.py` on loopback: a real HTTP server that
/// records every request (method, path, query, headers, body) and answers as
/// told (200, a status such as 500, or never).
final class NotifyReceiver {
    let folder = NSTemporaryDirectory() + "coffer-notify-" + UUID().uuidString
    private let process = Process()
    private(set) var port = ""
    var control: String { folder + "/control.json" }
    var log: String { folder + "/log" }

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [supportFolder + "/notify_receiver.py", "--port-file", folder + "/port", "--log", log, "--control", control]
        try process.run()
        for _ in 0..<200 where port.isEmpty {
            port = ((try? String(contentsOfFile: folder + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if port.isEmpty { usleep(50_000) }
        }
        try #require(!port.isEmpty, "the notify receiver did not start")
    }

    /// A URL on the receiver with this path (and query).
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// "status": answer with it; "hang": never answer; "" (or nil): 200.
    func answer(_ rules: String) throws { try rules.write(toFile: control, atomically: true, encoding: .utf8) }

    /// Every request so far, oldest first.
    var requests: [Request] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).map(Request.init)
        }
    }

    /// The requests whose path starts with `prefix`.
    func requests(to prefix: String) -> [Request] { requests.filter { $0.path.hasPrefix(prefix) } }

    /// Forgets the requests so far.
    func reset() throws { try "".write(toFile: log, atomically: true, encoding: .utf8) }

    struct Request {
        let raw: [String: Any]
        var method: String { raw["method"] as? String ?? "" }
        var path: String { raw["path"] as? String ?? "" }
        var query: String { raw["query"] as? String ?? "" }
        var headers: [String: String] { raw["headers"] as? [String: String] ?? [:] }
        var body: String { raw["body"] as? String ?? "" }
        /// The body as a JSON object.
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        /// The `rid` query parameter.
        var rid: String? {
            query.split(separator: "&").first { $0.hasPrefix("rid=") }.map { String($0.dropFirst(4)) }
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// `COFFER_NOW` at `days` after `start`.
func clock(_ start: Date, days: Double) -> [String: String] {
    ["COFFER_NOW": ISO8601DateFormatter().string(from: start.addingTimeInterval(days * 86_400))]
}
