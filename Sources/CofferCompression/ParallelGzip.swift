import CZlib
import CofferSystem
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streaming gzip compression on all cores: input is cut into blocks of
/// `blockSize`, each block is deflated independently (libdeflate) and written
/// as one complete gzip member that records its sizes (`GzipMember`), in
/// order, so `gunzip` and `Inflater(.gzip)` read the concatenation as one
/// stream and `ParallelGunzip` inflates it on all cores. Memory is fixed: a
/// batch of blocks in, their members out.
public struct ParallelGzip: ~Copyable {
    private let blockSize: Int
    private let slots: Int
    private let compressors: DeflateCompressors
    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private let outputSlotSize: Int
    /// Each block's member size (0: it did not fit) from the last batch.
    private let produced: UnsafeMutableBufferPointer<Int>
    private var buffered = 0
    private var wroteAnything = false
    /// Input bytes consumed so far (for progress and the manifest's plain size).
    public private(set) var inputCount: Int64 = 0
    /// Compressed bytes produced so far (members already handed to the sink).
    public private(set) var outputCount: Int64 = 0

    /// The number of online processors.
    public static var onlineProcessors: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The default number of workers: every core, but at most 8, so that the
    /// batch (about 4.2 MiB per worker) keeps a snapshot well inside its memory budget.
    public static var defaultWorkers: Int { min(onlineProcessors, 8) }

    /// `level` is gzip's 0...9 (6 is `gzip -6`; others are refused with an error);
    /// `workers` compress at once (each holds two blocks in flight, so a batch
    /// is `2 * workers` blocks and memory is about `workers * 4 * blockSize`,
    /// whatever the input size). `blockSize` is at most 1 GiB so that the
    /// member's 32-bit sizes hold a block and its member.
    public init(level: Int32 = 6, blockSize: Int = 1 << 20, workers: Int = ParallelGzip.defaultWorkers) throws {
        precondition(blockSize > 0 && blockSize <= 1 << 30, "blockSize must be 1 byte to 1 GiB")
        self.blockSize = blockSize
        slots = max(1, workers) * 2
        guard (0...9).contains(level), let compressors = DeflateCompressors(level: level, count: slots) else {
            let message = (0...9).contains(level) ? "cannot start compression" : "invalid compression level \(level)"
            throw CompressionError(operation: "deflateInit", code: Z_STREAM_ERROR, message: message)
        }
        self.compressors = compressors
        outputSlotSize = GzipMember.headerSize + compressors.bound(blockSize) + GzipMember.trailerSize
        input = .allocate(byteCount: slots * blockSize, alignment: 64)
        output = .allocate(byteCount: slots * outputSlotSize, alignment: 64)
        produced = .allocate(capacity: slots)
        produced.initialize(repeating: 0)
    }

    /// Compresses more input; complete members go to `output` in order.
    public mutating func update(_ bytes: UnsafeRawBufferPointer, output sink: ByteSink) throws {
        var rest = bytes
        while !rest.isEmpty {
            let take = min(rest.count, input.count - buffered)
            (input.baseAddress! + buffered).copyMemory(from: rest.baseAddress!, byteCount: take)
            buffered += take
            inputCount += Int64(take)
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if buffered == input.count { try compressBuffered(sink) }
        }
    }

    /// Compresses what is buffered and ends the stream; an empty input still
    /// yields one valid (empty) member.
    public mutating func finish(output sink: ByteSink) throws {
        if buffered > 0 || !wroteAnything { try compressBuffered(sink) }
    }

    /// Deflates the buffered blocks on all cores, then emits their members in order.
    private mutating func compressBuffered(_ sink: ByteSink) throws {
        let blocks = max(1, (buffered + blockSize - 1) / blockSize)
        let job = DeflateJob(
            compressors: compressors, input: UnsafeRawBufferPointer(input), inputCount: buffered, blockSize: blockSize,
            output: output, outputSlotSize: outputSlotSize)
        let results = ProducedSizes(produced)
        if blocks == 1 {
            results.set(0, job.deflateBlock(0))
        } else {
            DispatchQueue.concurrentPerform(iterations: blocks) { index in results.set(index, job.deflateBlock(index)) }
        }
        for index in 0..<blocks {
            let size = produced[index]
            guard size > 0 else {
                throw CompressionError(operation: "deflate", code: Z_BUF_ERROR, message: "a compressed block did not fit its buffer")
            }
            try sink(UnsafeRawBufferPointer(rebasing: output[(index * outputSlotSize)..<(index * outputSlotSize + size)]))
            outputCount += Int64(size)
        }
        buffered = 0
        wroteAnything = true
    }

    deinit {
        input.initializeMemory(as: UInt8.self, repeating: 0)  // it held plaintext
        input.deallocate()
        output.deallocate()
        produced.deallocate()
    }
}

/// One batch of blocks to deflate, shared by the workers.
private struct DeflateJob: @unchecked Sendable {
    // @unchecked Sendable: worker `index` uses only compressor `index`, reads its own
    // block of `input` and writes its own slot of `output`; the buffers outlive
    // `concurrentPerform`, which returns only when every worker is done.
    let compressors: DeflateCompressors
    let input: UnsafeRawBufferPointer
    let inputCount: Int
    let blockSize: Int
    let output: UnsafeMutableRawBufferPointer
    let outputSlotSize: Int

    /// Deflates block `index` into a complete gzip member; returns its size, or 0 when it did not fit.
    func deflateBlock(_ index: Int) -> Int {
        let start = index * blockSize
        let count = max(0, min(blockSize, inputCount - start))
        let plain = UnsafeRawBufferPointer(rebasing: input[start..<(start + count)])
        let slot = UnsafeMutableRawBufferPointer(rebasing: output[(index * outputSlotSize)..<((index + 1) * outputSlotSize)])
        let body = UnsafeMutableRawBufferPointer(rebasing: slot[GzipMember.headerSize..<(slot.count - GzipMember.trailerSize)])
        let deflated = compressors.compress(index, plain, into: body)
        guard deflated > 0 else { return 0 }
        let size = GzipMember.headerSize + deflated + GzipMember.trailerSize
        GzipMember.writeHeader(UnsafeMutableRawBufferPointer(rebasing: slot[..<GzipMember.headerSize]), memberSize: size, plainSize: count)
        GzipMember.writeTrailer(
            UnsafeMutableRawBufferPointer(rebasing: slot[(GzipMember.headerSize + deflated)..<size]), crc: GzipMember.crc32(plain), plainSize: count)
        return size
    }
}

/// Per-block results written by the workers, each to its own index.
private struct ProducedSizes: @unchecked Sendable {
    // @unchecked Sendable: every worker writes only `sizes[index]` for its own index.
    let sizes: UnsafeMutableBufferPointer<Int>
    init(_ sizes: UnsafeMutableBufferPointer<Int>) { self.sizes = sizes }
    func set(_ index: Int, _ value: Int) { sizes[index] = value }
}
