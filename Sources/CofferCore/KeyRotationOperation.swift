import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem
import Foundation

/// What `coffer keys rotate` did.
public struct RotationReport: Sendable {
    /// The new active recipient.
    public var recipient: String
    /// Bundles whose headers were rewrapped now.
    public var rotated: [String]
    /// Bundles that were already done (by an earlier, interrupted run).
    public var alreadyDone: [String]
    /// Bytes read from and written to the repository (headers and manifests only).
    public var bytesMoved: Int64
    /// Replaced objects still in the repository: Object Lock keeps them until
    /// their retention ends, or the server refused their delete.
    public var leftBehind: [String] = []
}

/// `coffer keys rotate`: a new age identity for an environment, and every
/// bundle rewrapped for it without touching a payload byte.
///
/// For each artifact the file key is unwrapped from the header object with the
/// old identity and wrapped for the new recipient in a new header object
/// (`NAME.gz.GEN.age-header`) beside the untouched payload; then the manifest
/// is re-signed. Crash-safe at every step: the new manifest and its signature
/// are first written complete beside the old pair (`manifest.json.rotating`),
/// then copied over it; readers fall back to that pair while the main one is
/// half-replaced; old headers go only once the main manifest names the new
/// ones. The keys folder keeps the old identity (retired) until every bundle
/// is rotated, and the new one is generated once (`ENV.age.next`) so a re-run
/// resumes with it.
public struct KeyRotationOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    var keys: KeyStore { KeyStore(directory: config.keysDirectory) }
    var environmentName: String { config.environment.rawValue }
    var pendingIdentityPath: String { keys.identityPath(environmentName) + ".next" }

    public func run(signingKey: MinisignSecretKey, reencrypt: Bool = false) throws -> RotationReport {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let current = try keys.signingPublicKey()
        guard current.keyID == signingKey.keyID else {
            throw CofferError(.key, "signing.key (\(signingKey.keyID)) is not the key of signing.pub (\(current.keyID))")
        }
        let trusted = try keys.trustedSigners()
        let oldIdentities = try keys.identities(environmentName)
        let pending = try pendingIdentity()
        let ids = try repository.bundleIDs(environment: environmentName, now: try Clock.now(environment: environment))

        // Refuse before anything changes when the identities at hand cannot open every bundle (each shared chunk once).
        var checkedHeaders: Set<String> = []
        for id in ids {
            let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
            if let pending, manifest.recipients == [pending.recipient.description] { continue }
            let reader = BundleReader(repository: repository, manifest: manifest)
            for entry in manifest.artifacts {
                for piece in reader.pieces(entry) where checkedHeaders.insert(piece.headerKey).inserted {
                    do {
                        _ = try AgeHeader(parsing: try reader.headerBytes(of: piece)).unwrapFileKey(with: oldIdentities)
                    } catch let error as FormatError {
                        throw error
                    } catch {
                        throw CofferError(
                            .key, "\(keys.identityPath(environmentName)) cannot open \(piece.label) of bundle \(id) (\(error)); nothing was changed")
                    }
                }
            }
        }

        let next = try pending ?? createPendingIdentity()
        try addToKeyring(next, keeping: oldIdentities)
        let recipient = next.recipient
        let generation = "k" + String(recipient.description.dropFirst(4).prefix(8))
        let opening: [any AgeIdentity] = [next] + oldIdentities
        var report = RotationReport(recipient: recipient.description, rotated: [], alreadyDone: [], bytesMoved: 0)
        var rotatedChunks: [ChunkReference: ChunkReference] = [:]
        for (index, id) in ids.enumerated() {
            progress.begin("rotating bundle \(index + 1) of \(ids.count): \(id)")
            defer { progress.end() }
            let rotated = try rotateBundle(
                repository: repository, id: id, rewrap: Rewrap(recipient: recipient, opening: opening, generation: generation, reencrypt: reencrypt),
                signingKey: signingKey, trusted: trusted, moved: &report.bytesMoved, leftBehind: &report.leftBehind,
                rotatedChunks: &rotatedChunks)
            if rotated { report.rotated.append(id) } else { report.alreadyDone.append(id) }
            if environment["COFFER_FAULT"] == "rotate-after-bundle-\(index + 1)" { ProcessIdentity.crashForTesting() }
        }
        try FileSystem.removeFile(pendingIdentityPath)
        _ = JournalRecorder.record(
            repository: repository, environment: environmentName, kind: "rotate",
            details: ["recipient": .string(recipient.description), "bundles": .int(Int64(ids.count)), "reencrypt": .bool(reencrypt)],
            at: try Clock.now(environment: environment), signingKey: signingKey)
        return report
    }

    /// How a bundle's headers change: wrapped for `recipient` (opened with `opening`), written as generation `generation`.
    struct Rewrap {
        var recipient: AgeX25519Recipient
        var opening: [any AgeIdentity]
        var generation: String
        /// Payloads too, under fresh file keys (for an identity that leaked).
        var reencrypt: Bool
    }

    /// Rewraps one bundle's headers (when `rewrap` is given) and signs its
    /// manifest with `signingKey`; false when it already was so.
    /// `rotatedChunks` carries the chunks already rewrapped in this run from
    /// bundle to bundle: a chunk many bundles share is rewrapped once. The
    /// replaced chunk objects stay until `prune` sweeps what no bundle names.
    func rotateBundle(
        repository: Repository, id: String, rewrap: Rewrap?, signingKey: MinisignSecretKey, trusted: TrustedSigners, moved: inout Int64,
        leftBehind: inout [String], rotatedChunks: inout [ChunkReference: ChunkReference]
    ) throws -> Bool {
        let storage = repository.storage
        func key(_ relative: String) -> String { repository.key(environment: environmentName, id: id, relative) }
        let (mainBytes, _) = try repository.manifestBytes(environment: environmentName, id: id)
        moved += Int64(mainBytes.count)
        let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
        let rotating = key(BundleLayout.rotatingManifestName)

        var finished = manifest
        let done = manifest.signer == signingKey.keyID.description && (rewrap.map { manifest.recipients == [$0.recipient.description] } ?? true)
        if !done, let rewrap {
            let reader = BundleReader(repository: repository, manifest: manifest)
            for (index, entry) in manifest.artifacts.enumerated() {
                if let chunks = entry.chunks {
                    var rotated: [ChunkReference] = []
                    for (piece, chunk) in zip(reader.pieces(entry), chunks) {
                        if let known = rotatedChunks[chunk] {
                            rotated.append(known)
                            continue
                        }
                        let (header, payload) = try rewrapped(piece, reader: reader, rewrap: rewrap, moved: &moved)
                        var next = chunk
                        next.header = ObjectDigest(bytes: Int64(header.count), sha256: hexString(SHA256.hash(header)))
                        if let payload {
                            next.payload = ObjectDigest(bytes: Int64(payload.count), sha256: hexString(SHA256.hash(payload)))
                            try storage.writeUnsynced(next.payloadKey(environment: environmentName), payload)
                        }
                        try storage.writeUnsynced(next.headerKey(environment: environmentName), header)
                        rotatedChunks[chunk] = next
                        rotated.append(next)
                    }
                    // The new chunk objects durable before a manifest names them.
                    try storage.syncWrites()
                    finished.artifacts[index].chunks = rotated
                    continue
                }
                guard let piece = reader.pieces(entry).first else { continue }
                let header = try reader.headerBytes(of: piece)
                let rewrappedHeader: [UInt8]
                if rewrap.reencrypt {
                    let payloadPath = entry.rotatedPayloadPath(generation: rewrap.generation)
                    var result: (header: [UInt8], payload: ObjectDigest)?
                    try storage.writeStream(key(payloadPath)) { sink in
                        result = try ArtifactPipeline.reencrypt(
                            piece, header: header, identities: rewrap.opening, recipients: [rewrap.recipient],
                            read: {
                                try repository.readListedObject(piece.payloadKey, declaredBytes: piece.payload.bytes, what: "\(piece.label): payload object", into: $0)
                            }, payload: sink)
                    }
                    guard let result else { throw CofferError(.failure, "\(entry.name): re-encryption produced nothing") }
                    rewrappedHeader = result.header
                    finished.artifacts[index].payloadObject = payloadPath
                    finished.artifacts[index].payload = result.payload
                    moved += piece.payload.bytes + result.payload.bytes
                } else {
                    rewrappedHeader = try AgeHeader(parsing: header).rewrapped(opening: rewrap.opening, for: [rewrap.recipient]).encoded
                }
                let path = entry.rotatedHeaderPath(generation: rewrap.generation)
                try storage.writeSmall(key(path), rewrappedHeader)
                moved += Int64(header.count + rewrappedHeader.count)
                finished.artifacts[index].headerObject = path
                finished.artifacts[index].header = ObjectDigest(bytes: Int64(rewrappedHeader.count), sha256: hexString(SHA256.hash(rewrappedHeader)))
            }
        }
        if !done {
            if let rewrap { finished.recipients = [rewrap.recipient.description] }
            finished.signer = signingKey.keyID.description
            finished.original = manifest.original ?? Manifest.digest(of: mainBytes)
        }
        let bytes = try finished.canonicalBytes()
        let alreadyMain = bytes == mainBytes
        if !alreadyMain {
            let signature = ManifestSignature.sign(bytes, manifest: finished, with: signingKey)
            // The complete new pair first, then over the old one (signature, then manifest).
            try storage.writeSmall(rotating + ".minisig", signature)
            try storage.writeSmall(rotating, bytes)
            if environment["COFFER_FAULT"] == "rotate-after-pending-manifest" { ProcessIdentity.crashForTesting() }
            try storage.writeSmall(key(BundleLayout.signatureName), signature)
            if environment["COFFER_FAULT"] == "rotate-after-signature" { ProcessIdentity.crashForTesting() }
            try storage.writeSmall(key(BundleLayout.manifestName), bytes)
            moved += Int64(2 * (bytes.count + signature.count))
        }
        // The pending pair, and header and payload objects the manifest no longer names.
        let kept = Set(finished.artifacts.flatMap { [$0.headerPath, $0.payloadPath] })
        let artifactFolder = "artifacts"
        var replaced = [rotating, rotating + ".minisig"]
        for name in try storage.children(of: key(artifactFolder)) where name.hasSuffix(".age-header") || name.hasSuffix(".age-payload") {
            let path = "\(artifactFolder)/\(name)"
            if !kept.contains(path) { replaced.append(key(path)) }
        }
        try removeReplaced(replaced, storage: storage, leftBehind: &leftBehind)
        return !alreadyMain || !done
    }

    /// A chunk's header rewrapped for `rewrap`'s recipient, and with
    /// `reencrypt` its payload under a fresh file key (both in memory: a chunk is at most a few MiB).
    private func rewrapped(_ piece: ArtifactPiece, reader: BundleReader, rewrap: Rewrap, moved: inout Int64) throws -> (header: [UInt8], payload: [UInt8]?) {
        let header = try reader.headerBytes(of: piece)
        moved += Int64(header.count)
        guard rewrap.reencrypt else {
            return (try AgeHeader(parsing: header).rewrapped(opening: rewrap.opening, for: [rewrap.recipient]).encoded, nil)
        }
        var payload: [UInt8] = []
        let result = try ArtifactPipeline.reencrypt(
            piece, header: header, identities: rewrap.opening, recipients: [rewrap.recipient],
            read: { try reader.repository.readListedObject(piece.payloadKey, declaredBytes: piece.payload.bytes, what: "\(piece.label): payload object", into: $0) },
            payload: { payload += $0 })
        moved += piece.payload.bytes + Int64(payload.count)
        return (result.header, payload)
    }

    /// Deletes what a rotated bundle no longer needs. On a bucket with Object
    /// Lock nothing is deleted (the server would refuse; the objects expire
    /// with their lock and `prune` removes them with their bundle); a delete
    /// the server refuses (a policy) leaves the object. Either way it is named in `leftBehind`.
    func removeReplaced(_ keys: [String], storage: any Storage, leftBehind: inout [String]) throws {
        let locked = try storage.protection()?.objectLockEnabled ?? false
        for key in keys {
            if locked {
                if try storage.size(of: key) != nil { leftBehind.append(key) }
                continue
            }
            do {
                try storage.delete(key)
            } catch let error as StorageError where error.kind == .denied {
                leftBehind.append(key)
            }
        }
    }

    /// Drops every identity but the active one from `ENV.age`, once no bundle
    /// needs another. Returns the bundles that still do (nothing is removed then).
    public func retireOldIdentities() throws -> [String] {
        let repository = try Repository.open(config)
        let trusted = try keys.trustedSigners()
        let active = try keys.recipients(environmentName).map(\.description)
        var needing: [String] = []
        let listing = try repository.listing(environment: environmentName, now: try Clock.now(environment: environment))
        for id in listing.ids {
            let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted)
            if !manifest.recipients.allSatisfy(active.contains) { needing.append(id) }
        }
        // A genuine bundle dated in the future (a wrong clock) is ignored elsewhere, but its key must not be thrown away.
        for stray in listing.stray where BundleID.date(of: stray.id) != nil {
            guard let manifest = try? repository.verifiedManifest(environment: environmentName, id: stray.id, trusted: trusted) else { continue }
            if !manifest.recipients.allSatisfy(active.contains) { needing.append(stray.id) }
        }
        guard needing.isEmpty else { return needing }
        let keep = try keys.identities(environmentName).filter { active.contains($0.recipient.description) }
        guard !keep.isEmpty else {
            throw CofferError(.key, "\(keys.identityPath(environmentName)) holds no identity for \(keys.recipientsPath(environmentName)); refusing to retire")
        }
        let now = Clock.format(try Clock.now(environment: environment))
        var text: [UInt8] = []
        for identity in keep { AgeKeyFiles.identityFile(identity, created: now).withUnsafeBytes { text += $0 } }
        try SecretFile.replace(keys.identityPath(environmentName), SecureBytes(wiping: &text))
        return []
    }

    /// The identity an interrupted rotation generated, if any.
    func pendingIdentity() throws -> AgeX25519Identity? {
        guard FileSystem.exists(pendingIdentityPath) else { return nil }
        return try AgeKeyFiles.identities(fromFile: pendingIdentityPath).first
    }

    func createPendingIdentity() throws -> AgeX25519Identity {
        let identity = AgeX25519Identity()
        try SecretFile.write(pendingIdentityPath, AgeKeyFiles.identityFile(identity, created: Clock.format(try Clock.now(environment: environment))))
        return identity
    }

    /// Makes `next` the active identity: first in `ENV.age` (the old ones kept
    /// after it, marked retired) and alone in `ENV.age.pub`.
    func addToKeyring(_ next: AgeX25519Identity, keeping old: [AgeX25519Identity]) throws {
        let environmentName = self.environmentName
        if !old.contains(where: { $0.recipient.description == next.recipient.description }) {
            let now = Clock.format(try Clock.now(environment: environment))
            let previous = try SecretFile.read(keys.identityPath(environmentName))
            var text = AgeKeyFiles.identityFile(next, created: now).withUnsafeBytes { Array($0) }
            text += Array("# retired \(now): the identities below open bundles not yet rotated; `coffer keys rotate --retire` removes them\n".utf8)
            previous.withUnsafeBytes { text += $0 }
            try SecretFile.replace(keys.identityPath(environmentName), SecureBytes(wiping: &text))
        }
        try FileSystem.writeFile(keys.recipientsPath(environmentName), bytes: Array("\(next.recipient)\n".utf8), permissions: 0o644)
    }
}
