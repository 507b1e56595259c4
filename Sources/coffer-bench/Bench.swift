import CofferCrypto
import Foundation

/// `make bench`: Coffer against the reference programs, measured in the same run.
///
/// Usage: coffer-bench --coffer PATH [--size-mb 500] [--runs 7] [--sqlite-mb 1000] [--s3-mb 700] [--s3-runs 3]
///                     [--rotation-mb 500] [--rotation-bundles 10] [--redis-keys 2000000] [--redis-runs 3]
///                     [--postgres-runs 3] [--serve-bundles 1000]
///                     [--scale-bundles 10000] [--scale-small 100,1000] [--scale-audit-max 100] [--scale-audit-budget 900]
///                     [--only age|minisign|gzip|snapshot|s3|cluster|rotation|redis|postgres|dedup|serve|scale] [--dir DIR]
/// Outputs go to DIR (default /dev/shm, so disk writeback does not add noise);
/// each figure is the median of the runs, tools alternating.
@main
struct Bench {
    static func main() throws {
        let options = try Options(CommandLine.arguments.dropFirst())
        let dir = options.directory + "/coffer-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        print("coffer-bench: \(options.sizeMB) MB file, \(options.runs) runs each, median, outputs in \(options.directory)")
        print("")
        var report = Report()
        let parts: [(String, (Options, String, inout Report) throws -> Void)] = [
            ("age", benchmarkAge), ("minisign", benchmarkMinisign), ("gzip", benchmarkGzip), ("snapshot", benchmarkSnapshot),
            ("s3", benchmarkS3Snapshot), ("cluster", benchmarkClusterSnapshot), ("rotation", benchmarkRotation), ("redis", benchmarkRedis),
            ("postgres", benchmarkPostgres), ("dedup", benchmarkDedup), ("serve", benchmarkServe), ("scale", benchmarkScale),
        ]
        for (name, part) in parts where options.only == nil || options.only == name {
            try part(options, dir, &report)
        }
        print("")
        report.printSummary()
    }

    // MARK: age

    static func benchmarkAge(_ options: Options, dir: String, report: inout Report) throws {
        let input = dir + "/input.bin"
        try writeRandomFile(input, bytes: options.sizeMB * 1_000_000)
        let key = dir + "/key.txt"
        try check(run("age-keygen", ["-o", key]), "age-keygen")
        chmod(key, 0o600)
        let keyText = try String(contentsOfFile: key, encoding: .utf8)
        guard let recipient = keyText.split(separator: "\n").first(where: { $0.hasPrefix("# public key: ") })?
            .dropFirst("# public key: ".count)
        else { throw BenchError("age-keygen wrote no public key") }

        let megabytes = Double(options.sizeMB)
        let encryptCoffer = ["file", "encrypt", "-r", String(recipient), input, "-o"]
        let encryptAge = ["-r", String(recipient)]
        let decryptCoffer = ["file", "decrypt", "-i", key, dir + "/c.age", "-o"]
        let decryptAge = ["-d", "-i", key]
        print("age encryption of a \(options.sizeMB) MB file: coffer file encrypt|decrypt vs age; ratio = coffer throughput / age throughput")
        for (label, output) in [("to a file", "file"), ("to /dev/null (CPU-bound)", "null")] {
            // Standard output goes to /dev/null in `run`; "-o -" / no -o writes there.
            func cofferOut(_ name: String) -> [String] { output == "null" ? ["-"] : [dir + "/" + name] }
            func ageOut(_ name: String) -> [String] { output == "null" ? [] : ["-o", dir + "/" + name] }
            func remove(_ name: String) -> String? { output == "null" ? nil : dir + "/" + name }
            let encrypt = try pairs(options.runs) {
                (try timed(options.coffer, encryptCoffer + cofferOut("c.age"), remove: remove("c.age")),
                 try timed("age", encryptAge + ageOut("a.age") + [input], remove: remove("a.age")))
            }
            if output == "file" {
                try check(run("sh", ["-c", "age -d -i '\(key)' '\(dir)/c.age' | cmp - '\(input)'"]), "age decrypting coffer's file")
            }
            let decrypt = try pairs(options.runs) {
                (try timed(options.coffer, decryptCoffer + cofferOut("c.out"), remove: remove("c.out")),
                 try timed("age", decryptAge + ageOut("a.out") + [dir + "/a.age"], remove: remove("a.out")))
            }
            if output == "file" {
                // Each tool must have round-tripped the data, or the numbers mean nothing.
                try check(run("cmp", [input, dir + "/c.out"]), "coffer round trip")
                try check(run("cmp", [input, dir + "/a.out"]), "age round trip")
            }
            print("  \(label)")
            for (name, result) in [("encrypt", encrypt), ("decrypt", decrypt)] {
                print(String(format: "    %@  coffer %7.1f MB/s   age %7.1f MB/s   ratio %.2fx (median of %d pairs; range %.2f-%.2f)",
                    name, megabytes / median(result.coffer), megabytes / median(result.reference), result.ratio,
                    options.runs, result.ratios.min() ?? .nan, result.ratios.max() ?? .nan))
                // The CPU-bound encryption must beat age by a fifth; the rest must keep up with it.
                let target = name == "encrypt" && output == "null" ? 1.2 : 0.9
                report.add("\(name) \(output == "null" ? "to /dev/null" : "file to file") vs age", value: result.ratio, unit: "x",
                    target: String(format: ">= %.2fx", target), passed: result.ratio >= target)
            }
        }
    }

