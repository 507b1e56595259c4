import CofferSystem

/// Where bundles are kept. Keys are `/`-separated paths relative to the
/// repository root. Implementations: a local folder and S3-compatible object storage.
public protocol Storage: Sendable {
    /// The repository location, for messages.
    var location: String { get }

    /// Starts writing the objects of one bundle under `prefix`. None of them is
    /// visible to `list` until `commit`; `abort` (or a crash) leaves nothing visible.
    func beginBundle(at prefix: String) throws -> any BundleWriter

    /// Streams an object, or the bytes `range` of it, into `sink`; never more
    /// than `range` holds, so a caller that knows an object's size reads at most
    /// that (plus one byte to notice more). Throws `StorageError.notFound` when
    /// it is absent, `.invalid` when a local object is not a regular file.
    func read(_ key: String, range: Range<Int64>?, into sink: ByteSink) throws

    /// A small object whole (manifests, headers, descriptors); nil when absent.
    /// Never reads more than `limit` bytes: a larger object throws
    /// `StorageError.invalid`, as does a local object that is not a regular file.
    func readSmall(_ key: String, limit: Int) throws -> [UInt8]?

    /// Writes a small object atomically (the repository descriptor).
    func writeSmall(_ key: String, _ bytes: [UInt8]) throws

    /// Writes a small object atomically only if `key` does not exist yet;
    /// throws `StorageError.exists` otherwise. Two writers racing for the same
    /// key: exactly one wins (journal events are numbered this way).
    func createSmall(_ key: String, _ bytes: [UInt8]) throws

    /// Writes one object (replacing it) from what `produce` pushes into the
    /// sink; it appears whole or not at all. For objects added to an existing
    /// bundle, such as the payloads `keys rotate --reencrypt` writes.
    func writeStream(_ key: String, _ produce: (ByteSink) throws -> Void) throws

    /// Writes one object (replacing it) that only becomes part of the repository
    /// when a manifest published later names it (a format v2 chunk): it appears
    /// whole or not at all, but a local disk may lose it in a crash until
    /// `syncWrites` returns. Many small writes then cost one sync, not one each.
    func writeUnsynced(_ key: String, _ bytes: [UInt8]) throws

    /// Makes every `writeUnsynced` so far durable (local: `syncfs`; S3: a
    /// completed PUT already is). Called before the manifest that names them is published.
    func syncWrites() throws

    /// Locks objects written earlier as long as a write made now would be
    /// locked (S3 Object Lock): the shared chunks a new bundle references.
    /// Nothing for storage without Object Lock.
    func extendLocks(_ keys: [String]) throws

    /// Every object under `prefix` (any depth), with size and modification
    /// time, sorted by key; hidden entries and folders excluded. For the
    /// mark-and-sweep of format v2 chunks.
    func objects(under prefix: String) throws -> [StoredObject]

    /// Deletes one object; nothing happens when it is absent.
    func delete(_ key: String) throws

    /// The names directly under `prefix` (like one folder level), sorted; hidden entries excluded.
    func children(of prefix: String) throws -> [String]

    /// Size of an object, or nil when absent.
    func size(of key: String) throws -> Int64?

    /// True when at least one object lies anywhere under `prefix`. A prefix
    /// that holds only empty folders (SeaweedFS keeps them after a delete) holds none.
    func containsObjects(under prefix: String) throws -> Bool

    /// Deletes every object under `prefix` (one bundle), on a versioned bucket
    /// every version (a delete marker alone frees nothing and hides what is
    /// kept). The bundle stops being visible before its objects go, so an
    /// interrupted delete never leaves a half bundle that looks whole. Throws
    /// `StorageError.denied` when the server refuses (a lock, a policy).
    func deleteBundle(at prefix: String) throws

    /// Bytes that can still be written, when the storage can tell (a local disk); nil otherwise.
    func availableBytes() throws -> Int64?

    /// Removes leftovers of bundle writes and deletes that were interrupted
    /// (crashed or killed). Where the storage cannot tell whether the writer
    /// still runs (S3), only leftovers older than a day before `now` (seconds since 1970) go.
    func removeAbandonedWrites(now: Int64) throws -> Int

    /// Writes and deletes a small probe object: proves the repository accepts
    /// writes. A refused delete is no failure: a write-only credential is a sound setup.
    func checkWritable() throws

    /// Object Lock and versioning of the bucket, as the server reports them;
    /// nil for storage that has neither (a local folder).
    func protection() throws -> BucketProtection?

    /// Until when (seconds since 1970) the server refuses to delete some
    /// version of an object under `prefix` (a bundle): Object Lock retention or
    /// a legal hold. Nil when nothing there is locked at `now`.
    func lockedUntil(bundleAt prefix: String, now: Int64) throws -> Int64?

    /// The retention the server keeps for the current version of `key`; nil
    /// for storage without Object Lock, or when the bucket has it off.
    func retention(of key: String) throws -> ObjectRetention?
}

extension Storage {
    public func protection() throws -> BucketProtection? { nil }
    public func extendLocks(_ keys: [String]) throws {}
    public func lockedUntil(bundleAt prefix: String, now: Int64) throws -> Int64? { nil }
    public func retention(of key: String) throws -> ObjectRetention? { nil }

    /// Streams a whole object into `sink`.
    public func read(_ key: String, into sink: ByteSink) throws {
        try read(key, range: nil, into: sink)
    }
}

/// One object as a listing shows it.
public struct StoredObject: Sendable, Equatable {
    /// Repository-relative key.
    public var key: String
    public var size: Int64
    /// Seconds since 1970 (S3: LastModified; local: mtime).
    public var modified: Int64

    public init(key: String, size: Int64, modified: Int64) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}

/// The objects of one bundle being written.
public protocol BundleWriter: AnyObject {
    /// Writes one object (relative to the bundle) from what `produce` pushes into the sink.
    func write(_ name: String, _ produce: (ByteSink) throws -> Void) throws
    /// Publishes every object at once.
    func commit() throws
    /// Discards everything written so far.
    func abort()
}

/// A storage failure.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case notFound, io, exists
        /// The object is not what a repository holds: larger than its kind or
        /// its manifest allows, or (locally) not a regular file (a FIFO, a
        /// device, a symbolic link, a directory).
        case invalid
        /// The server refused the credentials or the permission.
        case denied
        /// The repository address or storage settings are wrong.
        case config
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
