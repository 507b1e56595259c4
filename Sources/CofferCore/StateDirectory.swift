import CofferSystem

/// Coffer's local working folder beside the config (`.coffer/`, mode 0700):
/// `tmp/` for plaintext that must not outlive a command, `restores/` for the
/// restore journals, `ledger/` for the temporary files of running commands,
/// `runs/` for the record of each command's runs (`RunLog`),
/// `high-water/` for the newest bundle and journal event seen of each
/// repository (see `HighWaterMarkStore`).
public struct StateDirectory: Sendable {
    public let root: String

    public init(config: CofferConfig) {
        root = FileSystem.join(FileSystem.directoryName(of: config.path), ".coffer")
    }

    public var restores: String { FileSystem.join(root, "restores") }

    /// Each process's list of the temporary files it creates (`TemporaryLedger`).
    public var ledger: String { FileSystem.join(root, "ledger") }

    /// The run logs, one per environment (`RunLog`).
    public var runs: String { FileSystem.join(root, "runs") }

    /// The high-water marks, one file per repository and environment.
    public var highWater: String { FileSystem.join(root, "high-water") }

    /// A fresh private folder for one command's temporary plaintext; removed by `body`'s end,
    /// and by the next command if this process is killed.
    public func withScratch<R>(_ body: (String) throws -> R) throws -> R {
        let tmp = FileSystem.join(root, "tmp")
        try FileSystem.createDirectory(tmp, permissions: 0o700)
        try FileSystem.setPermissions(root, 0o700)
        try removeAbandonedScratch(in: tmp)
        let scratch = FileSystem.join(tmp, "\(ProcessIdentity.current)-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.createDirectory(scratch, permissions: 0o700)
        defer { try? FileSystem.removeTree(scratch) }
        return try body(scratch)
    }

    /// Scratch folders of processes that no longer run (killed mid-command).
    private func removeAbandonedScratch(in tmp: String) throws {
        for name in try FileSystem.contentsOfDirectory(tmp) {
            guard let pid = Int32(name.split(separator: "-").first ?? ""), !ProcessIdentity.isAlive(pid) else { continue }
            try FileSystem.removeTree(FileSystem.join(tmp, name))
        }
    }
}
