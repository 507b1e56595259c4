/// A minisign signature file (`.minisig`): the Ed25519 signature of the data
/// (of its BLAKE2b-512 for "ED", of the data itself for legacy "Ed"), and a
/// second signature that covers the trusted comment.
public struct MinisignSignature: Sendable, Equatable {
    static let prehashed = Array("ED".utf8)
    static let legacy = Array("Ed".utf8)

    /// The id of the key that made it.
    public let keyID: MinisignKeyID
    /// True for "ED" (prehashed with BLAKE2b-512), false for legacy "Ed".
    public let isPrehashed: Bool
    /// The untrusted comment (not authenticated).
    public let untrustedComment: String
    /// The trusted comment, authenticated by the global signature.
    public let trustedComment: String
    let signature: [UInt8]
    let globalSignature: [UInt8]

    /// Parses a `.minisig` file.
    public init(parsing text: [UInt8]) throws(MinisignError) {
        let lines = minisignLines(text)
        guard lines.count >= 4, lines[0].starts(with: minisignUntrustedPrefix),
            lines[2].starts(with: minisignTrustedPrefix),
            let raw = Base64.decode(lines[1], .padded), raw.count == 74,
            let global = Base64.decode(lines[3], .padded), global.count == 64,
            lines.dropFirst(4).allSatisfy(\.isEmpty)
        else { throw MinisignError(.malformed, "not a minisign signature file") }
        let algorithm = Array(raw[0..<2])
        guard algorithm == Self.prehashed || algorithm == Self.legacy else {
            throw MinisignError(.unsupported, "unsupported signature algorithm")
        }
        isPrehashed = algorithm == Self.prehashed
        keyID = MinisignKeyID(Array(raw[2..<10]))
        signature = Array(raw[10..<74])
        globalSignature = global
        untrustedComment = String(decoding: lines[0].dropFirst(minisignUntrustedPrefix.count), as: UTF8.self)
        trustedComment = String(decoding: lines[2].dropFirst(minisignTrustedPrefix.count), as: UTF8.self)
    }

    init(
        keyID: MinisignKeyID, isPrehashed: Bool, untrustedComment: String, trustedComment: String,
        signature: [UInt8], globalSignature: [UInt8]
    ) {
        self.keyID = keyID
        self.isPrehashed = isPrehashed
        self.untrustedComment = untrustedComment
        self.trustedComment = trustedComment
        self.signature = signature
        self.globalSignature = globalSignature
    }

    /// The `.minisig` file.
    public var fileContents: [UInt8] {
        let raw = (isPrehashed ? Self.prehashed : Self.legacy) + keyID.bytes + signature
        return Array(
            """
            untrusted comment: \(untrustedComment)
            \(Base64.encode(raw, .padded))
            trusted comment: \(trustedComment)
            \(Base64.encode(globalSignature, .padded))

            """.utf8)
    }
}

/// Signing and verification in minisign's format.
public enum Minisign {
    /// BLAKE2b-512 of a stream, the message that "ED" signatures sign.
    public struct Prehasher: ~Copyable {
        private var hasher = BLAKE2b(outputCount: 64)
        public init() {}
        public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bytes) }
        public consuming func finalize() -> [UInt8] { hasher.finalize() }
    }

    /// BLAKE2b-512 of `data`.
    public static func prehash(_ data: [UInt8]) -> [UInt8] {
        var hasher = Prehasher()
        data.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// Signs a prehash ("ED"). The trusted comment must be one line.
    public static func sign(
        prehash: [UInt8], with key: MinisignSecretKey, trustedComment: String,
        untrustedComment: String = "signature from coffer secret key"
    ) -> MinisignSignature {
        precondition(!trustedComment.contains("\n") && !untrustedComment.contains("\n"))
        let signature = prehash.withUnsafeBytes { Ed25519.sign($0, secretKey: key.secret) }
        let global = (signature + Array(trustedComment.utf8)).withUnsafeBytes { Ed25519.sign($0, secretKey: key.secret) }
        return MinisignSignature(
            keyID: key.keyID, isPrehashed: true, untrustedComment: untrustedComment, trustedComment: trustedComment,
            signature: signature, globalSignature: global)
    }

    /// Signs `data` ("ED").
    public static func sign(
        _ data: [UInt8], with key: MinisignSecretKey, trustedComment: String,
        untrustedComment: String = "signature from coffer secret key"
    ) -> MinisignSignature {
        sign(prehash: prehash(data), with: key, trustedComment: trustedComment, untrustedComment: untrustedComment)
    }

    /// Checks `signature` over data whose BLAKE2b-512 is `prehash` (or, for a
    /// legacy signature, over `legacyData`), then the trusted comment.
    /// Returns the trusted comment.
    @discardableResult
    public static func verify(
        _ signature: MinisignSignature, prehash: [UInt8], legacyData: [UInt8]? = nil, publicKey: MinisignPublicKey
    ) throws(MinisignError) -> String {
        guard signature.keyID == publicKey.keyID else {
            throw MinisignError(
                .unknownKeyID, "signed by key id \(signature.keyID), but the trusted public key is \(publicKey.keyID)")
        }
        let valid: Bool
        if signature.isPrehashed {
            valid = prehash.withUnsafeBytes { Ed25519.verify(signature.signature, message: $0, publicKey: publicKey.publicKey) }
        } else {
            guard let legacyData else {
                throw MinisignError(.legacyRefused, "legacy (non-prehashed) signature; re-sign with a current minisign")
            }
            valid = legacyData.withUnsafeBytes { Ed25519.verify(signature.signature, message: $0, publicKey: publicKey.publicKey) }
        }
        guard valid else { throw MinisignError(.badSignature, "signature verification failed: the data or signature was altered") }
        let covered = signature.signature + Array(signature.trustedComment.utf8)
        guard covered.withUnsafeBytes({ Ed25519.verify(signature.globalSignature, message: $0, publicKey: publicKey.publicKey) })
        else { throw MinisignError(.badTrustedComment, "the trusted comment was altered after signing") }
        return signature.trustedComment
    }

    /// Checks `signature` over `data`, prehashed or legacy.
    @discardableResult
    public static func verify(
        _ signature: MinisignSignature, data: [UInt8], publicKey: MinisignPublicKey
    ) throws(MinisignError) -> String {
        try verify(
            signature, prehash: signature.isPrehashed ? prehash(data) : [], legacyData: signature.isPrehashed ? nil : data,
            publicKey: publicKey)
    }
}
