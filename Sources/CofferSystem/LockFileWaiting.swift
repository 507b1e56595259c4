#if canImport(Glibc)
import Glibc
#endif

extension LockFile {
    /// The lock, waited for up to `seconds` (another coffer process on this
    /// machine holding it briefly: a mark, a run log); nil when it stayed taken.
    public static func waiting(path: String, seconds: Double) throws -> LockFile? {
        let attempts = max(1, Int(seconds * 50))
        for attempt in 0..<attempts {
            if let lock = try LockFile(path: path) { return lock }
            if attempt + 1 < attempts { usleep(20_000) }
        }
        return nil
    }
}
