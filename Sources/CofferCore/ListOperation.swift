import CofferFormat

/// One bundle as `coffer list` shows it.
public struct BundleSummary: Sendable {
    public var id: String
    public var createdAt: String
    public var label: String?
    public var artifacts: [String]
    public var plainBytes: Int64
    public var storedBytes: Int64
}

/// A bundle that `list` leaves out, and why.
public struct IgnoredBundle: Sendable {
    public var id: String
    public var reason: String
}

/// `coffer list`: the bundles of the environment whose manifest is signed by
/// the trusted key, oldest first. Bundles without a manifest or with a manifest
/// that does not verify are left out and named separately.
public struct ListOperation {
    public let config: CofferConfig

    public init(config: CofferConfig) {
        self.config = config
    }

    /// The trusted bundles.
    public func run() throws -> [BundleSummary] {
        try runReportingIgnored().bundles
    }

    public func runReportingIgnored() throws -> (bundles: [BundleSummary], ignored: [IgnoredBundle]) {
        let repository = try Repository.open(config)
        try repository.checkFormat()
        let environment = config.environment.rawValue
        let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
        var bundles: [BundleSummary] = []
        var ignored = try repository.unpublishedBundleIDs(environment: environment).map {
            IgnoredBundle(id: $0, reason: "no manifest (an interrupted write, or the manifest was deleted)")
        }
        for id in try repository.bundleIDs(environment: environment) {
            do {
                let manifest = try repository.verifiedManifest(environment: environment, id: id, trusted: trusted)
                bundles.append(
                    BundleSummary(
                        id: id, createdAt: manifest.createdAt, label: manifest.label, artifacts: manifest.artifacts.map(\.name),
                        plainBytes: manifest.artifacts.reduce(0) { $0 + $1.plainBytes },
                        storedBytes: manifest.artifacts.reduce(0) { $0 + $1.header.bytes + $1.payload.bytes }))
            } catch let error as FormatError {
                ignored.append(IgnoredBundle(id: id, reason: "not trusted: \(error.message)"))
            }
        }
        RollbackGuard.raise(config, bundle: bundles.last?.id)
        return (bundles, ignored.sorted { $0.id < $1.id })
    }
}
