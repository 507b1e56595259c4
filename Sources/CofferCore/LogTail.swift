import Synchronization

/// The last lines this process reported (warnings, errors, progress), kept in
/// memory so a failure notification can carry them (Healthchecks' `/fail`
/// body). Bounded in lines and bytes; the oldest lines go first. Safe to feed
/// from any thread. Never feed it a secret: it is sent to the notifiers.
public final class LogTail: Sendable {
    /// The process's tail, fed by the CLI's `say`, `warn` and error reporter.
    public static let shared = LogTail()

    private struct Lines {
        var lines: [String] = []
        var start = 0
        var bytes = 0
    }

    private let state = Mutex(Lines())
    public let maximumLines: Int
    public let maximumBytes: Int

    /// At most `maximumLines` lines and `maximumBytes` bytes of UTF-8 (a single longer line is cut).
    public init(maximumLines: Int = 200, maximumBytes: Int = 8_000) {
        self.maximumLines = maximumLines
        self.maximumBytes = maximumBytes
    }

    /// Adds one line (or several, split at newlines).
    public func append(_ text: String) {
        for piece in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = String(piece)
            if line.utf8.count > maximumBytes { line = String(decoding: line.utf8.prefix(maximumBytes), as: UTF8.self) }
            state.withLock { tail in
                if tail.lines.count - tail.start == maximumLines { drop(&tail) }
                while tail.bytes + line.utf8.count + 1 > maximumBytes && tail.start < tail.lines.count { drop(&tail) }
                tail.lines.append(line)
                tail.bytes += line.utf8.count + 1
                // The array is compacted now and then, so it stays near `maximumLines`.
                if tail.start > maximumLines {
                    tail.lines.removeFirst(tail.start)
                    tail.start = 0
                }
            }
        }
    }

    private func drop(_ tail: inout Lines) {
        tail.bytes -= tail.lines[tail.start].utf8.count + 1
        tail.start += 1
    }

    /// The kept lines, oldest first, each ending in a newline.
    public func text() -> String {
        state.withLock { tail in tail.lines[tail.start...].map { $0 + "\n" }.joined() }
    }

    /// Forgets everything (a long-running server starts each job afresh).
    public func clear() {
        state.withLock { $0 = Lines() }
    }
}
