import CofferCrypto
import Foundation
import CofferFormat
import CofferStorage
import CofferSystem

/// A repository of bundles on some storage, seen through the bundle layout.
public struct Repository: Sendable {
    public let storage: any Storage

    public init(storage: any Storage) {
        self.storage = storage
    }

    /// The repository the config names.
    public static func open(_ config: CofferConfig) throws -> Repository {
        try open(config.repository, s3: config.s3)
    }

    /// A repository by address: a local folder, or `s3://bucket/prefix` on the
    /// server `s3` names, with credentials from the environment variables it names.
    public static func open(
        _ address: String, s3: CofferConfig.S3Settings?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Repository {
        guard address.hasPrefix("s3://") else { return Repository(storage: LocalStorage(root: address)) }
        guard let s3 else {
            throw CofferError(.config, "\(address) is an S3 address but the config has no [s3] section with the endpoint")
        }
        let source = "\(s3.accessKeyEnv) / \(s3.secretKeyEnv)"
        guard let accessKey = environment[s3.accessKeyEnv], !accessKey.isEmpty,
            let secret = environment[s3.secretKeyEnv], !secret.isEmpty
        else {
            throw CofferError(.config, "no S3 credentials: set \(source) in the environment (the names come from [s3] access_key_env and secret_key_env)")
        }
        var secretBytes = Array(secret.utf8)
        let credentials = S3Credentials(
            accessKey: accessKey, secret: SecureBytes(wiping: &secretBytes),
            sessionToken: environment[s3.sessionTokenEnv].flatMap { $0.isEmpty ? nil : $0 })
        let location = try S3Location(repository: address, endpoint: s3.endpoint, region: s3.region, pathStyle: s3.pathStyle)
        return Repository(
            storage: S3Storage(
                location: location, credentials: credentials, credentialSource: source, tls: try S3TLS(caFile: s3.caFile), objectLock: s3.objectLock))
    }

    /// Writes `coffer.json` if absent (for a new repository: one that holds no
    /// bundle yet, marked chunked); refuses a repository of an unknown format.
    /// Returns whether snapshots write format v2: `chunked` (the config's
    /// `[format] chunked`) when set, else what the descriptor says.
    @discardableResult
    public func prepareForWriting(chunked: Bool? = nil) throws -> Bool {
        if let existing = try storage.readSmall(BundleLayout.descriptor, limit: 1 << 16) {
            let marked = try BundleLayout.checkDescriptor(existing)
            return chunked ?? marked
        }
        let isNew = try !storage.containsObjects(under: "bundles")
        try storage.writeSmall(BundleLayout.descriptor, BundleLayout.descriptorBytes(chunked: isNew))
        return chunked ?? isNew
    }

    /// Checks `coffer.json` when present.
    public func checkFormat() throws {
        if let existing = try storage.readSmall(BundleLayout.descriptor, limit: 1 << 16) {
            try BundleLayout.checkDescriptor(existing)
        }
    }

    /// What `bundles/ENV/` holds, sorted out in one listing.
    public struct BundleListing: Sendable {
        /// Bundles with a manifest, oldest first: the only ones that exist for
        /// list, restore, copy and retention.
        public var ids: [String]
        /// Bundle ids whose folder holds objects but no manifest (an interrupted
        /// write, or a manifest deleted by hand).
        public var unpublished: [String]
        /// Names that are not bundles by this clock: not a bundle id, or an id
        /// dated later than now plus `BundleID.allowedClockSkew` (planted, or
        /// made by a wrong clock). Ignored like unpublished ones; status and audit name them.
        public var stray: [IgnoredBundle]
    }

    /// Sorts the names under `bundles/ENV/`. The time is `now` (the clock or
    /// `COFFER_NOW`): ids are judged against it, never the other way round. A
    /// prefix that holds no object at all (SeaweedFS keeps the empty folders
    /// of deleted bundles) is nothing.
    public func listing(environment: String, now: Date) throws -> BundleListing {
        let prefix = BundleLayout.environmentPrefix(environment)
        var listing = BundleListing(ids: [], unpublished: [], stray: [])
        for name in try storage.children(of: prefix) {
            let hasManifest = try storage.size(of: "\(prefix)/\(name)/\(BundleLayout.manifestName)") != nil
            if BundleID.isCurrent(name, now: now) {
                if hasManifest {
                    listing.ids.append(name)
                } else if try storage.containsObjects(under: "\(prefix)/\(name)") {
                    listing.unpublished.append(name)
                }
                continue
            }
            guard try hasManifest || storage.containsObjects(under: "\(prefix)/\(name)") else { continue }
            let reason: String
            if let date = BundleID.date(of: name) {
                reason = "dated \(Clock.format(date)), in the future (more than \(Int(BundleID.allowedClockSkew / 60)) minutes after \(Clock.format(now))): planted, or made by a wrong clock"
            } else {
                reason = "not a bundle id"
            }
            listing.stray.append(IgnoredBundle(id: name, reason: reason))
        }
        listing.ids.sort()
        listing.unpublished.sort()
        return listing
    }

    /// Ids of the bundles of `environment` that have a manifest, oldest first,
    /// leaving out ids dated in the future (see `listing`). A bundle without a manifest does not exist.
    public func bundleIDs(environment: String, now: Date) throws -> [String] {
        try listing(environment: environment, now: now).ids
    }

    /// Resolves `latest` or an id (or a unique prefix of one) among the bundles `bundleIDs` lists.
    public func resolve(_ reference: String, environment: String, now: Date) throws -> String {
        let ids = try bundleIDs(environment: environment, now: now)
        if reference == "latest" {
            guard let last = ids.last else {
                throw CofferError(.failure, "there is no bundle for environment \(environment) in \(storage.location); take one with `coffer snapshot`")
            }
            return last
        }
        let matches = ids.filter { $0.hasPrefix(reference) }
        guard matches.count == 1, let id = matches.first else {
            throw CofferError(
                .failure, matches.isEmpty ? "no bundle \(reference) for environment \(environment); see `coffer list`" : "\(reference) matches \(matches.count) bundles; give more of the id")
        }
        return id
    }

    /// The raw manifest and signature bytes of a bundle.
    public func manifestBytes(environment: String, id: String) throws -> (manifest: [UInt8], signature: [UInt8]?) {
        let prefix = BundleLayout.bundlePrefix(environment: environment, id: id)
        guard let manifest = try storage.readSmall("\(prefix)/\(BundleLayout.manifestName)", limit: 64 << 20) else {
            throw CofferError(.failure, "bundle \(id) has no manifest")
        }
        return (manifest, try storage.readSmall("\(prefix)/\(BundleLayout.signatureName)", limit: 1 << 16))
    }

    /// The manifest of a bundle, after its signature verified against `trusted`.
    /// While key rotation replaces a manifest, its new version and signature
    /// wait complete beside it (`manifest.json.rotating`): if the main pair does
    /// not verify because a rotation stopped half-way, that pair is used.
    public func verifiedManifest(environment: String, id: String, trusted: TrustedSigners) throws -> Manifest {
        let (bytes, signature) = try manifestBytes(environment: environment, id: id)
        let manifest: Manifest
        do {
            manifest = try ManifestSignature.verify(manifest: bytes, signature: signature, trusted: trusted)
        } catch {
            let pending = key(environment: environment, id: id, BundleLayout.rotatingManifestName)
            guard let next = try storage.readSmall(pending, limit: 64 << 20),
                let nextSignature = try storage.readSmall(pending + ".minisig", limit: 1 << 16),
                let rotated = try? ManifestSignature.verify(manifest: next, signature: nextSignature, trusted: trusted)
            else { throw error }
            manifest = rotated
        }
        guard manifest.id == id, manifest.environment == environment else {
            throw FormatError(.signature, "bundle \(id) holds the manifest of \(manifest.environment)/\(manifest.id); it was moved or swapped")
        }
        return manifest
    }

    /// Streams an object that a verified manifest lists with `declaredBytes`:
    /// reads at most one byte more than that (so a FIFO-like endless object, or
    /// an object with bytes appended, is never read to its end) and passes no
    /// more than `declaredBytes` into `sink`. Throws `FormatError(.digest)`
    /// naming `what` when the object is longer; the caller checks size and SHA-256 of what it got.
    public func readListedObject(_ key: String, declaredBytes: Int64, what: String, into sink: ByteSink) throws {
        var count: Int64 = 0
        try storage.read(key, range: 0..<(declaredBytes + 1)) { chunk in
            guard Int64(chunk.count) <= declaredBytes - count else {
                throw FormatError(.digest, "\(what) is longer than the \(declaredBytes) bytes the manifest lists (altered or swapped)")
            }
            count += Int64(chunk.count)
            try sink(chunk)
        }
    }

    /// Every chunk object of `environment` with its size: one listing of `chunks/ENV/`.
    public func chunkObjectSizes(environment: String) throws -> [String: Int64] {
        Dictionary(try storage.objects(under: BundleLayout.chunkPrefix(environment)).map { ($0.key, $0.size) }, uniquingKeysWith: { first, _ in first })
    }

    /// Object key of something inside a bundle.
    public func key(environment: String, id: String, _ relative: String) -> String {
        "\(BundleLayout.bundlePrefix(environment: environment, id: id))/\(relative)"
    }
}
