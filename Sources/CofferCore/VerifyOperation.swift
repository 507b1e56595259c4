import CofferCrypto
import CofferFormat
import CofferSources
import CofferSystem

/// The outcome of `coffer verify`.
public struct VerifyReport: Sendable {
    public struct Artifact: Sendable {
        public var name: String
        public var kind: ArtifactKind
        public var plainBytes: Int64
        /// nil when the artifact passed every check that ran.
        public var problem: String?
        /// What was compared, in words (what `--restore-test` adds to `--deep`, say).
        public var checked = ""
    }

    public var id: String
    public var environment: String
    public var deep: Bool
    public var signer: String
    public var artifacts: [Artifact]
    public var passed: Bool { artifacts.allSatisfy { $0.problem == nil } }
}

/// `coffer verify`: the signature and every object's SHA-256 (public keys
/// only); with `deep`, also decrypts, decompresses and checks each artifact's
/// format and counts against the manifest.
public struct VerifyOperation {
    public let config: CofferConfig
    public let progress: any ProgressReporter
    /// With `--restore-test`: the environment holding the servers' connection
    /// strings; PostgreSQL artifacts are then restored into a temporary database,
    /// their rows counted against the manifest, and the database dropped.
    public var restoreTestEnvironment: [String: String]?

    public init(config: CofferConfig, progress: any ProgressReporter) {
        self.config = config
        self.progress = progress
    }

    public func run(reference: String, deep: Bool) throws -> VerifyReport {
        let environment = config.environment.rawValue
        let keys = KeyStore(directory: config.keysDirectory)
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let id = try repository.resolve(reference, environment: environment, now: try Clock.now())
        let manifest = try repository.verifiedManifest(environment: environment, id: id, trusted: try keys.trustedSigners())
        return try check(manifest, in: repository, deep: deep)
    }

    /// Checks the objects of a bundle whose manifest has verified. Audit calls
    /// it for every bundle of one listing: resolving each id again would list
    /// the repository once per bundle.
    func check(_ manifest: Manifest, in repository: Repository, deep: Bool) throws -> VerifyReport {
        let environment = config.environment.rawValue
        let id = manifest.id
        let keys = KeyStore(directory: config.keysDirectory)
        RollbackGuard.raise(config, bundle: id)
        let reader = BundleReader(repository: repository, manifest: manifest)
        let identities: [any AgeIdentity] = deep ? try keys.identities(environment) : []
        var report = VerifyReport(id: id, environment: environment, deep: deep, signer: manifest.signer, artifacts: [])
        try StateDirectory(config: config).withScratch { scratch in
            for entry in manifest.artifacts {
                var result = VerifyReport.Artifact(name: entry.name, kind: entry.kind, plainBytes: entry.plainBytes)
                progress.begin("\(entry.name): \(deep ? "decrypting and checking" : "checking digests")")
                do {
                    // Deep: the digests are checked while decrypting, in the same read.
                    if deep {
                        result.checked = try deepCheck(entry, reader: reader, identities: identities, scratch: scratch)
                    } else {
                        try reader.checkObjects(entry)
                        result.checked = "size and SHA-256 of the header and payload objects"
                    }
                } catch let error as FormatError {
                    result.problem = error.message
                } catch let error as AgeError {
                    result.problem = "\(entry.name): \(error)"
                } catch let error as SourceError {
                    result.problem = error.description
                } catch {
                    // Anything else about this one artifact (an oversized object, a read error) is its problem too.
                    result.problem = "\(entry.name): \(error)"
                }
                progress.end()
                report.artifacts.append(result)
            }
        }
        return report
    }

