import CofferSystem

/// Whole-file age encryption and decryption in constant memory, over files,
/// separate header/payload objects, or small in-memory values.
public enum AgeFile {
    /// Read size: large enough that system calls cost nothing next to the cipher.
    static let blockSize = 4 << 20

    // MARK: Encryption

    /// Encrypts everything `read` yields; the header goes to `header`, the payload to `payload`.
    /// Returns the number of plaintext bytes.
    @discardableResult
    public static func encrypt(
        read: ByteSource, recipients: [any AgeRecipient], header: ByteSink, payload: ByteSink
    ) throws -> Int64 {
        var encryptor = try AgeEncryptor(recipients: recipients)
        try encryptor.header.encoded.withUnsafeBytes { try header($0) }
        var total: Int64 = 0
        try forEachBlock(read: read, blockSize: blockSize) { block in
            total += Int64(block.count)
            try encryptor.update(block, output: payload)
        }
        try encryptor.finish(output: payload)
        return total
    }

    /// Encrypts everything `read` yields into one age file, optionally armored.
    @discardableResult
    public static func encrypt(
        read: ByteSource, recipients: [any AgeRecipient], armored: Bool = false, output: ByteSink
    ) throws -> Int64 {
        guard armored else { return try encrypt(read: read, recipients: recipients, header: output, payload: output) }
        var armor = AgeArmorEncoder()
        let total = try encrypt(
            read: read, recipients: recipients,
            header: { try armor.update($0, output: output) }, payload: { try armor.update($0, output: output) })
        try armor.finish(output: output)
        return total
    }

    /// Encrypts a small in-memory value.
    public static func encrypt(_ plaintext: [UInt8], recipients: [any AgeRecipient], armored: Bool = false) throws -> [UInt8] {
        var source = MemorySource(plaintext)
        var out: [UInt8] = []
        try encrypt(read: { source.read(into: $0) }, recipients: recipients, armored: armored) { out += $0 }
        return out
    }

    // MARK: Decryption

    /// Decrypts one age file, binary or armored (`armored` nil: detected from
    /// its first bytes).
    /// Plaintext goes to `output` only after each chunk authenticated; a failure
    /// can still come after some output, so write to a temporary file and keep
    /// it only on success. Returns the number of plaintext bytes.
    @discardableResult
    public static func decrypt(
        read: ByteSource, identities: [any AgeIdentity], armored: Bool? = nil, output: ByteSink
    ) throws -> Int64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { buffer.deallocate() }
        var count = try readAtLeast(64, read: read, into: buffer)
        let armored = armored ?? AgeArmor.looksArmored(UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
        var armor = AgeArmorDecoder()

        // Phase 1: collect bytes until the header is complete.
        var headerBytes: [UInt8] = []
        var parsed: (AgeHeader, Int)? = nil
        while parsed == nil {
            if count == 0 {
                if armored { try armor.finish { headerBytes += $0 } }
                parsed = try AgeHeader.parsePrefix(headerBytes)
                if parsed == nil {
                    throw AgeError(.header, headerBytes.isEmpty ? "the input is empty, not an age file" : "the file ends inside the header (truncated)")
                }
                break
            }
            let block = UnsafeRawBufferPointer(rebasing: buffer.prefix(count))
            if armored { try armor.update(block) { headerBytes += $0 } } else { headerBytes += block }
            parsed = try AgeHeader.parsePrefix(headerBytes)
            if parsed == nil { count = try read(buffer) }
        }
        guard let (header, consumed) = parsed else { throw AgeError(.header, "truncated header") }

        // Phase 2: the payload.
        var decryptor = try AgeDecryptor(header: header, identities: identities)
        try headerBytes[consumed...].withUnsafeBytes { try decryptor.update($0, output: output) }
        if count > 0 {
            try forEachBlock(read: read, blockSize: blockSize) { block in
                if armored {
                    try armor.update(block) { try decryptor.update($0, output: output) }
                } else {
                    try decryptor.update(block, output: output)
                }
            }
            if armored { try armor.finish { try decryptor.update($0, output: output) } }
        }
        try decryptor.finish(output: output)
        return decryptor.plaintextCount
    }

    /// Decrypts a payload stored apart from its header.
    @discardableResult
    public static func decrypt(
        header headerBytes: [UInt8], payload read: ByteSource, identities: [any AgeIdentity], output: ByteSink
    ) throws -> Int64 {
        let header = try AgeHeader(parsing: headerBytes)
        var decryptor = try AgeDecryptor(header: header, identities: identities)
        try forEachBlock(read: read, blockSize: blockSize) { try decryptor.update($0, output: output) }
        try decryptor.finish(output: output)
        return decryptor.plaintextCount
    }

    /// Decrypts a small in-memory age file.
    public static func decrypt(_ file: [UInt8], identities: [any AgeIdentity], armored: Bool? = nil) throws -> [UInt8] {
        var source = MemorySource(file)
        var out: [UInt8] = []
        try decrypt(read: { source.read(into: $0) }, identities: identities, armored: armored) { out += $0 }
        return out
    }

    private static func readAtLeast(_ minimum: Int, read: ByteSource, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < minimum {
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}

/// A `ByteSource` over an array, for small values.
struct MemorySource {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, bytes.count - position)
        if count > 0 {
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: count)
            }
        }
        position += count
        return count
    }
}
