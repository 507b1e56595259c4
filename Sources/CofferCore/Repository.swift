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
        return Repository(storage: S3Storage(location: location, credentials: credentials, credentialSource: source))
    }

    /// Writes `coffer.json` if absent; refuses a repository of an unknown format.
    public func prepareForWriting() throws {
        if let existing = try storage.readSmall(BundleLayout.descriptor, limit: 1 << 16) {
            try BundleLayout.checkDescriptor(existing)
        } else {
            try storage.writeSmall(BundleLayout.descriptor, BundleLayout.descriptorBytes())
        }
    }

    /// Checks `coffer.json` when present.
    public func checkFormat() throws {
        if let existing = try storage.readSmall(BundleLayout.descriptor, limit: 1 << 16) {
            try BundleLayout.checkDescriptor(existing)
        }
    }

    /// Ids of the bundles of `environment` that have a manifest, oldest first.
    /// A bundle without a manifest does not exist.
    public func bundleIDs(environment: String) throws -> [String] {
        let prefix = BundleLayout.environmentPrefix(environment)
        return try storage.children(of: prefix).filter { id in
            guard BundleID.isValid(id) else { return false }
            return try storage.size(of: "\(prefix)/\(id)/\(BundleLayout.manifestName)") != nil
        }.sorted()
    }

    /// Ids of bundles that were started but have no manifest (an interrupted
    /// write, or a manifest deleted by hand): they do not exist for list, restore or retention.
    public func unpublishedBundleIDs(environment: String) throws -> [String] {
        let prefix = BundleLayout.environmentPrefix(environment)
        return try storage.children(of: prefix).filter { id in
            guard BundleID.isValid(id) else { return false }
            return try storage.size(of: "\(prefix)/\(id)/\(BundleLayout.manifestName)") == nil
        }.sorted()
    }

    /// Resolves `latest` or an id (or a unique prefix of one).
    public func resolve(_ reference: String, environment: String) throws -> String {
        let ids = try bundleIDs(environment: environment)
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

    /// Object key of something inside a bundle.
    public func key(environment: String, id: String, _ relative: String) -> String {
        "\(BundleLayout.bundlePrefix(environment: environment, id: id))/\(relative)"
    }
}
