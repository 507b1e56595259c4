#if canImport(Glibc)
import Glibc
#endif
import CofferSystem

/// The repository secret of format v2 (`keys/chunk.key`, mode 0600, kept
/// beside the signing key on the hosts that take backups). Two keys are
/// derived from it: the HMAC-SHA-256 key that names each chunk by its
/// plaintext, and the gear table that places the cut points. Without it the
/// chunk names and sizes in a bucket cannot be matched against guessed
/// content (restic's 2025 CDC advisory: unkeyed boundaries fingerprint data).
/// Restores do not need it.
public final class ChunkKey: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the secure memory is only read.
    /// The file name inside the keys folder.
    public static let fileName = "chunk.key"
    private static let prefix = "COFFER-CHUNK-KEY-1 "

    private let idKey: SecureBytes
    /// 256 keyed 64-bit gear values for the rolling hash, in locked memory.
    private let gear: SecureBytes

    private init(master: borrowing SecureBytes) {
        idKey = Self.derive(master, label: "coffer/2 chunk id")
        var table = SecureBytes(zeroed: 256 * 8)
        table.withUnsafeMutableBytes { out in
            for block in 0..<64 {
                var part = Self.derive(master, label: "coffer/2 chunk gear \(block)")
                part.withUnsafeMutableBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: out[(block * 32)..<(block * 32 + 32)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                    secureWipe(bytes)
                }
            }
        }
        gear = table
    }

    private static func derive(_ master: borrowing SecureBytes, label: String) -> SecureBytes {
        var mac = master.withUnsafeBytes { key in
            Array(label.utf8).withUnsafeBytes { HMACSHA256.authenticate(key: key, $0) }
        }
        return SecureBytes(wiping: &mac)
    }

    /// Reads the key file (refused when group or others can read it, as every secret key).
    public convenience init(reading path: String) throws {
        let contents = try SecretFile.read(path)
        var master: SecureBytes?
        try SecretFile.forEachLine(contents) { line in
            guard master == nil else { return }
            let prefix = Array(Self.prefix.utf8)
            guard line.count == prefix.count + 64, Array(line[0..<prefix.count]) == prefix,
                var decoded = Self.decodeHex(line[prefix.count...])
            else { throw KeyFileError(.malformed, path: path, "not a Coffer chunk key (a line COFFER-CHUNK-KEY-1 and 64 hex digits)") }
            master = SecureBytes(wiping: &decoded)
        }
        guard let key = master.take() else { throw KeyFileError(.malformed, path: path, "holds no chunk key") }
        self.init(master: key)
    }

    /// Writes a new random key to `path` (mode 0600; never over an existing file).
    public static func create(at path: String, created: String) throws {
        let master = SecureBytes(randomCount: 32)
        var text = Array("# Coffer chunk key, created \(created): names and cuts the chunks of format v2. Keep it with signing.key.\n\(prefix)".utf8)
        master.withUnsafeBytes { bytes in
            let digits = Array("0123456789abcdef".utf8)
            for byte in bytes {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 15)])
            }
        }
        text.append(0x0A)
        try SecretFile.write(path, SecureBytes(wiping: &text))
    }

    /// The chunk id of `plain`: HMAC-SHA-256 under the id key, 64 hex digits.
    /// SHA-256 from libcrypto (the chunk is hashed at memory speed).
    public func chunkID(_ plain: UnsafeRawBufferPointer) -> String {
        var pad = SecureBytes(zeroed: 64)
        func keyed(_ xor: UInt8) -> SHA256 {
            var hasher = SHA256()
            pad.withUnsafeMutableBytes { block in
                idKey.withUnsafeBytes { key in
                    for index in 0..<64 { block[index] = (index < key.count ? key[index] : 0) ^ xor }
                }
                hasher.update(UnsafeRawBufferPointer(block))
            }
            return hasher
        }
        var inner = keyed(0x36)
        inner.update(plain)
        var outer = keyed(0x5c)
        outer.update(inner.finalize())
        return hexString(outer.finalize())
    }

    /// Calls `body` with the 256 gear values.
    public func withGearTable<R>(_ body: (UnsafePointer<UInt64>) throws -> R) rethrows -> R {
        try gear.withUnsafeBytes { bytes in try body(bytes.baseAddress!.assumingMemoryBound(to: UInt64.self)) }
    }

    private static func decodeHex(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 48...57: return digit - 48
            case 97...102: return digit - 87
            default: return nil
            }
        }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = value(text[index]), let low = value(text[index + 1]) else {
                secureWipe(&out)
                return nil
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
