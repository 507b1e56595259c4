import Dispatch

/// Seals or opens many full, non-final STREAM chunks at once on all cores.
///
/// Each chunk has its own nonce (its counter), so chunks are independent; the
/// per-byte work stays in libsodium, this only hands out the chunks.
struct ParallelChunks: @unchecked Sendable {
    // @unchecked Sendable: the worker closures read `key` and `inputs` only, and
    // each writes only its own disjoint slice of `output` and `results`; the
    // buffers outlive `concurrentPerform`, which returns after every worker is done.
    let key: UnsafeRawBufferPointer
    /// One buffer per chunk, in order.
    let inputs: [UnsafeRawBufferPointer]
    let output: UnsafeMutableRawBufferPointer
    let firstCounter: UInt64

    /// Seals each input (a full plaintext chunk) into consecutive sealed slots of `output`.
    func seal() {
        run(inputs.count) { index in
            withChunkNonce(index) { nonce in
                ChaCha20Poly1305.seal(
                    keyBytes: key, nonce: nonce, plaintext: inputs[index],
                    into: mutableSlice(output, index, AgePayload.sealedChunkSize))
            }
        }
    }

    /// Opens each input (a full sealed chunk) into consecutive plaintext slots of
    /// `output`; returns how many leading chunks authenticated (all: `inputs.count`).
    func open() -> Int {
        let count = inputs.count
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { results.deallocate() }
        let resultsBase = UnsafeSendablePointer(results.baseAddress!)
        run(count) { index in
            let ok = withChunkNonce(index) { nonce in
                ChaCha20Poly1305.open(
                    keyBytes: key, nonce: nonce, ciphertext: inputs[index],
                    into: mutableSlice(output, index, AgePayload.chunkSize))
            }
            (resultsBase.pointer + index).initialize(to: ok)
        }
        return results.firstIndex(of: false) ?? count
    }

    private func run(_ count: Int, _ body: @Sendable (Int) -> Void) {
        if count < 2 {
            for index in 0..<count { body(index) }
        } else {
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }

    private func withChunkNonce<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: ChaCha20Poly1305.nonceCount) { nonce in
            AgePayload.writeChunkNonce(firstCounter + UInt64(index), final: false, into: UnsafeMutableRawBufferPointer(nonce))
            return body(UnsafeRawBufferPointer(nonce))
        }
    }

    private func mutableSlice(_ buffer: UnsafeMutableRawBufferPointer, _ index: Int, _ size: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: buffer[(index * size)..<((index + 1) * size)])
    }
}

/// A pointer handed to worker threads that write disjoint elements.
private struct UnsafeSendablePointer<T>: @unchecked Sendable {
    // @unchecked Sendable: used only by `ParallelChunks.open`, where each worker writes its own index.
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
