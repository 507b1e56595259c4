import CofferCrypto
import CofferSystem

/// One key of an RDB file: its type byte and its value bytes exactly as stored,
/// which is what a `DUMP` payload carries, so it can be restored with
/// `RESTORE` without decoding the value.
public struct RDBEntry: Sendable {
    public var db: Int
    public var key: [UInt8]
    public var type: UInt8
    public var value: [UInt8]
    /// Absolute expiry in Unix milliseconds, if the key has a TTL.
    public var expiresAtMs: Int64?
    public var idleSeconds: UInt64?
    public var frequency: UInt8?
    /// The RDB version of the file the key came from.
    public var rdbVersion: Int

    /// The `DUMP` payload for this key, as the server would produce it for
    /// `rdbVersion`: type, value, 2-byte version, CRC-64 of all that.
    public func dumpPayload(rdbVersion: Int) -> [UInt8] {
        var payload = [type] + value + [UInt8(rdbVersion & 0xff), UInt8(rdbVersion >> 8)]
        let crc = CRC64.checksum(payload)
        for index in 0..<8 { payload.append(UInt8((crc >> (8 * UInt64(index))) & 0xff)) }
        return payload
    }
}

/// What an RDB file holds besides keys.
public struct RDBSummary: Sendable {
    public var version: Int
    /// Keys per database number.
    public var keysPerDB: [Int: Int] = [:]
    public var aux: [String: String] = [:]
    /// FUNCTION2 records (libraries), to replay with `FUNCTION RESTORE`.
    public var functions: [[UInt8]] = []
    /// The stored CRC-64; nil before RDB 5 or when the writer disabled it (0).
    public var checksum: UInt64?
}

/// Reads RDB files as Redis 2.6 to 7.2 write them (versions 1 to 11; 12 for
/// 7.4 without hash field expiry), streaming: every opcode, every value type
/// and encoding is walked to its end without decoding values, and the CRC-64
/// at the end is checked.
public enum RDBReader {
    public static let newestVersion = 12

    // Opcodes.
    static let slotInfo: UInt8 = 244, function2: UInt8 = 245, functionPreGA: UInt8 = 246, moduleAux: UInt8 = 247, idle: UInt8 = 248
    static let freq: UInt8 = 249, aux: UInt8 = 250, resizeDB: UInt8 = 251, expireMs: UInt8 = 252, expireSeconds: UInt8 = 253
    static let selectDB: UInt8 = 254, eof: UInt8 = 255

    public static func read(_ source: @escaping ByteSource, entry: (RDBEntry) throws -> Void) throws -> RDBSummary {
        try walk(source, capturing: true, entry: entry)
    }

    /// Walks and checks an RDB without keeping any value: what verify and the snapshot's own check need.
    public static func check(_ source: @escaping ByteSource) throws -> RDBSummary {
        try walk(source, capturing: false) { _ in }
    }

