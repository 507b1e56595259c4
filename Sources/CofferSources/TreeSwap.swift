import CofferSystem

/// A file or folder target replaced whole by exchanging names, each step
/// answerable from the file system alone.
///
/// Stage writes the bundle's tree (or file) at the staging name and records
/// its device and inode in a small side file: that identity is the bundle's
/// content wherever a rename moves it. Commit swaps the staged tree and the
/// target in one `renameat2(RENAME_EXCHANGE)`, so the target name always
/// holds one whole tree, old or new, never a mix, and then renames the
/// exchanged-out old tree to `TARGET.pre-restore-ID`. A target that did not
/// exist gets the staged tree by a plain rename and an `.absent` marker. Undo
/// swaps the kept tree back the same way and gives the bundle's tree the
/// staging name again until finalize. `content` compares the target's inode
/// with the recorded one, so it is true after a crash at any point; each step
/// finishes or repeats what a cut-short run left.
struct TreeSwap {
    let name: String
    let target: String
    let staging: String
    let kept: String
    let absent: String
    /// `DEVICE INODE` of the staged root, written once the stage is complete.
    let identityFile: String

    init(name: String, target: String, restoreID: String) {
        let side = SideFiles(target: target)
        self.name = name
        self.target = target
        staging = side.staging(restoreID)
        kept = side.preRestore(restoreID)
        absent = side.absentMarker(restoreID)
        identityFile = staging + ".inode"
    }

    private var folder: String { FileSystem.directoryName(of: target) }

    /// Records the staged root's identity (after the stage is complete and synced).
    func recordStaged() throws {
        guard let status = try FileSystem.linkStatus(of: staging) else {
            throw SourceError(name, "the staged copy \(staging) is gone before it could be recorded")
        }
        try FileSystem.writeFile(identityFile, bytes: Array("\(status.device) \(status.inode)\n".utf8), permissions: 0o600)
    }

    /// The bundle's device and inode; throws when the record is gone (nothing can then be told).
    private func bundleIdentity() throws -> (device: UInt64, inode: UInt64) {
        let text = String(decoding: (try? FileSystem.readFile(identityFile, limit: 256)) ?? [], as: UTF8.self)
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        guard numbers.count == 2 else {
            throw SourceError(name, "\(identityFile), which tells the restored content by its inode, is missing or unreadable, so what \(target) holds cannot be told")
        }
        return (numbers[0], numbers[1])
    }

    /// Whether `path` itself (not followed) is the bundle's root.
    private func isBundle(_ path: String, _ identity: (device: UInt64, inode: UInt64)) throws -> Bool {
        guard let status = try FileSystem.linkStatus(of: path) else { return false }
        return status.device == identity.device && status.inode == identity.inode
    }

    func content() throws -> TargetContent {
        try isBundle(target, try bundleIdentity()) ? .bundle : .previous
    }

    /// Exchanges the staged tree with the target, then names the old one `kept`;
    /// after a crash, finishes whichever step is left.
    func commit() throws {
        let identity = try bundleIdentity()
        if try isBundle(target, identity) {
            // Exchanged before a crash: the old content may still carry the staging name.
            if FileSystem.exists(staging), !(try isBundle(staging, identity)), !FileSystem.exists(kept) { try keepExchanged() }
            return
        }
        guard try isBundle(staging, identity) else {
            throw SourceError(name, "the staged copy \(staging) is gone; the restore cannot be committed")
        }
        if FileSystem.exists(target) {
            try FileSystem.exchange(staging, target)
            try FileSystem.syncDirectory(folder)
            try keepExchanged()
        } else {
            if !FileSystem.exists(absent) { try FileSystem.writeFile(absent, bytes: [], permissions: 0o600) }
            try FileSystem.rename(staging, to: target)
            try FileSystem.syncDirectory(folder)
        }
    }

    private func keepExchanged() throws {
        try FileSystem.rename(staging, to: kept)
        try FileSystem.syncDirectory(folder)
    }

    /// Puts the kept content back by the same exchange (or removes a target
    /// that was absent); the bundle's tree gets the staging name until finalize.
    func undo() throws {
        let identity = try bundleIdentity()
        if try isBundle(target, identity) {
            if FileSystem.exists(kept) {
                try FileSystem.exchange(kept, target)
                try FileSystem.syncDirectory(folder)
                try FileSystem.rename(kept, to: staging)
            } else if FileSystem.exists(staging), !(try isBundle(staging, identity)) {
                // A commit cut short between its exchange and its rename: the old content has the staging name.
                try FileSystem.exchange(staging, target)
            } else if FileSystem.exists(absent) {
                try FileSystem.rename(target, to: staging)
            } else {
                throw SourceError(name, "\(target) holds the restored content but neither \(kept) nor \(absent) exists, so there is nothing to put back")
            }
            try FileSystem.syncDirectory(folder)
        } else if try isBundle(kept, identity) {
            // An undo cut short after its exchange.
            try FileSystem.rename(kept, to: staging)
            try FileSystem.syncDirectory(folder)
        }
    }

    /// True while the previous content (or the record that there was none) is kept.
    func hasKeptCopy() throws -> Bool {
        let identity = try bundleIdentity()
        if FileSystem.exists(kept), !(try isBundle(kept, identity)) { return true }
        if FileSystem.exists(staging), !(try isBundle(staging, identity)) { return true }
        return FileSystem.exists(absent)
    }

    /// Removes what only the bundle's content is: never a name that holds the
    /// previous content, and nothing while the target holds the bundle.
    func discardStage() {
        guard let identity = try? bundleIdentity() else {
            // Not recorded: the stage never finished, and no commit can have used it.
            try? FileSystem.removeTree(staging)
            return
        }
        guard (try? isBundle(target, identity)) == false else { return }
        for path in [staging, kept] where (try? isBundle(path, identity)) == true { try? FileSystem.removeTree(path) }
        try? FileSystem.removeFile(absent)
        try? FileSystem.removeFile(identityFile)
    }

    /// Drops the kept content and the restored copy an undo left; the identity record goes last.
    func finalize() throws {
        try FileSystem.removeTree(kept)
        try FileSystem.removeTree(staging)
        try FileSystem.removeFile(absent)
        try FileSystem.removeFile(identityFile)
    }
}