    /// Runs `body` (which times coffer, then the reference) `runs` times.
    static func pairs(_ runs: Int, _ body: () throws -> (Double, Double)) throws -> Paired {
        var result = Paired()
        for _ in 0..<runs {
            let (coffer, reference) = try body()
            result.coffer.append(coffer)
            result.reference.append(reference)
        }
        return result
    }

    // MARK: minisign

    static func benchmarkMinisign(_ options: Options, dir: String, report: inout Report) throws {
        var manifest = Array("{\"artifacts\":[".utf8)
        var index = 0
        while manifest.count < 10_000_000 {
            manifest += Array("{\"name\":\"artifact-\(index)\",\"sha256\":\"\(String(repeating: "ab", count: 32))\",\"bytes\":\(index * 7919)},".utf8)
            index += 1
        }
        manifest += Array("{}]}".utf8)
        let key = MinisignSecretKey()
        var signTimes: [Double] = [], verifyTimes: [Double] = []
        var signature = Minisign.sign(manifest, with: key, trustedComment: "warm-up")
        for run in 0..<max(options.runs, 5) {
            signTimes.append(measure { signature = Minisign.sign(manifest, with: key, trustedComment: "bench \(run)") })
            verifyTimes.append(try measureThrowing { _ = try Minisign.verify(signature, data: manifest, publicKey: key.publicKey) })
        }

        // The reference program on the same manifest (whole process, for context).
        let path = dir + "/manifest.json"
        try Data(manifest).write(to: URL(fileURLWithPath: path))
        try check(run("minisign", ["-G", "-W", "-p", dir + "/m.pub", "-s", dir + "/m.key"]), "minisign -G")
        let minisignSign = median((0..<3).map { _ in (try? timed("minisign", ["-S", "-s", dir + "/m.key", "-m", path])) ?? .nan })
        let minisignVerify = median((0..<3).map { _ in (try? timed("minisign", ["-Vm", path, "-p", dir + "/m.pub"])) ?? .nan })

        let sizeMB = Double(manifest.count) / 1_000_000
        print("")
        print("minisign signatures, \(String(format: "%.1f", sizeMB)) MB manifest (in process; minisign as a process for reference)")
        print(String(format: "  sign     coffer   %8.1f ms     minisign %8.1f ms", median(signTimes) * 1000, minisignSign * 1000))
        print(String(format: "  verify   coffer   %8.1f ms     minisign %8.1f ms", median(verifyTimes) * 1000, minisignVerify * 1000))
        report.add("sign 10 MB manifest", value: median(signTimes) * 1000, unit: "ms", target: "< 100 ms", passed: median(signTimes) < 0.1)
        report.add("verify 10 MB manifest", value: median(verifyTimes) * 1000, unit: "ms", target: "< 100 ms", passed: median(verifyTimes) < 0.1)
    }

    // MARK: helpers

    static func row(_ label: String, _ throughput: Double, _ seconds: Double) -> String {
        String(format: "%@ %8.1f MB/s  (%.3f s)", label, throughput, seconds)
    }

    static func writeRandomFile(_ path: String, bytes: Int) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var remaining = bytes
        while remaining > 0 {
            let count = min(remaining, 8 << 20)
            handle.write(Data(SecureRandom.bytes(count)))
            remaining -= count
        }
    }
}

