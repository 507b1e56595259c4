import CofferFormat
import CofferStorage
import Foundation

/// How much an environment's bundles reference and how much the repository
/// really holds for them, overall and per source: what deduplication saves.
public struct RepositoryStats: Sendable {
    /// Bytes and objects counted once per reference, and once per object.
    public struct Usage: Sendable {
        public var plainBytes: Int64 = 0
        /// What the bundles would take if nothing were shared.
        public var referencedBytes: Int64 = 0
        /// What their distinct objects take.
        public var uniqueBytes: Int64 = 0
        /// Distinct chunks (format v2).
        public var chunks = 0
        /// Distinct objects, manifests and signatures included.
        public var objects = 0

        /// Referenced over unique bytes: 1 when nothing is shared.
        public var dedupRatio: Double { uniqueBytes > 0 ? Double(referencedBytes) / Double(uniqueBytes) : 1 }
    }

    public var environment: String
    public var bundles: Int
    public var v1Bundles: Int
    public var v2Bundles: Int
    /// Bundles left out: their manifest does not verify.
    public var unverifiable: Int
    public var total: Usage
    /// Per source (artifact name), sorted by name.
    public var sources: [(name: String, usage: Usage)]
    /// Chunk objects no bundle names (left by a killed snapshot or a rotation): prune collects them after a day.
    public var unreferencedObjects: Int
    public var unreferencedBytes: Int64
}

/// `coffer stats`: reads the verified manifests of the environment and the
/// listing of its chunks; needs no secret key.
public struct StatsOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    public func run() throws -> RepositoryStats {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environment = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        var stats = RepositoryStats(
            environment: environment, bundles: 0, v1Bundles: 0, v2Bundles: 0, unverifiable: 0, total: .init(), sources: [],
            unreferencedObjects: 0, unreferencedBytes: 0)
        var seen: Set<String> = []
        var seenBySource: [String: Set<String>] = [:]
        var usage: [String: RepositoryStats.Usage] = [:]
        for id in try repository.bundleIDs(environment: environment, now: try Clock.now()) {
            guard let manifest = try? repository.verifiedManifest(environment: environment, id: id, trusted: trusted) else {
                stats.unverifiable += 1
                continue
            }
            stats.bundles += 1
            if manifest.isChunked { stats.v2Bundles += 1 } else { stats.v1Bundles += 1 }
            let (manifestBytes, signature) = try repository.manifestBytes(environment: environment, id: id)
            stats.total.objects += 2
            stats.total.referencedBytes += Int64(manifestBytes.count + (signature?.count ?? 0))
            stats.total.uniqueBytes += Int64(manifestBytes.count + (signature?.count ?? 0))
            for entry in manifest.artifacts {
                var each = usage[entry.name] ?? .init()
                each.plainBytes += entry.plainBytes
                stats.total.plainBytes += entry.plainBytes
                for piece in entry.pieces(environment: environment, bundleID: id) {
                    each.referencedBytes += piece.storedBytes
                    stats.total.referencedBytes += piece.storedBytes
                    if seenBySource[entry.name, default: []].insert(piece.payloadKey).inserted {
                        each.uniqueBytes += piece.storedBytes
                        each.objects += 2
                        if piece.chunk != nil { each.chunks += 1 }
                    }
                    if seen.insert(piece.payloadKey).inserted {
                        stats.total.uniqueBytes += piece.storedBytes
                        stats.total.objects += 2
                        if piece.chunk != nil { stats.total.chunks += 1 }
                    }
                    seen.insert(piece.headerKey)
                }
                usage[entry.name] = each
            }
        }
        for object in try repository.storage.objects(under: BundleLayout.chunkPrefix(environment)) where !seen.contains(object.key) {
            stats.unreferencedObjects += 1
            stats.unreferencedBytes += object.size
        }
        stats.sources = usage.keys.sorted().map { ($0, usage[$0]!) }
        return stats
    }
}
