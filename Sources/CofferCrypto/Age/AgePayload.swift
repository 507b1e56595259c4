import CofferSystem

/// Constants and key derivation shared by the payload encryptor and decryptor.
enum AgePayload {
    static let chunkSize = 64 * 1024
    static let nonceSize = 16
    static let sealedChunkSize = chunkSize + ChaCha20Poly1305.tagCount
    static let keyInfo = "payload"
    /// Chunks handled together on all cores (4 MiB of plaintext): fewer hand-offs
    /// between the threads than with 1 MiB, which kept a core idle a third of the time.
    static let batchChunks = 64

    static func deriveKey(fileKey: borrowing SecureBytes, nonce: [UInt8]) -> SecureBytes {
        HMACSHA256.deriveKey(inputKey: fileKey, salt: nonce, info: keyInfo)
    }

    /// The 12-byte chunk nonce: 11-byte big-endian counter, then 1 for the final chunk.
    static func writeChunkNonce(_ counter: UInt64, final: Bool, into nonce: UnsafeMutableRawBufferPointer) {
        for index in 0..<3 { nonce[index] = 0 }
        var value = counter
        for index in stride(from: 10, through: 3, by: -1) {
            nonce[index] = UInt8(truncatingIfNeeded: value)
            value >>= 8
        }
        nonce[11] = final ? 1 : 0
    }
}

/// Streams plaintext into an age payload (nonce, then 64 KiB ChaCha20-Poly1305
/// chunks), in constant memory. The first output is the 16-byte nonce.
///
/// A chunk is sealed only once it is known whether more data follows, so the
/// final chunk is marked correctly even when the input ends on a chunk boundary.
/// Runs of full chunks are sealed on all cores.
public struct AgePayloadEncryptor: ~Copyable {
    private let key: SecureBytes
    private let nonce: [UInt8]
    private var pending: UnsafeMutableRawBufferPointer
    private var sealed: UnsafeMutableRawBufferPointer
    private var pendingCount = 0
    private var counter: UInt64 = 0
    private var startedOutput = false
    private var finished = false

    init(fileKey: borrowing SecureBytes) {
        nonce = SecureRandom.bytes(AgePayload.nonceSize)
        key = AgePayload.deriveKey(fileKey: fileKey, nonce: nonce)
        pending = .allocate(byteCount: AgePayload.chunkSize, alignment: 16)
        sealed = .allocate(byteCount: AgePayload.batchChunks * AgePayload.sealedChunkSize, alignment: 16)
    }

