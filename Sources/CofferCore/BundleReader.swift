import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem
/// Reads the objects of one verified bundle.
public struct BundleReader {
    public let repository: Repository
    public let manifest: Manifest
    /// False for a private copy whose every object was just checked as it was
    /// written (a drill's fetched bundle): `open` then skips hashing the payload
    /// again (age still authenticates every chunk and the header).
    public var checksPayloadDigest = true

    public init(repository: Repository, manifest: Manifest) {
        self.repository = repository
        self.manifest = manifest
    }

    private func key(_ relative: String) -> String {
        repository.key(environment: manifest.environment, id: manifest.id, relative)
    }

    /// Checks that both objects of `entry` exist with the size and SHA-256 the
    /// manifest lists (no key needed). Throws `FormatError` naming the object.
    /// Reads no more than the listed size plus one byte of either object.
    public func checkObjects(_ entry: ArtifactEntry) throws {
        _ = try headerBytes(of: entry)
        guard try repository.storage.size(of: key(entry.payloadPath)) != nil else {
            throw FormatError(.missing, "\(entry.name): the payload object \(entry.payloadPath) is missing")
        }
        var hasher = SHA256()
        var count: Int64 = 0
        try readPayload(entry) { chunk in
            hasher.update(chunk)
            count += Int64(chunk.count)
        }
        guard count == entry.payload.bytes, hexString(hasher.finalize()) == entry.payload.sha256 else {
            throw FormatError(.digest, "\(entry.name): payload object does not match the manifest (altered, truncated or swapped)")
        }
    }

    /// The payload object of `entry`, never more than the size the manifest lists (see `Repository.readListedObject`).
    private func readPayload(_ entry: ArtifactEntry, into sink: ByteSink) throws {
        try repository.readListedObject(
            key(entry.payloadPath), declaredBytes: entry.payload.bytes, what: "\(entry.name): payload object", into: sink)
    }

    /// The header object of `entry`, checked against the manifest's size and
    /// SHA-256; one larger than the listed size is refused unread.
    public func headerBytes(of entry: ArtifactEntry) throws -> [UInt8] {
        let limit = Int(max(0, min(entry.header.bytes, Int64(AgeHeader.maximumSize))))
        guard let header = try repository.storage.readSmall(key(entry.headerPath), limit: limit) else {
            throw FormatError(.missing, "\(entry.name): the header object \(entry.headerPath) is missing")
        }
        try ArtifactPipeline.check(header, against: entry.header, what: "\(entry.name): header object")
        return header
    }

    /// The parsed header of `entry` (checked as `headerBytes`), for rewrapping its file key.
    public func header(of entry: ArtifactEntry) throws -> AgeHeader {
        try AgeHeader(parsing: try headerBytes(of: entry))
    }

    /// Decrypts and decompresses `entry` into `output`, checking both objects
    /// against the manifest's size and SHA-256 in the same single read: the
    /// digest is compared once the payload has streamed past, so a caller must
    /// treat what it wrote as unchecked until this returns (restore stages it,
    /// and commits nothing before every artifact returned).
    @discardableResult
    public func open(_ entry: ArtifactEntry, identities: [any AgeIdentity], output: ByteSink) throws -> Int64 {
        let header = try headerBytes(of: entry)
        guard try repository.storage.size(of: key(entry.payloadPath)) != nil else {
            throw FormatError(.missing, "\(entry.name): the payload object \(entry.payloadPath) is missing")
        }
        // The pipeline hashes the payload as it decrypts; a second hasher here would double the work.
        return try ArtifactPipeline.open(
            entry: entry, header: header, identities: identities, checksPayloadDigest: checksPayloadDigest,
            read: { sink in try readPayload(entry, into: sink) }, output: output)
    }
}
