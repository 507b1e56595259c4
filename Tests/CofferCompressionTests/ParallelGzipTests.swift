import CofferCompression
import Foundation
import Testing

/// Compressible text like a database dump.
private func dumpLike(_ count: Int) -> [UInt8] {
    var text = ""
    var index = 0
    while text.utf8.count < count {
        text += "INSERT INTO orders VALUES (\(index), \(index * 7919 % 100_003), 'customer-\(index % 977)@example.com', \(index % 13 == 0 ? "NULL" : "'paid'"));\n"
        index += 1
    }
    return Array(text.utf8.prefix(count))
}

/// Compresses `data`, fed to `update` in pieces of the sizes in `pieces`, taken in turn.
private func compress(_ data: [UInt8], blockSize: Int, workers: Int = 2, pieces: [Int] = [Int.max]) throws -> [UInt8] {
    var gzip = try ParallelGzip(blockSize: blockSize, workers: workers)
    var out: [UInt8] = []
    var index = 0
    var piece = 0
    repeat {
        let end = index + min(pieces[piece % pieces.count], data.count - index)
        try data[index..<end].withUnsafeBytes { try gzip.update($0) { out += $0 } }
        index = end
        piece += 1
    } while index < data.count
    try gzip.finish { out += $0 }
    #expect(gzip.inputCount == Int64(data.count))
    #expect(gzip.outputCount == Int64(out.count))
    return out
}

private func program(_ arguments: [String], input: [UInt8]) throws -> [UInt8] {
    let dir = NSTemporaryDirectory() + "coffer-gzip-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = FileManager.default.createFile(atPath: dir + "/in", contents: Data(input))
    _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardInput = FileHandle(forReadingAtPath: dir + "/in")
    process.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(arguments) failed")
    return [UInt8](FileManager.default.contents(atPath: dir + "/out") ?? Data())
}

@Suite("parallel gzip")
struct ParallelGzipTests {
    static let block = 4096

    @Test("round trip at block boundaries", arguments: [0, 1, block - 1, block, block + 1, 10 * block + 17])
    func roundTrip(_ size: Int) throws {
        let data = dumpLike(size)
        let compressed = try compress(data, blockSize: Self.block)
        #expect(try Inflater.decompress(compressed, format: .gzip) == data)
    }

    @Test("the real gunzip reads every member as one stream")
    func gunzip() throws {
        let data = dumpLike(100_000)
        let compressed = try compress(data, blockSize: Self.block)
        #expect(try program(["gzip", "-dc"], input: compressed) == data)
        // A header may also occur by chance inside deflate data, hence at least.
        let members = compressed.indices.dropLast(2).filter { compressed[$0] == 0x1f && compressed[$0 + 1] == 0x8b && compressed[$0 + 2] == 0x08 }
        #expect(members.count >= (100_000 + Self.block - 1) / Self.block, "expected one member per block")
        // Deterministic header: only FEXTRA (the member's sizes; no file name) and mtime 0.
        #expect(Array(compressed.prefix(8)) == [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0])
        #expect(Array(compressed[10..<16]) == [12, 0, 0x43, 0x6f, 8, 0], "the 'Co' subfield with 8 bytes of sizes")
    }

    @Test("output does not depend on how the input is cut")
    func deterministic() throws {
        let data = dumpLike(50_000)
        let once = try compress(data, blockSize: Self.block)
        #expect(try compress(data, blockSize: Self.block, pieces: [7_143]) == once)
        #expect(try compress(data, blockSize: Self.block, pieces: [1, 3, Self.block - 1, Self.block + 1, 7, 2 * Self.block + 5, 13]) == once)
        #expect(try compress(data, blockSize: Self.block, pieces: [1]) == once)
    }

    @Test("output does not depend on the number of workers")
    func workers() throws {
        let data = dumpLike(9 * Self.block + 100)
        let one = try compress(data, blockSize: Self.block, workers: 1)
        #expect(try Inflater.decompress(one, format: .gzip) == data)
        #expect(try compress(data, blockSize: Self.block, workers: 2) == one)
        #expect(try compress(data, blockSize: Self.block, workers: 3) == one)
    }

    @Test("an invalid level is an error naming it, not a crash")
    func invalidLevel() {
        #expect(throws: CompressionError.self) { _ = try ParallelGzip(level: 10, blockSize: Self.block, workers: 1) }
        #expect((try? ParallelGzip(level: -1, blockSize: Self.block, workers: 1)) == nil)
    }

