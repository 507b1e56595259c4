import CofferSystem

/// A file target replaced by rename, each step answerable from the file
/// system alone. Commit gives the current file a second name (a hard link: the
/// same inode, so its bytes, mode and owner) and renames the staged file over
/// it; undo gives the restored file the staging name and renames the kept one
/// back. So the staging name exists exactly while the target holds its
/// previous content, unless it is the very file at the target (an undo cut
/// short between its two steps). At every moment the target is one whole file.
struct FileSwap {
    let target: String
    let staging: String
    /// Where the current file is kept.
    let kept: String
    /// Marks that there was no file to keep.
    let absent: String

    init(target: String, restoreID: String, kept: String? = nil) {
        let side = SideFiles(target: target)
        self.target = target
        staging = side.staging(restoreID)
        self.kept = kept ?? side.preRestore(restoreID)
        absent = side.absentMarker(restoreID)
    }

    var hasKeptCopy: Bool { FileSystem.exists(kept) || FileSystem.exists(absent) }

    /// Keeps the current file (once), then renames the staged file over it.
    func commit(name: String) throws {
        guard FileSystem.exists(staging) else {
            if hasKeptCopy { return }  // committed before a crash
            throw SourceError(name, "the staged file \(staging) is gone; the restore cannot be committed")
        }
        if !hasKeptCopy {
            if FileSystem.exists(target) {
                try keepCurrent()
            } else {
                try FileSystem.writeFile(absent, bytes: [], permissions: 0o600)
            }
        }
        try FileSystem.rename(staging, to: target)
        try FileSystem.syncDirectory(FileSystem.directoryName(of: target))
    }

    /// A hard link where the file system allows one, else a durable copy with the same permissions.
    private func keepCurrent() throws {
        do {
            try FileSystem.link(target, as: kept)
        } catch {
            let partial = kept + ".partial"
            try? FileSystem.removeFile(partial)
            try FileSystem.copyFile(target, to: partial, permissions: (try FileSystem.status(of: target))?.permissions ?? 0o600)
            try FileSystem.rename(partial, to: kept)
        }
        try FileSystem.syncDirectory(FileSystem.directoryName(of: target))
    }

    /// Puts the kept file back; the restored one keeps the staging name until finalize.
    func undo() throws {
        if FileSystem.exists(kept) {
            if !FileSystem.exists(staging), FileSystem.exists(target) { try FileSystem.link(target, as: staging) }
            try FileSystem.rename(kept, to: target)
        } else if FileSystem.exists(absent), FileSystem.exists(target), !FileSystem.exists(staging) {
            try FileSystem.rename(target, to: staging)
        }
        try FileSystem.syncDirectory(FileSystem.directoryName(of: target))
    }

    func content(name: String) throws -> TargetContent {
        if FileSystem.exists(staging) {
            return FileSystem.exists(target) && FileSystem.sameFile(target, staging) ? .bundle : .previous
        }
        if hasKeptCopy { return .bundle }
        throw SourceError(name, "neither the staged file \(staging) nor the kept one \(kept) exists, so what \(target) holds cannot be told")
    }

    /// Also the copy a commit that did not happen may have kept (the target
    /// still holds those bytes), and a partial one a crash may have left.
    func discardStage() {
        if (try? content(name: "")) == .previous {
            try? FileSystem.removeFile(kept)
            try? FileSystem.removeFile(absent)
        }
        try? FileSystem.removeFile(staging)
        try? FileSystem.removeFile(kept + ".partial")
    }

    func finalize() throws {
        for path in [kept, kept + ".partial", absent, staging] { try FileSystem.removeFile(path) }
    }
}
