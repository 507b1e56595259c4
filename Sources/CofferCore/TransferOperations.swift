import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem

/// Size and SHA-256 of bytes as they stream past.
struct DigestCounter {
    private var hasher = SHA256()
    private(set) var bytes: Int64 = 0

    mutating func update(_ chunk: UnsafeRawBufferPointer) {
        hasher.update(chunk)
        bytes += Int64(chunk.count)
    }

    consuming func digest() -> ObjectDigest { ObjectDigest(bytes: bytes, sha256: hexString(hasher.finalize())) }
}

/// One object a manifest lists: its repository-relative key, its digest, and
/// its path inside the bundle's folder (nil for a shared format v2 chunk object).
struct ListedObject {
    var key: String
    var digest: ObjectDigest
    var bundlePath: String?
}

/// Every object a bundle's manifest lists, each once (a chunk may be listed
/// many times), chunk objects first; the signature and manifest are not among them.
func objectList(_ manifest: Manifest) -> [ListedObject] {
    let prefix = BundleLayout.bundlePrefix(environment: manifest.environment, id: manifest.id) + "/"
    var seen: Set<String> = []
    var objects: [ListedObject] = []
    for piece in manifest.artifacts.flatMap({ $0.pieces(environment: manifest.environment, bundleID: manifest.id) }) {
        for (key, digest) in [(piece.headerKey, piece.header), (piece.payloadKey, piece.payload)] where seen.insert(key).inserted {
            objects.append(ListedObject(key: key, digest: digest, bundlePath: key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : nil))
        }
    }
    return objects.filter { $0.bundlePath == nil } + objects.filter { $0.bundlePath != nil }
}

/// `coffer export`: one bundle as a plain tar file (`bundles/ENV/ID/...`, manifest
/// last), so `tar -xf FILE -C REPOSITORY` also restores the layout by hand.
public struct ExportOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    /// Writes the tar stream into `sink`; every object is checked against the signed manifest on the way.
    public func run(reference: String, into sink: @escaping ByteSink) throws -> Manifest {
        let repository = try Repository.open(config)
        let environment = config.environment.rawValue
        let id = try repository.resolve(reference, environment: environment, now: try Clock.now())
        let manifest = try repository.verifiedManifest(
            environment: environment, id: id, trusted: try KeyStore(directory: config.keysDirectory).trustedSigners())
        let (manifestBytes, signature) = try repository.manifestBytes(environment: environment, id: id)
        let prefix = BundleLayout.bundlePrefix(environment: environment, id: id)
        let tar = TarWriter(sink)
        let created = Int64(Clock.parse(manifest.createdAt)?.timeIntervalSince1970 ?? 0)
        for object in objectList(manifest) {
            try tar.addFile(object.key, size: object.digest.bytes, modificationTime: created) { out in
                try repository.streamChecked(object, into: out, what: object.key, otherwise: "nothing exported")
            }
        }
        for (name, bytes) in [(BundleLayout.signatureName, signature ?? []), (BundleLayout.manifestName, manifestBytes)] {
            try tar.addFile("\(prefix)/\(name)", size: Int64(bytes.count), modificationTime: created) { out in
                try bytes.withUnsafeBytes { try out($0) }
            }
        }
        try tar.finish()
        return manifest
    }
}

