import CofferCore
import CofferStorage
import CofferSystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    /// `coffer list`, `status`, `prune --dry-run` and `audit` (quick) over an S3
    /// repository of `--scale-bundles` small bundles (SeaweedFS), and one small
    /// snapshot and one prune that deletes one bundle: the wall time of each
    /// (straight to SeaweedFS) and the S3 requests it made (the same command again
    /// through Tests/Support/fault_proxy.py, whose log has one line a request).
    /// The same at the smaller sizes of `--scale-small` first (prefix copies of the
    /// same repository), where `audit` runs to its end; at sizes above
    /// `--scale-audit-max` it runs until it has started on its third bundle (at most
    /// `--scale-audit-budget` seconds) and the rest is extrapolated, since it lists
    /// the whole repository again for every bundle (see the printed note).
    static func benchmarkScale(_ options: Options, dir: String, report: inout Report) throws {
        let server = try BenchS3Server(for: "scale")
        let project = dir + "/scale-project"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        try check(run("sqlite3", [project + "/app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(2000));"]), "sqlite3")
        try "JWT_SECRET_KEY=scale-bench-not-a-secret\nFERNET_KEY=scale-bench-not-a-key\n".write(
            toFile: project + "/app.env", atomically: true, encoding: .utf8)
        let sources = """
            [[sqlite]]
            name = "app"
            path = "\(project)/app.db"

            [env]
            file = "\(project)/app.env"
            include = ["JWT_SECRET_KEY", "FERNET_KEY"]
            """
        try """
            environment = "production"
            repository = "\(project)/local-repository"
            keys = "\(project)/keys"

            \(sources)
            """.write(toFile: project + "/local.toml", atomically: true, encoding: .utf8)
        try check(measureChild(options.coffer, ["keys", "init"], environment: ["COFFER_CONFIG": project + "/local.toml"]).status, "coffer keys init")

        let bundles = options.scaleBundles
        let sizes = Set(options.scaleSmall.filter { $0 > 0 && $0 < bundles } + [bundles]).sorted()
        // Hourly bundles; the newest one hour before now.
        let newest = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 3600
        let builder = try ScaleRepositoryBuilder(
            configPath: project + "/local.toml", first: Date(timeIntervalSince1970: newest - Double(bundles - 1) * 3600))
        let proxy = try BenchProxy(script: server.proxyScript, upstream: server.endpoint, folder: dir + "/scale-proxy")
        defer { proxy.stop() }
        let scale = ScaleRunner(coffer: options.coffer, server: server, proxy: proxy, project: project, sources: sources, output: dir + "/scale-output")

        show("")
        show("scale: S3 repositories of small bundles (SQLite + env: 2 artifacts, 6 objects each, hourly) on SeaweedFS on loopback,")
        show("  time straight to SeaweedFS, requests counted through fault_proxy.py (the same command again); load average \(loadAverage())")
        var results: [Int: [String: ScaleResult]] = [:]
        for size in sizes {
            let making = Date()
            try builder.extend(to: size)
            let made = Date().timeIntervalSince(making)
            let target = try scale.target(size: size, builder: builder)
            let uploading = Date()
            let objects = try builder.upload(to: try target.storage())
            show("")
            show(
                String(
                    format: "  %d bundles (made up to here in %.0f s in process by SnapshotOperation; %d objects uploaded in %.0f s)", size, made, objects,
                    Date().timeIntervalSince(uploading)))
            var measured: [String: ScaleResult] = [:]
            let now = target.now
            measured["list"] = try scale.measure(["list"], target, now: now, expect: size)
            measured["status"] = try scale.measure(["status"], target, now: now)
            measured["prune --dry-run"] = try scale.measure(["prune", "--dry-run"], target, now: now)
            if size <= options.scaleAuditMax {
                measured["audit"] = try scale.measure(["audit"], target, now: now)
            } else {
                measured["audit"] = try scale.measureAuditPart(target, now: now, budget: options.scaleAuditBudget)
            }
            // These change the repository: last. The second run of each gets a bundle more / one less.
            measured["snapshot"] = try scale.measure(["snapshot"], target, now: now, later: 60)
            measured["prune (deletes 1)"] = try scale.measure(["prune"], target, config: "prune-one.toml", now: target.pruneNow, later: 3600, deletes: 1)
            for name in ["list", "status", "prune --dry-run", "audit", "snapshot", "prune (deletes 1)"] {
                if let result = measured[name] { show("    " + result.line(name, bundles: size)) }
            }
            results[size] = measured
        }
        for size in sizes {
            if let note = results[size]?["audit"]?.note { show("  audit at \(size) bundles: \(note)") }
        }
        show("  load average at the end \(loadAverage())")

        // The summary: requests per bundle, which a repository that grows must keep constant.
        guard let largest = results[bundles] else { return }
        for name in ["list", "status", "prune --dry-run", "audit"] {
            guard let result = largest[name] else { continue }
            let perBundle = Double(result.requests) / Double(bundles)
            report.add(
                "\(name) @\(bundles) (\(result.timeText))", value: perBundle, unit: "req/b", target: "<= 10 requests a bundle (linear)",
                passed: perBundle <= 10)
        }
        if let snapshot = largest["snapshot"] {
            report.add(
                "snapshot @\(bundles) (\(snapshot.timeText))", value: Double(snapshot.requests), unit: "req",
                target: "<= 100 requests (not growing with B)", passed: snapshot.requests <= 100)
        }
    }
}

