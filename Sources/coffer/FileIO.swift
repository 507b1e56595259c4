import CofferCore
import CofferCrypto
import CofferSystem

/// Opens an input file, `-` meaning standard input.
func openInput(_ path: String) throws -> FileDescriptor {
    if path == "-" { return FileDescriptor.standardInput() }
    do {
        return try FileDescriptor(opening: path, .readOnly)
    } catch let error as SystemError {
        throw CofferError(.failure, "cannot read \(path): \(error.message)")
    }
}

/// Refuses early when `path` exists and `force` is off, before any work is done.
func checkOutputAvailable(_ path: String, force: Bool) throws {
    let isRegular = (try? FileSystem.status(of: path))??.isRegularFile ?? true
    if path != "-" && !force && isRegular && FileSystem.exists(path) {
        throw CofferError(.refused, "\(path) already exists; pass --force to replace it")
    }
}

/// Produces an output file whole or not at all: `body` writes through the sink
/// into a temporary file that becomes `path` only if `body` succeeds. `-` is
/// standard output (where a failure may follow partial output). Like `age` and
/// `cp`, the file is not fsynced; bundles are.
func writeOutput(_ path: String, force: Bool, permissions: UInt32 = 0o644, _ body: (ByteSink) throws -> Void) throws {
    if path == "-" {
        let stdout = FileDescriptor.standardOutput()
        try withWriteBehind({ try stdout.write($0) }) { sink in try body(sink) }
        return
    }
    if let status = try FileSystem.status(of: path), !status.isRegularFile {
        // A device or FIFO (/dev/null, a pipe): write into it; never rename over it.
        guard !status.isDirectory else { throw CofferError(.failure, "\(path) is a directory; name an output file") }
        let target = try FileDescriptor(opening: path, .writeExisting)
        try withWriteBehind({ try target.write($0) }) { sink in try body(sink) }
        return
    }
    try checkOutputAvailable(path, force: force)
    let file = try AtomicFile(creating: path, permissions: permissions)
    try withWriteBehind({ try file.write($0) }) { sink in try body(sink) }
    do {
        try file.commit(replace: force, durable: false)
    } catch let error as SystemError where error.code == 17 {
        throw CofferError(.refused, "\(path) already exists; pass --force to replace it")
    }
}
