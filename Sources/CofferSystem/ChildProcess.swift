#if canImport(Glibc)
import Glibc
#endif
import CProcess

/// A program started in its own process group, with its output in a file: a
/// command that must be bounded in time (a drill's smoke command) or a server
/// that must be stopped with everything it started (a throwaway redis-server).
/// Foundation's `Process` cannot do either: it keeps the child in Coffer's
/// group, so a timeout could kill only the shell and leave its children running.
public final class ChildProcess {
    /// How a child ended.
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        /// The shell's convention: the exit status, or 128 plus the signal.
        public var status: Int32 {
            switch self {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }
    }

    public let pid: Int32
    private var ended: Termination?

    /// Starts `executable` (an absolute path) with exactly `environment`,
    /// standard input from /dev/null and standard output and error appended
    /// to `outputPath` (created 0600), in `directory` when given.
    public init(executable: String, arguments: [String], environment: [String: String], outputPath: String, directory: String? = nil) throws {
        let argv = [executable] + arguments
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgs { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let directory { coffer_spawn_add_chdir(&actions, directory) }
        coffer_spawn_add_closefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Group id 0: the child leads a new group, so the whole tree can be signalled.
        posix_spawnattr_setpgroup(&attributes, 0)
        // Signals Coffer ignores (SIGXFSZ) are reset; the child starts with no signal blocked.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGXFSZ)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes, cArgs, cEnv)
        guard spawned == 0 else { throw SystemError("posix_spawn", path: executable, code: spawned) }
        pid = child
    }

    /// The program's absolute path: itself when it has a slash, else the first
    /// executable of that name in the folders of `path` (a PATH value).
    public static func locate(_ program: String, path: String?) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        for folder in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = FileSystem.join(String(folder), program)
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Waits up to `seconds` (forever when nil); nil when it is still running then.
    public func wait(seconds: Double? = nil) -> Termination? {
        if let ended { return ended }
        let deadline = seconds.map { MonotonicTime.now + $0 }
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if reaped == pid {
                let signal = status & 0x7f
                ended = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
                return ended
            }
            if reaped < 0 && errno != EINTR {
                ended = .exited(-1)
                return ended
            }
            if let deadline {
                if MonotonicTime.now >= deadline { return nil }
                usleep(20_000)
            }
        }
    }

    /// Ends the child's whole process group: SIGTERM, then SIGKILL after `grace` seconds.
    @discardableResult
    public func terminateGroup(grace: Double = 5) -> Termination {
        if let ended { return ended }
        kill(-pid, SIGTERM)
        if let ended = wait(seconds: grace) {
            kill(-pid, SIGKILL)  // what the leader left behind
            return ended
        }
        kill(-pid, SIGKILL)
        return wait() ?? .signaled(SIGKILL)
    }

    deinit {
        if ended == nil { terminateGroup(grace: 1) }
    }

    /// Ends the processes (and their groups) whose `/proc/PID/cmdline` `isOurs`
    /// recognises: what a killed run left running. Matching by command line,
    /// not by a recorded pid, finds one started just before the kill and
    /// never hits a pid reused by another program.
    public static func terminateLeftovers(_ isOurs: ([String]) -> Bool) {
        let pids = ((try? FileSystem.contentsOfDirectory("/proc")) ?? []).compactMap { Int32($0) }
        for pid in pids where pid > 1 && pid != getpid() && isOurs(commandLine(of: pid)) { terminateLeftover(pid: pid) }
    }

    private static func terminateLeftover(pid: Int32) {
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        for _ in 0..<100 where ProcessIdentity.isAlive(pid) && !isZombie(pid) { usleep(50_000) }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }

    /// The arguments a running process was started with (empty when it is gone).
    public static func commandLine(of pid: Int32) -> [String] {
        readProcFile("/proc/\(pid)/cmdline").split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        let bytes = readProcFile("/proc/\(pid)/stat")
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")), close + 2 < bytes.count
        else { return true }
        return bytes[close + 2] == UInt8(ascii: "Z")
    }
}

/// A /proc file says it has size 0: read it with read(2) until its end.
func readProcFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while result.count < 1 << 16 {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        result += buffer.prefix(count)
    }
    return result
}

/// Seconds on a clock that does not jump (for timeouts).
public enum MonotonicTime {
    public static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
