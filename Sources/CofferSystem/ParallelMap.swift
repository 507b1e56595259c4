import Dispatch
import Foundation

/// Runs `work` for each index on all cores and returns the results in index
/// order; the first error (by index) is rethrown once every call finished.
/// For per-item jobs that each take milliseconds (sealing, fetching or opening
/// one chunk), where the order of the results matters and memory is the batch.
public func parallelMap<T: Sendable>(_ count: Int, _ work: @Sendable (Int) throws -> T) throws -> [T] {
    let results = ResultSlots<T>(count)
    if count == 1 {
        results.set(0, Result { try work(0) })
    } else if count > 1 {
        DispatchQueue.concurrentPerform(iterations: count) { index in results.set(index, Result { try work(index) }) }
    }
    return try results.values()
}

/// One result per index, each set once by its own worker.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    private var slots: [Result<T, any Error>?]
    private let lock = NSLock()

    init(_ count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<T, any Error>) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    func values() throws -> [T] {
        try slots.map { try $0!.get() }
    }
}