struct Options {
    var coffer = ".build/release/coffer"
    var sizeMB = 500
    var runs = 7
    var sqliteMB = 1000
    var s3MB = 700
    var s3Runs = 3
    var rotationMB = 500
    var rotationBundles = 10
    var redisKeys = 2_000_000
    var redisRuns = 3
    var postgresRuns = 3
    var dedupMB = 720
    var dedupDays = 30
    var serveBundles = 1000
    var scaleBundles = 10_000
    var scaleSmall = [100, 1000]
    var scaleAuditMax = 100
    var scaleAuditBudget = 900.0
    var only: String?
    var directory = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()

    init(_ arguments: ArraySlice<String>) throws {
        var rest = arguments
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw BenchError("\(flag) needs a value") }
            switch flag {
            case "--coffer": coffer = value
            case "--size-mb": sizeMB = Int(value) ?? sizeMB
            case "--runs": runs = Int(value) ?? runs
            case "--dir": directory = value
            case "--sqlite-mb": sqliteMB = Int(value) ?? sqliteMB
            case "--s3-mb": s3MB = Int(value) ?? s3MB
            case "--s3-runs": s3Runs = Int(value) ?? s3Runs
            case "--rotation-mb": rotationMB = Int(value) ?? rotationMB
            case "--rotation-bundles": rotationBundles = Int(value) ?? rotationBundles
            case "--redis-keys": redisKeys = Int(value) ?? redisKeys
            case "--redis-runs": redisRuns = Int(value) ?? redisRuns
            case "--postgres-runs": postgresRuns = Int(value) ?? postgresRuns
            case "--dedup-mb": dedupMB = max(10, Int(value) ?? dedupMB)
            case "--dedup-days": dedupDays = max(2, Int(value) ?? dedupDays)
            case "--serve-bundles": serveBundles = Int(value) ?? serveBundles
            case "--scale-bundles": scaleBundles = max(1, Int(value) ?? scaleBundles)
            case "--scale-small": scaleSmall = value.split(separator: ",").compactMap { Int($0) }
            case "--scale-audit-max": scaleAuditMax = Int(value) ?? scaleAuditMax
            case "--scale-audit-budget": scaleAuditBudget = Double(value) ?? scaleAuditBudget
            case "--only": only = value
            default: throw BenchError("unknown option \(flag)")
            }
        }
        coffer = URL(fileURLWithPath: coffer).standardized.path
    }
}

/// Timings of coffer and the reference tool taken in alternation.
struct Paired {
    var coffer: [Double] = []
    var reference: [Double] = []
    /// Throughput ratio of each adjacent pair (reference time / coffer time).
    var ratios: [Double] { zip(coffer, reference).map { $1 / $0 } }
    /// The median pair ratio: adjacent runs share the machine's momentary noise.
    var ratio: Double { median(ratios) }
}

struct Report {
    private var lines: [(String, Double, String, String, Bool)] = []

    mutating func add(_ name: String, value: Double, unit: String, target: String, passed: Bool) {
        lines.append((name, value, unit, target, passed))
    }

    func printSummary() {
        print("summary")
        for (name, value, unit, target, passed) in lines {
            let shown = unit == "x" ? String(format: "%.2fx", value) : unit == "%" ? String(format: "%+.2f%%", value) : String(format: "%.1f %@", value, unit)
            print("  \(passed ? "PASS" : "MISS")  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(shown.padding(toLength: 10, withPad: " ", startingAt: 0)) target \(target)")
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func measure(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func measureThrowing(_ body: () throws -> Void) throws -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Runs a program to completion; returns its exit status.
@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
    process.arguments = program.hasPrefix("/") ? arguments : [program] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// Wall time of one run of a program, after removing its output file.
func timed(_ program: String, _ arguments: [String], remove: String? = nil) throws -> Double {
    if let remove {
        precondition(remove.contains("/coffer-bench-"), "refusing to remove \(remove) outside the bench folder")
        try? FileManager.default.removeItem(atPath: remove)
    }
    // Start from a settled machine: the kernel frees a deleted 500 MB file and
    // writes back dirty pages lazily, which would otherwise land in this run.
    sync()
    usleep(300_000)
    var status: Int32 = 0
    let seconds = try measureThrowing { status = try run(program, arguments) }
    try check(status, "\(program) \(arguments.first ?? "")")
    return seconds
}

func check(_ status: Int32, _ what: String) throws {
    if status != 0 { throw BenchError("\(what) failed with exit status \(status)") }
}
