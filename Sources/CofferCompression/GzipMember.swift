import CLibdeflate

/// The layout of the gzip members Coffer writes: RFC 1952 with one extra field
/// (FEXTRA, subfield `Co`, 8 bytes) that records the member's own size and its
/// uncompressed size, as BGZF does. A reader can then cut the stream into
/// members without inflating and inflate them on all cores; `gunzip` skips
/// the field and reads the concatenation as one stream.
///
///     1f 8b 08 04 | mtime 0 | xfl 0 | os 3 | xlen 12 | 'C' 'o' 8 0 | member size | plain size
///     raw DEFLATE data
///     CRC-32 | plain size            (all little-endian 32-bit)
enum GzipMember {
    static let headerSize = 24
    static let trailerSize = 8
    private static let fixed: [UInt8] = [0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 12, 0, 0x43, 0x6f, 8, 0]

    /// Writes the header of a member of `memberSize` bytes holding `plainSize` bytes.
    static func writeHeader(_ header: UnsafeMutableRawBufferPointer, memberSize: Int, plainSize: Int) {
        for (index, byte) in fixed.enumerated() { header[index] = byte }
        storeLittleEndian(UInt32(memberSize), header, at: 16)
        storeLittleEndian(UInt32(plainSize), header, at: 20)
    }

    /// Writes the trailer: the CRC-32 and size of the plaintext.
    static func writeTrailer(_ trailer: UnsafeMutableRawBufferPointer, crc: UInt32, plainSize: Int) {
        storeLittleEndian(crc, trailer, at: 0)
        storeLittleEndian(UInt32(truncatingIfNeeded: plainSize), trailer, at: 4)
    }

    /// The sizes a member header records; nil when `bytes` (at least `headerSize`
    /// of them) do not start a member of this layout (any other gzip member).
    static func sizes(_ bytes: UnsafeRawBufferPointer) -> (member: Int, plain: Int)? {
        guard bytes.count >= headerSize else { return nil }
        for index in [0, 1, 2, 3, 10, 11, 12, 13, 14, 15] where bytes[index] != fixed[index] { return nil }
        let member = Int(loadLittleEndian(bytes, at: 16)), plain = Int(loadLittleEndian(bytes, at: 20))
        guard member >= headerSize + trailerSize else { return nil }
        return (member, plain)
    }

    /// The CRC-32 and size a trailer records.
    static func trailer(_ bytes: UnsafeRawBufferPointer) -> (crc: UInt32, plainSize: UInt32) {
        (loadLittleEndian(bytes, at: 0), loadLittleEndian(bytes, at: 4))
    }

    /// CRC-32 of `bytes` (libdeflate's, the same polynomial as gzip's).
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        libdeflate_crc32(0, bytes.baseAddress, bytes.count)
    }

    private static func storeLittleEndian(_ value: UInt32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        for index in 0..<4 { buffer[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    private static func loadLittleEndian(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(buffer[offset + $1]) << (8 * $1) }
    }
}
