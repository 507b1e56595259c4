import CofferSystem

/// Buffered reads over a byte stream, feeding every consumed byte to the RDB
/// checksum (a buffer's worth at a time) and, while a value is being read, to a
/// capture of its raw bytes.
///
/// One thread reads it at a time, so the stored properties skip the runtime's
/// exclusivity checks: they were a fifth of a snapshot's CPU time (perf),
/// paid on every byte of every key.
final class RDBInput {
    private let source: ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var start = 0
    @exclusivity(unchecked) private var end = 0
    /// `buffer[..<checksummed]` is already in `crc`.
    @exclusivity(unchecked) private var checksummed = 0
    /// Bytes consumed so far, for error messages.
    @exclusivity(unchecked) private(set) var offset: Int64 = 0
    @exclusivity(unchecked) private var crc = CRC64()
    @exclusivity(unchecked) private var checksumming = true
    /// Raw bytes of the value being read, when capturing.
    @exclusivity(unchecked) var capture: [UInt8]?

    init(source: @escaping ByteSource, bufferSize: Int = 1 << 20) {
        self.source = source
        buffer = .allocate(byteCount: bufferSize, alignment: 64)
    }

    deinit {
        buffer.initializeMemory(as: UInt8.self, repeating: 0)  // it held the database's data
        buffer.deallocate()
    }

    /// The CRC-64 of everything consumed so far; the bytes after it (the stored CRC) are not checksummed.
    func finishChecksum() -> UInt64 {
        absorb()
        checksumming = false
        return crc.value
    }

    private func absorb() {
        if checksumming && checksummed < start { crc.update(UnsafeRawBufferPointer(rebasing: buffer[checksummed..<start])) }
        checksummed = start
    }

    private func refill() throws -> Int {
        absorb()
        start = 0
        checksummed = 0
        end = try source(buffer)
        return end
    }

    private func fill() throws {
        if try refill() == 0 { throw RDBError("the RDB ends early, at byte \(offset) (truncated?)") }
    }

    @inline(__always)
    private func consume(_ count: Int) {
        if capture != nil { capture!.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])) }
        start += count
        offset += Int64(count)
    }

    func byte() throws -> UInt8 {
        if start == end { try fill() }
        let value = buffer[start]
        consume(1)
        return value
    }

    func bytes(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var left = count
        while left > 0 {
            if start == end { try fill() }
            let take = min(left, end - start)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<start + take]))
            consume(take)
            left -= take
        }
        return out
    }

    func skip(_ count: Int) throws {
        var left = count
        while left > 0 {
            if start == end { try fill() }
            let take = min(left, end - start)
            consume(take)
            left -= take
        }
    }

    /// Little-endian unsigned integer of `count` bytes.
    func littleEndian(_ count: Int) throws -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(try byte()) << (8 * UInt64(index)) }
        return value
    }

    /// Whether the stream has nothing more.
    func atEnd() throws -> Bool {
        if start < end { return false }
        return try refill() == 0
    }
}

/// A malformed or unsupported RDB.
public struct RDBError: Error, CustomStringConvertible, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
