import Dispatch

/// A value computed on another thread, started at once and collected later
/// with `value()` (which waits for it, and rethrows its error): how a reader
/// opens the next batch of chunks while it writes the last one.
public final class Prefetch<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `result` is written once by the worker before `done`
    // is signalled, and read only after waiting on it.
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)
    private var collected = false

    public init(_ work: @escaping @Sendable () throws -> T) {
        DispatchQueue.global().async {
            self.result = Result { try work() }
            self.done.signal()
        }
    }

    /// Waits for the value; call it once.
    public func value() throws -> T {
        if !collected {
            done.wait()
            collected = true
        }
        return try result!.get()
    }
}
