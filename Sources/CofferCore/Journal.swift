import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem
import Foundation

/// One thing that happened to the repository: who, when, what; never a secret.
public struct JournalEvent: Codable, Sendable, Equatable, FormattedJSON {
    public static let currentFormat = "coffer-journal/1"

    public var format: String
    /// Position in the environment's journal, from 1; every number is used once.
    public var sequence: Int
    public var environment: String
    /// snapshot, restore, rollback, prune, rotate, drill.
    public var kind: String
    public var at: String
    public var host: String
    public var user: String
    /// What the event was about (bundle ids, restore id, deleted bundles).
    public var details: [String: JSONValue]
    /// SHA-256 (hex) of the previous event's bytes; nil for the first.
    public var previous: String?

    /// Sorted keys, two-space indentation, final newline: the bytes that are signed and chained.
    public func canonicalBytes() throws -> [UInt8] {
        try CanonicalJSON.bytes(self)
    }

    public static func parse(_ bytes: [UInt8]) throws -> JournalEvent {
        try CanonicalJSON.decode(JournalEvent.self, from: bytes, kind: "journal", noun: "a journal event")
    }
}

/// The repository's journal: `journal/ENV/NNNNNNNNNNNN.json`, one object per
/// event, each signed (`.minisig` beside it) and chained to the one before by
/// its SHA-256, so a deleted or edited event breaks the chain where it was.
public struct Journal {
    public let repository: Repository
    public let environment: String

    public init(repository: Repository, environment: String) {
        self.repository = repository
        self.environment = environment
    }

    var prefix: String { "journal/\(environment)" }

    func key(_ sequence: Int) -> String {
        let digits = String(sequence)
        return "\(prefix)/\(String(repeating: "0", count: max(0, 12 - digits.count)))\(digits).json"
    }

    /// Sequence numbers present, in order.
    public func sequences() throws -> [Int] {
        try repository.storage.children(of: prefix).compactMap { name in
            guard name.hasSuffix(".json"), name.count == 17 else { return nil }
            return Int(name.dropLast(5))
        }.sorted()
    }

    /// The raw bytes and signature of one event.
    public func read(_ sequence: Int) throws -> (event: [UInt8], signature: [UInt8]?)? {
        guard let bytes = try repository.storage.readSmall(key(sequence), limit: 1 << 20) else { return nil }
        return (bytes, try repository.storage.readSmall(key(sequence) + ".minisig", limit: 1 << 16))
    }

    /// Appends an event after the newest one. The signature goes first and the
    /// event is created only if its number is free, so two writers never share
    /// a number; the loser takes the next one.
    @discardableResult
    public func append(kind: String, details: [String: JSONValue], at time: Date, signingKey: MinisignSecretKey?) throws -> JournalEvent {
        for _ in 0..<8 {
            let last = try sequences().last
            let previousBytes = try last.flatMap { try read($0)?.event }
            let event = JournalEvent(
                format: JournalEvent.currentFormat, sequence: (last ?? 0) + 1, environment: environment, kind: kind,
                at: Clock.format(time), host: ProcessIdentity.hostName, user: Self.userName, details: details,
                previous: previousBytes.map { hexString(SHA256.hash($0)) })
            let bytes = try event.canonicalBytes()
            if let signingKey {
                try repository.storage.writeSmall(key(event.sequence) + ".minisig", signature(of: event, bytes: bytes, with: signingKey))
            }
            do {
                try repository.storage.createSmall(key(event.sequence), bytes)
                return event
            } catch let error as StorageError where error.kind == .exists {
                // A retried request may have created it already; otherwise another writer won this number.
                if try read(event.sequence)?.event == bytes { return event }
            }
        }
        throw CofferError(.failure, "could not append to the journal of \(environment): other writers kept taking the next number")
    }

    /// Every event in order, each checked: numbers without gaps, signature by
    /// `trusted`, and `previous` equal to the SHA-256 of the event before. The
    /// problems name the event, so a deleted or edited record is found.
    public func check(trusted: TrustedSigners) throws -> (events: [JournalEvent], problems: [String]) {
        var events: [JournalEvent] = []
        var problems: [String] = []
        var expected = 1
        var previousBytes: [UInt8]? = nil
        for sequence in try sequences() {
            if sequence != expected {
                problems.append(sequence > expected
                    ? "journal events \(expected)...\(sequence - 1) are missing (deleted?)" : "journal event \(sequence) appears twice")
            }
            expected = sequence + 1
            let stored: (event: [UInt8], signature: [UInt8]?)?
            do {
                stored = try read(sequence)
            } catch let error as StorageError where error.kind == .invalid {
                // A FIFO, a link or an oversized object in place of an event: a problem of this event, not the end of the check.
                problems.append("journal event \(sequence) cannot be read: \(error.message)")
                previousBytes = nil
                continue
            }
            guard let (bytes, signature) = stored else { continue }
            defer { previousBytes = bytes }
            let event: JournalEvent
            do {
                event = try JournalEvent.parse(bytes)
            } catch {
                problems.append("journal event \(sequence) is unreadable: \(error)")
                continue
            }
            events.append(event)
            if event.sequence != sequence || event.environment != environment {
                problems.append("journal event \(sequence) says it is event \(event.sequence) of \(event.environment) (moved?)")
            }
            if let previousBytes, event.previous != hexString(SHA256.hash(previousBytes)) {
                problems.append("journal event \(sequence) does not follow event \(sequence - 1): one of them was edited")
            } else if previousBytes == nil && sequence == 1 && event.previous != nil {
                problems.append("journal event 1 claims a predecessor")
            }
            guard let signature, let parsed = try? MinisignSignature(parsing: signature) else {
                problems.append("journal event \(sequence) is not signed")
                continue
            }
            do {
                try trusted.verify(bytes, signature: parsed, what: "journal event \(sequence)") { Clock.parse(event.at) }
            } catch let error as FormatError {
                problems.append("journal event \(sequence): \(error.message)")
            }
        }
        return (events, problems)
    }