/// `coffer import`: a tar file made by `coffer export` back into the
/// repository. The bundle appears only after its signature and every object's
/// digest checked out; an existing bundle is left alone.
public struct ImportOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    /// Returns the imported manifest and whether it was already present.
    public func run(read: @escaping ByteSource) throws -> (Manifest, alreadyPresent: Bool) {
        let repository = try Repository.open(config)
        try repository.prepareForWriting()
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        var reader = TarReader(read)
        var bundlePrefix: String?
        var writer: (any BundleWriter)?
        var computed: [String: ObjectDigest] = [:]
        var manifestBytes: [UInt8]?
        var signature: [UInt8]?
        var alreadyPresent = false
        do {
            try reader.forEachFile { name, size, content in
                if let chunk = try Self.chunkObject(name) {
                    // Shared chunk objects come first; like a snapshot's, they are invisible until the manifest names them.
                    guard size <= 64 << 20 else { throw FormatError(.malformed, "\(name.prefix(120)) is implausibly large for a chunk object") }
                    var counter = DigestCounter()
                    var bytes: [UInt8] = []
                    try forEachBlock(read: content, blockSize: 1 << 20) { block in
                        counter.update(block)
                        bytes += block
                    }
                    let digest = counter.digest()
                    if try repository.storage.size(of: chunk) != digest.bytes { try repository.storage.writeUnsynced(chunk, bytes) }
                    computed[chunk] = digest
                    return
                }
                let (prefix, relative) = try Self.split(name)
                if bundlePrefix == nil {
                    bundlePrefix = prefix
                    alreadyPresent = try repository.storage.size(of: "\(prefix)/\(BundleLayout.manifestName)") != nil
                    if !alreadyPresent { writer = try repository.storage.beginBundle(at: prefix) }
                }
                guard prefix == bundlePrefix else { throw FormatError(.malformed, "the archive holds more than one bundle") }
                var counter = DigestCounter()
                var small: [UInt8] = []
                let isSmall = relative == BundleLayout.manifestName || relative == BundleLayout.signatureName
                guard !isSmall || size <= 64 << 20 else { throw FormatError(.malformed, "\(relative) is implausibly large") }
                func pump(_ sink: ByteSink) throws {
                    try forEachBlock(read: content, blockSize: 1 << 20) { chunk in
                        counter.update(chunk)
                        if isSmall { small += chunk }
                        try sink(chunk)
                    }
                }
                if let writer { try writer.write(relative, pump) } else { try pump { _ in } }
                computed["\(prefix)/\(relative)"] = counter.digest()
                if relative == BundleLayout.manifestName { manifestBytes = small }
                if relative == BundleLayout.signatureName { signature = small }
            }
            guard let bundlePrefix, let manifestBytes else { throw FormatError(.missing, "the archive holds no manifest.json") }
            let manifest = try ManifestSignature.verify(manifest: manifestBytes, signature: signature, trusted: trusted)
            guard bundlePrefix == BundleLayout.bundlePrefix(environment: manifest.environment, id: manifest.id) else {
                throw FormatError(.signature, "the archive's paths do not match the manifest's bundle \(manifest.environment)/\(manifest.id)")
            }
            let expected = Dictionary(uniqueKeysWithValues: objectList(manifest).map { ($0.key, $0.digest) })
            for (key, digest) in expected where computed[key] != digest {
                throw FormatError(computed[key] == nil ? .missing : .digest, "\(key) is missing from the archive or does not match the manifest")
            }
            let extra = Set(computed.keys).subtracting(expected.keys).subtracting(
                [BundleLayout.manifestName, BundleLayout.signatureName].map { "\(bundlePrefix)/\($0)" })
            guard extra.isEmpty else { throw FormatError(.malformed, "the archive holds files the manifest does not list: \(extra.sorted().joined(separator: ", "))") }
            try repository.storage.syncWrites()
            try writer?.commit()
            return (manifest, alreadyPresent)
        } catch {
            writer?.abort()
            throw error
        }
    }

    /// The key of a format v2 chunk object (`chunks/ENV/AB/ID-DIGEST.age-header|payload`,
    /// every part checked), nil for any name outside `chunks/`.
    static func chunkObject(_ name: String) throws -> String? {
        guard name.hasPrefix("chunks/") else { return nil }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, ConfigLoader.isValidName(parts[1]), let id = BundleLayout.chunkID(ofKey: name), parts[2] == String(id.prefix(2)),
            parts[3].utf8.count <= 64 + 17 + BundleLayout.payloadSuffix.utf8.count, !parts[3].contains("..")
        else { throw FormatError(.malformed, "\(name.prefix(120)) is not a chunk object (expected chunks/ENV/AB/ID-DIGEST.age-header)") }
        return name
    }

    /// `bundles/ENV/ID/relative`, with every part checked (no `..`, a valid id).
    static func split(_ name: String) throws -> (prefix: String, relative: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 4, parts[0] == "bundles", ConfigLoader.isValidName(parts[1]), BundleID.isValid(parts[2]) else {
            throw FormatError(.malformed, "\(name.prefix(120)) is not a bundle file (expected bundles/ENV/ID/...)")
        }
        let relative = parts[3...].joined(separator: "/")
        let allowed = (parts.count == 4 && [BundleLayout.manifestName, BundleLayout.signatureName].contains(parts[3]))
            || (parts.count == 5 && parts[3] == "artifacts" && !parts[4].isEmpty && !parts[4].hasPrefix("."))
        guard allowed else { throw FormatError(.malformed, "\(name.prefix(120)) is not a file a bundle holds") }
        return ("bundles/\(parts[1])/\(parts[2])", relative)
    }
}

