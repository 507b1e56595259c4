import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    /// `coffer serve` over an S3 repository of `--serve-bundles` bundles (SeaweedFS,
    /// reached through Tests/Support/fault_proxy.py, whose log counts every request):
    /// `/metrics` under wrk with 4 connections (target p99 < 20 ms), the storage
    /// requests those scrapes caused (target 0), and serve's idle RSS (target <= 32 MiB).
    static func benchmarkServe(_ options: Options, dir: String, report: inout Report) throws {
        let server = try BenchS3Server(for: "serve")
        let (endpoint, bucket, credentials) = (server.endpoint, server.bucket, server.credentials)
        let project = dir + "/serve-project"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        try check(run("sqlite3", [project + "/app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(2000));"]), "sqlite3")
        let proxy = try BenchProxy(script: server.proxyScript, upstream: endpoint, folder: dir + "/proxy")
        defer { proxy.stop() }
        func config(_ s3Endpoint: String) -> String {
            """
            environment = "production"
            repository = "s3://\(bucket)/bench-serve-\(getpid())"
            keys = "keys"

            [[sqlite]]
            name = "app"
            path = "app.db"

            [s3]
            endpoint = "\(s3Endpoint)"
            """
        }
        // The bundles are made in a local folder (a snapshot there is quick at any count) and copied to S3 in one go.
        try config(endpoint).replacingOccurrences(of: "s3://\(bucket)/bench-serve-\(getpid())", with: project + "/local-repository")
            .write(toFile: project + "/local.toml", atomically: true, encoding: .utf8)
        try config(proxy.endpoint).write(toFile: project + "/proxied.toml", atomically: true, encoding: .utf8)
        let local = credentials.merging(["COFFER_CONFIG": project + "/local.toml"]) { $1 }
        try check(measureChild(options.coffer, ["keys", "init"], environment: local).status, "coffer keys init")

        let making = Date()
        for index in 0..<options.serveBundles {
            try check(measureChild(options.coffer, ["snapshot"], environment: local).status, "coffer snapshot \(index + 1)")
        }
        let made = Date().timeIntervalSince(making)
        let copying = Date()
        try check(
            measureChild(options.coffer, ["copy", "--all", "--to", "s3://\(bucket)/bench-serve-\(getpid())"], environment: local).status,
            "coffer copy --all to S3")
        print("")
        print(
            String(
                format: "coffer serve, /metrics over %d bundles on S3 (made locally in %.0f s, copied to S3 in %.0f s)", options.serveBundles, made,
                Date().timeIntervalSince(copying)))

        // serve, through the counting proxy, refreshing every 300 s: the scrapes below fall between two looks.
        let port = try freeLoopbackPort()
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: options.coffer)
        serve.arguments = ["--config", project + "/proxied.toml", "serve", "--listen", "127.0.0.1:\(port)", "--refresh", "300"]
        serve.environment = ProcessInfo.processInfo.environment.merging(credentials) { $1 }
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        let lookStarted = Date()
        try serve.run()
        defer {
            kill(serve.processIdentifier, SIGKILL)
            serve.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(port)/metrics"
        var ready = false
        for _ in 0..<1200 where !ready {
            ready = (try? runCapturing("curl", ["-sf", "-o", "/dev/null", url]))?.status == 0
            if !ready { usleep(100_000) }
        }
        guard ready else { throw BenchError("coffer serve did not answer /metrics") }
        let firstLook = Date().timeIntervalSince(lookStarted)
        let lookRequests = proxy.takeLog().count
        usleep(500_000)
        let idleRSS = residentKiB(serve.processIdentifier)

        let wrk = try runCapturing("wrk", ["-t2", "-c4", "-d10s", "--latency", url])
        try check(wrk.status, "wrk")
        let scrapeRequests = proxy.takeLog().count
        let afterRSS = residentKiB(serve.processIdentifier)
        guard let p99 = wrkPercentile(wrk.output, "99%"), let p50 = wrkPercentile(wrk.output, "50%") else {
            throw BenchError("cannot read wrk's latency distribution:\n\(wrk.output)")
        }
        let requests = wrk.output.split(separator: "\n").first { $0.contains("requests in") }
            .flatMap { Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") } ?? 0
        print(String(format: "  first look at the repository %6.2f s, %d storage requests", firstLook, lookRequests))
        print(String(format: "  wrk -t2 -c4 -d10s: %d scrapes, p50 %.2f ms, p99 %.2f ms", requests, p50 * 1000, p99 * 1000))
        print("  storage requests during the scrapes: \(scrapeRequests)")
        print(String(format: "  serve RSS idle %.1f MiB, after the scrapes %.1f MiB", Double(idleRSS) / 1024, Double(afterRSS) / 1024))
        report.add("/metrics p99 latency, 4 connections", value: p99 * 1000, unit: "ms", target: "< 20 ms", passed: p99 < 0.020)
        report.add("storage requests per scrape", value: Double(scrapeRequests) / Double(max(1, requests)), unit: "", target: "0", passed: scrapeRequests == 0)
        report.add("serve idle RSS", value: Double(idleRSS) / 1024, unit: "MiB", target: "<= 32 MiB", passed: idleRSS <= 32 * 1024)
    }

    /// A latency from wrk's `--latency` table, in seconds.
    static func wrkPercentile(_ output: String, _ label: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label + " ") }),
            let field = line.split(separator: " ").last
        else { return nil }
        for (suffix, scale) in [("us", 1e-6), ("ms", 1e-3), ("s", 1.0)] where field.hasSuffix(suffix) {
            return Double(field.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }

    static func freeLoopbackPort() throws -> Int {
        let result = try runCapturing("python3", ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        guard let port = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw BenchError("no free port") }
        return port
    }
}

/// `VmRSS` (KiB) of a running process.
func residentKiB(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// Runs a program (on PATH) and returns its exit status and standard output.
func runCapturing(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Tests/Support/fault_proxy.py in front of SeaweedFS, passing everything and logging each request.
final class BenchProxy {
    let process = Process()
    let folder: String
    private(set) var endpoint = ""

    init(script: String, upstream: String, folder: String) throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", script, "--upstream", upstream.replacingOccurrences(of: "http://", with: ""), "--control", folder + "/control.json",
            "--port-file", folder + "/port", "--log", folder + "/log",
        ]
        try process.run()
        for _ in 0..<200 where endpoint.isEmpty {
            let port = ((try? String(contentsOfFile: folder + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if !port.isEmpty { endpoint = "http://127.0.0.1:\(port)" } else { usleep(50_000) }
        }
        guard !endpoint.isEmpty else { throw BenchError("the counting proxy did not start") }
    }

    /// The requests logged since the last call.
    func takeLog() -> [String] {
        let text = (try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? ""
        try? "".write(toFile: folder + "/log", atomically: false, encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
