import CLibcrypto
import CSodium

/// Compares two byte strings (MACs, checksums) without leaking where they differ.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { a in b.withUnsafeBytes { b in sodium_memcmp(a.cBytes, b.cBytes, a.count) == 0 } }
}

/// The libsodium primitives age and minisign are built from, with secrets kept
/// in `SecureBytes`. Internal: callers use the age and minisign types.
/// ChaCha20-Poly1305 (RFC 8439, the IETF variant age uses). Payload chunks go
/// through libcrypto, whose AVX2 code is twice libsodium 1.0.18's speed here.
enum ChaCha20Poly1305 {
    static let keyCount = 32
    static let nonceCount = 12
    static let tagCount = 16

    /// Seals `plaintext` into `output` (plaintext.count + 16 bytes).
    static func seal(
        key: borrowing SecureBytes, nonce: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) {
        key.withUnsafeBytes { seal(keyBytes: $0, nonce: nonce, plaintext: plaintext, into: output) }
    }

    /// As `seal`, with the key lent as raw bytes (for worker threads that share one key).
    static func seal(
        keyBytes key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) {
        precondition(output.count >= plaintext.count + tagCount && nonce.count == nonceCount && key.count == keyCount)
        let sealed = CLibcrypto_chacha20poly1305_seal(
            LibcryptoCipher.chacha20Poly1305.cipher, key.cBytes, nonce.cBytes, plaintext.cBytes, plaintext.count, output.cBytes)
        precondition(sealed == 1, "libcrypto could not seal a chunk (out of memory)")
    }

    /// Opens `ciphertext` into `output` (ciphertext.count - 16 bytes); false when the tag does not verify.
    static func open(
        key: borrowing SecureBytes, nonce: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        key.withUnsafeBytes { open(keyBytes: $0, nonce: nonce, ciphertext: ciphertext, into: output) }
    }

    /// As `open`, with the key lent as raw bytes.
    static func open(
        keyBytes key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard ciphertext.count >= tagCount, output.count >= ciphertext.count - tagCount, key.count == keyCount, nonce.count == nonceCount else {
            return false
        }
        let opened = CLibcrypto_chacha20poly1305_open(
            LibcryptoCipher.chacha20Poly1305.cipher, key.cBytes, nonce.cBytes, ciphertext.cBytes, ciphertext.count, output.cBytes) == 1
        // libcrypto decrypts before it checks the tag: nothing unchecked may stay behind.
        if !opened { secureWipe(UnsafeMutableRawBufferPointer(rebasing: output.prefix(ciphertext.count - tagCount))) }
        return opened
    }

    /// Wraps a small secret (an age file key) with a zero nonce; the key must be single-use.
    static func wrap(key: borrowing SecureBytes, secret: borrowing SecureBytes) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: secret.count + tagCount)
        let zeroNonce = [UInt8](repeating: 0, count: nonceCount)
        secret.withUnsafeBytes { plain in
            zeroNonce.withUnsafeBytes { nonce in
                body.withUnsafeMutableBytes { seal(key: key, nonce: nonce, plaintext: plain, into: $0) }
            }
        }
        return body
    }

    /// Unwraps what `wrap` produced; nil when it does not authenticate.
    static func unwrap(key: borrowing SecureBytes, body: [UInt8]) -> SecureBytes? {
        guard body.count >= tagCount else { return nil }
        var secret = SecureBytes(zeroed: body.count - tagCount)
        let zeroNonce = [UInt8](repeating: 0, count: nonceCount)
        let opened = body.withUnsafeBytes { cipher in
            zeroNonce.withUnsafeBytes { nonce in
                secret.withUnsafeMutableBytes { open(key: key, nonce: nonce, ciphertext: cipher, into: $0) }
            }
        }
        if !opened { return nil }
        return consume secret
    }
}

enum X25519 {
    static let keyCount = 32

    /// The public key of a secret scalar.
    static func publicKey(of secret: borrowing SecureBytes) -> [UInt8] {
        _ = Sodium.ready
        var out = [UInt8](repeating: 0, count: keyCount)
        secret.withUnsafeBytes { scalar in
            out.withUnsafeMutableBytes {
                _ = crypto_scalarmult_base(
                    $0.cBytes, scalar.cBytes)
            }
        }
        return out
    }

    /// The shared secret, or nil when it is all zeros (a low-order point), which age must reject.
    static func sharedSecret(secret: borrowing SecureBytes, publicKey: [UInt8]) -> SecureBytes? {
        _ = Sodium.ready
        guard publicKey.count == keyCount else { return nil }
        var shared = SecureBytes(zeroed: keyCount)
        let status = secret.withUnsafeBytes { scalar in
            publicKey.withUnsafeBytes { point in
                shared.withUnsafeMutableBytes {
                    crypto_scalarmult(
                        $0.cBytes,
                        scalar.cBytes,
                        point.cBytes)
                }
            }
        }
        if status != 0 || shared.isAllZero { return nil }
        return shared
    }
}

