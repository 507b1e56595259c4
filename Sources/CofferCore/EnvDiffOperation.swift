import CofferFormat
import CofferSources
import CofferSystem

/// `coffer env diff`: which variable names differ between a bundle and now.
/// Only names are reported, never values or digests of values.
public struct EnvDiff: Sendable {
    /// Set now but not in the bundle.
    public var added: [String]
    /// In the bundle but not set now.
    public var removed: [String]
    /// In both with different values.
    public var changed: [String]
    public var unchanged: Int
    public var bundle: String
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
}

public struct EnvDiffOperation {
    public let config: CofferConfig
    public let environment: [String: String]

    public init(config: CofferConfig, environment: [String: String]) {
        self.config = config
        self.environment = environment
    }

    public func run(reference: String) throws -> EnvDiff {
        guard let env = try SourceCatalog.sources(config, environment: environment).compactMap({ $0 as? EnvSource }).first else {
            throw CofferError(.config, "\(config.path) has no [env] section")
        }
        let keys = KeyStore(directory: config.keysDirectory)
        let repository = try Repository.open(config)
        let environmentName = config.environment.rawValue
        let id = try repository.resolve(reference, environment: environmentName, now: try Clock.now(environment: environment))
        let manifest = try repository.verifiedManifest(environment: environmentName, id: id, trusted: try keys.trustedSigners())
        guard let entry = manifest.artifacts.first(where: { $0.kind == .env }) else {
            throw CofferError(.failure, "bundle \(id) has no env artifact")
        }
        var text: [UInt8] = []
        defer { text.withUnsafeMutableBytes { buffer in for index in buffer.indices { buffer[index] = 0 } } }
        let reader = BundleReader(repository: repository, manifest: manifest)
        try reader.open(entry, identities: try keys.identities(environmentName)) { text += $0 }
        let saved = try EnvSource.inspect(text).variables
        let current = try env.collect()
        let savedValues = Dictionary(saved.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        let currentValues = Dictionary(current.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        var diff = EnvDiff(added: [], removed: [], changed: [], unchanged: 0, bundle: id)
        for name in Set(savedValues.keys).union(currentValues.keys).sorted() {
            switch (savedValues[name], currentValues[name]) {
            case (nil, _?): diff.added.append(name)
            case (_?, nil): diff.removed.append(name)
            case (let old?, let new?): if old == new { diff.unchanged += 1 } else { diff.changed.append(name) }
            default: break
            }
        }
        return diff
    }
}
