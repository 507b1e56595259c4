import CofferSystem

/// Encrypts one age file: a header for every recipient, then the payload.
///
/// `header.encoded` and the payload bytes can go to two different places; their
/// concatenation is one standard age file (Coffer stores them as two objects so
/// that key rotation rewrites headers only).
public struct AgeEncryptor: ~Copyable {
    /// The header, MAC included.
    public let header: AgeHeader
    private var payload: AgePayloadEncryptor

    /// Draws a fresh file key and wraps it for each recipient.
    public init(recipients: [any AgeRecipient]) throws(AgeError) {
        guard !recipients.isEmpty else { throw AgeError(.key, "no recipients to encrypt to") }
        if recipients.count > 1 && recipients.contains(where: { $0 is AgeScryptRecipient }) {
            throw AgeError(.key, "a passphrase (scrypt) recipient must be the only recipient")
        }
        let fileKey = SecureBytes(randomCount: 16)
        var stanzas: [AgeStanza] = []
        for recipient in recipients { stanzas += try recipient.wrap(fileKey) }
        header = AgeHeader(stanzas: stanzas, fileKey: fileKey)
        payload = AgePayloadEncryptor(fileKey: fileKey)
    }

    /// Encrypts more plaintext; payload bytes go to `output`.
    public mutating func update(_ plaintext: UnsafeRawBufferPointer, output: ByteSink) throws {
        try payload.update(plaintext, output: output)
    }

    /// Ends the payload.
    public mutating func finish(output: ByteSink) throws {
        try payload.finish(output: output)
    }
}

/// Decrypts the payload of one age file whose header was already parsed.
public struct AgeDecryptor: ~Copyable {
    /// The header the file key came from.
    public let header: AgeHeader
    private var payload: AgePayloadDecryptor

    /// Recovers the file key with one of `identities` and checks the header MAC.
    public init(header: AgeHeader, identities: [any AgeIdentity]) throws(AgeError) {
        let fileKey = try header.unwrapFileKey(with: identities)
        self.header = header
        payload = AgePayloadDecryptor(fileKey: fileKey)
    }

    /// Plaintext bytes produced so far.
    public var plaintextCount: Int64 { payload.plaintextCount }

    /// Decrypts more payload bytes; authenticated plaintext goes to `output`.
    public mutating func update(_ payloadBytes: UnsafeRawBufferPointer, output: ByteSink) throws {
        try payload.update(payloadBytes, output: output)
    }

    /// Checks that the payload ended properly.
    public mutating func finish(output: ByteSink) throws {
        try payload.finish(output: output)
    }
}