/// A line of the scale part, written at once (standard output to a file is
/// buffered, and this part takes long enough that a log should show how far it came).
func show(_ line: String) {
    print(line)
    fflush(nil)
}

/// The 1, 5 and 15 minute load averages: the scale figures depend on what else the machine is doing.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
}

/// One command's wall time and the S3 requests it made.
struct ScaleResult {
    var seconds: Double
    var requests: Int
    var kinds: [String: Int]
    /// Set when the figures are extrapolated from a part of the run.
    var note: String?
    var estimated = false

    var timeText: String { (estimated ? "~" : "") + Self.duration(seconds) }

    static func duration(_ seconds: Double) -> String {
        seconds >= 86_400 ? String(format: "%.1f days", seconds / 86_400)
            : seconds >= 3600 ? String(format: "%.1f h", seconds / 3600) : seconds >= 300 ? String(format: "%.1f min", seconds / 60)
            : String(format: "%.1f s", seconds)
    }

    func line(_ name: String, bundles: Int) -> String {
        let shown = ["LIST", "HEAD", "GET", "PUT", "POST", "DELETE"].compactMap { kind in kinds[kind].map { "\(kind) \($0)" } }
        let count = estimated ? "~\(requests)" : "\(requests)"
        return "\(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(timeText.padding(toLength: 10, withPad: " ", startingAt: 0))"
            + " \(count.padding(toLength: 11, withPad: " ", startingAt: 0)) requests"
            + String(format: " (%.2f a bundle, %.1f ms each)", Double(requests) / Double(bundles), seconds * 1000 / Double(max(1, requests)))
            + (estimated ? "" : ": " + shown.joined(separator: ", "))
    }

    /// Requests by kind: LIST (ListObjectsV2 and ListMultipartUploads) and the HTTP method of the others.
    static func kinds(_ log: [String]) -> [String: Int] {
        var kinds: [String: Int] = [:]
        for line in log {
            let parts = line.split(separator: " ")
            guard parts.count >= 2 else { continue }
            let path = parts[1]
            let kind = parts[0] == "GET" && (path.contains("list-type=2") || path.contains("?uploads") || path.contains("&uploads")) ? "LIST" : String(parts[0])
            kinds[kind, default: 0] += 1
        }
        return kinds
    }
}

/// One S3 copy of the scale repository: its prefix, its configs (straight and
/// through the proxy), and the times its commands run at.
struct ScaleTarget {
    var size: Int
    var folder: String
    var direct: String
    var proxied: String
    /// Half an hour after the newest bundle: everything is fresh.
    var now: Date
    /// When `prune-one.toml`'s retention has only the oldest bundle outside its window.
    var pruneNow: Date
    var repository: String
    var server: BenchS3Server

