import Dispatch

/// Turns a producer that pushes bytes into a source that `consume` pulls
/// from: `produce` runs on another thread, handing over one block at a time,
/// so a reader that wants to pull (a parser) can work on a stream that is
/// pushed (decryption) while both run at once. An error on either side ends
/// both; the producer's error is thrown from the consumer's read. The handed
/// over block is wiped afterwards because it may have held plaintext.
public func withPulledStream<R>(_ produce: (ByteSink) throws -> Void, _ consume: (ByteSource) throws -> R) throws -> R {
    try withoutActuallyEscaping(produce) { produce in
        let handoff = Handoff(produce)
        handoff.start()
        defer { handoff.finish() }
        return try consume { try handoff.read(into: $0) }
    }
}

/// One block between a producer thread and the consumer.
private final class Handoff: @unchecked Sendable {
    // @unchecked Sendable: `block`, `producerError` and `ended` are written by the
    // producer only before it signals `filled`, and read by the consumer only
    // after waiting on it; `cancelled` is set by the consumer before it signals
    // `emptied`, and read by the producer after waiting on it.
    private var produce: ((ByteSink) throws -> Void)?
    private var block: [UInt8] = []
    private var offset = 0
    private var holding = false
    private var ended = false
    private var producerError: (any Error)?
    private var cancelled = false
    private let filled = DispatchSemaphore(value: 0)
    private let emptied = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    struct Cancelled: Error {}

    init(_ produce: @escaping (ByteSink) throws -> Void) {
        self.produce = produce
    }

    func start() {
        DispatchQueue.global(qos: .userInitiated).async {
            do {
                try self.produce? { chunk in
                    guard !chunk.isEmpty else { return }
                    self.block.removeAll(keepingCapacity: true)
                    self.block.append(contentsOf: chunk)
                    self.filled.signal()
                    self.emptied.wait()
                    if self.cancelled { throw Cancelled() }
                }
            } catch {
                self.producerError = error
            }
            self.ended = true
            self.filled.signal()
            self.exited.signal()
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !holding {
            filled.wait()
            if ended {
                filled.signal()  // later reads see the end too
                if let producerError, !(producerError is Cancelled) { throw producerError }
                return 0
            }
            holding = true
            offset = 0
        }
        let count = min(buffer.count, block.count - offset)
        block.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) }
        offset += count
        if offset == block.count {
            holding = false
            emptied.signal()
        }
        return count
    }

    /// Stops the producer if it is still going, waits for it, and wipes the block.
    func finish() {
        cancelled = true
        emptied.signal()
        exited.wait()
        produce = nil
        for index in block.indices { block[index] = 0 }
    }
}
