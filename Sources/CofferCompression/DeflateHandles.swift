import CLibdeflate

/// Allocates `count` libdeflate handles with `make`; on failure frees those made so far and returns nil.
private func allocateHandles(_ count: Int, _ make: () -> OpaquePointer?, free: (OpaquePointer) -> Void) -> [OpaquePointer]? {
    var handles: [OpaquePointer] = []
    for _ in 0..<count {
        guard let handle = make() else {
            handles.forEach(free)
            return nil
        }
        handles.append(handle)
    }
    return handles
}

/// libdeflate compressors, one per worker slot: a compressor holds its own
/// state, so worker `index` uses only `handles[index]`. Freed in `deinit`.
final class DeflateCompressors: @unchecked Sendable {
    // @unchecked Sendable: the handles are created here and freed in deinit; between, each is used by one worker at a time.
    private let handles: [OpaquePointer]

    /// nil when libdeflate refuses the level or has no memory.
    init?(level: Int32, count: Int) {
        guard let handles = allocateHandles(count, { libdeflate_alloc_compressor(level) }, free: libdeflate_free_compressor) else { return nil }
        self.handles = handles
    }

    /// The most raw DEFLATE bytes `inputCount` bytes can become.
    func bound(_ inputCount: Int) -> Int { libdeflate_deflate_compress_bound(handles[0], inputCount) }

    /// Raw DEFLATE of `input` into `output` with compressor `index`; the size, or 0 when it does not fit.
    func compress(_ index: Int, _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        libdeflate_deflate_compress(handles[index], input.baseAddress, input.count, output.baseAddress, output.count)
    }

    deinit { handles.forEach(libdeflate_free_compressor) }
}

/// libdeflate decompressors, one per worker slot, as `DeflateCompressors`.
final class DeflateDecompressors: @unchecked Sendable {
    // @unchecked Sendable: as DeflateCompressors.
    private let handles: [OpaquePointer]

    /// How many workers can inflate at once.
    var count: Int { handles.count }

    init?(count: Int) {
        guard let handles = allocateHandles(count, { libdeflate_alloc_decompressor() }, free: libdeflate_free_decompressor) else { return nil }
        self.handles = handles
    }

    /// Inflates raw DEFLATE `input` into exactly `output`: true only when the
    /// data is valid, uses all of `input` and fills all of `output`.
    func decompress(_ index: Int, _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        var consumed = 0, produced = 0
        let result = libdeflate_deflate_decompress_ex(
            handles[index], input.baseAddress, input.count, output.baseAddress, output.count, &consumed, &produced)
        return result == LIBDEFLATE_SUCCESS && consumed == input.count && produced == output.count
    }

    deinit { handles.forEach(libdeflate_free_decompressor) }
}
