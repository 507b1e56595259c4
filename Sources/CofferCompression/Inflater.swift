import CZlib

/// A zlib failure, with zlib's own message.
public struct CompressionError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    public let message: String

    public var description: String { "\(operation): \(message) (zlib \(code))" }
}

/// Streaming decompression of zlib or gzip data (every gzip member, as `gunzip` does).
///
/// Owns its `z_stream` (at a fixed address, as zlib requires) and ends it in `deinit`.
public struct Inflater: ~Copyable {
    /// Which wrapper the compressed data has.
    public enum Format: Sendable {
        case zlib, gzip

        var windowBits: Int32 {
            switch self {
            case .zlib: return 15
            case .gzip: return 15 + 16
            }
        }
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let format: Format
    private var output: UnsafeMutableRawBufferPointer
    private var atMemberEnd = false

    public init(_ format: Format) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        self.format = format
        output = .allocate(byteCount: 256 * 1024, alignment: 16)
        let status = CZlib_inflateInit2(stream, format.windowBits)
        if status != Z_OK {
            stream.deallocate()
            output.deallocate()
            throw CompressionError(operation: "inflateInit", code: status, message: "cannot start decompression")
        }
    }

    /// Decompresses `input`, sending what comes out to `sink`.
    public mutating func update(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !input.isEmpty else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        while stream.pointee.avail_in > 0 {
            if atMemberEnd {
                // A further gzip member follows (parallel gzip writes several).
                guard format == .gzip else {
                    throw CompressionError(operation: "inflate", code: Z_DATA_ERROR, message: "data after the end of the stream")
                }
                inflateReset(stream)
                atMemberEnd = false
            }
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(output.count)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(rebasing: output.prefix(produced))) }
            switch status {
            case Z_OK, Z_BUF_ERROR: continue
            case Z_STREAM_END: atMemberEnd = true
            default: throw error("inflate", status)
            }
        }
    }

    /// Checks that the data ended at the end of a stream (not truncated).
    public mutating func finish(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while !atMemberEnd {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(output.count)
            let status = inflate(stream, Z_FINISH)
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(rebasing: output.prefix(produced))) }
            if status == Z_STREAM_END { atMemberEnd = true; break }
            if produced == 0 {
                throw CompressionError(operation: "inflate", code: status, message: "the compressed data is truncated")
            }
        }
    }

    private func error(_ operation: String, _ status: Int32) -> CompressionError {
        let message = stream.pointee.msg.map { String(cString: $0) } ?? "corrupted compressed data"
        return CompressionError(operation: operation, code: status, message: message)
    }

    /// Decompresses a small buffer in one call.
    public static func decompress(_ data: [UInt8], format: Format) throws -> [UInt8] {
        var inflater = try Inflater(format)
        var out: [UInt8] = []
        try data.withUnsafeBytes { try inflater.update($0) { out += $0 } }
        try inflater.finish { out += $0 }
        return out
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }
}
