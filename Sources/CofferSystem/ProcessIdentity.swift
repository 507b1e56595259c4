#if canImport(Glibc)
import Glibc
#endif

/// This process and others, for naming and reclaiming leftovers of killed runs.
public enum ProcessIdentity {
    /// The current process id.
    public static var current: Int32 { getpid() }

    /// True when a process with this id exists.
    public static func isAlive(_ pid: Int32) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }

    /// Names the space in which `current` and `isAlive` pids mean the same
    /// processes: this boot of the kernel and this pid namespace. Two processes
    /// with equal spaces can test each other's pids; nil when it cannot be read.
    public static var pidSpace: String? {
        // A /proc file says it has size 0: read it with one read(2), not by its size.
        let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var boot = [UInt8](repeating: 0, count: 64)
        let count = boot.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard count > 0 else { return nil }
        boot.removeLast(boot.count - count)
        var buffer = [CChar](repeating: 0, count: 128)
        let length = readlink("/proc/self/ns/pid", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let namespace = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(decoding: boot.filter { $0 > 32 }, as: UTF8.self) + " " + namespace
    }

    /// The host name, for manifests and journals.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The absolute path of this program (`/proc/self/exe`), for running itself again.
    public static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Ends the process at once, without cleanup: used only by fault-injection
    /// tests (`COFFER_FAULT`) to stand in for a crash or `kill -9`.
    public static func crashForTesting() -> Never {
        _exit(137)
    }
}
