import CofferCompression
import CofferCrypto

/// One format v2 chunk sealed in memory: its age header and age payload,
/// which concatenated are a standard age file of one gzip member.
public struct SealedChunk: Sendable {
    public var header: [UInt8]
    public var payload: [UInt8]

    public init(header: [UInt8], payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    /// The reference a manifest lists for it.
    public func reference(id: String, plainBytes: Int) -> ChunkReference {
        ChunkReference(
            id: id, plainBytes: Int64(plainBytes), header: ObjectDigest(bytes: Int64(header.count), sha256: hexString(SHA256.hash(header))),
            payload: ObjectDigest(bytes: Int64(payload.count), sha256: hexString(SHA256.hash(payload))))
    }
}

/// Seals and opens single chunks: gzip (one member, libdeflate) then age.
/// A chunk is at most `ContentChunker.maximumSize` bytes, so it is handled
/// whole; callers run many chunks on all cores at once.
public enum ChunkCodec {
    /// Compresses at `level` and encrypts to `recipients` under a fresh file key.
    public static func seal(_ plain: UnsafeRawBufferPointer, level: Int32, recipients: [any AgeRecipient]) throws -> SealedChunk {
        let member = try GzipBlock.compress(plain, level: level)
        var encryptor = try AgeEncryptor(recipients: recipients)
        var payload: [UInt8] = []
        payload.reserveCapacity(member.count + member.count / 4096 + 64)
        try member.withUnsafeBytes { bytes in try encryptor.update(bytes) { payload += $0 } }
        try encryptor.finish { payload += $0 }
        return SealedChunk(header: encryptor.header.encoded, payload: payload)
    }

    /// Checks both objects against `piece` (size and SHA-256, unless the
    /// caller already did), decrypts and inflates; the plaintext has exactly
    /// `piece.plainBytes` bytes or this throws, naming the piece.
    public static func open(
        _ piece: ArtifactPiece, header: [UInt8], payload: [UInt8], identities: [any AgeIdentity], checkDigests: Bool = true
    ) throws -> [UInt8] {
        if checkDigests {
            try ArtifactPipeline.check(header, against: piece.header, what: "\(piece.label): header object")
            try ArtifactPipeline.check(payload, against: piece.payload, what: "\(piece.label): payload object")
        }
        var decryptor = try AgeDecryptor(header: try AgeHeader(parsing: header), identities: identities)
        var member: [UInt8] = []
        member.reserveCapacity(payload.count)
        try payload.withUnsafeBytes { bytes in try decryptor.update(bytes) { member += $0 } }
        try decryptor.finish { member += $0 }
        do {
            return try member.withUnsafeBytes { try GzipBlock.decompress($0, plainBytes: Int(piece.plainBytes)) }
        } catch let error as CompressionError {
            throw FormatError(.digest, "\(piece.label): \(error.message)")
        }
    }
}
