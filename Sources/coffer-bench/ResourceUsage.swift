import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Wall time and peak resident memory of one child process.
struct ChildUsage {
    var status: Int32
    var seconds: Double
    /// Peak RSS in KiB (`ru_maxrss` from `wait4`).
    var maxRSSKiB: Int
}

/// Runs a program (looked up on PATH) and measures it with `wait4`, which
/// reports that child's own peak RSS, not that of any other child.
func measureChild(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ChildUsage {
    let argv = [program] + arguments
    var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
    env.sort()
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup($0) } + [nil]
    defer {
        for pointer in cArgs { free(pointer) }
        for pointer in cEnv { free(pointer) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid: pid_t = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let spawned = posix_spawnp(&pid, program, &actions, nil, cArgs, cEnv)
    guard spawned == 0 else { throw BenchError("cannot start \(program): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ChildUsage(status: exitStatus, seconds: seconds, maxRSSKiB: Int(usage.ru_maxrss))
}
