import CofferCore
import Foundation

/// Progress on standard error with bytes and rate, redrawn in place, only when
/// standard error is a terminal (quiet under cron and in pipes).
final class TerminalProgress: ProgressReporter {
    private let enabled: Bool
    private var step = ""
    private var bytes = 0
    private var started = Date()
    private var lastDraw = Date.distantPast

    init(enabled: Bool = isatty(2) == 1) {
        self.enabled = enabled
    }

    func begin(_ step: String) {
        self.step = step
        bytes = 0
        started = Date()
        lastDraw = .distantPast
        draw(force: true)
    }

    func advance(by count: Int) {
        bytes += count
        draw(force: false)
    }

    func end() {
        draw(force: true)
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(force: Bool) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let seconds = max(now.timeIntervalSince(started), 0.001)
        let line = "\r\u{1B}[K  \(step)  \(ByteCount.format(Int64(bytes)))  \(ByteCount.format(Int64(Double(bytes) / seconds)))/s"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
