import CofferFormat
import Foundation

/// One line of the seed's deployment checklist, as `coffer deploy-gate` judged it.
public struct GateLine: Sendable, Equatable {
    /// The checklist's own words ("backup created", "monitoring healthy", ...).
    public var name: String
    /// Whether the line holds. A skipped line counts as passed: skipping is the
    /// operator's explicit choice on the command line (`--no-offsite`), and the
    /// output says so.
    public var passed: Bool
    /// The line was not checked because the operator asked so.
    public var skipped = false
    /// What was found, in one line: the evidence for a pass, the reason for a failure.
    public var detail: String
    /// The failure is data that does not verify (a bundle or its off-site copy):
    /// the gate then exits 5 rather than 1, as `coffer verify` does.
    public var integrity = false

    public init(name: String, passed: Bool, skipped: Bool = false, detail: String, integrity: Bool = false) {
        self.name = name
        self.passed = passed
        self.skipped = skipped
        self.detail = detail
        self.integrity = integrity
    }

    static func pass(_ name: String, _ detail: String) -> GateLine { GateLine(name: name, passed: true, detail: detail) }

    static func fail(_ name: String, _ detail: String, integrity: Bool = false) -> GateLine {
        GateLine(name: name, passed: false, detail: detail, integrity: integrity)
    }

    /// A line failed by `error`: its message after `context`, integrity when the error says data does not verify.
    static func fail(_ name: String, _ context: String = "", error: any Error) -> GateLine {
        let (category, message) = CofferError.classify(error)
        return fail(name, context + message, integrity: category == .integrity)
    }
}

/// What one run of the deploy gate found: every line of its half of the
/// checklist (before or after deployment), each checked even when an earlier
/// one failed, so a pipeline log shows everything that is wrong at once.
public struct DeployGateReport: Sendable {
    /// The checklist's names, in order: what a pipeline can expect to find.
    public static let beforeLines = ["backup created", "backup verified", "stored off-site", "restore procedure tested"]
    public static let afterLines = ["new backup exists", "retention applied", "monitoring healthy"]

    /// Whether these are the "after deployment" lines.
    public var after: Bool
    /// The bundle the gate took (before) or found newest (after); nil when there is none.
    public var bundle: String?
    public var lines: [GateLine] = []
    /// Things the operator should know that fail no line (an unsigned journal event, say).
    public var warnings: [String] = []

    public init(after: Bool) {
        self.after = after
    }

    public var passed: Bool { lines.allSatisfy(\.passed) }
    public var failed: [GateLine] { lines.filter { !$0.passed } }

    /// The exit status: 0 when every line passed, 5 when a failed line is data
    /// that does not verify, else 1.
    public var exitCategory: CofferError.Category? {
        if passed { return nil }
        return failed.contains(where: \.integrity) ? .integrity : .failure
    }

    /// The `--json` object: `passed`, `after`, `bundle` and `checks`.
    public var jsonObject: [String: Any] {
        [
            "passed": passed, "after": after, "bundle": bundle as Any, "warnings": warnings,
            "checks": lines.map { ["name": $0.name, "passed": $0.passed, "skipped": $0.skipped, "detail": $0.detail] },
        ]
    }

    /// The journal event's details: the outcome of every line, never a secret.
    var journalDetails: [String: JSONValue] {
        var details: [String: JSONValue] = [
            "mode": .string(after ? "after" : "before"), "passed": .bool(passed),
            "checks": .array(lines.map { .object(["name": .string($0.name), "passed": .bool($0.passed), "skipped": .bool($0.skipped)]) }),
        ]
        if let bundle { details["bundle"] = .string(bundle) }
        let failures = failed.map { "\($0.name): \($0.detail)" }
        if !failures.isEmpty { details["failures"] = .array(failures.map { .string(String($0.prefix(500))) }) }
        return details
    }
}
