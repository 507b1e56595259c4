import CofferFormat
import CofferSystem
import Foundation

/// The critical environment variables: the names in `include` plus those that
/// match `pattern`, from the process environment or a dotenv file. Only their
/// number goes into the manifest; names and values exist only inside the
/// encrypted artifact.
public struct EnvSource: SnapshotSource, RestoreTarget {
    public let name = "env"
    public var include: [String]
    public var pattern: String?
    /// A dotenv file to read instead of the process environment.
    public var file: String?
    /// Where restore writes the variables (a dotenv file, mode 0600).
    public var restoreTo: String?
    /// The environment to read when `file` is nil.
    public var environment: [String: String]

    public var kind: ArtifactKind { .env }
    public var fileExtension: String { "env" }
    public var targetDescription: String { restoreTo ?? "(no restore_to configured)" }

    public init(include: [String], pattern: String?, file: String?, restoreTo: String?, environment: [String: String]) {
        self.include = include
        self.pattern = pattern
        self.file = file
        self.restoreTo = restoreTo
        self.environment = environment
    }

    /// The selected variables, sorted by name.
    public func collect() throws -> [(name: String, value: String)] {
        let available: [(name: String, value: String)]
        if let file {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw SourceError(name, "cannot read the env file \(file)")
            }
            do { available = try Dotenv.parse(text) } catch { throw SourceError(name, "\(file): \(error)") }
        } else {
            available = environment.map { ($0.key, $0.value) }
        }
        let selects = try selector()
        return available.filter { selects($0.name) }.sorted { $0.name < $1.name }
    }

    /// Whether a variable name is one of the critical ones (in `include` or matching `pattern`).
    func selector() throws -> (String) -> Bool {
        let regex: NSRegularExpression?
        if let pattern {
            do { regex = try NSRegularExpression(pattern: pattern) } catch {
                throw SourceError(name, "pattern '\(pattern)' is not a valid regular expression")
            }
        } else {
            regex = nil
        }
        let wanted = Set(include)
        return { name in
            if wanted.contains(name) { return true }
            guard let regex else { return false }
            return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }
    }

    /// Names from `include` that are not set, so an operator sees a missing secret at snapshot time.
    public func missingNames() throws -> [String] {
        let present = Set(try collect().map(\.name))
        return include.filter { !present.contains($0) }.sorted()
    }

    /// Variables are small; a dotenv file is its size.
    public func estimatedSize() -> Int64 {
        file.flatMap { (try? FileSystem.status(of: $0))??.size } ?? 64 * 1024
    }

    public func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts {
        let variables = try collect()
        var text = Array(Dotenv.render(variables).utf8)
        defer { wipe(&text) }
        try text.withUnsafeBytes { try sink($0) }
        return SourceFacts(
            source: ["origin": .string(file == nil ? "process environment" : "dotenv file"), "format": .string("dotenv")],
            stats: ["variables": .int(Int64(variables.count))])
    }

    /// Parses an env artifact's plaintext and returns its stats.
    public static func inspect(_ text: String) throws -> (variables: [(name: String, value: String)], stats: [String: JSONValue]) {
        let variables: [(name: String, value: String)]
        do { variables = try Dotenv.parse(text) } catch { throw SourceError("env", "the env artifact is malformed: \(error)") }
        return (variables, ["variables": .int(Int64(variables.count))])
    }

    // MARK: Restore

    /// The file restore writes; a symbolic link is followed, so the real file is replaced, not the link.
    private func target() throws -> String {
        guard let restoreTo else {
            throw SourceError(name, "no [env] restore_to is configured, so there is nowhere to restore the variables")
        }
        return FileSystem.resolvingSymbolicLinks(restoreTo)
    }

    /// Stages the file the restore will put in place: the bundle's variables,
    /// plus every variable of the current file that is not a critical one (so
    /// restoring the critical variables never drops the others). The stats are
    /// those of the bundle's variables alone.
    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        let path = try target()
        var artifact: [UInt8] = []
        defer { wipe(&artifact) }
        try plaintext { artifact += $0 }
        let (variables, stats) = try Self.inspect(String(decoding: artifact, as: UTF8.self))
        var merged = variables
        if let data = try? FileSystem.readFile(path, limit: 64 << 20), let current = try? Dotenv.parse(String(decoding: data, as: UTF8.self)) {
            // An unreadable current file is replaced whole; its pre-restore copy keeps it.
            let selects = try selector()
            merged = current.filter { !selects($0.name) } + variables
        }
        var text = Array(Dotenv.render(merged).utf8)
        defer { wipe(&text) }
        try writeNewFile(SideFiles(target: path).staging(restoreID)) { sink in try text.withUnsafeBytes { try sink($0) } }
        return StageReport(stats: stats)
    }

    /// The file swap for this restore (see `FileSwap`).
    private func swap(_ restoreID: String) throws -> FileSwap { FileSwap(target: try target(), restoreID: restoreID) }

    /// Keeps the current file aside (a hard link: same bytes, mode and owner), then renames the staged file over it.
    public func commit(restoreID: String) throws { try swap(restoreID).commit(name: name) }

    public func undo(restoreID: String) throws { try swap(restoreID).undo() }

    public func content(restoreID: String) throws -> TargetContent { try swap(restoreID).content(name: name) }

    public func discardStage(restoreID: String) { (try? swap(restoreID))?.discardStage() }

    public func finalize(restoreID: String) throws { try swap(restoreID).finalize() }

    public func hasPreRestoreCopy(restoreID: String) throws -> Bool { try swap(restoreID).hasKeptCopy }
}