    private static func walk(_ source: @escaping ByteSource, capturing: Bool, entry: (RDBEntry) throws -> Void) throws -> RDBSummary {
        let input = RDBInput(source: source)
        let magic = try input.bytes(9)
        guard magic.starts(with: Array("REDIS".utf8)), let version = Int(String(decoding: magic[5...], as: UTF8.self)) else {
            throw RDBError("not an RDB file (it does not start with REDISnnnn)")
        }
        guard (1...newestVersion).contains(version) else {
            throw RDBError("RDB version \(version) is newer than this reader understands (up to \(newestVersion)); upgrade coffer")
        }
        var summary = RDBSummary(version: version)
        var db = 0
        var expiresAt: Int64?
        var idleSeconds: UInt64?
        var frequency: UInt8?
        var keysInDB = 0  // counted apart from the dictionary: it is the per-key hot path
        while true {
            let opcode = try input.byte()
            switch opcode {
            case eof:
                if keysInDB > 0 { summary.keysPerDB[db, default: 0] += keysInDB }
                if version >= 5 {
                    let computed = input.finishChecksum()
                    let stored = try input.littleEndian(8)
                    if stored != 0 {
                        summary.checksum = stored
                        guard stored == computed else {
                            throw RDBError("the RDB checksum does not match (stored \(hex(stored)), computed \(hex(computed))): the file is corrupted")
                        }
                    }
                }
                guard try input.atEnd() else { throw RDBError("bytes after the end of the RDB (offset \(input.offset))") }
                return summary
            case selectDB:
                if keysInDB > 0 { summary.keysPerDB[db, default: 0] += keysInDB }
                keysInDB = 0
                db = Int(try length(input))
            case resizeDB:
                _ = try length(input)
                _ = try length(input)
            case aux:
                let key = String(decoding: try string(input), as: UTF8.self)
                summary.aux[key] = String(decoding: try string(input), as: UTF8.self)
            case expireMs:
                expiresAt = Int64(bitPattern: try input.littleEndian(8))
            case expireSeconds:
                expiresAt = Int64(try input.littleEndian(4)) * 1000
            case idle:
                idleSeconds = try length(input)
            case freq:
                frequency = try input.byte()
            case moduleAux:
                _ = try length(input)  // module id
                _ = try length(input)  // when opcode
                _ = try length(input)  // when
                try skipModuleValue(input)
            case function2:
                summary.functions.append(try string(input))
            case functionPreGA:
                throw RDBError("the RDB holds functions in the format of a Redis 7.0 release candidate, which is not supported")
            case slotInfo:
                for _ in 0..<3 { _ = try length(input) }
            default:
                let keyOffset = input.offset
                var key: [UInt8] = []
                if capturing { key = try string(input) } else { try skipString(input) }
                if capturing { input.capture = [] }
                do {
                    try skipValue(type: opcode, input)
                } catch let error as RDBError {
                    let name = capturing ? Self.reference(key) : "the key at byte \(keyOffset)"
                    throw RDBError("\(name) (type \(opcode)) in db \(db): \(error.message)")
                }
                if capturing {
                    let value = input.capture ?? []
                    input.capture = nil
                    try entry(
                        RDBEntry(
                            db: db, key: key, type: opcode, value: value, expiresAtMs: expiresAt, idleSeconds: idleSeconds, frequency: frequency,
                            rdbVersion: version))
                }
                keysInDB += 1
                expiresAt = nil
                idleSeconds = nil
                frequency = nil
            }
        }
    }

    // MARK: Encodings

    /// A length; special (integer or LZF string) encodings are an error here.
    static func length(_ input: RDBInput) throws -> UInt64 {
        let (value, special) = try lengthOrSpecial(input)
        if special { throw RDBError("an encoded string where a length was expected, at byte \(input.offset)") }
        return value
    }