    /// The bucket prefix itself, for the upload.
    func storage() throws -> any Storage {
        try Repository.open(try ConfigLoader.load(path: direct + "/coffer.toml"), environment: server.credentials).storage
    }
}

extension Repository {
    /// The repository of `config`, with credentials from `environment`.
    static func open(_ config: CofferConfig, environment: [String: String]) throws -> Repository {
        try open(config.repository, s3: config.s3, environment: environment)
    }
}

/// Runs coffer against the scale repositories and counts what crosses the proxy.
struct ScaleRunner {
    let coffer: String
    let server: BenchS3Server
    let proxy: BenchProxy
    let project: String
    let sources: String
    let output: String

    /// Writes the configs of the copy of the first `size` bundles, at prefix bench-scale-PID-SIZE.
    func target(size: Int, builder: ScaleRepositoryBuilder) throws -> ScaleTarget {
        let repository = "s3://\(server.bucket)/bench-scale-\(getpid())-\(size)"
        let folder = project + "/s3-\(size)"
        // Retention of `days` whole days that leaves only bundle 0 outside the window at `pruneNow`,
        // which is not before the newest bundle (the two snapshots at most 1 h after the last one).
        let days = (size - 1) / 24 + 1
        let pruneNow = builder.time(of: 0).addingTimeInterval(Double(days) * 86_400 + 1800)
        for (name, endpoint) in [("direct", server.endpoint), ("proxied", proxy.endpoint)] {
            try FileManager.default.createDirectory(atPath: folder + "/" + name, withIntermediateDirectories: true)
            let config = """
                environment = "production"
                repository = "\(repository)"
                keys = "\(project)/keys"

                \(sources)

                [s3]
                endpoint = "\(endpoint)"
                """
            try config.write(toFile: folder + "/\(name)/coffer.toml", atomically: true, encoding: .utf8)
            try (config + "\n\n[retention]\ndays = \(days)\n").write(toFile: folder + "/\(name)/prune-one.toml", atomically: true, encoding: .utf8)
        }
        return ScaleTarget(
            size: size, folder: folder, direct: folder + "/direct", proxied: folder + "/proxied",
            now: builder.time(of: size - 1).addingTimeInterval(1800), pruneNow: pruneNow, repository: repository, server: server)
    }

    /// Runs `arguments` straight to the server (timed), then through the proxy
    /// (counted); the second run's clock is `later` seconds on. `expect` checks
    /// that `list` shows that many bundles, `deletes` that a prune deleted that many.
    func measure(
        _ arguments: [String], _ target: ScaleTarget, config: String = "coffer.toml", now: Date, later: Double = 0, expect: Int? = nil,
        deletes: Int? = nil
    ) throws -> ScaleResult {
        let direct = try run(arguments, config: target.direct + "/" + config, now: now)
        try checked(direct, arguments, expect: expect, deletes: deletes)
        _ = proxy.takeLog()
        let counted = try run(arguments, config: target.proxied + "/" + config, now: now.addingTimeInterval(later))
        try checked(counted, arguments, expect: expect, deletes: deletes)
        let log = proxy.takeLog()
        return ScaleResult(seconds: direct.seconds, requests: log.count, kinds: ScaleResult.kinds(log))
    }

