import CofferCrypto
import CofferStorage
import CofferSystem
import Foundation

/// One run at a time per environment of a repository: a snapshot (with its
/// prune), a prune and a key rotation hold this lock for their whole run, so
/// a scheduled snapshot never overlaps a manual one or a prune deleting
/// bundles under it.
///
/// A local repository uses `flock` on `locks/ENV.lock` in the repository
/// folder: the kernel releases it when the process dies, however it dies. An
/// S3 repository uses a lease: an object `locks/ENV/NNNNNNNNNN.lease`
/// naming the holder and an expiry, renewed in the background while the run
/// lasts, and marked released at the end. Generations are created with
/// `If-None-Match: *`, so of two runs that race for the same lock (also when
/// taking over an expired one) exactly one creates the next number; the
/// highest number is the lock. Nothing needs `If-Match`, which not every
/// S3-compatible server honours.
///
/// Callable from any thread (the `coffer serve` job runner uses it too);
/// blocking: it waits on the calling thread.
public enum RepositoryLock {
    /// Takes the lock for the config's environment, waiting up to `wait` for a
    /// run that holds it. Throws `CofferError(.busy)` naming the holder and
    /// since when once the wait is over; other storage errors as they come.
    /// `message` receives what a person should know: that it waits, or that it
    /// takes over the lease of a run that died.
    public static func acquire(
        config: CofferConfig, repository: Repository? = nil, purpose: String, wait: Duration = .zero,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        message: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> RepositoryLease {
        let timing = try LockTiming(environment: environment)
        let deadline = Date().addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
        let name = config.environment.rawValue
        let request = LockRequest(environment: name, purpose: purpose, deadline: deadline, wait: wait, timing: timing, message: message)
        if !config.repository.hasPrefix("s3://") {
            // A repository path that is a file (or of an unknown format) is reported as such, not as a lock folder that cannot be made.
            try (repository ?? Repository.open(config)).checkFormat()
            return try acquireLocal(folder: FileSystem.join(config.repository, "locks"), request)
        }
        let storage = try (repository ?? Repository.open(config)).storage
        return try S3Lease.acquire(storage: storage, request)
    }

    /// The lock of every environment (in a fixed order, so two such runs cannot
    /// deadlock): for work that touches all of them, such as re-signing after a leaked signing key.
    public static func acquireAll(
        config: CofferConfig, purpose: String, wait: Duration = .zero,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        message: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> [RepositoryLease] {
        var leases: [RepositoryLease] = []
        do {
            let repository = config.repository.hasPrefix("s3://") ? try Repository.open(config) : nil
            for kind in EnvironmentKind.allCases {
                var each = config
                each.environment = kind
                leases.append(try acquire(config: each, repository: repository, purpose: purpose, wait: wait, environment: environment, message: message))
            }
        } catch {
            for lease in leases { try? lease.release() }
            throw error
        }
        return leases
    }

    static func acquireLocal(folder: String, _ request: LockRequest) throws -> RepositoryLease {
        try FileSystem.createDirectory(folder)
        let path = FileSystem.join(folder, "\(request.environment).lock")
        var announced = false
        while true {
            if let file = try LockFile(path: path) {
                let holder = request.holder(generation: 0, expiresAt: nil)
                try file.replaceContents(holder.bytes())
                return RepositoryLease(local: file, path: path, holder: holder)
            }
            // The holder writes its record just after it locks: an empty file is a run starting.
            let current = (try? FileSystem.readFile(path, limit: 1 << 16)).flatMap(LockHolder.parse)
            let now = Date()
            if now >= request.deadline { throw request.busy(current, now: now, where: path) }
            if !announced {
                request.message(request.waiting(current, now: now))
                announced = true
            }
            Thread.sleep(forTimeInterval: min(0.2, request.deadline.timeIntervalSince(now)))
        }
    }
}

/// How long a lease lasts and how often it is renewed. `COFFER_LEASE_SECONDS`
/// shortens it for tests (a dead run's lease expires quickly).
struct LockTiming: Sendable {
    var expiry: TimeInterval = 120
    var renewal: TimeInterval { expiry / 3 }
    /// How often a waiting run looks again.
    var poll: TimeInterval { min(5, max(0.5, expiry / 10)) }

    init(environment: [String: String]) throws {
        if let text = environment["COFFER_LEASE_SECONDS"] {
            guard let seconds = Int(text), (2...86400).contains(seconds) else {
                throw CofferError(.config, "COFFER_LEASE_SECONDS='\(text)' must be a whole number of seconds between 2 and 86400")
            }
            expiry = TimeInterval(seconds)
        }
    }
}

/// One acquisition being attempted.
struct LockRequest: Sendable {
    let environment: String
    let purpose: String
    let deadline: Date
    let wait: Duration
    let timing: LockTiming
    let message: @Sendable (String) -> Void
    let token = SecureRandom.bytes(16).map { String(format: "%02x", $0) }.joined()

    func holder(generation: Int, expiresAt: Date?) -> LockHolder {
        LockHolder(
            host: ProcessIdentity.hostName, pid: ProcessIdentity.current, command: purpose, token: token, acquiredAt: Date(),
            expiresAt: expiresAt, releasedAt: nil, generation: generation, pidSpace: ProcessIdentity.pidSpace)
    }

    func busy(_ holder: LockHolder?, now: Date, where location: String) -> CofferError {
        let who = holder.map { "\($0.summary(now: now))" } ?? "another coffer run"
        let waited = wait == .zero ? "" : " after waiting \(LockHolder.span(Double(wait.components.seconds)))"
        let lease = holder?.expiresAt.map { "; its lease (\(location)) runs until \(Clock.format($0)) and is renewed while it works" } ?? " (\(location))"
        return CofferError(
            .busy,
            "\(environment) is busy\(waited): \(who) holds the repository lock\(lease). Try again when it is done, or pass --wait DURATION (such as --wait 10m) to wait for it")
    }

    func waiting(_ holder: LockHolder?, now: Date) -> String {
        "waiting up to \(LockHolder.span(deadline.timeIntervalSince(now))) for the repository lock of \(environment), held by \(holder?.summary(now: now) ?? "another coffer run")"
    }
}
