import CofferStorage
import CofferSystem
import Foundation
import Synchronization

/// A held repository lock. `release()` gives it back; dropping it does too,
/// as does the end of the process (local lock) or its lease's expiry (S3).
/// Safe to use from any thread.
public final class RepositoryLease: Sendable {
    /// Who holds it: this run.
    public let holder: LockHolder
    private let kind: Kind
    private let state = Mutex(State())
    private let wakeup = NSCondition()

    enum Kind: Sendable {
        case local(LockFile, path: String)
        case s3(S3Lease)
    }

    struct State {
        var released = false
        /// Why the lease stopped being ours (taken over after it expired, or not renewed in time).
        var lost: String?
    }

    init(local file: LockFile, path: String, holder: LockHolder) {
        self.holder = holder
        self.kind = .local(file, path: path)
    }

    init(s3 lease: S3Lease) {
        self.holder = lease.holder
        self.kind = .s3(lease)
        startRenewal(lease)
    }

    /// Where the lock lives: the lock file, or the lease object's key.
    public var location: String {
        switch kind {
        case .local(_, let path): return path
        case .s3(let lease): return lease.key(lease.holder.generation)
        }
    }

    /// Throws when the lease is no longer this run's (its renewal failed for
    /// longer than the expiry and another run took it over): stop before
    /// changing the repository further.
    public func checkHeld() throws {
        if let lost = state.withLock({ $0.lost }) {
            throw CofferError(.busy, "the repository lock was lost while this run worked: \(lost)")
        }
    }

    /// Gives the lock back: a local lock is unlocked; an S3 lease is marked
    /// released (only if it is still ours) so the next run takes it at once.
    /// Throws when the lease was lost during the run, since the run may have
    /// overlapped another one. Calling it again does nothing.
    public func release() throws {
        let already = state.withLock { state -> Bool in
            defer { state.released = true }
            return state.released
        }
        if already { return }
        wakeup.lock()
        wakeup.broadcast()
        wakeup.unlock()
        switch kind {
        case .local(let file, _):
            try? file.replaceContents([])
            file.release()
        case .s3(let lease):
            if state.withLock({ $0.lost }) == nil {
                do {
                    try lease.release()
                } catch let error as CofferError where error.category == .busy {
                    state.withLock { $0.lost = error.message }
                } catch {
                    lease.message("could not mark the lease \(location) released (\(error)); the next run waits until it expires at most")
                }
            }
        }
        try checkHeld()
    }

    deinit {
        try? release()
    }

    /// Renews the lease every `renewal` seconds on its own thread until release; a
    /// renewal that finds another generation on top marks the lease lost.
    private func startRenewal(_ lease: S3Lease) {
        let interval = lease.timing.renewal
        Thread.detachNewThread { [weak self] in
            while true {
                guard let self else { return }
                self.wakeup.lock()
                let done = self.state.withLock { $0.released }
                if !done { _ = self.wakeup.wait(until: Date().addingTimeInterval(interval)) }
                self.wakeup.unlock()
                if self.state.withLock({ $0.released || $0.lost != nil }) { return }
                if let lost = lease.renew() {
                    self.state.withLock { $0.lost = lost }
                    lease.message("the repository lock was lost: \(lost)")
                    return
                }
            }
        }
    }
}
