import ArgumentParser
import CofferCore
import Foundation

/// `--wait`, for the commands that hold the repository lock (snapshot, prune, keys rotate).
struct LockOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "How long to wait for another run that holds the repository lock (such as 30s, 10m, 1h; default 0: exit 7 at once).",
            valueName: "duration"))
    var wait: String = "0"

    func validate() throws {
        guard DurationText.seconds(wait) != nil else {
            throw ValidationError("--wait \(wait): expected a duration such as 30s, 10m or 1h")
        }
    }

    /// Takes the lock for `purpose`; what it waits for and takes over goes to standard error.
    func acquire(_ config: CofferConfig, purpose: String) throws -> RepositoryLease {
        try RepositoryLock.acquire(config: config, purpose: purpose, wait: .seconds(DurationText.seconds(wait) ?? 0)) { note($0) }
    }

    /// The locks of every environment, for work that changes all of them.
    func acquireAll(_ config: CofferConfig, purpose: String) throws -> [RepositoryLease] {
        try RepositoryLock.acquireAll(config: config, purpose: purpose, wait: .seconds(DurationText.seconds(wait) ?? 0)) { note($0) }
    }
}

/// A line for the person watching, on standard error.
func note(_ message: String) {
    FileHandle.standardError.write(Data("coffer: \(message)\n".utf8))
}
