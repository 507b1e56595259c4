import CofferFormat
import CofferSystem
import NIOCore

/// The objects of one bundle on S3. Artifacts go straight to their final keys;
/// the manifest, which is what makes a bundle exist, is held back and put last
/// on `commit`, with `If-None-Match: *` so that no writer can ever replace an
/// existing bundle's manifest. `abort` deletes what was written.
final class S3BundleWriter: BundleWriter {
    private let client: S3Client
    private let prefix: String
    private let partSize: Int
    private var written: [String] = []
    private var manifest: [UInt8]?
    private var done = false

    init(client: S3Client, prefix: String, partSize: Int) {
        self.client = client
        self.prefix = prefix
        self.partSize = partSize
    }

    func write(_ name: String, _ produce: (ByteSink) throws -> Void) throws {
        let key = "\(prefix)/\(name)"
        if name == BundleLayout.manifestName {
            var bytes: [UInt8] = []
            try produce { bytes.append(contentsOf: $0) }
            manifest = bytes
            return
        }
        written.append(key)
        try S3ObjectUpload.upload(client: client, key: key, partSize: partSize, produce)
    }

    func commit() throws {
        guard let manifest else {
            throw StorageError(.io, "bundle \(prefix) has no \(BundleLayout.manifestName); nothing was published")
        }
        let key = "\(prefix)/\(BundleLayout.manifestName)"
        do {
            _ = try client.putSmall(key, manifest, headers: [("if-none-match", "*")])
        } catch let error as StorageError where error.kind == .exists {
            // A retry after a lost answer finds its own manifest: published all the same.
            let existing = try client.send(.GET, key: key, accept: [200, 404])
            guard existing.status == 200, existing.body == manifest else { throw error }
        }
        done = true
    }

    func abort() {
        guard !done else { return }
        done = true
        for key in written.reversed() {
            _ = try? client.send(.DELETE, key: key, accept: [200, 204, 404])
        }
    }

    deinit { abort() }
}
