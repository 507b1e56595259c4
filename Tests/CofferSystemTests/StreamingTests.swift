import CofferSystem
import Foundation
import Testing

private struct Boom: Error {}

@Suite("read-ahead and write-behind")
struct StreamingTests {
    /// A source that hands out `data` in reads of at most `step` bytes.
    private final class Source: @unchecked Sendable {
        let data: [UInt8]
        let step: Int
        var position = 0
        var failAt: Int?
        init(_ data: [UInt8], step: Int) { self.data = data; self.step = step }
        func read(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if let failAt, position >= failAt { throw Boom() }
            let count = min(step, buffer.count, data.count - position)
            data.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: count) }
            position += count
            return count
        }
    }

    @Test("blocks arrive complete and in order", arguments: [0, 1, 4095, 4096, 4097, 100_000])
    func readAhead(_ size: Int) throws {
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let source = Source(data, step: 3000)
        var seen: [UInt8] = []
        try forEachBlock(read: source.read, blockSize: 4096) { seen += $0 }
        #expect(seen == data)
    }

    @Test("a read error reaches the caller")
    func readError() {
        let source = Source([UInt8](repeating: 7, count: 50_000), step: 1000)
        source.failAt = 20_000
        #expect(throws: Boom.self) { try forEachBlock(read: source.read, blockSize: 4096) { _ in } }
    }

    @Test("an error in the body waits for the read in flight and propagates")
    func bodyError() {
        let source = Source([UInt8](repeating: 1, count: 50_000), step: 4096)
        #expect(throws: Boom.self) { try forEachBlock(read: source.read, blockSize: 4096) { _ in throw Boom() } }
    }

    @Test("written bytes reach the sink complete and in order", arguments: [0, 1, 999, 1000, 1001, 123_457])
    func writeBehind(_ size: Int) throws {
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        var received: [UInt8] = []
        try withWriteBehind({ received += $0 }, blockSize: 1000) { sink in
            var index = 0
            while index < data.count {
                let end = min(index + 777, data.count)
                try data[index..<end].withUnsafeBytes { try sink($0) }
                index = end
            }
        }
        #expect(received == data)
    }

    @Test("a sink error surfaces to the writer")
    func writeError() {
        #expect(throws: Boom.self) {
            try withWriteBehind({ _ in throw Boom() }, blockSize: 100) { sink in
                for _ in 0..<10 { try [UInt8](repeating: 0, count: 100).withUnsafeBytes { try sink($0) } }
            }
        }
    }
}

@Suite("pushed bytes pulled by a reader")
struct PulledStreamTests {
    /// Pushes `data` in pieces of `step` bytes, failing after `failAfter` bytes if set.
    private func push(_ data: [UInt8], step: Int, failAfter: Int? = nil) -> (ByteSink) throws -> Void {
        { sink in
            var index = 0
            while index < data.count {
                if let failAfter, index >= failAfter { throw Boom() }
                let end = min(index + step, data.count)
                try data[index..<end].withUnsafeBytes { try sink($0) }
                index = end
            }
        }
    }

    @Test("the reader gets every byte in order, in reads of its own size", arguments: [0, 1, 5000, 100_003])
    func pulls(_ size: Int) throws {
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let received = try withPulledStream(push(data, step: 4093)) { read in
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1000)
            while case let count = try buffer.withUnsafeMutableBytes({ try read($0) }), count > 0 { all += buffer[..<count] }
            return all
        }
        #expect(received == data)
    }

    @Test("a producer's error reaches the reader")
    func producerError() {
        #expect(throws: Boom.self) {
            try withPulledStream(push([UInt8](repeating: 1, count: 50_000), step: 1000, failAfter: 20_000)) { read in
                var buffer = [UInt8](repeating: 0, count: 512)
                while try buffer.withUnsafeMutableBytes({ try read($0) }) > 0 {}
            }
        }
    }

    @Test("a reader that stops early stops the producer and returns")
    func readerStops() throws {
        let first = try withPulledStream(push([UInt8](repeating: 9, count: 1_000_000), step: 100)) { read in
            var buffer = [UInt8](repeating: 0, count: 10)
            _ = try buffer.withUnsafeMutableBytes { try read($0) }
            return buffer[0]
        }
        #expect(first == 9)
        #expect(throws: Boom.self) {
            try withPulledStream(push([UInt8](repeating: 9, count: 1_000_000), step: 100)) { _ in throw Boom() }
        }
    }
}

@Suite("atomic files")
struct AtomicFileTests {
    private func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "coffer-sys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("an uncommitted file leaves nothing behind")
    func abandoned() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let file = try AtomicFile(creating: dir + "/out", permissions: 0o600)
            try file.write(Array("partial".utf8))
        }
        #expect(try FileSystem.contentsOfDirectory(dir).isEmpty)
    }

    @Test("commit publishes with the asked mode; no-replace refuses an existing file")
    func commit() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileSystem.writeFile(dir + "/a", bytes: Array("one".utf8), permissions: 0o600)
        #expect(try FileSystem.status(of: dir + "/a")?.permissions == 0o600)
        #expect(throws: SystemError.self) { try FileSystem.writeFile(dir + "/a", bytes: Array("two".utf8), replace: false) }
        #expect(try FileSystem.readFile(dir + "/a") == Array("one".utf8))
        try FileSystem.writeFile(dir + "/a", bytes: Array("three".utf8))
        #expect(try FileSystem.readFile(dir + "/a") == Array("three".utf8))
        #expect(try FileSystem.contentsOfDirectory(dir) == ["a"])
    }
}

@Suite("process hardening")
struct ProcessHardeningTests {
    // The core limit is checked on the real coffer (LeftoverSecretsTests): lowering
    // the hard limit here would hold for every test of this process and its children.
    @Test("after forbidAttaching the process is not dumpable")
    func notDumpable() {
        ProcessHardening.forbidAttaching()
        #expect(!ProcessHardening.isDumpable)
    }
}
