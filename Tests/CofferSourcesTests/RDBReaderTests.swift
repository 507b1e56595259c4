import CofferSources
import CofferSystem
import Foundation
import Testing

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/redis-rdb").path

/// Reads an RDB file through the streaming reader, with a small buffer so reads cross refills.
private func readRDB(_ path: String) throws -> (RDBSummary, [RDBEntry]) {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var offset = 0
    var entries: [RDBEntry] = []
    let summary = try RDBReader.read({ buffer in
        let count = min(buffer.count, 97, bytes.count - offset)
        buffer.copyBytes(from: bytes[offset..<offset + count])
        offset += count
        return count
    }) { entries.append($0) }
    return (summary, entries)
}

@Suite("Redis RDB reader")
struct RDBReaderTests {
    @Test("CRC-64 (Jones): the reference value, and the 8-byte path agrees with the byte-at-a-time one")
    func crc64() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xe9c6_d914_c4b8_d9ca)
        let data = (0..<10_007).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var pieces = CRC64()
        for start in stride(from: 0, to: data.count, by: 1001) { pieces.update(Array(data[start..<min(start + 1001, data.count)])) }
        var bytewise = CRC64()
        for byte in data { bytewise.update([byte]) }
        #expect(pieces.value == CRC64.checksum(data))
        #expect(bytewise.value == CRC64.checksum(data))
    }

    @Test("RDB files written by Redis 2.6 to 7.2 (versions 3 to 10): every key of every old encoding")
    func redisFixtures() throws {
        let expected: [(String, Int, Int)] = [  // file, version, keys
            ("encodings.rdb", 4, 13), ("hash-zipmap.rdb", 3, 1), ("list-quicklist.rdb", 8, 2), ("hash-ziplist.rdb", 9, 1),
            ("zset-ziplist.rdb", 10, 1), ("scriptbackup.rdb", 10, 0), ("corrupt_empty_keys.rdb", 10, 9),
        ]
        for (file, version, keys) in expected {
            let (summary, entries) = try readRDB("\(fixtures)/\(file)")
            #expect(summary.version == version, "\(file)")
            #expect(entries.count == keys, "\(file)")
            #expect(summary.keysPerDB.values.reduce(0, +) == keys, "\(file)")
            if version >= 5 && file != "scriptbackup.rdb" { #expect(summary.checksum != nil, "\(file) has a checksum") }
        }
        let (_, encodings) = try readRDB("\(fixtures)/encodings.rdb")
        #expect(Set(encodings.map(\.type)) == [0, 1, 2, 3, 4, 10, 11, 12, 13])
        #expect(try readRDB("\(fixtures)/hash-zipmap.rdb").1.map(\.type) == [9])
        #expect(try readRDB("\(fixtures)/scriptbackup.rdb").0.aux["lua"]?.contains("return") == true)
    }

    @Test("a ziplist that fails its structure check is refused, naming the key")
    func corruptZiplist() throws {
        #expect {
            try readRDB("\(fixtures)/corrupt_ziplist.rdb")
        } throws: { error in
            "\(error)".contains("corrupt ziplist") && "\(error)".contains("key ")
        }
    }

    @Test("truncated, flipped and too new files: clear errors")
    func badFiles() throws {
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/zset-ziplist.rdb")))
        let folder = NSTemporaryDirectory() + "coffer-rdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func attempt(_ bytes: [UInt8]) -> String {
            try? Data(bytes).write(to: URL(fileURLWithPath: folder + "/x.rdb"))
            do {
                _ = try readRDB(folder + "/x.rdb")
                return "read"
            } catch {
                return "\(error)"
            }
        }
        #expect(attempt(Array(good.dropLast(20))).contains("ends early"))
        var flipped = good
        flipped[40] ^= 0x01
        let flippedResult = attempt(flipped)
        #expect(flippedResult.contains("checksum does not match") || flippedResult.contains("corrupt"), "\(flippedResult)")
        #expect(attempt(Array("REDIS0099".utf8) + good.dropFirst(9)).contains("newer than this reader"))
        #expect(attempt(Array("NOTREDIS!".utf8)).contains("not an RDB file"))
    }

    @Test("an RDB written by the local redis-server: every type and encoding in two dbs, functions, TTLs; the DUMP payloads built from it equal the server's own")
    func realServer() throws {
        let folder = NSTemporaryDirectory() + "coffer-rdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Support/redis_rdb_fixture.py").standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, folder]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the fixture script failed (is redis-server installed? `make test` installs it)")

        let (summary, entries) = try readRDB(folder + "/dump.rdb")
        #expect(summary.checksum != nil)
        #expect(summary.functions.count == 1)
        let lines = try String(contentsOfFile: folder + "/dumps.txt", encoding: .utf8).split(separator: "\n")
        var serverDumps: [String: String] = [:]
        for line in lines {
            let fields = line.split(separator: " ")
            serverDumps["\(fields[0]) \(fields[1])"] = String(fields[3])
        }
        #expect(entries.count == serverDumps.count && entries.count >= 30)
        #expect(summary.keysPerDB == [0: entries.count / 2, 3: entries.count / 2])
        for entry in entries {
            let name = "\(entry.db) \(entry.key.map { String(format: "%02x", $0) }.joined())"
            let ours = entry.dumpPayload(rdbVersion: summary.version).map { String(format: "%02x", $0) }.joined()
            #expect(serverDumps[name] == ours, "DUMP of \(String(decoding: entry.key, as: UTF8.self)) in db \(entry.db)")
        }
        #expect(entries.filter { $0.expiresAtMs != nil }.count == 4)
        // Types 16 (hash listpack), 17 (zset listpack), 18 (quicklist 2), 19 (stream with groups, 7.0), 11 (intset) and the plain ones.
        #expect(Set(entries.map(\.type)).isSuperset(of: [0, 2, 4, 5, 11, 16, 17, 18, 19]))
    }
}
