import CofferSystem
import Foundation
import Testing
@testable import CofferSources

@Suite("RDB writer (the logical snapshot's file)")
struct RDBWriterTests {
    /// A `DUMP` payload of a plain string value, as Redis builds one.
    private func stringPayload(_ value: [UInt8], version: Int) -> [UInt8] {
        var payload: [UInt8] = [0]
        RDBWriter.appendString(value, to: &payload)
        payload += [UInt8(version & 0xff), UInt8(version >> 8)]
        withUnsafeBytes(of: CRC64.checksum(payload).littleEndian) { payload += $0 }
        return payload
    }

    @Test("keys of every length encoding, TTLs and two databases read back exactly, CRC-64 included")
    func roundTrip() throws {
        var file: [UInt8] = []
        let writer = try RDBWriter(aux: [("redis-ver", "7.0.15")]) { file += $0 }
        let keys: [(db: Int, key: [UInt8], value: [UInt8], expires: Int64?)] = [
            (0, Array("short".utf8), Array("v".utf8), nil),
            (0, [UInt8](repeating: 65, count: 100), [UInt8](repeating: 66, count: 20_000), 1_900_000_000_000),
            (3, [UInt8](repeating: 67, count: 70_000), [], nil),
        ]
        for key in keys {
            try writer.key(key.key, db: key.db, payload: stringPayload(key.value, version: 10)[...], expiresAtMs: key.expires)
        }
        try writer.finish(fallbackVersion: 9)
        #expect(file.starts(with: Array("REDIS0010".utf8)))
        var entries: [RDBEntry] = []
        var offset = 0
        let summary = try RDBReader.read({ buffer in
            let count = min(buffer.count, file.count - offset)
            buffer.copyBytes(from: file[offset..<offset + count])
            offset += count
            return count
        }) { entries.append($0) }
        #expect(summary.keysPerDB == [0: 2, 3: 1] && summary.checksum != nil && summary.aux["redis-ver"] == "7.0.15")
        #expect(entries.map(\.key) == keys.map(\.key))
        #expect(entries.map(\.db) == keys.map(\.db))
        #expect(entries.map(\.expiresAtMs) == keys.map(\.expires))
        for (entry, key) in zip(entries, keys) {
            #expect(entry.dumpPayload(rdbVersion: 10) == stringPayload(key.value, version: 10))
        }
    }

    @Test("an empty snapshot is a valid RDB of the server's version; payloads of two versions are refused")
    func emptyAndMixed() throws {
        var file: [UInt8] = []
        let empty = try RDBWriter(aux: []) { file += $0 }
        try empty.finish(fallbackVersion: 9)
        #expect(file.starts(with: Array("REDIS0009".utf8)) && file.count == 9 + 1 + 8)
        let mixed = try RDBWriter(aux: []) { _ in }
        try mixed.key([1], db: 0, payload: stringPayload([1], version: 9)[...], expiresAtMs: nil)
        #expect(throws: RDBError.self) { try mixed.key([2], db: 0, payload: stringPayload([2], version: 10)[...], expiresAtMs: nil) }
    }

    @Test("a damaged value is reported by db and a hash of its key, never by the key's name (session keys are bearer tokens)")
    func keyNamesNotInMessages() throws {
        var file: [UInt8] = []
        let writer = try RDBWriter(aux: [("redis-ver", "7.0.15")]) { file += $0 }
        let secret = Array("session:SECRET-TOKEN-4f2a".utf8)
        try writer.key(secret, db: 2, payload: stringPayload([UInt8](repeating: 66, count: 20_000), version: 10)[...], expiresAtMs: nil)
        try writer.finish(fallbackVersion: 9)
        let cut = Array(file.prefix(file.count / 2))
        var offset = 0
        var message = ""
        do {
            _ = try RDBReader.read({ buffer in
                let count = min(buffer.count, cut.count - offset)
                buffer.copyBytes(from: cut[offset..<offset + count])
                offset += count
                return count
            }) { _ in }
        } catch {
            message = "\(error)"
        }
        #expect(!message.isEmpty, "a cut RDB must fail")
        #expect(!message.contains("SECRET-TOKEN"), "\(message)")
        #expect(message.contains("key #") && message.contains("db 2"), "\(message)")
    }
}
