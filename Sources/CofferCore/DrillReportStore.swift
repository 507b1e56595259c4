import CofferCrypto
import CofferFormat
import CofferStorage
import Foundation

/// Drill reports in the repository: `drills/ENV/ID.json` (the report),
/// `ID.json.minisig` (its signature, `minisign -Vm ID.json -p signing.pub`)
/// and `ID.md` (the same for people). The JSON is written last, so a report
/// whose JSON is there is complete.
public struct DrillReportStore {
    public let repository: Repository
    public let environment: String

    public init(repository: Repository, environment: String) {
        self.repository = repository
        self.environment = environment
    }

    public var prefix: String { "drills/\(environment)" }

    public func key(_ id: String, _ suffix: String) -> String { "\(prefix)/\(id)\(suffix)" }

    /// One stored report, checked.
    public struct Entry: Sendable {
        public var id: String
        /// nil when it cannot be read at all.
        public var report: DrillReport?
        /// Why it is not trustworthy (unsigned, edited, foreign); nil when its signature verified.
        public var problem: String?
        public var trusted: Bool { report != nil && problem == nil }
    }

    /// Signs and stores a report; returns the key of its JSON.
    @discardableResult
    public func store(_ report: DrillReport, markdown: String, signingKey: MinisignSecretKey) throws -> String {
        let bytes = try report.canonicalBytes()
        let signature = Minisign.sign(
            bytes, with: signingKey,
            trustedComment: "coffer drill \(environment) \(report.id) bundle \(report.bundle ?? "none") \(report.passed ? "passed" : "failed") at \(report.finishedAt)",
            untrustedComment: "coffer drill report signature from key \(signingKey.keyID)"
        ).fileContents
        try repository.storage.writeSmall(key(report.id, ".json.minisig"), Array(signature))
        try repository.storage.writeSmall(key(report.id, ".md"), Array(markdown.utf8))
        try repository.storage.writeSmall(key(report.id, ".json"), bytes)
        return key(report.id, ".json")
    }

    /// Report ids, oldest first (ids sort by time).
    public func ids() throws -> [String] {
        try repository.storage.children(of: prefix).compactMap { name in
            name.hasSuffix(".json") ? String(name.dropLast(5)) : nil
        }.sorted()
    }

    /// One report with its signature checked against `trusted`.
    public func entry(_ id: String, trusted: TrustedSigners) -> Entry {
        let bytes: [UInt8]
        do {
            guard let read = try repository.storage.readSmall(key(id, ".json"), limit: 4 << 20) else {
                return Entry(id: id, report: nil, problem: "drill report \(id) is gone")
            }
            bytes = read
        } catch {
            return Entry(id: id, report: nil, problem: "drill report \(id) cannot be read: \(error)")
        }
        let report: DrillReport
        do {
            report = try DrillReport.parse(bytes)
        } catch {
            return Entry(id: id, report: nil, problem: "drill report \(id) is unreadable: \(error)")
        }
        guard report.id == id, report.environment == environment else {
            return Entry(id: id, report: report, problem: "drill report \(id) says it is \(report.environment)/\(report.id) (moved or swapped)")
        }
        guard let signatureBytes = try? repository.storage.readSmall(key(id, ".json.minisig"), limit: 1 << 16),
            let signature = try? MinisignSignature(parsing: signatureBytes)
        else {
            return Entry(id: id, report: report, problem: "drill report \(id) is not signed")
        }
        do {
            try trusted.verify(bytes, signature: signature, what: "drill report \(id)") { Clock.parse(report.finishedAt) }
        } catch let error as FormatError {
            return Entry(id: id, report: report, problem: error.message)
        } catch {
            return Entry(id: id, report: report, problem: "drill report \(id): \(error)")
        }
        return Entry(id: id, report: report, problem: nil)
    }

    /// Every report, oldest first, each checked.
    public func all(trusted: TrustedSigners) throws -> [Entry] {
        try ids().map { entry($0, trusted: trusted) }
    }

    /// What `status` and `deploy-gate` need: the newest trusted report, and the newest trusted one that passed.
    public func newest(trusted: TrustedSigners, window: Int = 64) throws -> (last: DrillReport?, lastPassed: DrillReport?) {
        var last: DrillReport?
        for id in try ids().suffix(window).reversed() {
            let entry = entry(id, trusted: trusted)
            guard entry.trusted, let report = entry.report else { continue }
            if last == nil { last = report }
            if report.passed { return (last, report) }
        }
        return (last, nil)
    }
}
