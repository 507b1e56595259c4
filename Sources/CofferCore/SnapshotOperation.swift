import CofferCrypto
import CofferFormat
import CofferSources
import CofferStorage
import CofferSystem
import Foundation

/// What a snapshot made.
public struct SnapshotResult: Sendable {
    public var manifest: Manifest
    /// Things the operator should know (an included variable that is not set, say).
    public var warnings: [String]
    /// Leftovers of interrupted snapshots that were removed first.
    public var removedLeftovers: Int
    /// Format v2: what was uploaded and what the repository held already.
    public var chunks: ChunkSummary?
}

/// The chunks of one format v2 snapshot.
public struct ChunkSummary: Sendable {
    /// Chunks uploaded, and their stored bytes.
    public var newChunks: Int
    public var newBytes: Int64
    /// Chunks the repository held already, and their plaintext bytes.
    public var reusedChunks: Int
    public var reusedPlainBytes: Int64
    /// "cache", "updated" or "rebuilt": how the index of known chunks was had.
    public var index: String
}

/// `coffer snapshot`: every source sealed into one signed bundle. The bundle
/// appears whole or not at all; on failure nothing is left behind.
public struct SnapshotOperation {
    public let config: CofferConfig
    public let keys: KeyStore
    public let environment: [String: String]
    public let progress: any ProgressReporter

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.keys = KeyStore(directory: config.keysDirectory)
        self.environment = environment
        self.progress = progress
    }

    public func run(label: String?, signingKey: MinisignSecretKey) throws -> SnapshotResult {
        let environmentName = config.environment.rawValue
        let sources = try SourceCatalog.sources(config, environment: environment)
        let recipients = try keys.recipients(environmentName)
        let trusted = try keys.signingPublicKey()
        guard trusted.keyID == signingKey.keyID else {
            throw CofferError(
                .key, "\(keys.signingKeyPath) (key id \(signingKey.keyID)) does not match \(keys.signingPublicKeyPath) (\(trusted.keyID)); bundles it signed would not verify")
        }
        // Before the repository is listed, so a bundle written meanwhile is in the listing.
        let (mark, markWarning) = RollbackGuard.mark(config)
        let repository = try Repository.open(config)
        let chunked = try repository.prepareForWriting(chunked: config.chunked)
        let now = try Clock.now(environment: environment)
        // The id comes from the clock; an id planted in the future is not "latest" and cannot push it.
        let ids = try repository.bundleIDs(environment: environmentName, now: now)
        let latest = ids.last
        var warnings: [String] = markWarning.map { [$0] } ?? []
        // The newest manifest that can be read: one that is a FIFO, a folder or oversized must not stop backups.
        var latestBytes: [UInt8]? = nil
        for id in ids.reversed() {
            do {
                latestBytes = try repository.manifestBytes(environment: environmentName, id: id).manifest
                break
            } catch let error as StorageError where error.kind == .invalid {
                warnings.append("bundle \(id) is ignored: its manifest cannot be read (\(error.message))")
            }
        }
        // A rotated manifest names the digest it had when first written: the chain links those.
        let previous = latestBytes.map { (try? Manifest.parse($0))?.original ?? Manifest.digest(of: $0) }
        try SpaceCheck.check(
            sources: sources, previous: latestBytes.flatMap { try? Manifest.parse($0) }, repository: repository,
            state: StateDirectory(config: config))
        guard try keys.trustedSigners().allows(signingKey.keyID, at: now) else {
            throw CofferError(
                .key, "signing key \(signingKey.keyID) is not a trusted signer now (see \(keys.trustedSignersPath)); bundles it signed would not verify")
        }
        let removed = try repository.storage.removeAbandonedWrites(now: Int64(now.timeIntervalSince1970))
        let id = BundleID.make(at: now, after: latest)
        // A rollback found now is recorded before this bundle would hide it.
        let rollback = RollbackGuard(config: config, repository: repository, trusted: try keys.trustedSigners(), now: now)
        let (alarms, markWarnings) = rollback.assess(mark, present: ids, journal: true, raiseJournal: false)
        warnings += alarms + markWarnings
        if let env = sources.compactMap({ $0 as? EnvSource }).first, case let missing = try env.missingNames(), !missing.isEmpty {
            warnings.append("env: \(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") not set and not in the bundle")
        }

        let state = StateDirectory(config: config)
        var chunkIndex: ChunkIndex?
        var chunkWriter: ChunkWriter?
        if chunked {
            let index = try ChunkIndex.load(repository: repository, environment: environmentName, ids: ids, trusted: try keys.trustedSigners(), state: state)
            chunkIndex = index
            chunkWriter = ChunkWriter(
                storage: repository.storage, environment: environmentName, recipients: recipients, key: try keys.chunkKey(created: Clock.format(now)),
                index: index)
        }
        let writer = try repository.storage.beginBundle(at: BundleLayout.bundlePrefix(environment: environmentName, id: id))
        do {
            var artifacts: [ArtifactEntry] = []
            try state.withScratch { scratch in
                for source in sources {
                    let (artifact, notes) = try seal(source, recipients: recipients, writer: writer, chunks: chunkWriter, scratch: scratch)
                    artifacts.append(artifact)
                    warnings += notes
                    if environment["COFFER_FAULT"] == "snapshot-after-artifact" { ProcessIdentity.crashForTesting() }
                    // A slow source, for the lock and serve tests: `snapshot-pause-SECONDS` sleeps after each artifact.
                    if let fault = environment["COFFER_FAULT"], fault.hasPrefix("snapshot-pause-"), let seconds = Double(fault.dropFirst(15)) {
                        Thread.sleep(forTimeInterval: seconds)
                    }
                }
            }
            let manifest = Manifest(
                id: id, environment: environmentName, label: label, createdAt: Clock.format(now), host: ProcessIdentity.hostName,
                tool: CofferVersion.tool, recipients: recipients.map(\.description), signer: signingKey.keyID.description,
                previous: previous, artifacts: artifacts, format: chunked ? Manifest.formatV2 : Manifest.formatV1)
            let bytes = try manifest.canonicalBytes()
            let signature = ManifestSignature.sign(bytes, manifest: manifest, with: signingKey)
            try writer.write(BundleLayout.signatureName) { sink in try signature.withUnsafeBytes { try sink($0) } }
            try writer.write(BundleLayout.manifestName) { sink in try bytes.withUnsafeBytes { try sink($0) } }
            try chunkWriter?.sync()
            if environment["COFFER_FAULT"] == "snapshot-before-commit" { ProcessIdentity.crashForTesting() }
            try writer.commit()
            var summary: ChunkSummary?
            if var index = chunkIndex, let chunkWriter {
                index.add(manifest, signatureDigest: hexString(SHA256.hash(signature)))
                index.save(repository: repository, environment: environmentName, state: state)
                summary = ChunkSummary(
                    newChunks: chunkWriter.newChunks, newBytes: chunkWriter.newBytes, reusedChunks: chunkWriter.reusedChunks,
                    reusedPlainBytes: chunkWriter.reusedPlainBytes, index: index.origin)
            }
            var details: [String: JSONValue] = [
                "bundle": .string(id), "artifacts": .array(artifacts.map { .string($0.name) }), "manifest_sha256": .string(Manifest.digest(of: bytes)),
            ]
            if let label { details["label"] = .string(label) }
            if let problem = JournalRecorder.record(
                repository: repository, environment: environmentName, kind: "snapshot", details: details, at: now, signingKey: signingKey)
            {
                warnings.append(problem)
            }
            if mark != nil {
                do {
                    let sequence = try Journal(repository: repository, environment: environmentName).newestVerifiedSequence(trusted: try keys.trustedSigners())
                    try rollback.store.raise(bundle: id, journal: sequence, at: now)
                } catch {
                    warnings.append("the high-water mark \(rollback.store.path) could not be raised to \(id): \(error)")
                }
            }
            return SnapshotResult(manifest: manifest, warnings: warnings, removedLeftovers: removed, chunks: summary)
        } catch {
            writer.abort()
            throw error
        }
    }

    private func seal(
        _ source: any SnapshotSource & RestoreTarget, recipients: [AgeX25519Recipient], writer: any BundleWriter, chunks: ChunkWriter?,
        scratch: String
    ) throws -> (ArtifactEntry, notes: [String]) {
        let path = BundleLayout.artifactPath(name: source.name, fileExtension: source.fileExtension)
        progress.begin("\(source.name) (\(source.kind.rawValue))")
        defer { progress.end() }
        let started = MonotonicTime.now
        if let chunks {
            var facts: SourceFacts?
            let sealed = try chunks.seal(level: source.compressionLevel) { plain in
                facts = try source.snapshot(workDirectory: scratch) { chunk in
                    progress.advance(by: chunk.count)
                    try plain(chunk)
                }
            }
            guard let facts else { throw CofferError(.failure, "\(source.name): the snapshot produced nothing") }
            var entry = ArtifactEntry(
                name: source.name, kind: source.kind, path: path, plainBytes: sealed.plainBytes, chunks: sealed.chunks, source: facts.source,
                stats: facts.stats)
            entry.snapshotSeconds = ((MonotonicTime.now - started) * 1000).rounded() / 1000
            return (entry, facts.notes)
        }
        var headerBytes: [UInt8] = []
        var facts: SourceFacts?
        var sealed: SealedArtifact?
        try writer.write(path + "-payload") { payload in
            sealed = try ArtifactPipeline.seal(recipients: recipients, level: source.compressionLevel, header: { headerBytes += $0 }, payload: payload) { plain in
                facts = try source.snapshot(workDirectory: scratch) { chunk in
                    progress.advance(by: chunk.count)
                    try plain(chunk)
                }
            }
        }
        try writer.write(path + "-header") { sink in try headerBytes.withUnsafeBytes { try sink($0) } }
        guard let facts, let sealed else { throw CofferError(.failure, "\(source.name): the snapshot produced nothing") }
        var entry = ArtifactEntry(
            name: source.name, kind: source.kind, path: path, plainBytes: sealed.plainBytes, header: sealed.header,
            payload: sealed.payload, source: facts.source, stats: facts.stats)
        entry.snapshotSeconds = ((MonotonicTime.now - started) * 1000).rounded() / 1000
        return (entry, facts.notes)
    }
}