    /// Encrypts `input`, passing encrypted chunks to `output` as they are ready.
    public mutating func update(_ input: UnsafeRawBufferPointer, output: ByteSink) throws {
        precondition(!finished, "update after finish")
        try emitNonceOnce(output)
        var rest = input
        while !rest.isEmpty {
            if pendingCount == AgePayload.chunkSize || (pendingCount == 0 && rest.count > AgePayload.chunkSize) {
                // Full chunks that more data follows are not the last: seal them together,
                // the buffered one (if full) first, the rest straight from the caller's buffer.
                var inputs: [UnsafeRawBufferPointer] = pendingCount == AgePayload.chunkSize ? [UnsafeRawBufferPointer(pending)] : []
                let fromRest = min((rest.count - 1) / AgePayload.chunkSize, AgePayload.batchChunks - inputs.count)
                for index in 0..<fromRest {
                    inputs.append(UnsafeRawBufferPointer(rebasing: rest[(index * AgePayload.chunkSize)..<((index + 1) * AgePayload.chunkSize)]))
                }
                try sealBatch(inputs, output: output)
                pendingCount = 0
                rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(fromRest * AgePayload.chunkSize))
                continue
            }
            let take = min(rest.count, AgePayload.chunkSize - pendingCount)
            (pending.baseAddress! + pendingCount).copyMemory(from: rest.baseAddress!, byteCount: take)
            pendingCount += take
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
        }
    }

    /// Seals the final chunk (empty only when the whole payload is empty).
    public mutating func finish(output: ByteSink) throws {
        precondition(!finished, "finish twice")
        try emitNonceOnce(output)
        try seal(UnsafeRawBufferPointer(rebasing: pending.prefix(pendingCount)), final: true, output: output)
        pendingCount = 0
        finished = true
    }

    private mutating func emitNonceOnce(_ output: ByteSink) throws {
        if startedOutput { return }
        startedOutput = true
        try nonce.withUnsafeBytes { try output($0) }
    }

    private mutating func seal(_ plaintext: UnsafeRawBufferPointer, final: Bool, output: ByteSink) throws {
        let sealedView = UnsafeMutableRawBufferPointer(rebasing: sealed.prefix(plaintext.count + ChaCha20Poly1305.tagCount))
        withUnsafeTemporaryAllocation(byteCount: ChaCha20Poly1305.nonceCount, alignment: 1) { chunkNonce in
            AgePayload.writeChunkNonce(counter, final: final, into: chunkNonce)
            ChaCha20Poly1305.seal(key: key, nonce: UnsafeRawBufferPointer(chunkNonce), plaintext: plaintext, into: sealedView)
        }
        counter += 1
        try output(UnsafeRawBufferPointer(sealedView))
    }

    private mutating func sealBatch(_ inputs: [UnsafeRawBufferPointer], output: ByteSink) throws {
        let outputView = UnsafeMutableRawBufferPointer(rebasing: sealed.prefix(inputs.count * AgePayload.sealedChunkSize))
        let first = counter
        key.withUnsafeBytes { keyBytes in
            ParallelChunks(key: keyBytes, inputs: inputs, output: outputView, firstCounter: first).seal()
        }
        counter += UInt64(inputs.count)
        try output(UnsafeRawBufferPointer(outputView))
    }

    deinit {
        secureWipe(pending)
        pending.deallocate()
        sealed.deallocate()
    }
}

/// Streams an age payload back into plaintext, in constant memory, checking
/// every chunk and the STREAM end rules: exactly one final chunk, at the end;
/// a final chunk empty only for an empty payload; nothing after it. Plaintext
/// is released only after its chunk authenticated.
public struct AgePayloadDecryptor: ~Copyable {
    private let fileKey: SecureBytes
    private var key = SecureBytes(zeroed: 32)
    private var hasKey = false
    private var nonce: [UInt8] = []
    private var pending: UnsafeMutableRawBufferPointer
    private var opened: UnsafeMutableRawBufferPointer
    /// How much of `opened` ever held plaintext: only that is wiped, so a small
    /// payload (a format 2 chunk) never touches, and faults in, the whole batch buffer.
    private var openedUsed = 0
    private var pendingCount = 0
    private var counter: UInt64 = 0
    private var finished = false

    /// Plaintext bytes produced so far.
    public private(set) var plaintextCount: Int64 = 0

    init(fileKey: consuming SecureBytes) {
        self.fileKey = fileKey
        pending = .allocate(byteCount: AgePayload.sealedChunkSize, alignment: 16)
        opened = .allocate(byteCount: AgePayload.batchChunks * AgePayload.chunkSize, alignment: 16)
    }