    /// Decrypts into the private scratch folder and checks the format there; returns what it compared.
    private func deepCheck(_ entry: ArtifactEntry, reader: BundleReader, identities: [any AgeIdentity], scratch: String) throws -> String {
        let plain = FileSystem.join(scratch, "\(entry.name).check")
        defer { try? FileSystem.removeFile(plain) }
        var file = try FileDescriptor(opening: plain, .createNew(permissions: 0o600))
        try withWriteBehind({ try file.write($0) }) { sink in
            try reader.open(entry, identities: identities) { chunk in
                progress.advance(by: chunk.count)
                try sink(chunk)
            }
        }
        try file.close()
        let stats: [String: JSONValue]
        let checked: String
        let tables = entry.stats["tables"]?.objectValue ?? [:]
        let rows = tables.values.reduce(Int64(0)) { total, value in total + (value.intValue ?? 0) }
        let digests = entry.chunks.map { "size and SHA-256 of the objects of \(Set($0.map(\.id)).count) chunk(s), decrypted" } ?? "size and SHA-256 of both objects, decrypted"
        switch entry.kind {
        case .sqlite:
            stats = try SQLiteSource.inspect(plain, name: entry.name)
            checked = "\(digests); integrity_check ok; rows of \(tables.count) tables (\(rows) rows) equal the manifest's"
        case .redis:
            stats = try RedisSource.inspect(plain, name: entry.name)
            let keys = (entry.stats["keys"]?.objectValue ?? [:]).values.reduce(Int64(0)) { $0 + ($1.intValue ?? 0) }
            checked = "\(digests); every record and the CRC-64 read; keys (\(keys)) and function libraries equal the manifest's"
        case .postgres:
            try PostgresSource.check(plain, entry: entry, scratch: scratch)
            guard let environment = restoreTestEnvironment else {
                return "\(digests); pg_restore --list reads it and it holds the data of the manifest's \(tables.count) tables (rows are counted with --restore-test)"
            }
            stats = try restoreTest(entry, plain: plain, environment: environment)
            checked = "\(digests); restored into a temporary database (dropped again), rows of \(tables.count) tables (\(rows) rows) equal the manifest's"
        case .env:
            stats = try EnvSource.inspect(try FileSystem.readFile(plain, limit: 64 << 20)).stats
            checked = "\(digests); \(entry.stats["variables"]?.intValue ?? 0) variables, as the manifest says"
        case .file:
            stats = try FilesSource.inspect(plain, entry: entry)
            let listed = entry.source["files_listed"]?.intValue ?? 0
            checked = "\(digests); the tar read through, \(entry.stats["files"]?.intValue ?? 0) files (size and SHA-256 of \(listed) listed ones) equal the manifest's"
        }
        try compareStats(stats, entry)
        return checked
    }
}

extension VerifyOperation {
    /// Restores a PostgreSQL dump into a temporary database beside the configured
    /// one and returns its row counts; the database is dropped whatever happens.
    func restoreTest(_ entry: ArtifactEntry, plain: String, environment: [String: String]) throws -> [String: JSONValue] {
        guard let settings = config.postgres.first(where: { $0.name == entry.name }) else {
            throw SourceError(entry.name, "--restore-test needs a [[postgres]] source named \(entry.name) in \(config.path) to know the server")
        }
        let source = PostgresSource(name: entry.name, urlEnv: settings.urlEnv, environment: environment)
        let testID = "verify-" + BundleID.make(at: try Clock.now(environment: environment))
        defer { source.discardStage(restoreID: testID) }
        progress.begin("\(entry.name): restoring into a temporary database")
        defer { progress.end() }
        return try source.stage(restoreID: testID, entry: entry) { sink in
            let file = try FileDescriptor(opening: plain, .readOnly)
            try forEachBlock(read: { try file.read(into: $0) }, blockSize: 1 << 20, sink)
        }.stats
    }
}

/// Fails when what was found differs from the counts the manifest recorded.
func compareStats(_ found: [String: JSONValue], _ entry: ArtifactEntry) throws {
    guard found == entry.stats else {
        throw SourceError(entry.name, "counts differ from the manifest: found \(JSONValue.object(found)), manifest says \(JSONValue.object(entry.stats))")
    }
}
