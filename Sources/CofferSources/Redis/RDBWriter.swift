import CofferSystem

/// Writes an RDB file from values in `DUMP` form, for the logical snapshot
/// (SCAN + DUMP + PTTL) and nothing else: a `DUMP` payload is a value exactly
/// as the RDB stores it, so the file is a real RDB (`redis-check-rdb` reads it,
/// a server loads it) and verify and restore treat both snapshot kinds alike.
final class RDBWriter {
    private let sink: ByteSink
    private let aux: [(String, String)]
    private var crc = CRC64()
    private var buffer: [UInt8] = []
    /// The RDB version, taken from the first `DUMP` payload (the header waits for it).
    private(set) var version: Int?
    private var currentDB: Int?
    private(set) var keysPerDB: [Int: Int] = [:]
    private(set) var functions = 0

    init(aux: [(String, String)], sink: @escaping ByteSink) throws {
        self.sink = sink
        self.aux = aux
    }

    /// One key: `payload` is its `DUMP` reply (type, value, version, CRC).
    func key(_ key: [UInt8], db: Int, payload: ArraySlice<UInt8>, expiresAtMs: Int64?) throws {
        try begin(version: Self.version(of: payload))
        if currentDB != db {
            buffer.append(RDBReader.selectDB)
            Self.appendLength(UInt64(db), to: &buffer)
            currentDB = db
        }
        if let expiresAtMs {
            buffer.append(RDBReader.expireMs)
            withUnsafeBytes(of: expiresAtMs.littleEndian) { buffer.append(contentsOf: $0) }
        }
        buffer.append(payload[payload.startIndex])
        Self.appendString(key, to: &buffer)
        buffer.append(contentsOf: payload[(payload.startIndex + 1)..<(payload.endIndex - 10)])
        keysPerDB[db, default: 0] += 1
        try flushIfLarge()
    }

    /// The libraries of a `FUNCTION DUMP` reply (FUNCTION2 records, then version and CRC).
    func functionRecords(_ payload: [UInt8], count: Int) throws {
        try begin(version: Self.version(of: payload[...]))
        buffer.append(contentsOf: payload.dropLast(10))
        functions += count
        try flushIfLarge()
    }

    func finish(fallbackVersion: Int) throws {
        try begin(version: fallbackVersion)
        buffer.append(RDBReader.eof)
        try flush()
        withUnsafeBytes(of: crc.value.littleEndian) { buffer.append(contentsOf: $0) }
        try buffer.withUnsafeBytes { try sink($0) }
        buffer.removeAll()
    }

    /// The 2-byte version before a `DUMP` payload's CRC.
    static func version(of payload: ArraySlice<UInt8>) -> Int {
        let at = payload.endIndex - 10
        return Int(payload[at]) | Int(payload[at + 1]) << 8
    }

    private func begin(version: Int) throws {
        if let existing = self.version {
            guard version <= existing else {
                throw RDBError("the server sent DUMP payloads of RDB versions \(existing) and \(version); was it upgraded during the snapshot?")
            }
            return
        }
        self.version = version
        let digits = String(version)
        buffer.append(contentsOf: Array(("REDIS" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits).utf8))
        for (key, value) in aux {
            buffer.append(RDBReader.aux)
            Self.appendString(Array(key.utf8), to: &buffer)
            Self.appendString(Array(value.utf8), to: &buffer)
        }
    }

    private func flushIfLarge() throws {
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { raw in
            crc.update(raw)
            try sink(raw)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// The RDB length encoding: 6, 14, 32 or 64 bits.
    static func appendLength(_ length: UInt64, to bytes: inout [UInt8]) {
        switch length {
        case ..<64: bytes.append(UInt8(length))
        case ..<16384: bytes.append(contentsOf: [0x40 | UInt8(length >> 8), UInt8(length & 0xff)])
        case ...UInt64(UInt32.max): bytes.append(0x80); withUnsafeBytes(of: UInt32(length).bigEndian) { bytes.append(contentsOf: $0) }
        default: bytes.append(0x81); withUnsafeBytes(of: length.bigEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// A plain (not integer-encoded, not compressed) RDB string.
    static func appendString(_ string: [UInt8], to bytes: inout [UInt8]) {
        appendLength(UInt64(string.count), to: &bytes)
        bytes.append(contentsOf: string)
    }
}
