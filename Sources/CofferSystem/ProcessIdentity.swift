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