    /// `coffer audit` through the proxy until it has started on its third bundle
    /// (or `budget` seconds have passed), then stopped: the requests between two
    /// bundles are one bundle's, and give the whole run's requests and time, for
    /// a run too long to wait for.
    func measureAuditPart(_ target: ScaleTarget, now: Date, budget: Double) throws -> ScaleResult {
        _ = proxy.takeLog()
        let counted = try run(["audit"], config: target.proxied + "/coffer.toml", now: now, budget: budget) {
            Self.bundleStarts(proxy.peekLog()).count >= 3
        }
        let log = proxy.takeLog()
        guard counted.status == nil else {
            // It finished after all: a measurement, not an estimate (through the proxy).
            try checked(counted, ["audit"])
            return ScaleResult(seconds: counted.seconds, requests: log.count, kinds: ScaleResult.kinds(log))
        }
        let starts = Self.bundleStarts(log)
        guard starts.count >= 2, let firstStart = starts.first, let lastStart = starts.last else {
            throw BenchError("audit started on \(starts.count) bundle(s) in \(Int(budget)) s: too few to extrapolate; give a larger --scale-audit-budget")
        }
        let perBundle = Double(lastStart - firstStart) / Double(starts.count - 1)
        let secondsPerRequest = counted.seconds / Double(log.count)
        let requests = Double(firstStart) + perBundle * Double(target.size)
        let note = String(
            format:
                "stopped after %.0f s through the proxy, having started on %d of %d bundles (%d requests; %.0f per bundle, %.1f s per bundle); "
                + "it lists the repository again (a HEAD per bundle) for every bundle it checks, so its requests grow with B²: "
                + "the whole audit would take about %.0f requests and %@ here",
            counted.seconds, starts.count, target.size, log.count, perBundle, perBundle * secondsPerRequest, requests,
            ScaleResult.duration(requests * secondsPerRequest))
        return ScaleResult(seconds: requests * secondsPerRequest, requests: Int(requests), kinds: ScaleResult.kinds(log), note: note, estimated: true)
    }

    /// The line numbers at which audit starts reading each bundle's objects (its first payload GET).
    static func bundleStarts(_ log: [String]) -> [Int] {
        var starts: [Int] = []
        var seen: Set<Substring> = []
        for (index, line) in log.enumerated() where line.hasPrefix("GET ") && line.contains(".age-payload") {
            let parts = line.split(separator: " ")[1].split(separator: "/")
            guard let bundle = parts.firstIndex(of: "production").map({ parts[$0 + 1] }), seen.insert(bundle).inserted else { continue }
            starts.append(index)
        }
        return starts
    }

    /// One coffer run; `status` is nil when it was stopped: at the end of
    /// `budget`, or when `enough` (asked every 2 s) said so.
    func run(
        _ arguments: [String], config: String, now: Date, budget: Double? = nil, enough: (() -> Bool)? = nil
    ) throws -> (status: Int32?, seconds: Double, output: String) {
        let path = output + "-\(arguments.joined(separator: "-"))-\(UUID().uuidString.prefix(8)).txt"
        var environment = ProcessInfo.processInfo.environment.merging(server.credentials) { $1 }
        environment["COFFER_CONFIG"] = config
        environment["COFFER_NOW"] = Clock.format(now)
        let start = MonotonicTime.now
        let child = try ChildProcess(executable: coffer, arguments: arguments, environment: environment, outputPath: path)
        var ended: ChildProcess.Termination?
        while ended == nil {
            ended = child.wait(seconds: budget == nil && enough == nil ? nil : 2)
            if ended == nil, budget.map({ MonotonicTime.now - start >= $0 }) ?? false || enough?() ?? false {
                child.terminateGroup(grace: 2)
                break
            }
        }
        let seconds = MonotonicTime.now - start
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: path)
        return (ended?.status, seconds, text)
    }

    private func checked(_ result: (status: Int32?, seconds: Double, output: String), _ arguments: [String], expect: Int? = nil, deletes: Int? = nil) throws {
        let command = "coffer " + arguments.joined(separator: " ")
        guard result.status == 0 else {
            throw BenchError("\(command) exited with \(result.status.map(String.init) ?? "no status"):\n\(result.output.suffix(2000))")
        }
        let lines = result.output.split(separator: "\n")
        if let expect, case let shown = lines.filter({ $0.first?.isNumber == true }).count, shown != expect {
            throw BenchError("\(command) shows \(shown) bundles, not the \(expect) made")
        }
        if let deletes, case let deleted = lines.filter({ $0.hasPrefix("delete ") }).count, deleted != deletes {
            throw BenchError("\(command) deleted \(deleted) bundles, not \(deletes):\n\(result.output.suffix(2000))")
        }
    }
}

extension BenchProxy {
    /// The requests logged since the last `takeLog`, leaving the log as it is.
    func peekLog() -> [String] {
        ((try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
