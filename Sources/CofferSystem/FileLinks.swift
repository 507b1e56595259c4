#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileSystem {
    /// A second name for an existing file (`link(2)`): keeps the very inode, so
    /// its bytes, mode and owner, aside without copying, before a rename replaces the first name.
    public static func link(_ existing: String, as newName: String) throws {
        if Glibc.link(existing, newName) != 0 { throw SystemError("link", path: "\(existing) -> \(newName)") }
    }

    /// True when both paths name the same file (device and inode), so a caller
    /// can ask where a rename left things instead of guessing.
    public static func sameFile(_ first: String, _ second: String) -> Bool {
        var a = stat()
        var b = stat()
        guard stat(first, &a) == 0, stat(second, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// Copies a file a block at a time (never whole into memory) into a new
    /// file created with `permissions`, fsynced; a partial copy is removed.
    public static func copyFile(_ source: String, to destination: String, permissions: UInt32 = 0o600) throws {
        let input = try FileDescriptor(opening: source, .readOnly)
        var output = try FileDescriptor(opening: destination, .createNew(permissions: permissions))
        do {
            try forEachBlock(read: { try input.read(into: $0) }, blockSize: 1 << 20) { try output.write($0) }
            try output.sync()
            try output.close()
        } catch {
            try? removeFile(destination)
            throw error
        }
    }

    /// True when two files hold the same bytes (compared a block at a time).
    public static func sameContent(_ first: String, _ second: String) throws -> Bool {
        guard let a = try status(of: first), let b = try status(of: second), a.size == b.size else { return false }
        let left = try FileDescriptor(opening: first, .readOnly)
        let right = try FileDescriptor(opening: second, .readOnly)
        let size = 1 << 20
        let x = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        let y = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer {
            x.deallocate()
            y.deallocate()
        }
        while true {
            let n = try left.readFully(into: x)
            let m = try right.readFully(into: y)
            guard n == m else { return false }
            if n == 0 { return true }
            if memcmp(x.baseAddress!, y.baseAddress!, n) != 0 { return false }
        }
    }
}
