/// Something a file key can be encrypted to: produces the stanzas for the header.
public protocol AgeRecipient: Sendable {
    /// Wraps `fileKey` into one or more stanzas.
    func wrap(_ fileKey: borrowing SecureBytes) throws(AgeError) -> [AgeStanza]
}

/// Something that can open stanzas and recover the file key.
public protocol AgeIdentity: Sendable {
    /// The file key from the first stanza addressed to this identity that it can
    /// open, nil when none is. Throws `.header` for a stanza of its own type that
    /// is malformed (the spec requires rejecting the file then).
    func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> SecureBytes?
}

/// An X25519 public key, written `age1...`.
public struct AgeX25519Recipient: AgeRecipient, Hashable, CustomStringConvertible {
    static let stanzaType = "X25519"
    static let hrp = "age"
    static let info = "age-encryption.org/v1/X25519"

    /// The 32-byte Curve25519 point.
    public let publicKey: [UInt8]

    init(publicKey: [UInt8]) {
        self.publicKey = publicKey
    }

    /// Parses `age1...`; throws `.key` with the reason when it is not one.
    public init(parsing text: String) throws(AgeError) {
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(text) } catch {
            throw AgeError(.key, "'\(text.prefix(90))' is not a valid age recipient (\(error))")
        }
        guard decoded.hrp == Self.hrp, text.hasPrefix("age1") else {
            throw AgeError(.key, "'\(text.prefix(90))' is not an age X25519 recipient (expected age1...)")
        }
        guard decoded.data.count == X25519.keyCount else {
            throw AgeError(.key, "an age recipient must hold 32 bytes, this one holds \(decoded.data.count)")
        }
        publicKey = decoded.data
    }

    /// The `age1...` string.
    public var description: String { publicKey.withUnsafeBytes { Bech32.encode(hrp: Self.hrp, data: $0) } }

    public func wrap(_ fileKey: borrowing SecureBytes) throws(AgeError) -> [AgeStanza] {
        let ephemeral = SecureBytes(randomCount: X25519.keyCount)
        let share = X25519.publicKey(of: ephemeral)
        guard let shared = X25519.sharedSecret(secret: ephemeral, publicKey: publicKey) else {
            throw AgeError(.key, "the recipient is a low-order point and cannot be encrypted to")
        }
        let wrapKey = HMACSHA256.deriveKey(inputKey: shared, salt: share + publicKey, info: Self.info)
        let body = ChaCha20Poly1305.wrap(key: wrapKey, secret: fileKey)
        return [AgeStanza(arguments: [Self.stanzaType, Base64.encode(share, .unpadded)], body: body)]
    }
}

/// An X25519 secret key, written `AGE-SECRET-KEY-1...`. The scalar lives in `SecureBytes`.
public final class AgeX25519Identity: AgeIdentity {
    static let hrp = "age-secret-key-"
    private let secret: SecureBytes
    /// The matching public key.
    public let recipient: AgeX25519Recipient

    /// A new random identity.
    public init() {
        secret = SecureBytes(randomCount: X25519.keyCount)
        recipient = AgeX25519Recipient(publicKey: X25519.publicKey(of: secret))
    }

    /// Parses `AGE-SECRET-KEY-1...`. The error never repeats the text, which is secret.
    public convenience init(parsing text: String) throws(AgeError) {
        var bytes = Array(text.utf8)
        defer { secureWipe(&bytes) }
        try self.init(parsing: bytes)
    }

