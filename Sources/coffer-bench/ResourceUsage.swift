import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Wall time and peak resident memory of one child process.
struct ChildUsage {
    var status: Int32
    var seconds: Double
    /// Peak RSS in KiB: the child's own `VmHWM`.
    var maxRSSKiB: Int
}

/// Runs a program (looked up on PATH) and measures its peak RSS as the
/// `VmHWM` of its own address space, read from /proc while it runs. (`ru_maxrss`
/// from `wait4` would not do: Linux carries it across `exec`, so a child would
/// report at least the RSS of the bench process that spawned it.)
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
    var peak = 0
    while true {
        peak = max(peak, highWaterMarkKiB(pid))
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { break }
        if reaped < 0 && errno != EINTR { throw BenchError("waitpid failed for \(program)") }
        usleep(10_000)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ChildUsage(status: exitStatus, seconds: seconds, maxRSSKiB: peak)
}

/// `VmHWM` (KiB) of a running process, 0 once it is gone.
private func highWaterMarkKiB(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
