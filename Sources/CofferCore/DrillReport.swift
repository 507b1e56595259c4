import CofferFormat
import Foundation

/// The evidence of one restore drill: which bundle, how it was picked, how
/// long each phase took, what was checked, what the smoke command said, and
/// the measured RTO and RPO against the targets. Stored signed in the
/// repository (`drills/ENV/ID.json`), so an auditor can check it with minisign.
public struct DrillReport: Codable, Sendable, Equatable, FormattedJSON {
    public static let currentFormat = "coffer-drill/1"

    public struct Pick: Codable, Sendable, Equatable {
        /// `latest` or `random`.
        public var method: String
        /// The seed of a random pick: the same seed over the same bundles picks the same one.
        public var seed: UInt64?
        /// How far back a random pick looked.
        public var withinSeconds: Int?
        /// How many bundles it chose from.
        public var candidates: Int

        enum CodingKeys: String, CodingKey {
            case method, seed, candidates
            case withinSeconds = "within_seconds"
        }
    }

    /// One timed phase: fetch, verify, decrypt_and_stage, checks, smoke.
    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        public var seconds: Double
        public var ok: Bool
        public var detail: String?
    }

    /// One comparison of a restored scratch target with the manifest.
    public struct Check: Codable, Sendable, Equatable {
        public var artifact: String
        public var kind: String
        /// The scratch target, as the smoke command saw it (no password).
        public var target: String
        /// What was compared, in words.
        public var what: String
        public var expected: JSONValue
        public var found: JSONValue
        public var ok: Bool
    }

    public struct Smoke: Codable, Sendable, Equatable {
        public var command: String
        public var exitStatus: Int32?
        public var timedOut: Bool
        public var seconds: Double
        /// The last lines of its output (standard output and error together).
        public var lastLines: [String]

        enum CodingKeys: String, CodingKey {
            case command, seconds
            case exitStatus = "exit_status"
            case timedOut = "timed_out"
            case lastLines = "last_lines"
        }
    }

    public var format = currentFormat
    public var id: String
    public var environment: String
    /// The bundle drilled; nil when none could be picked.
    public var bundle: String?
    public var bundleCreatedAt: String?
    /// Plaintext and stored bytes of the bundle (for RTO estimates of bigger bundles).
    public var plainBytes: Int64?
    public var storedBytes: Int64?
    public var pick: Pick
    /// The repository the bundle was fetched from (no credentials).
    public var repository: String
    public var startedAt: String
    public var finishedAt: String
    public var host: String
    public var user: String
    public var tool: String
    public var phases: [Phase]
    public var checks: [Check]
    public var smoke: Smoke?
    /// The sum of the phases: how long a restore of this bundle takes, tested (nil when it stopped before the end).
    public var rtoSeconds: Double?
    /// How old the newest bundle was when the drill started: what a disaster then would have lost.
    public var rpoSeconds: Double?
    public var rtoTargetSeconds: Int
    public var rpoTargetSeconds: Int
    public var rtoPassed: Bool
    public var rpoPassed: Bool
    /// How old the drilled bundle was when the drill started (equal to the RPO for `--pick latest`).
    public var bundleAgeSeconds: Double?
    public var passed: Bool
    /// Why it did not pass, in one line.
    public var failure: String?
    /// Scratch targets that could not be removed (named so they can be).
    public var leftovers: [String]

    enum CodingKeys: String, CodingKey {
        case format, id, environment, bundle, pick, repository, host, user, tool, phases, checks, smoke, passed, failure, leftovers
        case rtoSeconds = "rto_seconds"
        case rpoSeconds = "rpo_seconds"
        case rtoTargetSeconds = "rto_target_seconds"
        case rpoTargetSeconds = "rpo_target_seconds"
        case rtoPassed = "rto_passed"
        case rpoPassed = "rpo_passed"
        case bundleCreatedAt = "bundle_created_at"
        case plainBytes = "plain_bytes"
        case storedBytes = "stored_bytes"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case bundleAgeSeconds = "bundle_age_seconds"
    }

    /// Sorted keys, two-space indentation, final newline: the bytes that are signed.
    public func canonicalBytes() throws -> [UInt8] {
        try CanonicalJSON.bytes(self)
    }

    public static func parse(_ bytes: [UInt8]) throws -> DrillReport {
        try CanonicalJSON.decode(DrillReport.self, from: bytes, kind: "drill report", noun: "a drill report")
    }


    /// Seconds for people: `0.42 s` under ten seconds, else `3m`, `1h`...
    public static func text(seconds: Double?) -> String {
        guard let seconds else { return "not measured" }
        return seconds < 10 ? String(format: "%.2f s", seconds) : DurationText.format(Int(seconds.rounded()))
    }

    /// The JSON object `--json` prints (the stored report, as a value).
    public var jsonObject: Any {
        (try? JSONSerialization.jsonObject(with: Data(try canonicalBytes()))) ?? [:]
    }
}
