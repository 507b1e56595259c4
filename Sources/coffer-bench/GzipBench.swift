import CofferCompression
import CofferSystem
import Foundation

extension Bench {
    /// Parallel gzip (in process, all cores) against single-thread `gzip -6`
    /// on a database-dump-like file, alternating; output discarded but counted.
    static func benchmarkGzip(_ options: Options, dir: String, report: inout Report) throws {
        let path = dir + "/dump.sql"
        let megabytes = max(20, options.sizeMB / 2)
        try writeDumpLikeFile(path, bytes: megabytes * 1_000_000)
        var referenceSize = 0
        var mySize: Int64 = 0
        let result = try pairs(options.runs) {
            let mine = try measureThrowing { mySize = try compressFile(path) }
            let reference = try timed("gzip", ["-6", "-c", "-n", path])
            return (mine, reference)
        }
        referenceSize = Int(try gzipSize(path))
        let sizeDifference = (Double(mySize) - Double(referenceSize)) / Double(referenceSize) * 100
        print("")
        print("gzip, \(megabytes) MB SQL dump (ParallelGzip in process on \(ParallelGzip.defaultWorkers) cores vs gzip -6, one thread)")
        print(String(format: "  compress coffer %7.1f MB/s   gzip -6 %7.1f MB/s   ratio %.2fx (median of %d pairs; range %.2f-%.2f)",
            Double(megabytes) / median(result.coffer), Double(megabytes) / median(result.reference), result.ratio, options.runs,
            result.ratios.min() ?? .nan, result.ratios.max() ?? .nan))
        print(String(format: "  size     coffer %lld bytes   gzip -6 %d bytes (%.1fx smaller)   difference %+.2f%%",
            mySize, referenceSize, Double(megabytes * 1_000_000) / Double(referenceSize), sizeDifference))
        report.add("parallel gzip throughput vs gzip -6", value: result.ratio, unit: "x", target: ">= 1.70x", passed: result.ratio >= 1.7)
        report.add("parallel gzip size vs gzip -6", value: sizeDifference, unit: "%", target: "within 2%", passed: abs(sizeDifference) <= 2)
    }

    private static func compressFile(_ path: String) throws -> Int64 {
        let file = try FileDescriptor(opening: path, .readOnly)
        var gzip = try ParallelGzip()
        try forEachBlock(read: { try file.read(into: $0) }, blockSize: 1 << 20) { block in try gzip.update(block) { _ in } }
        try gzip.finish { _ in }
        return gzip.outputCount
    }

    private static func gzipSize(_ path: String) throws -> Int64 {
        let output = path + ".gz"
        try check(run("sh", ["-c", "gzip -6 -c -n '\(path)' > '\(output)'"]), "gzip")
        defer { try? FileManager.default.removeItem(atPath: output) }
        return Int64(try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int ?? 0)
    }

    /// About `bytes` of SQL INSERT statements with varied ids, emails, words,
    /// amounts, cities and timestamps (a fixed pseudo-random sequence, so every
    /// run compresses the same data); `gzip -6` makes it about 5x smaller.
    private static func writeDumpLikeFile(_ path: String, bytes: Int) throws {
        let words = ["apple", "banana", "cherry", "delta", "echo", "falcon", "garnet", "harbor", "indigo", "jasper",
                     "kernel", "lumen", "maple", "nectar", "onyx", "pepper", "quartz", "raven", "sierra", "tundra",
                     "umber", "violet", "willow", "xenon", "yarrow", "zephyr"]
        let cities = ["Berlin", "Paris", "Lisbon", "Oslo", "Madrid", "Vienna", "Prague", "Dublin", "Rome", "Warsaw", "Athens", "Zurich"]
        func two(_ value: UInt64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var state: UInt64 = 12_345
        func random() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var written = 0
        var index = 0
        while written < bytes {
            var chunk = ""
            for _ in 0..<10_000 {
                let (a, b, c) = (random(), random(), random())
                chunk += "INSERT INTO orders VALUES (\(index), \(a % 100_003), 'customer-\(b % 9973)@example.com', "
                    + "'\(words[Int(a % 26)]) \(words[Int(b % 26)])', \(c % 100_000 / 100).\(two(c % 100)), '\(cities[Int(c % 12)])', "
                    + "'2026-\(two(a % 12 + 1))-\(two(b % 28 + 1)) \(two(c % 24)):\(two(a % 60)):\(two(b % 60))', "
                    + "\(index % 13 == 0 ? "NULL" : "'paid'"));\n"
                index += 1
            }
            handle.write(Data(chunk.utf8))
            written += chunk.utf8.count
        }
    }
}