    /// A length, or (`special` true) a string encoding number 0...3.
    static func lengthOrSpecial(_ input: RDBInput) throws -> (UInt64, Bool) {
        let first = try input.byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3f), false)
        case 1: return (UInt64(first & 0x3f) << 8 | UInt64(try input.byte()), false)
        case 3: return (UInt64(first & 0x3f), true)
        default:
            switch first {
            case 0x80: return (UInt64(bigEndian: try input.bytes(4)), false)
            case 0x81: return (UInt64(bigEndian: try input.bytes(8)), false)
            default: throw RDBError("bad length byte \(hex(UInt64(first))) at byte \(input.offset - 1)")
            }
        }
    }

    /// A string, decoded (integers as decimal text, LZF decompressed): keys and AUX fields.
    static func string(_ input: RDBInput) throws -> [UInt8] {
        let (value, special) = try lengthOrSpecial(input)
        guard special else { return try input.bytes(try checkedCount(value, input)) }
        switch value {
        case 0: return Array(String(Int8(bitPattern: try input.byte())).utf8)
        case 1: return Array(String(Int16(bitPattern: UInt16(try input.littleEndian(2)))).utf8)
        case 2: return Array(String(Int32(bitPattern: UInt32(try input.littleEndian(4)))).utf8)
        case 3:
            let compressed = try checkedCount(try length(input), input)
            let plain = try checkedCount(try length(input), input)
            return try LZF.decompress(try input.bytes(compressed), expected: plain)
        default: throw RDBError("unknown string encoding \(value) at byte \(input.offset)")
        }
    }

    /// Walks past a string without decoding it.
    static func skipString(_ input: RDBInput) throws {
        let (value, special) = try lengthOrSpecial(input)
        guard special else { return try input.skip(try checkedCount(value, input)) }
        switch value {
        case 0: try input.skip(1)
        case 1: try input.skip(2)
        case 2: try input.skip(4)
        case 3:
            let compressed = try checkedCount(try length(input), input)
            _ = try length(input)
            try input.skip(compressed)
        default: throw RDBError("unknown string encoding \(value) at byte \(input.offset)")
        }
    }

    static func checkedCount(_ value: UInt64, _ input: RDBInput) throws -> Int {
        guard value < 1 << 40 else { throw RDBError("impossible length \(value) at byte \(input.offset)") }
        return Int(value)
    }

    static func repeatCount(_ input: RDBInput) throws -> UInt64 {
        let count = try length(input)
        guard count < 1 << 40 else { throw RDBError("impossible element count \(count) at byte \(input.offset)") }
        return count
    }

    // MARK: Values

    static func skipValue(type: UInt8, _ input: RDBInput) throws {
        switch type {
        case 0:  // string
            try skipString(input)
        case 1, 2:  // list, set
            for _ in 0..<(try repeatCount(input)) { try skipString(input) }
        case 3:  // zset with scores as text
            for _ in 0..<(try repeatCount(input)) {
                try skipString(input)
                let n = try input.byte()
                if n < 253 { try input.skip(Int(n)) }
            }
        case 4:  // hash
            for _ in 0..<(try repeatCount(input)) {
                try skipString(input)
                try skipString(input)
            }
        case 5:  // zset with binary scores
            for _ in 0..<(try repeatCount(input)) {
                try skipString(input)
                try input.skip(8)
            }
        case 10, 12, 13:  // ziplists: checked, as a corrupt one would crash or corrupt the server on RESTORE
            try Ziplist.validate(try string(input))
        case 9, 11, 16, 17, 20:  // zipmap, intset, listpack encodings: one blob
            try skipString(input)
        case 14:  // quicklist of ziplists
            for _ in 0..<(try repeatCount(input)) { try Ziplist.validate(try string(input)) }
        case 18:  // quicklist of listpacks
            for _ in 0..<(try repeatCount(input)) {
                _ = try length(input)  // container
                try skipString(input)
            }
        case 7:  // module value
            _ = try length(input)
            try skipModuleValue(input)
        case 15, 19, 21:
            try skipStream(type: type, input)
        case 6:
            throw RDBError("module values of the first module format (RDB type 6) are not supported")
        case 22, 23, 24, 25:
            throw RDBError("hashes with field expiry (Redis 7.4, RDB type \(type)) are not supported yet")
        default:
            throw RDBError("unknown value type \(type) at byte \(input.offset - 1)")
        }
    }

    static func skipModuleValue(_ input: RDBInput) throws {
        while true {
            let opcode = try length(input)
            switch opcode {
            case 0: return  // EOF
            case 1, 2: _ = try length(input)  // signed / unsigned integer
            case 3: try input.skip(4)  // float
            case 4: try input.skip(8)  // double
            case 5: try skipString(input)
            default: throw RDBError("unknown module value opcode \(opcode) at byte \(input.offset)")
            }
        }
    }

    static func skipStream(type: UInt8, _ input: RDBInput) throws {
        for _ in 0..<(try repeatCount(input)) {  // listpacks: node key, listpack
            try skipString(input)
            try skipString(input)
        }
        for _ in 0..<3 { _ = try length(input) }  // length, last id ms, seq
        if type >= 19 { for _ in 0..<5 { _ = try length(input) } }  // first id, max deleted id, entries added
        for _ in 0..<(try repeatCount(input)) {  // consumer groups
            try skipString(input)
            _ = try length(input)
            _ = try length(input)
            if type >= 19 { _ = try length(input) }  // entries read
            for _ in 0..<(try repeatCount(input)) { try input.skip(16 + 8); _ = try length(input) }  // PEL: id, delivery time, count
            for _ in 0..<(try repeatCount(input)) {  // consumers
                try skipString(input)
                try input.skip(8)  // seen time
                if type >= 21 { try input.skip(8) }  // active time
                for _ in 0..<(try repeatCount(input)) { try input.skip(16) }
            }
        }
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// A key for messages: key names can be secrets (session keys are bearer
    /// tokens), so only a short hash of it, which `redis-cli --scan` output can be matched against.
    static func reference(_ key: [UInt8]) -> String {
        "key #\(hexString(SHA256.hash(key)).prefix(12))"
    }
}

