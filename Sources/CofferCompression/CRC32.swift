import CZlib

/// zlib's CRC-32 (the one gzip and S3's `x-amz-checksum-crc32` use): S3
/// refuses an Object Lock write without a checksum of its body, and this one
/// costs a fraction of SHA-256.
public enum CRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return UInt32(crc32_z(0, base.assumingMemoryBound(to: UInt8.self), bytes.count))
    }

    /// The checksum's four bytes, most significant first (as S3 encodes it).
    public static func bigEndianBytes(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let value = checksum(bytes)
        return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}
