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
    /// Where restore writes the variables: a dotenv file, edited in place (its
    /// other lines, mode and owner kept), or created with mode 0600.
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

    /// The selected variables, sorted by name. Values are bytes: a dotenv file need not be UTF-8.
    public func collect() throws -> [(name: String, value: [UInt8])] { try read().variables }

    /// The selected variables, and for a dotenv file its lines that are not
    /// assignments (skipped, so one odd line does not stop every snapshot).
    private func read() throws -> (variables: [(name: String, value: [UInt8])], unreadable: [Dotenv.ParseError]) {
        var available: [(name: String, value: [UInt8])]
        var unreadable: [Dotenv.ParseError] = []
        if let file {
            var bytes: [UInt8]
            do { bytes = try FileSystem.readFile(file, limit: 64 << 20) } catch {
                throw SourceError(name, "cannot read the env file \(file): \(error)")
            }
            defer { wipe(&bytes) }
            (available, unreadable) = Dotenv.read(bytes)
        } else {
            available = environment.map { ($0.key, Array($0.value.utf8)) }
        }
        let selects = try selector()
        for index in available.indices where !selects(available[index].name) { wipe(&available[index].value) }
        return (available.filter { selects($0.name) }.sorted { $0.name < $1.name }, unreadable)
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
        let collected = try read()
        var variables = collected.variables
        defer { for index in variables.indices { wipe(&variables[index].value) } }
        var text = Dotenv.render(variables)
        defer { wipe(&text) }
        try text.withUnsafeBytes { try sink($0) }
        let lines = collected.unreadable.map { "\($0.line) (\($0.reason))" }
        return SourceFacts(
            source: ["origin": .string(file == nil ? "process environment" : "dotenv file"), "format": .string("dotenv")],
            stats: ["variables": .int(Int64(variables.count))],
            notes: lines.isEmpty ? [] : [
                "\(name): \(file ?? ""): line\(lines.count == 1 ? "" : "s") \(lines.joined(separator: ", ")) \(lines.count == 1 ? "is" : "are") not NAME=value and \(lines.count == 1 ? "was" : "were") not backed up"
            ])
    }

    /// Parses an env artifact's plaintext (which Coffer wrote, so any odd line is an error) and returns its stats.
    public static func inspect(_ text: [UInt8]) throws -> (variables: [(name: String, value: [UInt8])], stats: [String: JSONValue]) {
        let variables: [(name: String, value: [UInt8])]
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

    /// Stages the file the restore will put in place: the current file edited,
    /// not rewritten. Each variable of the bundle takes the place of its first
    /// assignment (or is appended); every other byte, lines Coffer cannot read
    /// included, stays as it is. The staged file gets the current file's mode
    /// and, where the process may set it, its owner (a new file: 0600). The
    /// stats are those of the bundle's variables alone.
    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        let path = try target()
        var artifact: [UInt8] = []
        defer { wipe(&artifact) }
        try plaintext { artifact += $0 }
        let bundle = try Self.inspect(artifact)
        var variables = bundle.variables
        defer { for index in variables.indices { wipe(&variables[index].value) } }
        var notes: [String] = []
        var staged: [UInt8]
        let existing = try FileSystem.status(of: path)
        if existing != nil {
            // A file that exists but cannot be read stops the restore here: replacing it would lose what it holds.
            var current = try FileSystem.readFile(path, limit: 64 << 20)
            defer { wipe(&current) }
            staged = Dotenv.edit(current, setting: variables)
            let selects = try selector()
            let restored = Set(variables.map(\.name))
            let kept = Set(Dotenv.scan(current).compactMap { span -> String? in
                guard case .assignment(let name, _) = span.kind, selects(name), !restored.contains(name) else { return nil }
                return name
            })
            if !kept.isEmpty {
                notes.append("\(name): \(kept.count) critical variable\(kept.count == 1 ? "" : "s") of \(path) not in the bundle \(kept.count == 1 ? "was" : "were") left as \(kept.count == 1 ? "it is" : "they are")")
            }
        } else {
            staged = Dotenv.render(variables)
        }
        defer { wipe(&staged) }
        let staging = SideFiles(target: path).staging(restoreID)
        try FileSystem.removeFile(staging)
        var file = try FileSystem.createFile(staging, permissions: existing?.permissions ?? 0o600)
        do {
            if let existing, let note = try keepOwner(existing, of: path, on: file) { notes.append(note) }
            try file.write(staged)
            try file.sync()
            try file.close()
        } catch {
            try? FileSystem.removeFile(staging)
            throw error
        }
        return StageReport(stats: bundle.stats, notes: notes)
    }

    /// Gives the staged file the current file's owner and group; root may, and
    /// so may the owner for a group it is in. Otherwise the operator hears who
    /// will own the restored file, since the application may no longer read it.
    private func keepOwner(_ existing: FileStatus, of path: String, on file: borrowing FileDescriptor) throws -> String? {
        let made = try file.status()
        if made.owner == existing.owner && made.group == existing.group { return nil }
        if try file.setOwner(user: existing.owner, group: existing.group) {
            try file.setPermissions(existing.permissions)  // fchown may clear set-id bits
            return nil
        }
        return "\(name): the restored \(path) will belong to user \(made.owner), group \(made.group), not \(existing.owner), \(existing.group) as now (only root can keep them, or the owner for a group it is in)"
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
