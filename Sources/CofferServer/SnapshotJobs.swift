import CofferCore
import Foundation

/// One `POST /snapshot`: the scheduled job's commands (`snapshot --prune`, then
/// `verify ID --deep`), run as child processes of `serve` so a failure or a
/// crash in them never takes the server down, and their memory goes with them.
public struct SnapshotJob: Sendable {
    public enum State: String, Sendable { case running, succeeded, failed }
    public var id: String
    public var state: State
    public var startedAt: String
    public var finishedAt: String?
    public var bundle: String?
    /// Why it failed: the command's last error line (never a secret: coffer's messages carry none).
    public var error: String?

    var json: [String: Any] {
        ["job": id, "state": state.rawValue, "started_at": startedAt, "finished_at": finishedAt as Any, "bundle": bundle as Any, "error": error as Any]
    }
}

/// The snapshot jobs of this server: one at a time, the last 100 remembered.
actor SnapshotJobs {
    enum Start: Sendable { case started(SnapshotJob), busy(SnapshotJob), shuttingDown }

    let command: JobCommand
    private var jobs: [String: SnapshotJob] = [:]
    private var order: [String] = []
    private var running: Task<Void, Never>?
    private var closed = false
    private let finished: @Sendable () async -> Void

    init(command: JobCommand, finished: @escaping @Sendable () async -> Void) {
        self.command = command
        self.finished = finished
    }

    func start() -> Start {
        if closed { return .shuttingDown }
        if let id = order.last, let job = jobs[id], job.state == .running { return .busy(job) }
        let job = SnapshotJob(id: Self.newID(), state: .running, startedAt: Clock.format(Date()))
        remember(job)
        let command = self.command
        running = Task {
            let outcome = await runBlocking { command.run() }
            self.finish(job.id, outcome)
            await self.finished()
        }
        return .started(job)
    }

    func job(_ id: String) -> SnapshotJob? { jobs[id] }

    /// Refuses new jobs and waits for the running one to end: a graceful shutdown never cuts a snapshot short.
    func close() async {
        closed = true
        await running?.value
    }

    private func finish(_ id: String, _ outcome: JobCommand.Outcome) {
        guard var job = jobs[id] else { return }
        job.finishedAt = Clock.format(Date())
        job.bundle = outcome.bundle
        job.error = outcome.error
        job.state = outcome.error == nil ? .succeeded : .failed
        jobs[id] = job
    }

    private func remember(_ job: SnapshotJob) {
        jobs[job.id] = job
        order.append(job.id)
        while order.count > 100 { jobs[order.removeFirst()] = nil }
    }

    static func newID() -> String {
        let stamp = Clock.format(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        return "\(stamp)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }
}

/// The coffer commands a job runs, with this server's config and environment.
public struct JobCommand: Sendable {
    /// The coffer executable (this one).
    public var executable: String
    /// Arguments before the command: `--config FILE`.
    public var global: [String]
    /// `--password-env VAR` for an encrypted signing key, passed on to `snapshot`.
    public var passwordEnv: String?

    public init(executable: String, global: [String], passwordEnv: String?) {
        self.executable = executable
        self.global = global
        self.passwordEnv = passwordEnv
    }

    struct Outcome: Sendable {
        var bundle: String?
        var error: String?
    }

    func run() -> Outcome {
        var snapshot = global + ["snapshot", "--prune", "--json"]
        if let passwordEnv { snapshot += ["--password-env", passwordEnv] }
        let made = execute(snapshot)
        guard made.status == 0, let id = (try? JSONSerialization.jsonObject(with: made.stdout)) .flatMap({ ($0 as? [String: Any])?["id"] as? String })
        else { return Outcome(bundle: nil, error: made.failure ?? "snapshot printed no bundle id") }
        let checked = execute(global + ["verify", id, "--deep"])
        return Outcome(bundle: id, error: checked.status == 0 ? nil : "bundle \(id) was made but failed deep verification: \(checked.failure ?? "exit status \(checked.status)")")
    }

    struct Result {
        var status: Int32
        var stdout: Data
        /// The last `coffer: error:` line, or the last line of standard error.
        var failure: String?
    }

    func execute(_ arguments: [String]) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return Result(status: -1, stdout: Data(), failure: "cannot start \(executable): \(error)")
        }
        // Both pipes drained while it runs, so a chatty command never blocks on a full pipe.
        let stderrData = LockedData()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            stderrData.set(errors.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        let lines = String(decoding: stderrData.get(), as: UTF8.self).split(separator: "\n").map(String.init)
        let failure = lines.last { $0.hasPrefix("coffer: error: ") }.map { String($0.dropFirst("coffer: error: ".count)) } ?? lines.last
        return Result(status: process.terminationStatus, stdout: stdout, failure: process.terminationStatus == 0 ? nil : failure ?? "exit status \(process.terminationStatus)")
    }
}

/// Bytes handed from one thread to another.
final class LockedData: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}
