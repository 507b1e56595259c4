import CSodium

/// Secret bytes in memory that libsodium guards: allocated with `sodium_malloc`
/// (guard pages, locked so it is never swapped out), wiped and freed when the
/// owner lets go of it.
///
/// It cannot be copied, so a secret has exactly one home. Its bytes are lent
/// only through `withUnsafeBytes`; equality is constant-time.
public struct SecureBytes: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the buffer is owned by this one non-copyable value;
    // mutation needs `inout` access, which the compiler makes exclusive.
    private let pointer: UnsafeMutableRawPointer
    /// Number of bytes.
    public let count: Int

    /// `count` zero bytes.
    public init(zeroed count: Int) {
        _ = Sodium.ready
        guard let memory = sodium_malloc(max(count, 1)) else {
            fatalError("sodium_malloc(\(count)) failed: out of memory")
        }
        sodium_memzero(memory, max(count, 1))
        pointer = memory
        self.count = count
    }

    /// `count` bytes from the system's secure random generator.
    public init(randomCount count: Int) {
        self.init(zeroed: count)
        randombytes_buf(pointer, count)
    }

    /// A copy of `bytes`. The caller remains responsible for wiping its own copy.
    public init(copying bytes: UnsafeRawBufferPointer) {
        self.init(zeroed: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 { pointer.copyMemory(from: base, byteCount: bytes.count) }
    }

    /// Takes over the bytes of `array` and wipes the array, for secrets that
    /// arrived through a parser that could only produce an array.
    public init(wiping array: inout [UInt8]) {
        self.init(zeroed: array.count)
        array.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress, buffer.count > 0 {
                pointer.copyMemory(from: base, byteCount: buffer.count)
                sodium_memzero(base, buffer.count)
            }
        }
        array.removeAll()
    }

    /// Lends the bytes for reading.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Lends the bytes for writing.
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// A new secret holding `range` of this one.
    public func slice(_ range: Range<Int>) -> SecureBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return SecureBytes(copying: UnsafeRawBufferPointer(start: pointer + range.lowerBound, count: range.count))
    }

    /// A second, independent copy (for the rare case where two owners need the same secret).
    public func duplicate() -> SecureBytes {
        SecureBytes(copying: UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Constant-time comparison.
    public func constantTimeEquals(_ other: borrowing SecureBytes) -> Bool {
        other.withUnsafeBytes { theirs in constantTimeEquals(theirs) }
    }

    /// Constant-time comparison with public bytes (such as a checksum).
    public func constantTimeEquals(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == count else { return false }
        guard let base = bytes.baseAddress, count > 0 else { return true }
        return sodium_memcmp(pointer, base, count) == 0
    }

    /// True when every byte is zero, in constant time.
    public var isAllZero: Bool {
        sodium_is_zero(pointer.assumingMemoryBound(to: UInt8.self), count) == 1
    }

    deinit {
        sodium_memzero(pointer, max(count, 1))
        sodium_free(pointer)
    }
}

/// Wipes a buffer that held secret material, in a way the optimiser cannot remove.
public func secureWipe(_ buffer: UnsafeMutableRawBufferPointer) {
    if let base = buffer.baseAddress, buffer.count > 0 { sodium_memzero(base, buffer.count) }
}

/// Wipes and empties an array that held secret material.
public func secureWipe(_ array: inout [UInt8]) {
    array.withUnsafeMutableBytes { secureWipe($0) }
    array.removeAll()
}
