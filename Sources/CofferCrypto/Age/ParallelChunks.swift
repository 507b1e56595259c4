import Dispatch

/// Seals or opens many full, non-final STREAM chunks at once on all cores.
///
/// Each chunk has its own nonce (its counter), so chunks are independent; the
/// per-byte work stays in libsodium, this only hands out the chunks.
struct ParallelChunks: @unchecked Sendable {
    // @unchecked Sendable: the worker closures read `key` and `input` only, and
    // each writes only its own disjoint slice of `output` and `results`; the
    // buffers outlive `concurrentPerform`, which returns after every worker is done.
    let key: UnsafeRawBufferPointer
    let input: UnsafeRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    let firstCounter: UInt64

    /// Seals `count` chunks of `AgePayload.chunkSize` bytes into sealed slots of `AgePayload.sealedChunkSize`.
    func seal(count: Int) {
        run(count) { index in
            withChunkNonce(index) { nonce in
                ChaCha20Poly1305.seal(
                    keyBytes: key, nonce: nonce, plaintext: slice(input, index, AgePayload.chunkSize),
                    into: mutableSlice(output, index, AgePayload.sealedChunkSize))
            }
        }
    }

    /// Opens `count` sealed chunks; returns how many leading chunks authenticated
    /// (`count` when all did). Plaintext slots are `AgePayload.chunkSize` bytes.
    func open(count: Int) -> Int {
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { results.deallocate() }
        let resultsBase = UnsafeSendablePointer(results.baseAddress!)
        run(count) { index in
            let ok = withChunkNonce(index) { nonce in
                ChaCha20Poly1305.open(
                    keyBytes: key, nonce: nonce, ciphertext: slice(input, index, AgePayload.sealedChunkSize),
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

    private func slice(_ buffer: UnsafeRawBufferPointer, _ index: Int, _ size: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[(index * size)..<((index + 1) * size)])
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