/// `coffer copy`: bundles into a second repository, each object checked
/// against the signed manifest on the way; bundles already there are skipped.
public struct CopyOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    /// Copies `reference` (or every bundle when nil) to `destination`; returns (id, copied) pairs.
    public func run(reference: String?, destination: Repository) throws -> [(String, Bool)] {
        let source = try Repository.open(config)
        let environment = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        let now = try Clock.now()
        let ids = try reference.map { [try source.resolve($0, environment: environment, now: now)] } ?? source.bundleIDs(environment: environment, now: now)
        try destination.prepareForWriting()
        var results: [(String, Bool)] = []
        for id in ids {
            if try destination.storage.size(of: destination.key(environment: environment, id: id, BundleLayout.manifestName)) != nil {
                results.append((id, false))
                continue
            }
            try copyBundle(try source.verifiedManifest(environment: environment, id: id, trusted: trusted), from: source, to: destination)
            results.append((id, true))
        }
        return results
    }
}

/// Copies one bundle whose manifest verified, object by object, each checked
/// against the manifest's size and SHA-256 on the way (a mismatch names the
/// object); the copy appears whole, manifest last, or not at all.
func copyBundle(_ manifest: Manifest, from source: Repository, to destination: Repository) throws {
    let (environment, id) = (manifest.environment, manifest.id)
    let (manifestBytes, signature) = try source.manifestBytes(environment: environment, id: id)
    let writer = try destination.storage.beginBundle(at: BundleLayout.bundlePrefix(environment: environment, id: id))
    do {
        for object in objectList(manifest) {
            guard let path = object.bundlePath else {
                // A shared chunk: copied only when the target lacks it (its name carries its digest).
                if try destination.storage.size(of: object.key) == object.digest.bytes { continue }
                var bytes: [UInt8] = []
                try source.streamChecked(object, into: { bytes += $0 }, what: "\(id): \(object.key)", otherwise: "not copied")
                try destination.storage.writeUnsynced(object.key, bytes)
                continue
            }
            try writer.write(path) { sink in
                try source.streamChecked(object, into: sink, what: "\(id): \(path)", otherwise: "not copied")
            }
        }
        try destination.storage.syncWrites()
        try writer.write(BundleLayout.signatureName) { sink in try (signature ?? []).withUnsafeBytes { try sink($0) } }
        try writer.write(BundleLayout.manifestName) { sink in try manifestBytes.withUnsafeBytes { try sink($0) } }
        try writer.commit()
    } catch {
        writer.abort()
        throw error
    }
}

extension Repository {
    /// Streams one object a verified manifest lists into `sink`, then checks its
    /// size and SHA-256 against `expected`; a mismatch names `what` and says
    /// what did not happen (`otherwise`), so the caller's writer is aborted.
    func streamChecked(_ object: ListedObject, into sink: ByteSink, what: String, otherwise: String) throws {
        var counter = DigestCounter()
        try readListedObject(object.key, declaredBytes: object.digest.bytes, what: what) { chunk in
            counter.update(chunk)
            try sink(chunk)
        }
        guard counter.digest() == object.digest else {
            throw FormatError(.digest, "\(what) does not match the manifest (altered, truncated or swapped); \(otherwise)")
        }
    }
}
