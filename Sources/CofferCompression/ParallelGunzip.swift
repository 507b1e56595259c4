import CZlib
import CofferSystem
import Dispatch

/// Streaming gunzip on all cores for what `ParallelGzip` writes: members that
/// record their sizes (`GzipMember`) are cut apart as they arrive and inflated
/// a batch at a time, each checked against its CRC-32 and size. From the first
/// member without recorded sizes on (any other gzip, such as Coffer's bundles
/// before the sizes were recorded), the rest streams through zlib on one core,
/// exactly as `Inflater(.gzip)` reads it. Memory is fixed.
public struct ParallelGunzip: ~Copyable {
    /// Compressed bytes a batch may hold, and plaintext bytes it may produce.
    private let inputCapacity: Int
    private let outputCapacity: Int
    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private let decompressors: DeflateDecompressors
    private var buffered = 0
    private var sawMember = false
    private var serial: Inflater
    private var inSerial = false

    /// `workers` inflate at once; a batch holds up to `inputCapacity` compressed
    /// and `outputCapacity` plaintext bytes (a member larger than either goes through zlib).
    public init(workers: Int = ParallelGzip.defaultWorkers, inputCapacity: Int = 4 << 20, outputCapacity: Int = 8 << 20) throws {
        let serial = try Inflater(.gzip)
        guard let decompressors = DeflateDecompressors(count: max(1, workers)) else {
            throw CompressionError(operation: "inflateInit", code: Z_MEM_ERROR, message: "cannot start decompression")
        }
        self.serial = serial
        self.decompressors = decompressors
        self.inputCapacity = inputCapacity
        self.outputCapacity = outputCapacity
        input = .allocate(byteCount: inputCapacity, alignment: 64)
        output = .allocate(byteCount: outputCapacity, alignment: 64)
    }

    /// Decompresses `bytes`; plaintext goes to `sink` in order.
    public mutating func update(_ bytes: UnsafeRawBufferPointer, sink: ByteSink) throws {
        var rest = bytes
        while !rest.isEmpty {
            if inSerial { return try serial.update(rest, sink: sink) }
            let take = min(rest.count, inputCapacity - buffered)
            (input.baseAddress! + buffered).copyMemory(from: rest.baseAddress!, byteCount: take)
            buffered += take
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if buffered == inputCapacity { try inflateBuffered(sink) }
        }
    }

    /// Inflates what is buffered and checks that the data ended with a whole member.
    public mutating func finish(sink: ByteSink) throws {
        while buffered > 0 && !inSerial {
            let before = buffered
            try inflateBuffered(sink)
            // No whole member of this layout left: zlib reads the rest, or says what is wrong with it.
            if buffered == before && !inSerial { try continueSerially(from: 0, sink) }
        }
        if inSerial { return try serial.finish(sink: sink) }
        if !sawMember { throw truncated }
    }

    private var truncated: CompressionError {
        CompressionError(operation: "inflate", code: Z_BUF_ERROR, message: "the compressed data is truncated")
    }

    /// Inflates the complete members at the start of the buffer on all cores and
    /// keeps the incomplete rest; switches to zlib at a member without sizes.
    private mutating func inflateBuffered(_ sink: ByteSink) throws {
        var members: [MemberSlot] = []
        var offset = 0, plainTotal = 0
        while buffered - offset >= GzipMember.headerSize {
            let here = UnsafeRawBufferPointer(rebasing: input[offset..<buffered])
            guard let sizes = GzipMember.sizes(here), sizes.member <= inputCapacity, sizes.plain <= outputCapacity else {
                try emit(members, sink)
                return try continueSerially(from: offset, sink)
            }
            guard sizes.member <= here.count, plainTotal + sizes.plain <= outputCapacity else { break }
            members.append(MemberSlot(start: offset, size: sizes.member, plainStart: plainTotal, plainSize: sizes.plain))
            offset += sizes.member
            plainTotal += sizes.plain
        }
        try emit(members, sink)
        // Keep the incomplete member for the next batch.
        if offset > 0 {
            (input.baseAddress!).copyMemory(from: input.baseAddress! + offset, byteCount: buffered - offset)
            buffered -= offset
        }
    }

