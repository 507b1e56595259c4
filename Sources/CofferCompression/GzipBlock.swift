import CZlib
import CofferSystem

/// One whole buffer as one gzip member of the `GzipMember` layout, and back:
/// the unit of a format v2 chunk, which `gunzip` reads alone or concatenated.
/// Single-threaded on purpose: chunks are compressed on all cores side by side.
public enum GzipBlock {
    /// The member holding `plain` (at most 1 GiB), deflated at `level` (0...9).
    public static func compress(_ plain: UnsafeRawBufferPointer, level: Int32) throws -> [UInt8] {
        guard plain.count <= 1 << 30, (0...9).contains(level), let compressor = DeflateCompressors(level: level, count: 1) else {
            throw CompressionError(operation: "deflate", code: Z_STREAM_ERROR, message: "cannot compress \(plain.count) bytes at level \(level)")
        }
        let bound = GzipMember.headerSize + compressor.bound(plain.count) + GzipMember.trailerSize
        var size = 0
        // Uninitialized: a fresh zeroed megabyte per chunk costs more than deflating it at level 1.
        let member = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            let slot = UnsafeMutableRawBufferPointer(buffer)
            size = Self.fill(slot, plain, compressor)
            initialized = size
        }
        guard size > 0 else { throw CompressionError(operation: "deflate", code: Z_BUF_ERROR, message: "a compressed block did not fit its buffer") }
        return member
    }

    /// Writes the member of `plain` into `slot` (its bound); its size, or 0 when it did not fit.
    private static func fill(_ slot: UnsafeMutableRawBufferPointer, _ plain: UnsafeRawBufferPointer, _ compressor: DeflateCompressors) -> Int {
        let body = UnsafeMutableRawBufferPointer(rebasing: slot[GzipMember.headerSize..<(slot.count - GzipMember.trailerSize)])
        let deflated = compressor.compress(0, plain, into: body)
        guard deflated > 0 else { return 0 }
        let size = GzipMember.headerSize + deflated + GzipMember.trailerSize
        GzipMember.writeHeader(UnsafeMutableRawBufferPointer(rebasing: slot[..<GzipMember.headerSize]), memberSize: size, plainSize: plain.count)
        GzipMember.writeTrailer(
            UnsafeMutableRawBufferPointer(rebasing: slot[(GzipMember.headerSize + deflated)..<size]), crc: GzipMember.crc32(plain), plainSize: plain.count)
        return size
    }

    /// The plaintext of one member of the `GzipMember` layout that holds
    /// exactly `plainBytes`; anything else (another layout, a second member,
    /// a wrong size or CRC-32) is refused.
    public static func decompress(_ member: UnsafeRawBufferPointer, plainBytes: Int) throws -> [UInt8] {
        func refuse(_ why: String) -> CompressionError { CompressionError(operation: "inflate", code: Z_DATA_ERROR, message: why) }
        guard let sizes = GzipMember.sizes(member) else { throw refuse("not a gzip member written by Coffer") }
        guard sizes.member == member.count, sizes.plain == plainBytes else {
            throw refuse("the member records \(sizes.member) bytes holding \(sizes.plain), not \(member.count) holding \(plainBytes)")
        }
        guard let decompressor = DeflateDecompressors(count: 1) else { throw refuse("cannot start decompression") }
        let body = UnsafeRawBufferPointer(rebasing: member[GzipMember.headerSize..<(member.count - GzipMember.trailerSize)])
        var ok = false
        // Uninitialized: the decompressor fills all of it, or the result is thrown away (and zeroed).
        let plain = [UInt8](unsafeUninitializedCapacity: plainBytes) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            ok = decompressor.decompress(0, body, into: out)
                && GzipMember.trailer(UnsafeRawBufferPointer(rebasing: member[(member.count - GzipMember.trailerSize)...]))
                    == (GzipMember.crc32(UnsafeRawBufferPointer(out)), UInt32(truncatingIfNeeded: plainBytes))
            if !ok { out.initializeMemory(as: UInt8.self, repeating: 0) }
            initialized = plainBytes
        }
        guard ok else { throw refuse("the compressed data is damaged (it does not inflate to its recorded size and CRC-32)") }
        return plain
    }
}
