import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem
import Foundation

/// The chunks an environment's bundles hold, so a snapshot uploads only new
/// ones. Built from the verified manifests (a planted manifest adds nothing)
/// and cached in `.coffer/chunk-index/`; the cache names each bundle it was
/// built from with the SHA-256 of its signature, so a bundle pruned, rotated
/// or re-signed since makes it stale and it is rebuilt. A chunk is reused only
/// when both its objects are in the repository's listing at their listed
/// sizes: one lost or damaged outside Coffer is uploaded again.
struct ChunkIndex {
    /// The reference each known chunk id has in the newest bundle listing it.
    private(set) var known: [String: ChunkReference] = [:]
    /// Chunk object keys in the repository, with their sizes.
    private var present: [String: Int64] = [:]
    private var bundles: [String: String] = [:]
    /// How the index was had: "cache", "updated" (cache plus new bundles), "rebuilt".
    private(set) var origin = "rebuilt"

    private struct Cache: Codable {
        var format: String
        var repository: String
        var environment: String
        var bundles: [String: String]
        var chunks: [ChunkReference]
    }
    private static let cacheFormat = "coffer-chunk-index/1"

    /// Loads the index for `ids` (the environment's bundles), from the cache when it is current.
    static func load(
        repository: Repository, environment: String, ids: [String], trusted: TrustedSigners, state: StateDirectory
    ) throws -> ChunkIndex {
        var index = ChunkIndex()
        var signatures: [String: String] = [:]
        for id in ids {
            let key = repository.key(environment: environment, id: id, BundleLayout.signatureName)
            signatures[id] = try repository.storage.readSmall(key, limit: 1 << 16).map { hexString(SHA256.hash($0)) } ?? ""
        }
        let path = cachePath(state: state, repository: repository, environment: environment)
        var toRead = ids
        if let bytes = try? FileSystem.readFile(path, limit: 256 << 20), let cache = try? JSONDecoder().decode(Cache.self, from: Data(bytes)),
            cache.format == cacheFormat, cache.repository == repository.storage.location, cache.environment == environment,
            cache.bundles.allSatisfy({ signatures[$0.key] == $0.value })
        {
            for chunk in cache.chunks { index.known[chunk.id] = chunk }
            index.bundles = cache.bundles
            toRead = ids.filter { cache.bundles[$0] == nil }
            index.origin = toRead.isEmpty ? "cache" : "updated"
        }
        for id in toRead {
            // Oldest first, so the newest bundle's reference of a chunk wins.
            guard let manifest = try? repository.verifiedManifest(environment: environment, id: id, trusted: trusted) else { continue }
            index.add(manifest, signatureDigest: signatures[id] ?? "")
        }
        index.present = try repository.chunkObjectSizes(environment: environment)
        return index
    }

    /// Adds the chunks of a bundle.
    mutating func add(_ manifest: Manifest, signatureDigest: String) {
        bundles[manifest.id] = signatureDigest
        for chunk in manifest.artifacts.flatMap({ $0.chunks ?? [] }) { known[chunk.id] = chunk }
    }

    /// The reference to reuse for chunk `id`: known from a bundle, and both objects present at their sizes.
    func reusable(_ id: String, environment: String) -> ChunkReference? {
        guard let chunk = known[id], present[chunk.headerKey(environment: environment)] == chunk.header.bytes,
            present[chunk.payloadKey(environment: environment)] == chunk.payload.bytes
        else { return nil }
        return chunk
    }

    /// Writes the cache (best effort: without it the next snapshot reads the manifests).
    func save(repository: Repository, environment: String, state: StateDirectory) {
        let cache = Cache(
            format: Self.cacheFormat, repository: repository.storage.location, environment: environment, bundles: bundles,
            chunks: known.values.sorted { $0.id < $1.id })
        let path = Self.cachePath(state: state, repository: repository, environment: environment)
        guard let data = try? JSONEncoder().encode(cache) else { return }
        try? FileSystem.createDirectory(FileSystem.directoryName(of: path), permissions: 0o700)
        try? FileSystem.writeFile(path, bytes: Array(data), permissions: 0o600)
    }

    private static func cachePath(state: StateDirectory, repository: Repository, environment: String) -> String {
        let name = hexString(SHA256.hash(Array("\(repository.storage.location)\n\(environment)".utf8))).prefix(24)
        return FileSystem.join(FileSystem.join(state.root, "chunk-index"), "\(environment)-\(name).json")
    }
}
