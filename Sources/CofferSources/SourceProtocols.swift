import CofferFormat
import CofferSystem

/// Non-secret facts a snapshot records: `source` (versions, formats) and `stats`
/// (counts a restore compares).
public struct SourceFacts: Sendable {
    public var source: [String: JSONValue]
    public var stats: [String: JSONValue]
    /// What the operator should hear about this snapshot (a fallback taken, say).
    public var notes: [String]

    public init(source: [String: JSONValue], stats: [String: JSONValue], notes: [String] = []) {
        self.source = source
        self.stats = stats
        self.notes = notes
    }
}

/// What staging found: the stats to compare with the manifest, and what the
/// operator should hear (keys that expired since the snapshot, say).
public struct StageReport: Sendable {
    public var stats: [String: JSONValue]
    public var notes: [String]

    public init(stats: [String: JSONValue], notes: [String] = []) {
        self.stats = stats
        self.notes = notes
    }
}

/// Something Coffer takes a snapshot of: a database, a set of variables.
public protocol SnapshotSource {
    var name: String { get }
    var kind: ArtifactKind { get }
    /// Extension of the plaintext artifact (`sqlite`, `env`).
    var fileExtension: String { get }
    /// About how many plaintext bytes a snapshot will read (for space checks before any work).
    func estimatedSize() -> Int64
    /// gzip's level for the artifact: 6 unless the data is compressed already.
    var compressionLevel: Int32 { get }
    /// Streams one consistent snapshot into `sink`. `workDirectory` is a private
    /// folder (0700) for temporary copies, which must not outlive the call.
    func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts
}

extension SnapshotSource {
    public var compressionLevel: Int32 { 6 }
}

/// Something a restore replaces, in steps that a journal can record:
/// stage beside the target, commit quickly (keeping the old content), undo.
/// `commit` must be safe to run again after a crash part-way through it.
public protocol RestoreTarget {
    var name: String { get }
    var kind: ArtifactKind { get }
    /// The live target, for plans and messages.
    var targetDescription: String { get }
    /// Writes the plaintext of `entry` beside the target, checks it, and returns its stats.
    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport
    /// Swaps the staged content in, first keeping the current content aside.
    /// When it throws, the target holds its previous content.
    func commit(restoreID: String) throws
    /// Puts the kept content back (after a failed restore, or for rollback).
    func undo(restoreID: String) throws
    /// Removes the staged content of a restore that will not be committed.
    func discardStage(restoreID: String)
    /// Removes the kept pre-restore content once it is no longer wanted.
    func finalize(restoreID: String) throws
    /// True when the pre-restore content is still kept (rollback is possible).
    func hasPreRestoreCopy(restoreID: String) -> Bool
}

/// Paths beside a target: `.NAME.coffer-stage-ID` and `NAME.pre-restore-ID`.
struct SideFiles {
    let target: String

    func staging(_ restoreID: String) -> String {
        FileSystem.join(FileSystem.directoryName(of: target), ".\(FileSystem.baseName(of: target)).coffer-stage-\(restoreID)")
    }

    func preRestore(_ restoreID: String) -> String { "\(target).pre-restore-\(restoreID)" }

    /// Marks that the target did not exist before the restore.
    func absentMarker(_ restoreID: String) -> String { preRestore(restoreID) + ".absent" }

    /// A byte-for-byte copy of a target that could not be read as a database.
    func rawCopy(_ restoreID: String) -> String { preRestore(restoreID) + ".raw" }
}

/// Writes what `produce` pushes into a new file (mode 0600), durably unless
/// it is a temporary file that will not outlive the command (`durable: false`).
func writeNewFile(_ path: String, durable: Bool = true, _ produce: (ByteSink) throws -> Void) throws {
    try? FileSystem.removeFile(path)
    var file = try FileDescriptor(opening: path, .createNew(permissions: 0o600))
    do {
        try withWriteBehind({ try file.write($0) }) { sink in try produce(sink) }
        if durable { try file.sync() }
        try file.close()
    } catch {
        try? FileSystem.removeFile(path)
        throw error
    }
}

/// Streams a file into `sink`.
func streamFile(_ path: String, into sink: ByteSink) throws {
    let file = try FileDescriptor(opening: path, .readOnly)
    try forEachBlock(read: { try file.read(into: $0) }, blockSize: 1 << 20, sink)
}

/// Overwrites bytes that held secrets (env values) before they are freed.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        for index in buffer.indices { buffer[index] = 0 }
    }
}
