import CofferCompression
import CofferCrypto
import CofferSystem

/// What sealing one artifact produced.
public struct SealedArtifact: Sendable {
    public var plainBytes: Int64
    public var header: ObjectDigest
    public var payload: ObjectDigest
}

/// The artifact pipeline: plaintext -> gzip members (all cores) -> age
/// (64 KiB chunks, all cores) -> SHA-256 -> the storage's two objects, and
/// back. Constant memory in both directions.
public enum ArtifactPipeline {
    /// Seals the plaintext that `produce` pushes into its sink. The age header
    /// goes to `header`, the payload to `payload`; both are measured and hashed.
    /// `level` is gzip's (1 for data that is compressed already, such as an RDB).
    public static func seal(
        recipients: [any AgeRecipient], level: Int32 = 6, header: ByteSink, payload: ByteSink, produce: (ByteSink) throws -> Void
    ) throws -> SealedArtifact {
        // The sinks are only used during this call; the compiler needs to be told so.
        try withoutActuallyEscaping(payload) { payload in
            try sealEscapable(recipients: recipients, level: level, header: header, payload: payload, produce: produce)
        }
    }

    private static func sealEscapable(
        recipients: [any AgeRecipient], level: Int32, header: ByteSink, payload: @escaping ByteSink, produce: (ByteSink) throws -> Void
    ) throws -> SealedArtifact {
        var encryptor = try AgeEncryptor(recipients: recipients)
        let headerBytes = encryptor.header.encoded
        try headerBytes.withUnsafeBytes { try header($0) }

        var payloadHasher = SHA256()
        var payloadCount: Int64 = 0
        func emit(_ cipher: UnsafeRawBufferPointer) throws {
            payloadHasher.update(cipher)
            payloadCount += Int64(cipher.count)
            try payload(cipher)
        }
        var gzip = try ParallelGzip(level: level)
        var plainCount: Int64 = 0
        try produce { plain in
            plainCount += Int64(plain.count)
            try gzip.update(plain) { compressed in try encryptor.update(compressed, output: emit) }
        }
        try gzip.finish { compressed in try encryptor.update(compressed, output: emit) }
        try encryptor.finish(output: emit)
        return SealedArtifact(
            plainBytes: plainCount,
            header: ObjectDigest(bytes: Int64(headerBytes.count), sha256: hexString(SHA256.hash(headerBytes))),
            payload: ObjectDigest(bytes: payloadCount, sha256: hexString(payloadHasher.finalize())))
    }

    /// Opens an artifact: checks the header object against the manifest, then
    /// streams the payload that `read` pushes through SHA-256, age and gunzip into
    /// `output`. Throws `FormatError(.digest)` when an object is not the one the
    /// manifest lists, age errors when it does not decrypt. Returns plaintext bytes.
    /// `checksPayloadDigest` false (a private copy checked as it was written)
    /// skips the SHA-256 but still checks the size; age authenticates every chunk.
    @discardableResult
    public static func open(
        _ entry: ArtifactPiece, header headerBytes: [UInt8], identities: [any AgeIdentity], checksPayloadDigest: Bool = true,
        read: (ByteSink) throws -> Void, output: ByteSink
    ) throws -> Int64 {
        try withoutActuallyEscaping(output) { output in
            try openEscapable(
                entry, header: headerBytes, identities: identities, checksPayloadDigest: checksPayloadDigest, read: read, output: output)
        }
    }

    private static func openEscapable(
        _ entry: ArtifactPiece, header headerBytes: [UInt8], identities: [any AgeIdentity], checksPayloadDigest: Bool,
        read: (ByteSink) throws -> Void, output: @escaping ByteSink
    ) throws -> Int64 {
        try check(headerBytes, against: entry.header, what: "\(entry.label): header object")
        var decryptor = try AgeDecryptor(header: try AgeHeader(parsing: headerBytes), identities: identities)
        var inflater = try ParallelGunzip()
        var hasher = SHA256()
        var payloadCount: Int64 = 0
        var plainCount: Int64 = 0
        func deliver(_ plain: UnsafeRawBufferPointer) throws {
            plainCount += Int64(plain.count)
            try output(plain)
        }
        try read { cipher in
            if checksPayloadDigest { hasher.update(cipher) }
            payloadCount += Int64(cipher.count)
            try decryptor.update(cipher) { compressed in try inflater.update(compressed, sink: deliver) }
        }
        guard payloadCount == entry.payload.bytes, !checksPayloadDigest || hexString(hasher.finalize()) == entry.payload.sha256 else {
            throw FormatError(.digest, "\(entry.label): payload object does not match the manifest (altered, truncated or swapped)")
        }
        try decryptor.finish { compressed in try inflater.update(compressed, sink: deliver) }
        try inflater.finish(sink: deliver)
        guard plainCount == entry.plainBytes else {
            throw FormatError(.digest, "\(entry.label): \(plainCount) bytes after decryption, the manifest says \(entry.plainBytes)")
        }
        return plainCount
    }

    /// Re-encrypts an artifact under a fresh file key for `recipients` (a leaked
    /// identity): the payload `read` pushes is decrypted and encrypted again,
    /// still compressed, into `payload`. The old payload must match the
    /// manifest's digest; returns the new header bytes and payload digest.
    public static func reencrypt(
        _ entry: ArtifactPiece, header headerBytes: [UInt8], identities: [any AgeIdentity], recipients: [any AgeRecipient],
        read: (ByteSink) throws -> Void, payload: ByteSink
    ) throws -> (header: [UInt8], payload: ObjectDigest) {
        try withoutActuallyEscaping(payload) { payload in
            try check(headerBytes, against: entry.header, what: "\(entry.label): header object")
            var decryptor = try AgeDecryptor(header: try AgeHeader(parsing: headerBytes), identities: identities)
            var encryptor = try AgeEncryptor(recipients: recipients)
            var oldHasher = SHA256(), newHasher = SHA256()
            var oldCount: Int64 = 0, newCount: Int64 = 0
            func emit(_ cipher: UnsafeRawBufferPointer) throws {
                newHasher.update(cipher)
                newCount += Int64(cipher.count)
                try payload(cipher)
            }
            try read { cipher in
                oldHasher.update(cipher)
                oldCount += Int64(cipher.count)
                try decryptor.update(cipher) { compressed in try encryptor.update(compressed, output: emit) }
            }
            guard oldCount == entry.payload.bytes, hexString(oldHasher.finalize()) == entry.payload.sha256 else {
                throw FormatError(.digest, "\(entry.label): payload object does not match the manifest (altered, truncated or swapped)")
            }
            try decryptor.finish { compressed in try encryptor.update(compressed, output: emit) }
            try encryptor.finish(output: emit)
            return (encryptor.header.encoded, ObjectDigest(bytes: newCount, sha256: hexString(newHasher.finalize())))
        }
    }

    /// Checks that bytes have the size and SHA-256 the manifest lists.
    public static func check(_ bytes: [UInt8], against digest: ObjectDigest, what: String) throws {
        guard Int64(bytes.count) == digest.bytes, hexString(SHA256.hash(bytes)) == digest.sha256 else {
            throw FormatError(.digest, "\(what) does not match the manifest (altered, truncated or swapped)")
        }
    }
}
