import CofferCompression
import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem

/// Reads the objects of one verified bundle, of either format: an artifact is
/// one piece (v1: an age file in the bundle's folder) or many (v2: its chunks).
public struct BundleReader: Sendable {
    public let repository: Repository
    public let manifest: Manifest
    /// False for a private copy whose every object was just checked as it was
    /// written (a drill's fetched bundle): `open` then skips hashing the payload
    /// again (age still authenticates every chunk and the header).
    public var checksPayloadDigest = true
    /// Chunks fetched and opened at once (format v2): memory is this many chunks, at most 4 MiB of plaintext each, twice.
    static let chunkBatch = 2 * ParallelGzip.defaultWorkers

    public init(repository: Repository, manifest: Manifest) {
        self.repository = repository
        self.manifest = manifest
    }

    /// The pieces of `entry`, in order.
    public func pieces(_ entry: ArtifactEntry) -> [ArtifactPiece] {
        entry.pieces(environment: manifest.environment, bundleID: manifest.id)
    }

    /// Checks that both objects of every piece of `entry` exist with the size
    /// and SHA-256 the manifest lists (no key needed). Throws `FormatError`
    /// naming the object. Reads no more than the listed size plus one byte of any object.
    public func checkObjects(_ entry: ArtifactEntry) throws {
        var seen: Set<String> = []
        let unique = pieces(entry).filter { seen.insert($0.payloadKey).inserted }
        for start in stride(from: 0, to: unique.count, by: Self.chunkBatch) {
            let batch = Array(unique[start..<min(unique.count, start + Self.chunkBatch)])
            _ = try parallelMap(batch.count) { [self] index in try checkPiece(batch[index]) }
        }
    }

    private func checkPiece(_ piece: ArtifactPiece) throws {
        _ = try headerBytes(of: piece)
        var hasher = SHA256()
        var count: Int64 = 0
        try readPayload(piece) { chunk in
            hasher.update(chunk)
            count += Int64(chunk.count)
        }
        guard count == piece.payload.bytes, hexString(hasher.finalize()) == piece.payload.sha256 else {
            throw FormatError(.digest, "\(piece.label): payload object does not match the manifest (altered, truncated or swapped)")
        }
    }

    /// The payload object of `piece`, never more than the size the manifest
    /// lists (see `Repository.readListedObject`); an absent one is named as
    /// missing by the read itself, so no request is spent asking first.
    private func readPayload(_ piece: ArtifactPiece, into sink: ByteSink) throws {
        do {
            try repository.readListedObject(piece.payloadKey, declaredBytes: piece.payload.bytes, what: "\(piece.label): payload object", into: sink)
        } catch let error as StorageError where error.kind == .notFound {
            throw FormatError(.missing, "\(piece.label): the payload object \(piece.payloadKey) is missing")
        }
    }

    /// The header object of `piece`, checked against the manifest's size and
    /// SHA-256; one larger than the listed size is refused unread.
    public func headerBytes(of piece: ArtifactPiece) throws -> [UInt8] {
        let limit = Int(max(0, min(piece.header.bytes, Int64(AgeHeader.maximumSize))))
        guard let header = try repository.storage.readSmall(piece.headerKey, limit: limit) else {
            throw FormatError(.missing, "\(piece.label): the header object \(piece.headerKey) is missing")
        }
        try ArtifactPipeline.check(header, against: piece.header, what: "\(piece.label): header object")
        return header
    }

    /// Decrypts and decompresses `entry` into `output`, checking every object
    /// against the manifest's size and SHA-256 in the same single read: for a
    /// v1 artifact the digest is compared once the payload has streamed past,
    /// so a caller must treat what it wrote as unchecked until this returns
    /// (restore stages it, and commits nothing before every artifact returned).
    /// A v2 artifact's chunks are fetched, checked, decrypted and inflated a
    /// batch at a time on all cores, and written in order.
    @discardableResult
    public func open(_ entry: ArtifactEntry, identities: [any AgeIdentity], output: ByteSink) throws -> Int64 {
        let pieces = pieces(entry)
        guard entry.chunks != nil else {
            guard let piece = pieces.first else { throw FormatError(.malformed, "\(entry.name) has no objects") }
            let header = try headerBytes(of: piece)
            // The pipeline hashes the payload as it decrypts; a second hasher here would double the work.
            return try ArtifactPipeline.open(
                piece, header: header, identities: identities, checksPayloadDigest: checksPayloadDigest,
                read: { sink in try readPayload(piece, into: sink) }, output: output)
        }
        var total: Int64 = 0
        // The next batch is fetched and opened while the last one is written: two batches in memory.
        let batches = stride(from: 0, to: pieces.count, by: Self.chunkBatch).map { Array(pieces[$0..<min(pieces.count, $0 + Self.chunkBatch)]) }
        let reader = self
        func openBatch(_ batch: [ArtifactPiece]) -> Prefetch<[[UInt8]]> {
            Prefetch { try parallelMap(batch.count) { index in try reader.openChunk(batch[index], identities: identities) } }
        }
        var next = batches.first.map(openBatch)
        for index in batches.indices {
            guard let current = next else { break }
            let plains = try current.value()
            next = index + 1 < batches.count ? openBatch(batches[index + 1]) : nil
            do {
                for plain in plains {
                    try plain.withUnsafeBytes { try output($0) }
                    total += Int64(plain.count)
                }
            } catch {
                _ = try? next?.value()  // never leave a batch running past the return
                throw error
            }
        }
        guard total == entry.plainBytes else {
            throw FormatError(.digest, "\(entry.name): \(total) bytes after decryption, the manifest says \(entry.plainBytes)")
        }
        return total
    }

    /// One chunk fetched whole, checked and opened.
    private func openChunk(_ piece: ArtifactPiece, identities: [any AgeIdentity]) throws -> [UInt8] {
        let header = try headerBytes(of: piece)
        var payload: [UInt8] = []
        payload.reserveCapacity(Int(piece.payload.bytes))
        try readPayload(piece) { payload += $0 }
        if !checksPayloadDigest {
            guard Int64(payload.count) == piece.payload.bytes else {
                throw FormatError(.digest, "\(piece.label): payload object does not match the manifest (altered, truncated or swapped)")
            }
        }
        return try ChunkCodec.open(piece, header: header, payload: payload, identities: identities, checkDigests: checksPayloadDigest)
    }
}
