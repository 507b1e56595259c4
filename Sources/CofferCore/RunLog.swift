import CofferSystem
import Foundation

/// One finished run of a command on this machine: what `serve`, `status
/// --prometheus` and the status page report between repository refreshes, and
/// the only place a snapshot's duration is kept (the manifest has no clock for it).
public struct RunRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case snapshot, verify, audit, prune, restore, rollback, drill
        /// `coffer deploy-gate` (before or after deployment; failed when a checklist line failed).
        case deployGate = "deploy-gate"
    }

    public enum Outcome: String, Codable, Sendable {
        case succeeded, failed
    }

    public var kind: Kind
    public var environment: String
    /// Seconds since 1970 (UTC) when the run began and ended (`COFFER_NOW` moves both).
    public var started: Double
    public var finished: Double
    public var outcome: Outcome
    /// The bundle made (snapshot) or checked (verify).
    public var bundle: String?
    /// The bundle's stored bytes (snapshot).
    public var bytes: Int64?
    /// The artifacts the bundle holds (snapshot), for the per-source last success.
    public var sources: [String]?
    /// The error of a failed run, one line, as the command printed it.
    public var message: String?
    /// Failed runs of this kind so far, this one included: a counter that survives trimming the log.
    public var failuresTotal: Int

    public init(
        kind: Kind, environment: String, started: Double, finished: Double, outcome: Outcome, bundle: String? = nil, bytes: Int64? = nil,
        sources: [String]? = nil, message: String? = nil, failuresTotal: Int = 0
    ) {
        self.kind = kind
        self.environment = environment
        self.started = started
        self.finished = finished
        self.outcome = outcome
        self.bundle = bundle
        self.bytes = bytes
        self.sources = sources
        self.message = message
        self.failuresTotal = failuresTotal
    }

    public var seconds: Double { max(0, finished - started) }

    enum CodingKeys: String, CodingKey {
        case kind, environment, started, finished, outcome, bundle, bytes, sources, message
        case failuresTotal = "failures_total"
    }
}

/// `.coffer/runs/ENV.jsonl`: the runs of one environment, one JSON object per
/// line, newest last. Appends take a lock so two commands never interleave;
/// a line that does not parse (a crash mid-write) is skipped. The file is
/// trimmed to its newest `keep` lines once it grows past twice that.
public struct RunLog: Sendable {
    public let path: String
    public let environment: String
    public var keep = 2000

    public init(state: StateDirectory, environment: String) {
        self.path = FileSystem.join(state.runs, "\(environment).jsonl")
        self.environment = environment
    }

    /// The run log of the config's environment.
    public init(config: CofferConfig) {
        self.init(state: StateDirectory(config: config), environment: config.environment.rawValue)
    }

    /// The runs recorded, oldest first; empty when there are none.
    public func records() -> [RunRecord] {
        Self.parse((try? FileSystem.readFile(path, limit: 64 << 20)) ?? [])
    }

    static func parse(_ bytes: [UInt8]) -> [RunRecord] {
        let decoder = JSONDecoder()
        return bytes.split(separator: 0x0A).compactMap { try? decoder.decode(RunRecord.self, from: Data($0)) }
    }

    /// The newest run of `kind`.
    public func latest(_ kind: RunRecord.Kind) -> RunRecord? {
        records().last { $0.kind == kind }
    }

    /// Appends `record`, numbering its failure among the earlier ones of its kind.
    @discardableResult
    public func append(_ record: RunRecord) throws -> RunRecord {
        let folder = FileSystem.directoryName(of: path)
        try FileSystem.createDirectory(FileSystem.directoryName(of: folder), permissions: 0o700)
        try FileSystem.createDirectory(folder, permissions: 0o700)
        guard let lock = try LockFile.waiting(path: path + ".lock", seconds: 5) else {
            throw CofferError(.failure, "\(path).lock stayed locked by another coffer process for 5 s")
        }
        defer { lock.release() }
        let bytes = (try? FileSystem.readFile(path, limit: 64 << 20)) ?? []
        var existing = Self.parse(bytes)
        var numbered = record
        numbered.environment = environment
        let before = existing.last { $0.kind == record.kind }?.failuresTotal ?? 0
        numbered.failuresTotal = before + (record.outcome == .failed ? 1 : 0)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // After a torn last line (a crash mid-append) the new record starts on a line of its own.
        let torn = bytes.last.map { $0 != 0x0A } ?? false
        let line = (torn ? [0x0A] : []) + Array(try encoder.encode(numbered)) + [0x0A]
        existing.append(numbered)
        if existing.count > keep * 2 {
            // Rewrite whole: the newest `keep` lines, atomically.
            var text: [UInt8] = []
            for kept in existing.suffix(keep) { text += Array(try encoder.encode(kept)) + [0x0A] }
            let file = try AtomicFile(creating: path, permissions: 0o600)
            try file.write(text)
            try file.commit()
        } else {
            let file = try FileDescriptor(opening: path, .append(permissions: 0o600))
            try file.write(line)
            try file.sync()
        }
        return numbered
    }
}