    /// Decrypts `input`, passing authenticated plaintext to `output`.
    public mutating func update(_ input: UnsafeRawBufferPointer, output: ByteSink) throws {
        var rest = input
        if !hasKey {
            let take = min(rest.count, AgePayload.nonceSize - nonce.count)
            nonce += rest.prefix(take)
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if nonce.count < AgePayload.nonceSize { return }
            key = AgePayload.deriveKey(fileKey: fileKey, nonce: nonce)
            hasKey = true
        }
        let size = AgePayload.sealedChunkSize
        while !rest.isEmpty {
            if pendingCount == size || (pendingCount == 0 && rest.count > size) {
                // Full chunks that more data follows must be non-final: open them together.
                var inputs: [UnsafeRawBufferPointer] = pendingCount == size ? [UnsafeRawBufferPointer(pending)] : []
                let fromRest = min((rest.count - 1) / size, AgePayload.batchChunks - inputs.count)
                for index in 0..<fromRest {
                    inputs.append(UnsafeRawBufferPointer(rebasing: rest[(index * size)..<((index + 1) * size)]))
                }
                try openBatch(inputs, output: output)
                pendingCount = 0
                rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(fromRest * size))
                continue
            }
            let take = min(rest.count, AgePayload.sealedChunkSize - pendingCount)
            (pending.baseAddress! + pendingCount).copyMemory(from: rest.baseAddress!, byteCount: take)
            pendingCount += take
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
        }
    }

    /// Checks and releases the final chunk. Throws when the payload was cut short.
    public mutating func finish(output: ByteSink) throws {
        precondition(!finished, "finish twice")
        finished = true
        guard hasKey else {
            throw AgeError(.header, "the payload ends before its 16-byte nonce (truncated file)")
        }
        if pendingCount == 0 {
            throw AgeError(.payload, "the payload has no chunks (truncated file)")
        }
        try open(UnsafeRawBufferPointer(rebasing: pending.prefix(pendingCount)), moreFollows: false, output: output)
    }

    /// Opens full chunks that are all followed by more data, on all cores.
    private mutating func openBatch(_ inputs: [UnsafeRawBufferPointer], output: ByteSink) throws {
        let count = inputs.count
        let plainView = UnsafeMutableRawBufferPointer(rebasing: opened.prefix(count * AgePayload.chunkSize))
        openedUsed = max(openedUsed, plainView.count)
        let first = counter
        let good = key.withUnsafeBytes { keyBytes in
            ParallelChunks(key: keyBytes, inputs: inputs, output: plainView, firstCounter: first).open()
        }
        if good > 0 {
            counter += UInt64(good)
            plaintextCount += Int64(good * AgePayload.chunkSize)
            try output(UnsafeRawBufferPointer(rebasing: plainView.prefix(good * AgePayload.chunkSize)))
        }
        if good < count {
            // Let the one-chunk path name the failure (corrupted, or data after a final chunk).
            try open(inputs[good], moreFollows: true, output: output)
        }
    }

    private mutating func open(_ chunk: UnsafeRawBufferPointer, moreFollows: Bool, output: ByteSink) throws {
        let index = counter
        guard chunk.count >= ChaCha20Poly1305.tagCount else {
            throw AgeError(.payload, "chunk \(index) is shorter than its authentication tag (truncated file)")
        }
        let plain = UnsafeMutableRawBufferPointer(rebasing: opened.prefix(chunk.count - ChaCha20Poly1305.tagCount))
        openedUsed = max(openedUsed, plain.count)
        let asNonFinal = Self.tryOpen(key: key, counter: index, chunk, final: false, into: plain)
        if moreFollows {
            if !asNonFinal {
                if Self.tryOpen(key: key, counter: index, chunk, final: true, into: plain) {
                    throw AgeError(.payload, "data follows the final chunk (trailing garbage or two files joined)")
                }
                throw AgeError(.payload, "chunk \(index) failed authentication: the payload is corrupted")
            }
        } else if !Self.tryOpen(key: key, counter: index, chunk, final: true, into: plain) {
            if asNonFinal {
                throw AgeError(.payload, "the payload ends without its final chunk (truncated file)")
            }
            throw AgeError(.payload, "chunk \(index) failed authentication: the payload is corrupted or truncated")
        } else if plain.isEmpty && index > 0 {
            throw AgeError(.payload, "the final chunk is empty, which only an empty payload may have")
        }
        counter += 1
        plaintextCount += Int64(plain.count)
        try output(UnsafeRawBufferPointer(plain))
    }

    private static func tryOpen(
        key: borrowing SecureBytes, counter: UInt64, _ chunk: UnsafeRawBufferPointer, final: Bool,
        into plain: UnsafeMutableRawBufferPointer
    ) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: ChaCha20Poly1305.nonceCount, alignment: 1) { chunkNonce in
            AgePayload.writeChunkNonce(counter, final: final, into: chunkNonce)
            return ChaCha20Poly1305.open(key: key, nonce: UnsafeRawBufferPointer(chunkNonce), ciphertext: chunk, into: plain)
        }
    }

    deinit {
        secureWipe(UnsafeMutableRawBufferPointer(rebasing: opened.prefix(openedUsed)))
        opened.deallocate()
        pending.deallocate()
    }
}
