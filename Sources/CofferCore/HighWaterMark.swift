import CofferCrypto
import CofferFormat
import CofferSystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The newest bundle and journal event this machine has seen, verified, in one
/// repository and environment. Someone who can write to the storage but holds
/// no key cannot forge a bundle, but can delete the newest ones (and the
/// journal events that name them), so that `restore latest` brings back
/// something older without a word. The mark makes that visible: it is only
/// ever raised, so a repository that now ends below it was rolled back.
public struct HighWaterMark: Codable, Sendable, Equatable {
    /// The repository location the mark belongs to (a folder, or the S3 endpoint and address).
    public var repository: String
    public var environment: String
    /// The newest bundle id seen with a trusted manifest.
    public var bundle: String?
    /// The highest journal sequence seen with a trusted signature.
    public var journal: Int?
    /// Rollbacks found so far. They are kept, and reported by `status` and
    /// `audit`, until someone removes the file on purpose: the next snapshot
    /// would otherwise hide a deleted bundle behind a new one.
    public var alarms: [String]
    public var updatedAt: String?

    enum CodingKeys: String, CodingKey {
        case repository, environment, bundle, journal, alarms
        case updatedAt = "updated_at"
    }

    public init(repository: String, environment: String) {
        self.repository = repository
        self.environment = environment
        alarms = []
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        repository = try container.decode(String.self, forKey: .repository)
        environment = try container.decode(String.self, forKey: .environment)
        bundle = try container.decodeIfPresent(String.self, forKey: .bundle)
        journal = try container.decodeIfPresent(Int.self, forKey: .journal)
        alarms = try container.decodeIfPresent([String].self, forKey: .alarms) ?? []
        updatedAt = try container.decodeIfPresent(String.self, forKey: .updatedAt)
    }
}

/// Where this machine keeps the high-water mark of one repository and
/// environment: `.coffer/high-water/ENV-HASH.json` (0600, in the 0700 state
/// folder), where HASH is of the repository location, so two repositories
/// never share a mark. A fresh machine (or a removed file) has no mark and
/// notices nothing until it has seen the repository once.
public struct HighWaterMarkStore: Sendable {
    /// The file of the mark.
    public let path: String
    /// The repository location the mark is keyed by.
    public let repository: String
    public let environment: String

    public init(config: CofferConfig) {
        // A local repository by its absolute folder; an S3 one by endpoint and address.
        repository = config.repository.hasPrefix("s3://") ? "\(config.s3?.endpoint ?? "") \(config.repository)" : config.repository
        environment = config.environment.rawValue
        let digest = hexString(SHA256.hash(Array("\(repository)\n\(environment)".utf8)))
        path = FileSystem.join(StateDirectory(config: config).highWater, "\(environment)-\(digest.prefix(16)).json")
    }

    /// The mark, or an empty one when this machine has none yet. Throws
    /// `CofferError` when the file exists but cannot be read or is not a mark
    /// of this repository (it is then left alone, never overwritten).
    public func load() throws -> HighWaterMark {
        guard FileSystem.exists(path) else { return HighWaterMark(repository: repository, environment: environment) }
        let mark: HighWaterMark
        do {
            mark = try JSONDecoder().decode(HighWaterMark.self, from: Data(try FileSystem.readFile(path, limit: 1 << 20)))
        } catch {
            throw CofferError(.failure, "the high-water mark \(path) cannot be read (\(error)); look at it, and remove it to start a new one")
        }
        guard mark.repository == repository, mark.environment == environment else {
            throw CofferError(.failure, "\(path) is the high-water mark of \(mark.repository) (\(mark.environment)), not of \(repository); remove it to start a new one")
        }
        return mark
    }

    /// Raises the mark to `bundle` and `journal` where they are higher, adds
    /// `alarms` not yet recorded, and writes it atomically; nothing is ever
    /// lowered or dropped. Processes on this machine take turns (a lock file
    /// beside it). Returns the mark as written.
    @discardableResult
    public func raise(bundle: String? = nil, journal: Int? = nil, alarms: [String] = [], at time: Date = Date()) throws -> HighWaterMark {
        let folder = FileSystem.directoryName(of: path)
        try FileSystem.createDirectory(folder, permissions: 0o700)
        try FileSystem.setPermissions(FileSystem.directoryName(of: folder), 0o700)
        let lock = try Self.lock(path + ".lock")
        defer { lock.release() }
        var mark = try load()
        let before = mark
        if let bundle, bundle > (mark.bundle ?? "") { mark.bundle = bundle }
        if let journal, journal > (mark.journal ?? 0) { mark.journal = journal }
        for alarm in alarms where !mark.alarms.contains(alarm) { mark.alarms.append(alarm) }
        // Nothing new: no write (and no file for a repository that holds nothing yet).
        if mark == before && (FileSystem.exists(path) || (mark.bundle == nil && mark.journal == nil)) { return mark }
        mark.updatedAt = Clock.format(time)
        try FileSystem.writeFile(path, bytes: try CanonicalJSON.bytes(mark), permissions: 0o600)
        return mark
    }

