#if canImport(Glibc)
import Glibc
#endif
import CofferSystem

/// Reading and writing files that hold secrets.
///
/// Like ssh, a secret file that group or others can read is refused: the key
/// may already be compromised, and the fix is one `chmod`.
public enum SecretFile {
    /// Largest secret file accepted.
    static let maximumSize = 64 * 1024

    /// Reads a secret file straight into locked memory, after checking (on the
    /// open descriptor, so it cannot change in between) that only the owner can read it.
    public static func read(_ path: String) throws -> SecureBytes {
        let file = try openExisting(path)
        let status = try file.status()
        guard status.isRegularFile else { throw KeyFileError(.malformed, path: path, "not a regular file") }
        if status.permissions & 0o077 != 0 {
            throw KeyFileError(
                .permissionsTooOpen, path: path,
                "secret key file is accessible by group or others (mode \(String(status.permissions, radix: 8))); "
                    + "run `chmod 600 \(path)` and consider the key exposed if others could log in")
        }
        guard status.size <= maximumSize else { throw KeyFileError(.malformed, path: path, "too large for a key file") }
        var contents = SecureBytes(zeroed: Int(status.size))
        let count = try contents.withUnsafeMutableBytes { try file.readFully(into: $0) }
        return count == contents.count ? contents : contents.slice(0..<count)
    }

    static func openExisting(_ path: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor(opening: path, .readOnly)
        } catch let error as SystemError where error.code == ENOENT {
            throw KeyFileError(.missing, path: path, "no such key file")
        }
    }

    /// Writes a secret file with mode 0600, atomically, and never over an existing file.
    /// Replaces a secret key file atomically (key rotation), mode 0600.
    public static func replace(_ path: String, _ contents: borrowing SecureBytes) throws {
        let file = try AtomicFile(creating: path, permissions: 0o600)
        try contents.withUnsafeBytes { try file.write($0) }
        try file.commit(replace: true)
    }

    public static func write(_ path: String, _ contents: borrowing SecureBytes) throws {
        let file = try AtomicFile(creating: path, permissions: 0o600)
        try contents.withUnsafeBytes { try file.write($0) }
        do {
            try file.commit(replace: false)
        } catch let error as SystemError where error.code == EEXIST {
            throw KeyFileError(.exists, path: path, "already exists; refusing to overwrite a key")
        }
    }

    /// The lines of a secret text, each handed to `body` without becoming a String.
    /// Blank lines and `#` comments are skipped; a trailing CR is dropped.
    static func forEachLine(_ contents: borrowing SecureBytes, _ body: ([UInt8]) throws -> Void) rethrows {
        try contents.withUnsafeBytes { bytes in
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
                var line = Array(bytes[start..<end])
                defer { secureWipe(&line) }
                while let last = line.last, last == 0x0D || last == 0x20 || last == 0x09 { line.removeLast() }
                if !line.isEmpty && line.first != UInt8(ascii: "#") { try body(line) }
                start = end + 1
            }
        }
    }
}
