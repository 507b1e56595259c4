import CofferSystem
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
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    guard let executable = ChildProcess.locate(program, path: env["PATH"]) else { throw BenchError("cannot start \(program): not found on PATH") }
    let start = DispatchTime.now().uptimeNanoseconds
    let child = try ChildProcess(executable: executable, arguments: arguments, environment: env, outputPath: "/dev/null")
    var peak = 0
    var ended: ChildProcess.Termination?
    while ended == nil {
        peak = max(peak, highWaterMarkKiB(child.pid))
        ended = child.wait(seconds: 0.01)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return ChildUsage(status: ended?.status ?? -1, seconds: seconds, maxRSSKiB: peak)
}

/// `VmHWM` (KiB) of a running process, 0 once it is gone.
private func highWaterMarkKiB(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