extension UInt64 {
    init(bigEndian bytes: [UInt8]) {
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// LZF decompression (liblzf's format, as Redis stores long strings).
enum LZF {
    static func decompress(_ input: [UInt8], expected: Int) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(expected)
        var index = 0
        while index < input.count {
            let control = Int(input[index])
            index += 1
            if control < 32 {
                let count = control + 1
                guard index + count <= input.count else { throw RDBError("corrupt LZF data (literal past the end)") }
                output.append(contentsOf: input[index..<index + count])
                index += count
            } else {
                var count = control >> 5
                if count == 7 {
                    guard index < input.count else { throw RDBError("corrupt LZF data") }
                    count += Int(input[index])
                    index += 1
                }
                guard index < input.count else { throw RDBError("corrupt LZF data") }
                let back = ((control & 0x1f) << 8) + Int(input[index]) + 1
                index += 1
                guard back <= output.count else { throw RDBError("corrupt LZF data (reference before the start)") }
                let from = output.count - back
                for offset in 0..<(count + 2) { output.append(output[from + offset]) }
            }
        }
        guard output.count == expected else { throw RDBError("LZF data decompresses to \(output.count) bytes, not \(expected)") }
        return output
    }
}

/// The structure of a ziplist (RDB types 10, 12, 13 and quicklist nodes),
/// checked as `redis-check-rdb` does before anything is restored from it:
/// header sizes, every entry's encoding and back-link, the tail offset, the
/// count and the end marker.
enum Ziplist {
    static func validate(_ z: [UInt8]) throws {
        func fail(_ why: String) -> RDBError { RDBError("corrupt ziplist: \(why)") }
        guard z.count >= 11 else { throw fail("\(z.count) bytes is shorter than its header") }
        func le(_ at: Int, _ n: Int) -> Int { (0..<n).reduce(0) { $0 | Int(z[at + $1]) << (8 * $1) } }
        guard le(0, 4) == z.count else { throw fail("its header says \(le(0, 4)) bytes, it has \(z.count)") }
        let tail = le(4, 4), declared = le(8, 2)
        var position = 10, previousLength = 0, count = 0, lastEntry = 10
        while position < z.count && z[position] != 0xff {
            let start = position
            var prev = Int(z[position])
            position += 1
            if prev == 0xfe {
                guard position + 4 <= z.count else { throw fail("entry at \(start) runs past the end") }
                prev = le(position, 4)
                position += 4
            }
            guard prev == previousLength else { throw fail("entry at \(start) links back \(prev) bytes, the entry before is \(previousLength)") }
            guard position < z.count else { throw fail("entry at \(start) runs past the end") }
            let encoding = z[position]
            var payload = 0
            switch encoding >> 6 {
            case 0: payload = Int(encoding & 0x3f); position += 1
            case 1:
                guard position + 2 <= z.count else { throw fail("entry at \(start) runs past the end") }
                payload = Int(encoding & 0x3f) << 8 | Int(z[position + 1]); position += 2
            case 2:
                guard position + 5 <= z.count else { throw fail("entry at \(start) runs past the end") }
                payload = (1...4).reduce(0) { $0 << 8 | Int(z[position + $1]) }; position += 5
            default:
                position += 1
                switch encoding {
                case 0xc0: payload = 2
                case 0xd0: payload = 4
                case 0xe0: payload = 8
                case 0xf0: payload = 3
                case 0xfe: payload = 1
                case 0xf1...0xfd: payload = 0
                default: throw fail("entry at \(start) has the unknown encoding \(encoding)")
                }
            }
            position += payload
            guard position < z.count else { throw fail("entry at \(start) runs past the end") }
            previousLength = position - start
            lastEntry = start
            count += 1
        }
        guard position == z.count - 1, z[position] == 0xff else { throw fail("it does not end with its end marker") }
        guard declared == 0xffff || declared == count else { throw fail("its header counts \(declared) entries, it holds \(count)") }
        guard tail == lastEntry else { throw fail("its tail offset is \(tail), the last entry is at \(lastEntry)") }
    }
}
