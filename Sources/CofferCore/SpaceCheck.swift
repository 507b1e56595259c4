import CofferFormat
import CofferSources
import CofferStorage

/// Whether a snapshot can fit, checked before anything is written.
enum SpaceCheck {
    /// The space the next bundle needs: the sources' size scaled by the last
    /// bundle's compression (with a 25% margin), or their full size when there
    /// is no earlier bundle to learn from.
    static func neededBytes(_ sources: [any SnapshotSource & RestoreTarget], previous: Manifest?) -> Int64 {
        let plain = sources.reduce(0) { $0 + $1.estimatedSize() }
        guard let previous else { return plain }
        let previousPlain = previous.artifacts.reduce(0) { $0 + $1.plainBytes }
        let previousStored = previous.storedBytes  // v2: as if no chunk were shared, the worst case
        guard previousPlain > 0 else { return plain }
        let ratio = min(1.0, Double(previousStored) / Double(previousPlain))
        return Int64(Double(plain) * ratio * 1.25) + (1 << 20)
    }

    /// Fails, naming both numbers, when the repository or the working folder is too small.
    static func check(
        sources: [any SnapshotSource & RestoreTarget], previous: Manifest?, repository: Repository, state: StateDirectory
    ) throws {
        let needed = neededBytes(sources, previous: previous)
        if let free = try repository.storage.availableBytes(), free < needed {
            throw CofferError(
                .failure,
                "\(repository.storage.location) has \(free) bytes free but this snapshot needs about \(needed); nothing was written. Free space, prune (`coffer prune`), or point `repository` elsewhere")
        }
        // The SQLite copies pass through the private working folder one at a time.
        let largestCopy = sources.filter { $0.kind == .sqlite }.map { $0.estimatedSize() }.max() ?? 0
        if largestCopy > 0, let free = try LocalStorage(root: state.root).availableBytes(), free < largestCopy {
            throw CofferError(
                .failure,
                "\(state.root) has \(free) bytes free but needs \(largestCopy) for the temporary copy of the largest database; nothing was written")
        }
    }
}
