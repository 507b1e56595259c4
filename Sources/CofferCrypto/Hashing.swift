import CLibcrypto
import CSodium

/// Incremental SHA-256, so that a large artifact is hashed as it streams by.
///
/// OpenSSL's libcrypto (already loaded for libpq) rather than libsodium: its
/// SHA-256 uses the CPU's SHA extensions, 1.4 GB/s here against libsodium
/// 1.0.18's 0.2 GB/s, and every payload is hashed on the way in and out.
public struct SHA256: Sendable {
    /// Digest length in bytes.
    public static let byteCount = 32
    private var state = SHA256_CTX()

    public init() {
        SHA256_Init(&state)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        SHA256_Update(&state, base, bytes.count)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest; the hasher must not be used afterwards.
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Self.byteCount)
        digest.withUnsafeMutableBufferPointer { buffer in
            _ = SHA256_Final(buffer.baseAddress, &state)
        }
        return digest
    }

    /// SHA-256 of `bytes` in one call.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// Incremental BLAKE2b, as minisign uses to prehash what it signs.
///
/// libsodium's state is a 64-byte-aligned struct that Swift cannot hold inline,
/// so it lives in an aligned allocation that this value owns.
public struct BLAKE2b: ~Copyable {
    private let state: UnsafeMutableRawPointer
    private let outputCount: Int

    /// A hasher producing `outputCount` bytes (1...64), unkeyed.
    public init(outputCount: Int) {
        _ = Sodium.ready
        self.outputCount = outputCount
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        crypto_generichash_init(OpaquePointer(state), nil, 0, outputCount)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        crypto_generichash_update(OpaquePointer(state), bytes.cBytes, UInt64(bytes.count))
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest.
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: outputCount)
        let count = outputCount
        let state = self.state
        digest.withUnsafeMutableBytes { buffer in
            _ = crypto_generichash_final(OpaquePointer(state), buffer.cBytes, count)
        }
        return digest
    }

    deinit {
        state.deallocate()
    }
}

/// HMAC-SHA-256 and the HKDF-SHA-256 that age derives every key with
/// (libsodium 1.0.18 has HMAC-SHA-256 but no HKDF). S3's request signing uses it too.
public enum HMACSHA256 {
    /// HMAC of the concatenation of `parts` under `key`.
    public static func authenticate(key: UnsafeRawBufferPointer, _ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        _ = Sodium.ready
        var state = crypto_auth_hmacsha256_state()
        crypto_auth_hmacsha256_init(&state, key.cBytes, key.count)
        for part in parts where part.count > 0 {
            crypto_auth_hmacsha256_update(&state, part.cBytes, UInt64(part.count))
        }
        var mac = [UInt8](repeating: 0, count: 32)
        mac.withUnsafeMutableBytes { _ = crypto_auth_hmacsha256_final(&state, $0.cBytes) }
        sodium_memzero(&state, MemoryLayout<crypto_auth_hmacsha256_state>.size)
        return mac
    }

    /// HKDF-SHA-256 (RFC 5869) with a 32-byte output, the only length age uses.
    ///   PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01)
    static func deriveKey(inputKey: borrowing SecureBytes, salt: [UInt8], info: String) -> SecureBytes {
        deriveKey(inputKey: inputKey, salt: salt, info: Array(info.utf8))
    }

    /// HKDF-SHA-256 with binary `info`.
    static func deriveKey(inputKey: borrowing SecureBytes, salt: [UInt8], info: [UInt8]) -> SecureBytes {
        var prk = salt.withUnsafeBytes { saltBytes in
            inputKey.withUnsafeBytes { ikm in authenticate(key: saltBytes, ikm) }
        }
        defer { secureWipe(&prk) }
        var okm = prk.withUnsafeBytes { prkBytes in
            info.withUnsafeBytes { infoBytes in
                [UInt8(1)].withUnsafeBytes { counter in authenticate(key: prkBytes, infoBytes, counter) }
            }
        }
        return SecureBytes(wiping: &okm)
    }
}

/// Lower-case hex.
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