    /// The event `sequence` when it is whole and trusted: it parses, says it is
    /// that event of this environment, and carries a signature by `trusted`.
    /// nil otherwise (missing, unsigned, edited, foreign); throws only when the
    /// storage cannot be read.
    public func verifiedEvent(_ sequence: Int, trusted: TrustedSigners) throws -> JournalEvent? {
        guard let (bytes, signature) = try read(sequence), let signature,
            let event = try? JournalEvent.parse(bytes), event.sequence == sequence, event.environment == environment,
            let parsed = try? MinisignSignature(parsing: signature),
            (try? trusted.verify(bytes, signature: parsed, what: "journal event \(sequence)", dated: { Clock.parse(event.at) })) != nil
        else { return nil }
        return event
    }

    /// The highest sequence whose event is whole and trusted (`verifiedEvent`),
    /// looking at the newest `window` events only; nil when none of them is.
    /// `listed` saves listing the journal again when the caller just did.
    public func newestVerifiedSequence(trusted: TrustedSigners, listed: [Int]? = nil, window: Int = 32) throws -> Int? {
        for sequence in try (listed ?? sequences()).suffix(window).reversed() {
            if try verifiedEvent(sequence, trusted: trusted) != nil { return sequence }
        }
        return nil
    }

    /// The bundle ids that trusted prune events name as deleted: the gaps that
    /// coffer's own retention made.
    public func prunedBundles(trusted: TrustedSigners) throws -> Set<String> {
        var pruned: Set<String> = []
        for sequence in try sequences() {
            guard let event = try verifiedEvent(sequence, trusted: trusted), event.kind == "prune",
                case .array(let deleted)? = event.details["deleted"]
            else { continue }
            for case .string(let id) in deleted { pruned.insert(id) }
        }
        return pruned
    }

    /// Signs every event again with `key` (after a leaked signing key); the
    /// events themselves, and so the chain, do not change. Returns how many.
    public func resign(with key: MinisignSecretKey, trusted: TrustedSigners) throws -> Int {
        var count = 0
        for sequence in try sequences() {
            guard let (bytes, _) = try read(sequence), let event = try? JournalEvent.parse(bytes) else { continue }
            try repository.storage.writeSmall(self.key(sequence) + ".minisig", signature(of: event, bytes: bytes, with: key))
            count += 1
        }
        return count
    }

    /// The `.minisig` of an event; its trusted comment says what it is.
    func signature(of event: JournalEvent, bytes: [UInt8], with key: MinisignSecretKey) -> [UInt8] {
        Array(
            Minisign.sign(
                bytes, with: key, trustedComment: "coffer journal \(environment) event \(event.sequence) \(event.kind) at \(event.at)",
                untrustedComment: "coffer journal signature from key \(key.keyID)"
            ).fileContents)
    }

    /// Who ran the command, for the record.
    static var userName: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["USER"] ?? environment["LOGNAME"] ?? "uid \(getuid())"
    }
}

/// Journal writes made by operations that have already done their work: a
/// failure to record is reported, never turned into a failure of the operation.
public enum JournalRecorder {
    /// Appends an event; returns a warning for the operator when it could not be written.
    public static func record(
        repository: Repository, environment: String, kind: String, details: [String: JSONValue], at time: Date,
        signingKey: MinisignSecretKey?
    ) -> String? {
        do {
            try Journal(repository: repository, environment: environment).append(kind: kind, details: details, at: time, signingKey: signingKey)
            return signingKey == nil ? "the journal event for this \(kind) is not signed (the signing key needs a password; give --password-env)" : nil
        } catch {
            return "the \(kind) succeeded but its journal event was not written: \(error)"
        }
    }

    /// The signing key when it can be read without asking (unencrypted), else nil.
    public static func unattendedSigningKey(_ config: CofferConfig) -> MinisignSecretKey? {
        try? KeyStore(directory: config.keysDirectory).signingKey { throw CofferError(.key, "no password") }
    }
}
