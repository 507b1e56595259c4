import Foundation
import Testing

/// A coffer run in the background, its output in files of the workspace.
final class BackgroundRun {
    let process = Process()
    private let out: String
    private let err: String

    /// `wrapper` runs coffer under another program (such as `unshare`).
    init(_ ws: Workspace, _ arguments: [String], environment: [String: String] = [:], wrapper: [String] = []) throws {
        let base = ws.root + "/.run-bg-" + UUID().uuidString
        out = base + ".out"
        err = base + ".err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let command = wrapper + [cofferBinary, "--config", ws.config] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: ws.root)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func finish() -> CommandResult {
        process.waitUntilExit()
        defer { for file in [out, err] { try? FileManager.default.removeItem(atPath: file) } }
        return CommandResult(
            status: process.terminationStatus, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Polls `condition` every 50 ms for up to `seconds`.
func eventually(_ seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

private func bundles(_ ws: Workspace) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/development"))) ?? []).filter { !$0.hasPrefix(".") }
}

/// The local lock file names a holder (the run has its lock).
private func locked(_ ws: Workspace) -> Bool {
    ((try? String(contentsOfFile: ws.path("backups/locks/development.lock"), encoding: .utf8)) ?? "").contains("\"token\"")
}

@Suite("repository lock on a local folder", .serialized)
struct LocalRepositoryLockTests {
    @Test("a second snapshot exits 7 naming the holder; nothing is lost; with --wait it runs after the first")
    func concurrentSnapshots() throws {
        try Workspace.withSQLiteApp { ws in
            let first = try BackgroundRun(ws, ["snapshot"], environment: ["COFFER_FAULT": "snapshot-pause-4"])
            #expect(eventually { locked(ws) }, "the first snapshot never took the lock")
            let second = try ws.coffer("snapshot")
            #expect(second.status == 7, "\(second.stderr)")
            #expect(second.stderr.contains("development is busy: a snapshot on"), "\(second.stderr)")
            #expect(second.stderr.contains("(pid \(first.pid)) since") && second.stderr.contains("--wait"), "\(second.stderr)")
            let prune = try ws.coffer("prune")
            #expect(prune.status == 7 && prune.stderr.contains("holds the repository lock"), "\(prune.stderr)")
            #expect(try ws.coffer("prune", "--dry-run").status == 0, "a dry run changes nothing and needs no lock")
            #expect(try ws.coffer("keys", "rotate").status == 7)
            let done = first.finish()
            #expect(done.status == 0, "\(done.stderr)")
            #expect(bundles(ws).count == 1)
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)

            let holder = try BackgroundRun(ws, ["snapshot"], environment: ["COFFER_FAULT": "snapshot-pause-2"])
            #expect(eventually { locked(ws) })
            let short = try ws.coffer("snapshot", "--wait", "1s")
            #expect(short.status == 7 && short.stderr.contains("after waiting 1s"), "\(short.stderr)")
            let waiting = try ws.coffer("snapshot", "--wait", "30s")
            #expect(waiting.status == 0, "\(waiting.stderr)")
            #expect(waiting.stderr.contains("waiting up to 30s for the repository lock of development, held by a snapshot on"), "\(waiting.stderr)")
            #expect(holder.finish().status == 0)
            #expect(bundles(ws).count == 3)
            // Released: the lock file no longer names anyone, and the next run takes it at once.
            #expect(!locked(ws))
            #expect(try ws.coffer("snapshot").status == 0)
        }
    }

    @Test("a run killed with SIGKILL holds nothing: the kernel released its lock")
    func killedRun() throws {
        try Workspace.withSQLiteApp { ws in
            let victim = try BackgroundRun(ws, ["snapshot"], environment: ["COFFER_FAULT": "snapshot-pause-60"])
            #expect(eventually { locked(ws) })
            victim.kill9()
            #expect(victim.finish().status == 9 || victim.process.terminationReason == .uncaughtSignal)
            let next = try ws.coffer("snapshot")
            #expect(next.status == 0, "\(next.stderr)")
            #expect(bundles(ws).count == 1)
        }
    }

    @Test("--wait takes durations only")
    func badWait() throws {
        try Workspace.withSQLiteApp { ws in
            let result = try ws.coffer("snapshot", "--wait", "soon")
            #expect(result.status == 64 && result.stderr.contains("--wait soon"), "\(result.stderr)")
            #expect(bundles(ws).isEmpty)
        }
    }
}