enum Scrypt {
    /// scrypt with r = 8, p = 1 and N = 2^logN, into a secret of `count` bytes
    /// (age's wrap key, minisign's key stream). Nil when memory runs out.
    static func derive(
        passphrase: borrowing SecureBytes, salt: [UInt8], logN: Int, count: Int
    ) -> SecureBytes? {
        _ = Sodium.ready
        var out = SecureBytes(zeroed: count)
        let status = passphrase.withUnsafeBytes { password in
            salt.withUnsafeBytes { salt in
                out.withUnsafeMutableBytes { output in
                    crypto_pwhash_scryptsalsa208sha256_ll(
                        password.cBytes, password.count,
                        salt.cBytes, salt.count,
                        UInt64(1) << UInt64(logN), 8, 1,
                        output.cBytes, count)
                }
            }
        }
        if status != 0 { return nil }
        return consume out
    }

    /// scrypt with libsodium's parameter choice from ops/mem limits, as minisign stores them.
    static func derive(
        passphrase: borrowing SecureBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64, count: Int
    ) -> SecureBytes? {
        _ = Sodium.ready
        guard salt.count == Int(crypto_pwhash_scryptsalsa208sha256_SALTBYTES) else { return nil }
        var out = SecureBytes(zeroed: count)
        let status = passphrase.withUnsafeBytes { password in
            salt.withUnsafeBytes { salt in
                out.withUnsafeMutableBytes { output in
                    crypto_pwhash_scryptsalsa208sha256(
                        output.cBytes, UInt64(count),
                        UnsafeRawPointer(password.cBytes).assumingMemoryBound(to: CChar.self),
                        UInt64(password.count),
                        salt.cBytes, opsLimit, Int(memLimit))
                }
            }
        }
        if status != 0 { return nil }
        return consume out
    }

    /// minisign's limits for an encrypted secret key.
    static let sensitiveOpsLimit = UInt64(crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE)
    static let sensitiveMemLimit = UInt64(crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE)
}

enum Ed25519 {
    static let publicKeyCount = 32
    static let secretKeyCount = 64
    static let signatureCount = 64

    /// A secret key (64 bytes: seed || public key) and its public key.
    struct KeyPair: ~Copyable {
        var secret: SecureBytes
        let publicKey: [UInt8]
    }

    /// A new key pair.
    static func generate() -> KeyPair {
        _ = Sodium.ready
        var secret = SecureBytes(zeroed: secretKeyCount)
        var publicKey = [UInt8](repeating: 0, count: publicKeyCount)
        secret.withUnsafeMutableBytes { sk in
            publicKey.withUnsafeMutableBytes { pk in
                _ = crypto_sign_keypair(
                    pk.cBytes, sk.cBytes)
            }
        }
        return KeyPair(secret: secret, publicKey: publicKey)
    }

    /// A detached signature of `message`.
    static func sign(_ message: UnsafeRawBufferPointer, secretKey: borrowing SecureBytes) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: signatureCount)
        secretKey.withUnsafeBytes { sk in
            signature.withUnsafeMutableBytes { sig in
                _ = crypto_sign_detached(
                    sig.cBytes, nil,
                    message.cBytes, UInt64(message.count),
                    sk.cBytes)
            }
        }
        return signature
    }

    /// True when `signature` is valid for `message` under `publicKey`.
    static func verify(_ signature: [UInt8], message: UnsafeRawBufferPointer, publicKey: [UInt8]) -> Bool {
        _ = Sodium.ready
        guard signature.count == signatureCount, publicKey.count == publicKeyCount else { return false }
        return signature.withUnsafeBytes { sig in
            publicKey.withUnsafeBytes { pk in
                crypto_sign_verify_detached(
                    sig.cBytes,
                    message.cBytes, UInt64(message.count),
                    pk.cBytes) == 0
            }
        }
    }
}

/// libcrypto's cipher implementation, fetched once and shared by every thread (OpenSSL allows that).
final class LibcryptoCipher: @unchecked Sendable {
    // @unchecked Sendable: an EVP_CIPHER is immutable after the fetch and thread-safe to share.
    let cipher: OpaquePointer

    static let chacha20Poly1305 = LibcryptoCipher("ChaCha20-Poly1305")

    private init(_ name: String) {
        guard let cipher = EVP_CIPHER_fetch(nil, name, nil) else { fatalError("libcrypto has no \(name)") }
        self.cipher = cipher
    }
}
