import CofferSystem

/// Buffered reads over a byte stream, feeding every consumed byte to the RDB
/// checksum and, while a value is being read, to a capture of its raw bytes.
final class RDBInput {
    private let source: ByteSource
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// Bytes consumed so far, for error messages.
    private(set) var offset: Int64 = 0
    var crc = CRC64()
    var checksumming = true
    /// Raw bytes of the value being read, when capturing.
    var capture: [UInt8]?

    init(source: @escaping ByteSource, bufferSize: Int = 1 << 20) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    private func fill() throws {
        start = 0
        end = try buffer.withUnsafeMutableBytes { try source($0) }
        if end == 0 { throw RDBError("the RDB ends early, at byte \(offset) (truncated?)") }
    }

    private func consume(_ count: Int) {
        buffer.withUnsafeBytes { all in
            let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + count])
            if checksumming { crc.update(slice) }
            if capture != nil { capture!.append(contentsOf: slice) }
        }
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
            out.append(contentsOf: buffer[start..<start + take])
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
        for (index, byte) in try bytes(count).enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        return value
    }

    /// Whether the stream has nothing more.
    func atEnd() throws -> Bool {
        if start < end { return false }
        start = 0
        end = try buffer.withUnsafeMutableBytes { try source($0) }
        return end == 0
    }
}

/// A malformed or unsupported RDB.
public struct RDBError: Error, CustomStringConvertible, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
