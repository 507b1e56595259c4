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

/// What a restore target holds, as the target itself answers when asked
/// (after an error or a crash, instead of guessing from the error).
public enum TargetContent: String, Sendable, Codable {
    /// What it held before the restore.
    case previous
    /// The bundle's content.
    case bundle
    /// A commit or undo was cut short and either may be there; the kept copy
    /// exists, and running the commit or the undo again is safe.
    case unsettled
}

/// Something a restore replaces, in steps that a journal can record:
/// stage beside the target, commit quickly (keeping the old content), undo.
/// `commit` and `undo` must be safe to run again after a crash part-way
/// through them, and `content` must answer from the target itself.
public protocol RestoreTarget {
    var name: String { get }
    var kind: ArtifactKind { get }
    /// The live target, for plans and messages.
    var targetDescription: String { get }
    /// False when a commit keeps no copy to go back to (`--in-place`): such a target commits last.
    var canUndo: Bool { get }
    /// Writes the plaintext of `entry` beside the target, checks it, and returns its stats.
    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport
    /// Swaps the staged content in, first keeping the current content aside.
    /// An error does not prove nothing changed (an answer can be lost): ask `content`.
    func commit(restoreID: String) throws
    /// Puts the kept content back (after a failed restore, or for rollback).
    func undo(restoreID: String) throws
    /// Which content the target holds now; throws when it cannot be asked (a server down).
    func content(restoreID: String) throws -> TargetContent
    /// Removes the staged content of a restore that will not be committed.
    func discardStage(restoreID: String)
    /// Removes the kept pre-restore content once it is no longer wanted.
    func finalize(restoreID: String) throws
    /// True when the pre-restore content is still kept (rollback is possible); throws when it cannot be asked.
    func hasPreRestoreCopy(restoreID: String) throws -> Bool
}

extension RestoreTarget {
    public var canUndo: Bool { true }
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
