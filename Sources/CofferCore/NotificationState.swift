import CofferFormat
import CofferSystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension StateDirectory {
    /// `notify/state.json`: which conditions were announced, which notifiers failed.
    public var notifications: String { FileSystem.join(root, "notify") }
}

/// What this machine remembers between runs about notifications
/// (`.coffer/notify/state.json`, 0600 in a 0700 folder): whether `stale` and
/// `storage-critical` are on (so each is announced once when it starts and
/// once when it clears), which notifiers have not yet been told of the last
/// change, and which notifiers failed last time.
struct NotificationState: Codable, Sendable {
    /// A condition of one environment, kept while it is on or not yet announced.
    struct Condition: Codable, Sendable {
        var active: Bool
        /// When it last changed (RFC 3339).
        var since: String
        var message: String
        /// Notifiers that have not been told of the change yet (their delivery failed).
        var undelivered: [String]
    }

    /// The last failed delivery of one notifier, kept until one succeeds.
    struct Failure: Codable, Sendable {
        var at: String
        var event: String
        var error: String
        /// How the notifier is named in messages: name, kind and host, never the URL.
        var notifier: String
    }

    /// Keyed `ENV/EVENT` (`production/stale`).
    var conditions: [String: Condition] = [:]
    /// Keyed by notifier name.
    var failures: [String: Failure] = [:]
}

/// Reads and writes `NotificationState`; `update` is the only way to change it,
/// under a lock file, so two processes (or two threads of `coffer serve`)
/// never interleave their read-modify-write.
struct NotificationStateStore: Sendable {
    let path: String

    init(state: StateDirectory) {
        path = FileSystem.join(state.notifications, "state.json")
    }

    /// The state; empty when there is none yet or it cannot be read (then every condition is new again).
    func load() -> NotificationState {
        guard let bytes = try? FileSystem.readFile(path, limit: 1 << 20),
            let state = try? JSONDecoder().decode(NotificationState.self, from: Data(bytes))
        else { return NotificationState() }
        return state
    }

    /// Runs `body` on the state under the lock and writes what it left, atomically.
    /// Nil when another process held the lock for `wait` seconds (nothing was done).
    func update<R>(wait: Double = 5, _ body: (inout NotificationState) throws -> R) throws -> R? {
        let folder = FileSystem.directoryName(of: path)
        try FileSystem.createDirectory(FileSystem.directoryName(of: folder), permissions: 0o700)
        try FileSystem.setPermissions(FileSystem.directoryName(of: folder), 0o700)
        try FileSystem.createDirectory(folder, permissions: 0o700)
        guard let lock = try LockFile.waiting(path: path + ".lock", seconds: wait) else { return nil }
        defer { lock.release() }
        var state = load()
        let result = try body(&state)
        try FileSystem.writeFile(path, bytes: try CanonicalJSON.bytes(state), permissions: 0o600)
        return result
    }
}