    /// Parses `AGE-SECRET-KEY-1...` given as bytes.
    public init(parsing text: [UInt8]) throws(AgeError) {
        var decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(bytes: text) } catch {
            throw AgeError(.key, "malformed age identity (\(error)); expected AGE-SECRET-KEY-1...")
        }
        defer { secureWipe(&decoded.data) }
        guard decoded.hrp == Self.hrp, text.starts(with: Array("AGE-SECRET-KEY-1".utf8)) else {
            throw AgeError(.key, "not an age X25519 identity; expected AGE-SECRET-KEY-1... in upper case")
        }
        guard decoded.data.count == X25519.keyCount else {
            throw AgeError(.key, "an age identity must hold 32 bytes, this one holds \(decoded.data.count)")
        }
        secret = SecureBytes(wiping: &decoded.data)
        recipient = AgeX25519Recipient(publicKey: X25519.publicKey(of: secret))
    }

    /// The `AGE-SECRET-KEY-1...` text, for writing the key file. Handle as a secret.
    public func encodedSecret() -> SecureBytes {
        var text = secret.withUnsafeBytes { Bech32.encodeBytes(hrp: Self.hrp, data: $0, uppercase: true) }
        return SecureBytes(wiping: &text)
    }

    public func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> SecureBytes? {
        for stanza in stanzas where stanza.type == AgeX25519Recipient.stanzaType {
            guard stanza.arguments.count == 2 else {
                throw AgeError(.header, "an X25519 stanza must have exactly one argument")
            }
            guard let share = Base64.decode(stanza.arguments[1], .unpadded), share.count == X25519.keyCount else {
                throw AgeError(.header, "the X25519 share is not canonical base64 of 32 bytes")
            }
            guard stanza.body.count == 32 else { throw AgeError(.header, "the X25519 stanza body is not 32 bytes") }
            guard let shared = X25519.sharedSecret(secret: secret, publicKey: share) else {
                throw AgeError(.header, "the X25519 share is a low-order point")
            }
            let wrapKey = HMACSHA256.deriveKey(inputKey: shared, salt: share + recipient.publicKey, info: AgeX25519Recipient.info)
            if let fileKey = ChaCha20Poly1305.unwrap(key: wrapKey, body: stanza.body) { return fileKey }
        }
        return nil
    }
}

/// A passphrase recipient: the file key wrapped under scrypt of the passphrase.
public final class AgeScryptRecipient: AgeRecipient {
    static let stanzaType = "scrypt"
    static let saltLabel = Array("age-encryption.org/v1/scrypt".utf8)
    /// The reference implementation's work factor for encryption (about a second).
    public static let defaultWorkFactor = 18

    private let passphrase: SecureBytes
    private let workFactor: Int

    public init(passphrase: consuming SecureBytes, workFactor: Int = defaultWorkFactor) {
        precondition((1...30).contains(workFactor))
        self.passphrase = passphrase
        self.workFactor = workFactor
    }

    public func wrap(_ fileKey: borrowing SecureBytes) throws(AgeError) -> [AgeStanza] {
        let salt = SecureRandom.bytes(16)
        guard let wrapKey = Scrypt.derive(passphrase: passphrase, salt: Self.saltLabel + salt, logN: workFactor, count: 32)
        else { throw AgeError(.key, "scrypt ran out of memory at work factor \(workFactor)") }
        let body = ChaCha20Poly1305.wrap(key: wrapKey, secret: fileKey)
        return [AgeStanza(arguments: [Self.stanzaType, Base64.encode(salt, .unpadded), String(workFactor)], body: body)]
    }
}

/// A passphrase identity. Work factors above `maximumWorkFactor` are refused
/// before any work, so a hostile file cannot make decryption take hours.
public final class AgeScryptIdentity: AgeIdentity {
    /// The reference implementation's limit.
    public static let defaultMaximumWorkFactor = 22
    private let passphrase: SecureBytes
    private let maximumWorkFactor: Int

    public init(passphrase: consuming SecureBytes, maximumWorkFactor: Int = defaultMaximumWorkFactor) {
        self.passphrase = passphrase
        self.maximumWorkFactor = maximumWorkFactor
    }

    public func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> SecureBytes? {
        guard let stanza = stanzas.first(where: { $0.type == AgeScryptRecipient.stanzaType }) else { return nil }
        guard stanzas.count == 1 else { throw AgeError(.header, "an scrypt stanza must be the only stanza in the header") }
        guard stanza.arguments.count == 3 else { throw AgeError(.header, "an scrypt stanza must have exactly two arguments") }
        guard let salt = Base64.decode(stanza.arguments[1], .unpadded), salt.count == 16 else {
            throw AgeError(.header, "the scrypt salt is not canonical base64 of 16 bytes")
        }
        let factorText = stanza.arguments[2]
        guard let first = factorText.utf8.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
            factorText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { throw AgeError(.header, "the scrypt work factor is not a decimal number without leading zeros") }
        guard factorText.count <= 2, let workFactor = Int(factorText), workFactor <= maximumWorkFactor else {
            throw AgeError(.header, "the scrypt work factor \(factorText.prefix(20)) is above the limit of \(maximumWorkFactor)")
        }
        guard stanza.body.count == 32 else { throw AgeError(.header, "the scrypt stanza body is not 32 bytes") }
        guard let wrapKey = Scrypt.derive(
            passphrase: passphrase, salt: AgeScryptRecipient.saltLabel + salt, logN: workFactor, count: 32)
        else { throw AgeError(.header, "scrypt ran out of memory at work factor \(workFactor)") }
        return ChaCha20Poly1305.unwrap(key: wrapKey, body: stanza.body)
    }
}
