#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Temporary files may hold secrets (a key being rewritten, an exported tar,
/// a decrypted dump); a process killed with them open would leave them
/// behind, wherever they are. So each one is written, before it is created,
/// into this process's ledger (a file in a 0700 folder of the state
/// directory, fsynced), and the next run of any command removes what the
/// ledgers of processes that are gone list.
public enum TemporaryLedger {
    /// The open ledger of this process: its descriptor, once `open` ran.
    private static let ledger = Mutex<Int32?>(nil)

    /// Names a ledger may list; anything else in a damaged ledger is left alone.
    static let removablePrefixes = [AtomicFile.temporaryPrefix, "coffer-"]

    /// Starts this process's ledger in `folder` (made 0700), after removing
    /// the leftovers that the ledgers of finished processes list. Returns how
    /// many leftovers were removed. Later calls do nothing.
    @discardableResult
    public static func open(in folder: String) throws -> Int {
        if ledger.withLock({ $0 != nil }) { return 0 }
        try FileSystem.createDirectory(folder, permissions: 0o700)
        try FileSystem.setPermissions(folder, 0o700)
        let removed = try sweep(folder)
        let path = FileSystem.join(folder, "\(getpid())-\(startTime(getpid()) ?? "0").ledger")
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        ledger.withLock { $0 = fd }
        return removed
    }

    /// Records `path` before the caller creates it; without a ledger (a library
    /// use, a unit test) it does nothing.
    public static func record(_ path: String) throws {
        try ledger.withLock { fd in
            guard let fd else { return }
            let line = Array((FileSystem.absolute(path) + "\n").utf8)
            let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == line.count, fsync(fd) == 0 else { throw SystemError("write", path: "the temporary-file ledger") }
        }
    }

    /// Removes what the ledgers of processes that no longer run list, and those ledgers.
    static func sweep(_ folder: String) throws -> Int {
        var removed = 0
        for name in try FileSystem.contentsOfDirectory(folder) where name.hasSuffix(".ledger") {
            let parts = name.dropLast(7).split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]) else { continue }
            if pid == getpid() || startTime(pid) == String(parts[1]) { continue }  // still running
            let ledgerPath = FileSystem.join(folder, name)
            let text = (try? FileSystem.readFile(ledgerPath, limit: 1 << 20)) ?? []
            for line in text.split(separator: UInt8(ascii: "\n")) {
                let path = String(decoding: line, as: UTF8.self)
                let base = FileSystem.baseName(of: path)
                guard path.hasPrefix("/"), removablePrefixes.contains(where: base.hasPrefix), FileSystem.exists(path) else { continue }
                try FileSystem.removeTree(path)
                removed += 1
            }
            try FileSystem.removeFile(ledgerPath)
        }
        return removed
    }

    /// When a process started (field 22 of /proc/PID/stat), so a reused pid is not taken for the same process.
    static func startTime(_ pid: Int32) -> String? {
        // A /proc file has no size to read up to: read what it gives.
        guard let file = try? FileDescriptor(opening: "/proc/\(pid)/stat", .readOnly) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard let count = try? buffer.withUnsafeMutableBytes({ try file.readFully(into: $0) }) else { return nil }
        let stat = buffer.prefix(count)
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // After the command name come state (field 3) ... starttime (field 22).
        guard fields.count > 19 else { return nil }
        return String(decoding: fields[19], as: UTF8.self)
    }
}
