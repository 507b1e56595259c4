import Foundation
import Testing

/// RFC 3339 (UTC) for `date`, as COFFER_NOW and the drill reports write times.
func rfc3339(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

/// Stores a restore drill report in the workspace's local repository, as
/// `coffer drill` would (`drills/ENV/ID.json` and its minisign signature),
/// signed with the workspace's signing key by `coffer file sign`: the gate's
/// tests do not depend on the drill command itself.
func writeDrillReport(_ ws: Workspace, passed: Bool, finishedAt: Date, id: String? = nil, repository: String = "backups") throws {
    let reportID = id ?? "drill-" + rfc3339(finishedAt).filter { $0.isNumber }
    let folder = "\(repository)/drills/development"
    try FileManager.default.createDirectory(atPath: ws.path(folder), withIntermediateDirectories: true)
    let report: [String: Any] = [
        "format": "coffer-drill/1", "id": reportID, "environment": "development", "bundle": "20261201T000000Z-00000000",
        "pick": ["method": "latest", "candidates": 1], "repository": ws.path(repository),
        "started_at": rfc3339(finishedAt.addingTimeInterval(-60)), "finished_at": rfc3339(finishedAt),
        "host": "test", "user": "test", "tool": "coffer test", "phases": [[String: Any]](), "checks": [[String: Any]](),
        "rto_seconds": 60, "rto_target_seconds": 14_400, "rpo_target_seconds": 86_400, "rto_passed": true, "rpo_passed": passed,
        "passed": passed, "failure": passed ? NSNull() : "the smoke command exited 1", "leftovers": [String](),
    ]
    let name = "\(folder)/\(reportID).json"
    try ws.write(name, Array(try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])))
    let signed = try ws.coffer("file", "sign", name, "--force")
    try #require(signed.status == 0, "\(signed.stderr)")
}

/// A SQLite project with an off-site folder (`offsite`) and a drill that passed an hour ago.
func withGateProject(offsite: String? = "offsite", drill: Bool = true, _ body: (Workspace) throws -> Void) throws {
    try Workspace.withSQLiteApp { ws in
        if let offsite { try ws.appendConfig("[offsite]\nrepository = \"\(offsite)\"\n") }
        if drill { try writeDrillReport(ws, passed: true, finishedAt: Date().addingTimeInterval(-3600)) }
        try body(ws)
    }
}

/// What `coffer deploy-gate --json ARGS` printed, with its exit status.
struct GateOutcome {
    let result: CommandResult
    let object: [String: Any]

    var status: Int32 { result.status }
    var passed: Bool? { object["passed"] as? Bool }
    var bundle: String? { object["bundle"] as? String }
    var checks: [[String: Any]] { object["checks"] as? [[String: Any]] ?? [] }
    var names: [String] { checks.compactMap { $0["name"] as? String } }

    /// Whether the line `name` passed (nil when there is no such line).
    func passed(_ name: String) -> Bool? { check(name)?["passed"] as? Bool }
    func detail(_ name: String) -> String { check(name)?["detail"] as? String ?? "" }
    func check(_ name: String) -> [String: Any]? { checks.first { $0["name"] as? String == name } }
}

func deployGate(_ ws: Workspace, _ arguments: String..., environment: [String: String] = [:]) throws -> GateOutcome {
    let result = try ws.run(cofferBinary, ["--config", ws.config, "deploy-gate", "--json"] + arguments, environment: environment)
    let object = try #require(
        try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "not JSON: \(result.stdout) \(result.stderr)")
    return GateOutcome(result: result, object: object)
}

let beforeLines = ["backup created", "backup verified", "stored off-site", "restore procedure tested"]
let afterLines = ["new backup exists", "retention applied", "monitoring healthy"]
