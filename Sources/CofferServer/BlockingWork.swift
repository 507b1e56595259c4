import Dispatch

/// Runs synchronous work (a look at the repository, a process wait) on a
/// thread of its own, so that it never holds one of the few threads async
/// code and the HTTP server share.
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
