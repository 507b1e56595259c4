/// A minisign key id: 8 random bytes chosen at key generation, shown as 16
/// upper-case hex digits of their little-endian value (as `minisign` prints it).
public struct MinisignKeyID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == 8)
        self.bytes = bytes
    }

    public var description: String {
        bytes.reversed().map { String($0, radix: 16, uppercase: true).leftPadded(to: 2) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Splits minisign's text files into lines, dropping a CR before each LF.
func minisignLines(_ text: [UInt8]) -> [[UInt8]] {
    text.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
        line.last == 0x0D ? Array(line.dropLast()) : Array(line)
    }
}

let minisignUntrustedPrefix = Array("untrusted comment: ".utf8)
let minisignTrustedPrefix = Array("trusted comment: ".utf8)

/// A minisign public key (`signing.pub`).
public struct MinisignPublicKey: Hashable, Sendable {
    static let algorithm = Array("Ed".utf8)
    /// The key id that signatures name.
    public let keyID: MinisignKeyID
    /// The Ed25519 public key.
    public let publicKey: [UInt8]

    init(keyID: MinisignKeyID, publicKey: [UInt8]) {
        self.keyID = keyID
        self.publicKey = publicKey
    }

    /// Parses a public key file (comment line + base64 line) or a bare base64 line.
    public init(parsing text: [UInt8]) throws(MinisignError) {
        let lines = minisignLines(text).filter { !$0.isEmpty }
        guard let encoded = lines.first(where: { !$0.starts(with: minisignUntrustedPrefix) }),
            let raw = Base64.decode(encoded, .padded), raw.count == 42
        else { throw MinisignError(.malformed, "not a minisign public key") }
        guard Array(raw[0..<2]) == Self.algorithm else {
            throw MinisignError(.unsupported, "unsupported public key algorithm")
        }
        keyID = MinisignKeyID(Array(raw[2..<10]))
        publicKey = Array(raw[10..<42])
    }

    /// The base64 line alone, as `minisign -P` takes it.
    public var base64: String { Base64.encode(Self.algorithm + keyID.bytes + publicKey, .padded) }

    /// The public key file.
    public var fileContents: [UInt8] {
        Array("untrusted comment: minisign public key \(keyID)\n\(base64)\n".utf8)
    }
}

/// A minisign secret key (`signing.key`): the Ed25519 secret lives in `SecureBytes`.
public final class MinisignSecretKey: Sendable {
    static let kdfNone: [UInt8] = [0, 0]
    static let kdfScrypt = Array("Sc".utf8)
    static let checksumAlgorithm = Array("B2".utf8)
    static let structSize = 158
    static let keyBlockRange = 54..<158  // key id, secret key, checksum: what the KDF stream covers

    /// The key id.
    public let keyID: MinisignKeyID
    /// The public half.
    public let publicKey: MinisignPublicKey
    let secret: SecureBytes  // 64 bytes: seed || public key

    /// A new random key.
    public init() {
        let pair = Ed25519.generate()
        keyID = MinisignKeyID(SecureRandom.bytes(8))
        publicKey = MinisignPublicKey(keyID: keyID, publicKey: pair.publicKey)
        secret = pair.secret.duplicate()
    }

    /// Parses an unencrypted secret key file (an encrypted one needs `init(parsing:password:)`).
    public convenience init(parsing text: [UInt8]) throws(MinisignError) {
        var raw = try Self.decodeStruct(text)
        defer { secureWipe(&raw) }
        if Array(raw[2..<4]) == Self.kdfScrypt {
            throw MinisignError(.wrongPassword, "the key is encrypted; give its password with --password-env VAR or on a terminal")
        }
        try self.init(decoded: raw)
    }

    /// Parses a secret key file, decrypting it with `password` when it is encrypted.
    /// A wrong password is reported as such (minisign's BLAKE2b checksum catches it).
    public convenience init(parsing text: [UInt8], password: borrowing SecureBytes) throws(MinisignError) {
        var raw = try Self.decodeStruct(text)
        defer { secureWipe(&raw) }
        if Array(raw[2..<4]) == Self.kdfScrypt { try Self.decryptKeyBlock(&raw, password: password) }
        try self.init(decoded: raw)
    }

    private static func decodeStruct(_ text: [UInt8]) throws(MinisignError) -> [UInt8] {
        var lines = minisignLines(text).filter { !$0.isEmpty }
        defer { for index in lines.indices { secureWipe(&lines[index]) } }
        guard let index = lines.firstIndex(where: { !$0.starts(with: minisignUntrustedPrefix) }),
            var raw = Base64.decode(lines[index], .padded)
        else { throw MinisignError(.malformed, "not a minisign secret key") }
        guard raw.count == structSize else {
            secureWipe(&raw)
            throw MinisignError(.malformed, "not a minisign secret key (wrong length)")
        }
        return raw
    }

    private init(decoded raw: [UInt8]) throws(MinisignError) {
        guard Array(raw[0..<2]) == MinisignPublicKey.algorithm else {
            throw MinisignError(.unsupported, "unsupported signature algorithm in the secret key")
        }
        guard Array(raw[4..<6]) == Self.checksumAlgorithm else {
            throw MinisignError(.unsupported, "unsupported checksum algorithm in the secret key")
        }
        let kdf = Array(raw[2..<4])
        guard kdf == Self.kdfNone || kdf == Self.kdfScrypt else {
            throw MinisignError(.unsupported, "unsupported key derivation function in the secret key")
        }
        keyID = MinisignKeyID(Array(raw[54..<62]))
        var secretBytes = Array(raw[62..<126])
        secret = SecureBytes(wiping: &secretBytes)
        publicKey = MinisignPublicKey(keyID: keyID, publicKey: Array(raw[94..<126]))
    }

    private static func decryptKeyBlock(_ raw: inout [UInt8], password: borrowing SecureBytes) throws(MinisignError) {
        let salt = Array(raw[6..<38])
        let opsLimit = littleEndian(raw[38..<46])
        let memLimit = littleEndian(raw[46..<54])
        guard let stream = Scrypt.derive(
            passphrase: password, salt: salt, opsLimit: opsLimit, memLimit: memLimit, count: keyBlockRange.count)
        else { throw MinisignError(.unsupported, "not enough memory for the key derivation of the signing key") }
        xorKeyBlock(&raw, with: stream)
        let expected = Array(raw[126..<158])
        let actual = raw[62..<126].withUnsafeBytes { checksum(keyID: Array(raw[54..<62]), secret: $0) }
        guard constantTimeEquals(actual, expected) else {
            throw MinisignError(.wrongPassword, "wrong password for the signing key")
        }
    }

    private static func xorKeyBlock(_ raw: inout [UInt8], with stream: borrowing SecureBytes) {
        stream.withUnsafeBytes { stream in
            for (offset, index) in keyBlockRange.enumerated() { raw[index] ^= stream[offset] }
        }
    }

    /// The secret key file, unencrypted as `minisign -G -W` writes it, so that
    /// unattended jobs can sign.
    public func fileContents() -> SecureBytes {
        var raw = unencryptedStruct()
        defer { secureWipe(&raw) }
        return Self.encodeFile(raw)
    }

    /// The secret key file encrypted with `password` (scrypt at minisign's own sensitive limits).
    public func fileContents(password: borrowing SecureBytes) -> SecureBytes {
        fileContents(password: password, opsLimit: Scrypt.sensitiveOpsLimit, memLimit: Scrypt.sensitiveMemLimit)
    }

    func fileContents(password: borrowing SecureBytes, opsLimit: UInt64, memLimit: UInt64) -> SecureBytes {
        var raw = unencryptedStruct()
        defer { secureWipe(&raw) }
        let salt = SecureRandom.bytes(32)
        raw.replaceSubrange(2..<4, with: Self.kdfScrypt)
        raw.replaceSubrange(6..<38, with: salt)
        raw.replaceSubrange(38..<46, with: Self.littleEndianBytes(opsLimit))
        raw.replaceSubrange(46..<54, with: Self.littleEndianBytes(memLimit))
        let sum = secret.withUnsafeBytes { Self.checksum(keyID: keyID.bytes, secret: $0) }
        raw.replaceSubrange(126..<158, with: sum)
        guard let stream = Scrypt.derive(
            passphrase: password, salt: salt, opsLimit: opsLimit, memLimit: memLimit, count: Self.keyBlockRange.count)
        else { fatalError("scrypt ran out of memory while encrypting the signing key") }
        Self.xorKeyBlock(&raw, with: stream)
        return Self.encodeFile(raw)
    }

    private func unencryptedStruct() -> [UInt8] {
        var raw = MinisignPublicKey.algorithm + Self.kdfNone + Self.checksumAlgorithm
            + [UInt8](repeating: 0, count: 48) + keyID.bytes
        secret.withUnsafeBytes { raw += $0 }
        return raw + [UInt8](repeating: 0, count: 32)  // checksum: minisign leaves it zero when unencrypted
    }

    private static func encodeFile(_ raw: [UInt8]) -> SecureBytes {
        // minisign writes this comment for encrypted and unencrypted keys alike.
        var text = Array("untrusted comment: minisign encrypted secret key\n\(Base64.encode(raw, .padded))\n".utf8)
        return SecureBytes(wiping: &text)
    }

    static func littleEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// True when a secret key file is password-protected (scrypt), without decrypting it.
    public static func isEncrypted(_ text: [UInt8]) -> Bool {
        let lines = minisignLines(text).filter { !$0.isEmpty && !$0.starts(with: minisignUntrustedPrefix) }
        guard let first = lines.first, var raw = Base64.decode(first, .padded), raw.count == structSize else { return false }
        defer { secureWipe(&raw) }
        return Array(raw[2..<4]) == kdfScrypt
    }

    static func littleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func checksum(keyID: [UInt8], secret: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = BLAKE2b(outputCount: 32)
        hasher.update(MinisignPublicKey.algorithm)
        hasher.update(keyID)
        hasher.update(secret)
        return hasher.finalize()
    }
}
