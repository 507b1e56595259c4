import CofferFormat

/// One bundle as `coffer list` shows it.
public struct BundleSummary: Sendable {
    public var id: String
    public var createdAt: String
    public var label: String?
    public var artifacts: [String]
    public var plainBytes: Int64
    public var storedBytes: Int64
    /// nil when the signature verified; otherwise why the bundle is not trusted.
    public var problem: String?
}

/// `coffer list`: the bundles of the environment, oldest first, each with its
/// signature checked (a bundle that fails is listed with the reason).
public struct ListOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    public func run() throws -> [BundleSummary] {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environment = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).signingPublicKey()
        return try repository.bundleIDs(environment: environment).map { id in
            do {
                let manifest = try repository.verifiedManifest(environment: environment, id: id, trusted: trusted)
                return BundleSummary(
                    id: id, createdAt: manifest.createdAt, label: manifest.label, artifacts: manifest.artifacts.map(\.name),
                    plainBytes: manifest.artifacts.reduce(0) { $0 + $1.plainBytes },
                    storedBytes: manifest.artifacts.reduce(0) { $0 + $1.header.bytes + $1.payload.bytes }, problem: nil)
            } catch let error as FormatError {
                return BundleSummary(id: id, createdAt: "", label: nil, artifacts: [], plainBytes: 0, storedBytes: 0, problem: error.message)
            }
        }
    }
}
