import CofferCompression
import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem

/// Writes the chunks of one format v2 snapshot: every artifact's plaintext is
/// cut by `ContentChunker`, each chunk named by its keyed id, and only chunks
/// the repository does not hold are compressed, encrypted (all cores, a batch
/// of chunks at a time) and uploaded under `chunks/ENV/`. Shared by the
/// sources of one snapshot, so a chunk two sources hold is written once.
/// Nothing it writes is part of the repository until a manifest names it; a
/// killed snapshot leaves orphans that prune collects after a day.
final class ChunkWriter {
    private let storage: any Storage
    private let environment: String
    private let recipients: [AgeX25519Recipient]
    private let key: ChunkKey
    private let index: ChunkIndex
    /// Chunks written by this run.
    private var written: [String: ChunkReference] = [:]
    /// Chunks this run references that earlier bundles wrote.
    private var reused: [String: ChunkReference] = [:]
    private let batchSize = 2 * ParallelGzip.defaultWorkers

    /// What the run stored and what it found stored already.
    private(set) var newChunks = 0
    private(set) var newBytes: Int64 = 0
    private(set) var reusedChunks = 0
    private(set) var reusedPlainBytes: Int64 = 0

    init(storage: any Storage, environment: String, recipients: [AgeX25519Recipient], key: ChunkKey, index: ChunkIndex) {
        self.storage = storage
        self.environment = environment
        self.recipients = recipients
        self.key = key
        self.index = index
    }

    /// Chunks and stores what `produce` pushes into its sink; returns the
    /// plaintext size and the chunks in order.
    func seal(level: Int32, produce: (ByteSink) throws -> Void) throws -> (plainBytes: Int64, chunks: [ChunkReference]) {
        var chunker = ContentChunker(key: key)
        var order: [String] = []
        var batch: [(id: String, bytes: [UInt8])] = []
        // Chunks being sealed and uploaded (one batch, while the next is read) or waiting in `batch`.
        var pending: Set<String> = []
        var inFlight: Prefetch<[ChunkReference]>?
        var plainBytes: Int64 = 0
        func land() throws {
            guard let running = inFlight else { return }
            inFlight = nil
            for reference in try running.value() {
                written[reference.id] = reference
                pending.remove(reference.id)
                newChunks += 1
                newBytes += reference.storedBytes
            }
        }
        func take(_ chunk: UnsafeRawBufferPointer) throws {
            let id = key.chunkID(chunk)
            order.append(id)
            if written[id] != nil || reused[id] != nil || pending.contains(id) { return }
            if let known = index.reusable(id, environment: environment) {
                reusedChunks += 1
                reusedPlainBytes += Int64(chunk.count)
                reused[id] = known
                return
            }
            pending.insert(id)
            batch.append((id, Array(chunk)))
            if batch.count >= batchSize {
                try land()
                inFlight = store(batch, level: level)
                batch = []
            }
        }
        do {
            try produce { bytes in
                plainBytes += Int64(bytes.count)
                try chunker.update(bytes, emit: take)
            }
            try chunker.finish(emit: take)
            try land()
            if !batch.isEmpty { inFlight = store(batch, level: level) }
            try land()
        } catch {
            _ = try? inFlight?.value()  // never leave a batch running past the return
            throw error
        }
        let chunks = try order.map { id in
            guard let chunk = written[id] ?? index.reusable(id, environment: environment) else {
                throw CofferError(.failure, "chunk \(id.prefix(12)) was neither written nor found; the snapshot stops")
            }
            return chunk
        }
        return (plainBytes, chunks)
    }

    /// Seals and uploads a batch on all cores, payload first, then header, in
    /// the background: the source goes on being read and cut meanwhile.
    private func store(_ batch: [(id: String, bytes: [UInt8])], level: Int32) -> Prefetch<[ChunkReference]> {
        let (storage, environment, recipients) = (self.storage, self.environment, self.recipients)
        return Prefetch {
            try parallelMap(batch.count) { index in
                let (id, bytes) = batch[index]
                let sealed = try bytes.withUnsafeBytes { try ChunkCodec.seal($0, level: level, recipients: recipients) }
                let reference = sealed.reference(id: id, plainBytes: bytes.count)
                try storage.writeUnsynced(reference.payloadKey(environment: environment), sealed.payload)
                try storage.writeUnsynced(reference.headerKey(environment: environment), sealed.header)
                return reference
            }
        }
    }

    /// Every chunk this run wrote made durable, and every chunk it reuses
    /// locked as long as a new one (S3 Object Lock), before the manifest that names them.
    func sync() throws {
        try storage.syncWrites()
        try storage.extendLocks(reused.values.flatMap { [$0.headerKey(environment: environment), $0.payloadKey(environment: environment)] }.sorted())
    }
}