    /// The lock, waited for a few seconds (another coffer on this machine updating the same mark).
    private static func lock(_ path: String) throws -> LockFile {
        if let lock = try LockFile.waiting(path: path, seconds: 5) { return lock }
        throw CofferError(.failure, "\(path) stayed locked by another coffer process for 5 s")
    }
}

/// Compares what the repository holds now with this machine's high-water mark,
/// records a rollback it finds (kept until removed on purpose), and raises the
/// mark to what it saw. Bundles that coffer's own prune deleted (a trusted
/// prune event names them) are not a rollback.
struct RollbackGuard {
    let store: HighWaterMarkStore
    let repository: Repository
    let environment: String
    let trusted: TrustedSigners
    let now: Date

    init(config: CofferConfig, repository: Repository, trusted: TrustedSigners, now: Date) {
        store = HighWaterMarkStore(config: config)
        self.repository = repository
        environment = config.environment.rawValue
        self.trusted = trusted
        self.now = now
    }

    /// The mark before the repository is listed. Read it first: a bundle that
    /// another process writes (and marks) meanwhile is then in the listing.
    static func mark(_ config: CofferConfig) -> (mark: HighWaterMark?, warning: String?) {
        do {
            return (try HighWaterMarkStore(config: config).load(), nil)
        } catch {
            return (nil, "\(error); rollback detection is off until then")
        }
    }

    /// The rollbacks: the ones recorded before and any found now, given the
    /// bundle ids present (with a manifest, oldest first) and whether the
    /// journal is to be checked too. Raises the mark to the newest trusted
    /// bundle and, with `raiseJournal`, journal event (a snapshot raises it
    /// after its own event instead, and so lists nothing more on a fresh mark).
    /// `warnings` says when the mark could not be kept.
    func assess(
        _ mark: HighWaterMark?, present ids: [String], journal checkJournal: Bool, raiseJournal: Bool = true
    ) -> (problems: [String], warnings: [String]) {
        // No mark to compare with: the caller reported why it could not be read.
        guard let mark else { return ([], []) }
        var warnings: [String] = []
        var found: [String] = []
        let newest = ids.reversed().first { (try? repository.verifiedManifest(environment: environment, id: $0, trusted: trusted)) != nil }
        let journal = Journal(repository: repository, environment: environment)
        do {
            if let seen = try missingNewest(mark, newestTrusted: newest, present: ids) {
                found.append(
                    "bundle \(seen), the newest this machine has seen of \(environment), is gone and no prune record explains it: someone removed backups (or put back an older copy of the storage); the repository now ends at \(newest ?? "no trusted bundle")")
            }
        } catch {
            warnings.append("the journal could not be read to tell whether a prune removed bundle \(mark.bundle ?? ""): \(error)")
        }
        var sequence: Int?
        if checkJournal && (mark.journal != nil || raiseJournal) {
            do {
                let listed = try journal.sequences()
                if let seen = mark.journal, listed.last ?? 0 < seen {
                    found.append(
                        "the journal of \(environment) ends at event \(listed.last ?? 0), but this machine has seen event \(seen): its newest events were deleted")
                }
                if raiseJournal { sequence = try journal.newestVerifiedSequence(trusted: trusted, listed: listed) }
            } catch {
                warnings.append("the journal could not be read to compare it with the high-water mark: \(error)")
            }
        }
        var recorded = mark.alarms + found.filter { !mark.alarms.contains($0) }
        do {
            recorded = try store.raise(bundle: newest, journal: sequence, alarms: found, at: now).alarms
        } catch {
            warnings.append("the high-water mark \(store.path) could not be updated (\(error)); rollback detection may miss what happens next")
        }
        let note = " (kept in \(store.path) until you remove it, once you know why)"
        return (recorded.map { $0 + note }, warnings)
    }

    /// The newest bundle the mark names when the repository now ends below it
    /// and no trusted prune record explains its absence. A bundle still present
    /// but no longer trusted is not named here: it is reported as untrusted.
    func missingNewest(_ mark: HighWaterMark, newestTrusted: String?, present ids: [String]) throws -> String? {
        guard let seen = mark.bundle, (newestTrusted ?? "") < seen, !ids.contains(seen) else { return nil }
        return try Journal(repository: repository, environment: environment).prunedBundles(trusted: trusted).contains(seen) ? nil : seen
    }

    /// For `restore latest`: the newest bundle the mark names when `latest`
    /// resolved to `id`, an older one, and no trusted prune record explains the difference.
    func newerThan(_ id: String, mark: HighWaterMark) throws -> String? {
        guard let seen = mark.bundle, id < seen else { return nil }
        return try Journal(repository: repository, environment: environment).prunedBundles(trusted: trusted).contains(seen) ? nil : seen
    }

    /// Raises the mark without comparing (after reading a trusted bundle); a
    /// failure only means the mark stays where it was.
    static func raise(_ config: CofferConfig, bundle: String?, journal: Int? = nil) {
        _ = try? HighWaterMarkStore(config: config).raise(bundle: bundle, journal: journal)
    }
}
