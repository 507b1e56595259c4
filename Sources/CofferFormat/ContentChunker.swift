import CChunkCut
import CofferCrypto

/// Cuts a stream into content-defined chunks (FastCDC, normalized): an edit
/// moves only the cut points near it, so the chunks before and after are the
/// same bytes as before and are stored once. Sizes: at least 256 KiB, about
/// 1 MiB on average, at most 4 MiB. The cut points come from the repository's
/// keyed gear table. Memory: one buffer of twice the largest chunk.
public struct ContentChunker: ~Copyable {
    public static let minimumSize = 256 << 10
    public static let normalSize = 1 << 20
    public static let maximumSize = 4 << 20
    /// 22 bits before the normal size, 18 after (log2(normal) +/- 2), in the
    /// hash's top bits, which depend on the last 64 bytes.
    private static let strictMask: UInt64 = ~0 << (64 - 22)
    private static let looseMask: UInt64 = ~0 << (64 - 18)

    private let key: ChunkKey
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    public init(key: ChunkKey) {
        self.key = key
        buffer = .allocate(byteCount: 2 * Self.maximumSize, alignment: 64)
    }

    /// Adds stream bytes; every complete chunk goes to `emit`, in order (the
    /// bytes are valid only during the call).
    public mutating func update(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var rest = bytes
        while !rest.isEmpty {
            if end == buffer.count {
                // Keep what is pending at the front; less than one maximum chunk.
                let pending = end - start
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending)
                (start, end) = (0, pending)
            }
            let take = min(rest.count, buffer.count - end)
            (buffer.baseAddress! + end).copyMemory(from: rest.baseAddress!, byteCount: take)
            end += take
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            while end - start >= Self.maximumSize { try cut(emit) }
        }
    }

    /// Ends the stream: what is left goes to `emit` as the last chunks.
    public mutating func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        while end > start { try cut(emit) }
    }

    private mutating func cut(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + start
        let length = key.withGearTable { gear in
            coffer_chunk_cut(
                base, end - start, gear, Self.minimumSize, Self.normalSize, Self.maximumSize, Self.strictMask, Self.looseMask)
        }
        try emit(UnsafeRawBufferPointer(start: base, count: length))
        start += length
    }

    deinit {
        buffer.initializeMemory(as: UInt8.self, repeating: 0)  // it held plaintext
        buffer.deallocate()
    }
}
