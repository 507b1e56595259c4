#if canImport(Glibc)
import Glibc
#endif
import CProcess

/// What the process does at start because it will hold identities, env
/// values and decrypted data in memory: no core dump may write them to disk
/// (a limit of 0, which children inherit), and the process is not dumpable,
/// so other processes of the same user cannot attach to it or read its memory.
public enum ProcessHardening {
    public static func forbidCoreDumps() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
        forbidAttaching()
    }

    /// Not dumpable: no core, and no `ptrace` or `/proc/PID/mem` for other processes of the user.
    public static func forbidAttaching() {
        _ = coffer_set_dumpable(0)
    }

    /// Whether the process may be dumped (for tests).
    public static var isDumpable: Bool { coffer_get_dumpable() != 0 }
}
