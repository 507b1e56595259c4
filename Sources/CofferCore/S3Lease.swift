import CofferStorage
import CofferSystem
import Foundation
import Synchronization

/// The S3 side of `RepositoryLock`: numbered lease objects under
/// `locks/ENV/`, the highest number being the lock.
///
/// Only the run that created a generation ever writes it again (to renew it,
/// or to mark it released), so no write needs `If-Match`. Taking a lock is
/// creating the next number with `If-None-Match: *`; the number never goes
/// down (a released lease stays as a small marker), so a run that read an
/// old top and creates its successor late finds the name taken, and after
/// every create the listing is read again: a generation above ours means we
/// do not hold it.
final class S3Lease: Sendable {
    let storage: any Storage
    let folder: String
    let timing: LockTiming
    let message: @Sendable (String) -> Void
    private let current: Mutex<LockHolder>

    var holder: LockHolder { current.withLock { $0 } }

    private init(storage: any Storage, folder: String, timing: LockTiming, holder: LockHolder, message: @escaping @Sendable (String) -> Void) {
        self.storage = storage
        self.folder = folder
        self.timing = timing
        self.message = message
        self.current = Mutex(holder)
    }

    func key(_ generation: Int) -> String { Self.key(folder, generation) }

    static func key(_ folder: String, _ generation: Int) -> String {
        let digits = String(generation)
        return "\(folder)/\(String(repeating: "0", count: max(0, 10 - digits.count)))\(digits).lease"
    }

    static func generations(_ storage: any Storage, _ folder: String) throws -> [Int] {
        try storage.children(of: folder).compactMap { name in
            guard name.hasSuffix(".lease"), name.utf8.count == 16 else { return nil }
            return Int(name.prefix(10))
        }.sorted()
    }

    static func acquire(storage: any Storage, _ request: LockRequest) throws -> RepositoryLease {
        let folder = "locks/\(request.environment)"
        var announced = false
        while true {
            let now = Date()
            let top = try generations(storage, folder).last ?? 0
            var takeover: String?
            if top > 0 {
                let bytes = try storage.readSmall(key(folder, top), limit: 1 << 16)
                let existing = bytes.flatMap(LockHolder.parse)
                if let existing, existing.releasedAt == nil, let expiry = existing.expiresAt, expiry > now, !existing.processIsGone {
                    if now >= request.deadline { throw request.busy(existing, now: now, where: key(folder, top)) }
                    if !announced {
                        request.message(request.waiting(existing, now: now))
                        announced = true
                    }
                    Thread.sleep(forTimeInterval: min(request.timing.poll, max(0.05, request.deadline.timeIntervalSince(now))))
                    continue
                }
                if let existing, existing.releasedAt == nil, let expiry = existing.expiresAt, expiry > now {
                    takeover =
                        "taking over the repository lock of \(existing.summary(now: now)): that process is gone (it ended without releasing \(key(folder, top)), which had \(LockHolder.span(expiry.timeIntervalSince(now))) to run)"
                } else if let existing, existing.releasedAt == nil {
                    let expired = existing.expiresAt.map { LockHolder.span(now.timeIntervalSince($0)) } ?? "an unknown time"
                    takeover =
                        "taking over the repository lock of \(existing.summary(now: now)): its lease \(key(folder, top)) expired \(expired) ago without being renewed or released, so that run died or lost its connection"
                } else if existing == nil && bytes != nil {
                    takeover = "taking over the repository lock: \(key(folder, top)) is not a lease Coffer can read"
                }
            }
            let mine = request.holder(generation: top + 1, expiresAt: now.addingTimeInterval(request.timing.expiry))
            let target = key(folder, top + 1)
            do {
                try storage.createSmall(target, mine.bytes())
            } catch {
                // The create may have happened although its answer was lost (and a retry of it then
                // finds the object there): ask the server whose object it is before acting on a guess.
                let back = try? storage.readSmall(target, limit: 1 << 16)
                if let written = back.flatMap({ $0 }).flatMap(LockHolder.parse), written.token == mine.token {
                    // Ours after all.
                } else if (error as? StorageError)?.kind == .exists || back.flatMap({ $0 }) != nil {
                    continue  // another run created this generation first: look again at who holds it
                } else {
                    throw error
                }
            }
            let after = try generations(storage, folder)
            guard after.last == top + 1 else { continue }
            if let takeover { request.message(takeover) }
            let lease = S3Lease(storage: storage, folder: folder, timing: request.timing, holder: mine, message: request.message)
            lease.remove(after.filter { $0 < top + 1 })
            return RepositoryLease(s3: lease)
        }
    }

    /// One renewal: nil when the lease is still ours (renewed, or to be retried
    /// before it expires), else why it is lost.
    func renew() -> String? {
        let mine = holder
        do {
            let top = try Self.generations(storage, folder).last ?? 0
            if top != mine.generation {
                let other = (try? storage.readSmall(key(top), limit: 1 << 16)).flatMap { $0 }.flatMap(LockHolder.parse)
                return "\(key(top)) replaced this run's lease \(key(mine.generation))\(other.map { ": \($0.summary()) took it over" } ?? "")"
            }
            var renewed = mine
            renewed.expiresAt = Date().addingTimeInterval(timing.expiry)
            try storage.writeSmall(key(mine.generation), renewed.bytes())
            current.withLock { $0 = renewed }
            return nil
        } catch {
            if let expiry = mine.expiresAt, Date() >= expiry {
                return "it could not be renewed before it expired at \(Clock.format(expiry)) (\(error))"
            }
            message("could not renew the repository lease \(key(mine.generation)) (\(error)); retrying")
            return nil
        }
    }

    /// Marks the lease released, after checking it is still the top generation.
    func release() throws {
        var mine = holder
        let top = try Self.generations(storage, folder).last ?? 0
        guard top == mine.generation else {
            throw CofferError(.busy, "\(key(top)) replaced this run's lease \(key(mine.generation)) (it was not renewed in time)")
        }
        mine.releasedAt = Date()
        mine.expiresAt = mine.releasedAt
        try storage.writeSmall(key(mine.generation), mine.bytes())
        current.withLock { $0 = mine }
    }

    /// Deletes earlier runs' generations (below ours); failures only leave small objects.
    func remove(_ older: [Int]) {
        for number in older where number < holder.generation { try? storage.delete(key(number)) }
    }
}
