import CofferSystem
import Foundation

/// A drill's smoke command: `/bin/sh -c COMMAND` in the config's folder, in
/// its own process group, against the scratch targets. It is bounded by a
/// timeout, after which the whole group is killed, and what it printed is
/// kept only as its last lines, with the values of `secrets` (URLs with
/// passwords) blanked out, because those lines go into the signed report.
struct SmokeCommand {
    let command: String
    let timeout: Int
    let directory: String
    let environment: [String: String]
    let secrets: [String]

    /// Lines of output the report keeps.
    static let keptLines = 20

    func run(outputFolder: String) throws -> DrillReport.Smoke {
        let output = FileSystem.join(outputFolder, "smoke.log")
        let started = MonotonicTime.now
        let child = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", command], environment: environment, outputPath: output, directory: directory)
        var timedOut = false
        var ended = child.wait(seconds: Double(timeout))
        if ended == nil {
            timedOut = true
            ended = child.terminateGroup(grace: 5)
        }
        let seconds = MonotonicTime.now - started
        return DrillReport.Smoke(
            command: command, exitStatus: ended?.status, timedOut: timedOut, seconds: seconds, lastLines: lastLines(of: output))
    }

    private func lastLines(of path: String) -> [String] {
        guard let file = try? FileDescriptor(opening: path, .readOnly), let size = try? file.status().size else { return [] }
        // Only the end is read: a chatty command may have written gigabytes.
        let tail = Int(min(size, 64 << 10))
        var bytes = [UInt8](repeating: 0, count: tail)
        guard (try? file.seek(to: size - Int64(tail))) != nil else { return [] }
        let count = (try? bytes.withUnsafeMutableBytes { try file.readFully(into: $0) }) ?? 0
        var text = String(decoding: bytes.prefix(count), as: UTF8.self)
        for secret in secrets where secret.count >= 8 { text = text.replacingOccurrences(of: secret, with: "[secret]") }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.prefix(500)) }
            .reversed().drop { $0.isEmpty }.reversed().suffix(Self.keptLines)
    }
}
