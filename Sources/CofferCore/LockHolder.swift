import CofferSystem
import Foundation

/// Who holds (or held) a repository lock: enough for a second run to say who
/// is in its way and since when, and for a lease to tell its own object from
/// another run's (`token`).
public struct LockHolder: Sendable, Equatable {
    public var host: String
    public var pid: Int32
    /// What the holder is doing (`snapshot`, `prune`, `keys rotate`).
    public var command: String
    /// Random, per acquisition: the only field that proves a lease object is ours.
    public var token: String
    public var acquiredAt: Date
    /// When an S3 lease stops counting unless renewed; nil for a local lock (the kernel releases it).
    public var expiresAt: Date?
    /// Set in the object a finished run leaves behind: the lock is free.
    public var releasedAt: Date?
    /// The lease object's number (S3); 0 for a local lock.
    public var generation: Int
    /// `ProcessIdentity.pidSpace` of the holder: where it is equal to ours, `pid` can be checked.
    public var pidSpace: String?

    /// True when the holder's process is provably gone: same kernel boot and pid
    /// namespace as this process, and no process with its pid. A reused pid
    /// only makes it look alive (the lease then waits for its expiry).
    public var processIsGone: Bool {
        guard let pidSpace, pidSpace == ProcessIdentity.pidSpace, pid > 0 else { return false }
        return !ProcessIdentity.isAlive(pid)
    }

    /// "a snapshot on HOST (pid N) since TIME (12s ago)".
    public func summary(now: Date = Date()) -> String {
        "\(article(command)) \(command) on \(host) (pid \(pid)) since \(Clock.format(acquiredAt)) (\(Self.span(now.timeIntervalSince(acquiredAt))) ago)"
    }

    /// A span of seconds as people read it: `42s`, `3m 5s`, `2h 4m`.
    static func span(_ seconds: TimeInterval) -> String {
        let whole = max(0, Int(seconds.rounded()))
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return "\(whole / 60)m \(whole % 60)s" }
        if whole < 86400 { return "\(whole / 3600)h \(whole % 3600 / 60)m" }
        return "\(whole / 86400)d \(whole % 86400 / 3600)h"
    }

    private func article(_ word: String) -> String {
        word.first.map { "aeiou".contains($0) } == true ? "an" : "a"
    }

    func bytes() -> [UInt8] {
        var object: [String: Any] = [
            "host": host, "pid": Int(pid), "command": command, "token": token, "acquired_at": Clock.format(acquiredAt), "generation": generation,
        ]
        if let expiresAt { object["expires_at"] = Clock.format(expiresAt) }
        if let releasedAt { object["released_at"] = Clock.format(releasedAt) }
        if let pidSpace { object["pid_space"] = pidSpace }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return [UInt8](data) + [10]
    }

    /// Nil for anything that is not a holder record (an empty file, another program's object).
    static func parse(_ bytes: [UInt8]) -> LockHolder? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let host = object["host"] as? String, let pid = object["pid"] as? Int, let command = object["command"] as? String,
            let token = object["token"] as? String, let acquired = (object["acquired_at"] as? String).flatMap(Clock.parse)
        else { return nil }
        return LockHolder(
            host: host, pid: Int32(truncatingIfNeeded: pid), command: command, token: token, acquiredAt: acquired,
            expiresAt: (object["expires_at"] as? String).flatMap(Clock.parse), releasedAt: (object["released_at"] as? String).flatMap(Clock.parse),
            generation: object["generation"] as? Int ?? 0, pidSpace: object["pid_space"] as? String)
    }
}