    @Test("with 1 MiB blocks the size is at most 2% above gzip -6, at level 1 at most 10% above gzip -1")
    func size() throws {
        let data = dumpLike(3_000_000)
        let mine = try compress(data, blockSize: 1 << 20).count
        let reference = try program(["gzip", "-6", "-c", "-n"], input: data).count
        #expect(Double(mine) <= 1.02 * Double(reference), "\(mine) bytes vs gzip -6 \(reference)")
        var fast = try ParallelGzip(level: 1, blockSize: 1 << 20, workers: 2)
        var fastBytes = 0
        try data.withUnsafeBytes { try fast.update($0) { fastBytes += $0.count } }
        try fast.finish { fastBytes += $0.count }
        let fastReference = try program(["gzip", "-1", "-c", "-n"], input: data).count
        #expect(Double(fastBytes) <= 1.1 * Double(fastReference), "\(fastBytes) bytes vs gzip -1 \(fastReference)")
    }

    @Test("an empty input is one valid empty member")
    func empty() throws {
        let compressed = try compress([], blockSize: Self.block)
        #expect(compressed.count > 32 && compressed.count < 40)
        #expect(try program(["gzip", "-dc"], input: compressed).isEmpty)
        #expect(try parallelGunzip(compressed).isEmpty)
    }
}

/// Decompresses with `ParallelGunzip`, fed in pieces of the sizes in `pieces`, taken in turn.
private func parallelGunzip(
    _ data: [UInt8], workers: Int = 2, inputCapacity: Int = 4 << 20, outputCapacity: Int = 8 << 20, pieces: [Int] = [Int.max]
) throws -> [UInt8] {
    var gunzip = try ParallelGunzip(workers: workers, inputCapacity: inputCapacity, outputCapacity: outputCapacity)
    var out: [UInt8] = []
    var index = 0
    var piece = 0
    while index < data.count {
        let end = index + min(pieces[piece % pieces.count], data.count - index)
        try data[index..<end].withUnsafeBytes { try gunzip.update($0) { out += $0 } }
        index = end
        piece += 1
    }
    try gunzip.finish { out += $0 }
    return out
}

@Suite("parallel gunzip")
struct ParallelGunzipTests {
    static let block = 4096

    @Test("round trip, however the input is cut and however small the batch", arguments: [0, 1, block - 1, block, 10 * block + 17, 100_000])
    func roundTrip(_ size: Int) throws {
        let data = dumpLike(size)
        let compressed = try compress(data, blockSize: Self.block)
        #expect(try parallelGunzip(compressed) == data)
        #expect(try parallelGunzip(compressed, workers: 1) == data)
        #expect(try parallelGunzip(compressed, workers: 3, pieces: [1, 5_000, 7, 33]) == data)
        // Batches of one or two members, with members split across updates.
        #expect(try parallelGunzip(compressed, inputCapacity: 3 * Self.block, outputCapacity: 2 * Self.block, pieces: [999]) == data)
    }

    @Test("gzip without recorded sizes (the gzip program, Coffer's older bundles) goes through zlib, also after members with sizes")
    func otherGzip() throws {
        let data = dumpLike(60_000)
        let plain = try program(["gzip", "-6", "-c", "-n"], input: data)
        #expect(try parallelGunzip(plain) == data)
        #expect(try parallelGunzip(plain, pieces: [10]) == data)
        let joined = try compress(data, blockSize: Self.block) + plain
        #expect(try parallelGunzip(joined, inputCapacity: 2 * Self.block) == data + data)
        // A member too large for the batch also goes through zlib.
        let large = try compress(data, blockSize: 50_000)
        #expect(try parallelGunzip(large, inputCapacity: 8 * 1024, outputCapacity: 16 * 1024) == data)
    }

    @Test("a damaged member, a wrong CRC, a cut or an empty input is an error")
    func damage() throws {
        let data = dumpLike(5 * Self.block)
        let good = try compress(data, blockSize: Self.block)
        var body = good
        body[30] ^= 0xff
        var crc = good
        let firstSize = Int(good[16]) | Int(good[17]) << 8 | Int(good[18]) << 16
        crc[firstSize - 8] ^= 1
        for (bad, what) in [(body, "deflate data"), (crc, "CRC")] {
            #expect(throws: CompressionError.self, "\(what)") { _ = try parallelGunzip(bad) }
        }
        do {
            _ = try parallelGunzip(crc)
        } catch let error as CompressionError {
            #expect(error.message == "incorrect data check")
        }
        #expect(throws: CompressionError.self) { _ = try parallelGunzip(Array(good.dropLast())) }
        #expect(throws: CompressionError.self) { _ = try parallelGunzip(Array(good.prefix(firstSize + 10))) }
        #expect(throws: CompressionError.self) { _ = try parallelGunzip([]) }
        #expect(throws: CompressionError.self) { _ = try parallelGunzip(good + [1, 2, 3]) }
    }
}