    /// Inflates `members` at once and hands their plaintext on in order.
    private mutating func emit(_ members: [MemberSlot], _ sink: ByteSink) throws {
        guard !members.isEmpty else { return }
        sawMember = true
        let job = InflateJob(decompressors: decompressors, input: UnsafeRawBufferPointer(input), output: output, members: members)
        let failures = MemberFailures(count: members.count)
        let workers = decompressors.count
        if members.count == 1 || workers == 1 {
            for index in members.indices { failures.set(index, job.inflate(index, with: 0)) }
        } else {
            // Worker `w` inflates members w, w + workers, ...: each decompressor serves one thread.
            DispatchQueue.concurrentPerform(iterations: min(workers, members.count)) { worker in
                for index in stride(from: worker, to: members.count, by: workers) { failures.set(index, job.inflate(index, with: worker)) }
            }
        }
        for (index, member) in members.enumerated() {
            if let message = failures.message(index) { throw CompressionError(operation: "inflate", code: Z_DATA_ERROR, message: message) }
            try sink(UnsafeRawBufferPointer(rebasing: output[member.plainStart..<(member.plainStart + member.plainSize)]))
        }
    }

    /// Hands everything from `offset` on to zlib, which reads any gzip.
    private mutating func continueSerially(from offset: Int, _ sink: ByteSink) throws {
        inSerial = true
        sawMember = true
        let rest = UnsafeRawBufferPointer(rebasing: input[offset..<buffered])
        buffered = 0
        try serial.update(rest, sink: sink)
    }

    deinit {
        // Both held the artifact's plaintext, compressed or not.
        input.initializeMemory(as: UInt8.self, repeating: 0)
        output.initializeMemory(as: UInt8.self, repeating: 0)
        input.deallocate()
        output.deallocate()
    }
}

/// Where one member sits in the batch's input and output buffers.
private struct MemberSlot: Sendable {
    let start, size, plainStart, plainSize: Int
}

/// One batch of members to inflate, shared by the workers.
private struct InflateJob: @unchecked Sendable {
    // @unchecked Sendable: each member's input and output ranges are disjoint and
    // each worker inflates only its own members with its own decompressor; the
    // buffers outlive `concurrentPerform`, which returns when every worker is done.
    let decompressors: DeflateDecompressors
    let input: UnsafeRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    let members: [MemberSlot]

    /// Inflates member `index`; returns what is wrong with it, or nil.
    func inflate(_ index: Int, with worker: Int) -> String? {
        let member = members[index]
        let body = UnsafeRawBufferPointer(
            rebasing: input[(member.start + GzipMember.headerSize)..<(member.start + member.size - GzipMember.trailerSize)])
        let plain = UnsafeMutableRawBufferPointer(rebasing: output[member.plainStart..<(member.plainStart + member.plainSize)])
        guard decompressors.decompress(worker, body, into: plain) else { return "invalid compressed data in gzip member \(index + 1) of the batch" }
        let trailer = GzipMember.trailer(UnsafeRawBufferPointer(rebasing: input[(member.start + member.size - GzipMember.trailerSize)..<(member.start + member.size)]))
        guard trailer.crc == GzipMember.crc32(UnsafeRawBufferPointer(plain)), trailer.plainSize == UInt32(truncatingIfNeeded: member.plainSize) else {
            return "incorrect data check"
        }
        return nil
    }
}

/// Per-member results written by the workers, each to its own index.
private final class MemberFailures: @unchecked Sendable {
    // @unchecked Sendable: every worker writes only `messages[index]` for its own members, read after concurrentPerform returns.
    private let messages: UnsafeMutableBufferPointer<String?>
    init(count: Int) {
        messages = .allocate(capacity: count)
        messages.initialize(repeating: nil)
    }
    func set(_ index: Int, _ message: String?) { messages[index] = message }
    func message(_ index: Int) -> String? { messages[index] }
    deinit {
        _ = messages.deinitialize()
        messages.deallocate()
    }
}
