import CofferFormat
import CofferStorage

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
/// the trusted key, oldest first. Bundles without a manifest, with a manifest
/// that does not verify or cannot be read (not a regular file, over 64 MiB), and
/// names that are not current bundle ids are left out and named separately.
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
        let listing = try repository.listing(environment: environment, now: try Clock.now())
        var bundles: [BundleSummary] = []
        var ignored = listing.unpublished.map {
            IgnoredBundle(id: $0, reason: "no manifest (an interrupted write, or the manifest was deleted)")
        }
        ignored += listing.stray
        for id in listing.ids {
            do {
                let manifest = try repository.verifiedManifest(environment: environment, id: id, trusted: trusted)
                bundles.append(
                    BundleSummary(
                        id: id, createdAt: manifest.createdAt, label: manifest.label, artifacts: manifest.artifacts.map(\.name),
                        plainBytes: manifest.artifacts.reduce(0) { $0 + $1.plainBytes },
                        storedBytes: manifest.storedBytes))
            } catch let error as FormatError {
                ignored.append(IgnoredBundle(id: id, reason: "not trusted: \(error.message)"))
            } catch let error as StorageError where error.kind == .invalid {
                // A manifest that is a folder, a FIFO, or larger than a manifest may be: left out, not fatal.
                ignored.append(IgnoredBundle(id: id, reason: "unreadable manifest: \(error.message)"))
            }
        }
        RollbackGuard.raise(config, bundle: bundles.last?.id)
        return (bundles, ignored.sorted { $0.id < $1.id })
    }
}
