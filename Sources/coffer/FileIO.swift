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
/// `cp`, the file is not fsynced; bundles are. `largeWrites`: `body` hands over
/// blocks of megabytes (age payloads), which go straight from its buffer into
/// files and devices (see `writeThrough`).
func writeOutput(
    _ path: String, force: Bool, permissions: UInt32 = 0o644, largeWrites: Bool = false, _ body: (ByteSink) throws -> Void
) throws {
    if path == "-" {
        let stdout = FileDescriptor.standardOutput()
        let kind = (try? stdout.status())?.kind
        let direct = largeWrites && (kind == .regularFile || kind == .characterDevice)
        return try writeThrough({ try stdout.write($0) }, direct: direct, body)
    }
    if let status = try FileSystem.status(of: path), !status.isRegularFile {
        // A device or FIFO (/dev/null, a pipe): write into it; never rename over it.
        guard !status.isDirectory else { throw CofferError(.failure, "\(path) is a directory; name an output file") }
        let target = try FileDescriptor(opening: path, .writeExisting)
        return try writeThrough({ try target.write($0) }, direct: largeWrites && status.kind == .characterDevice, body)
    }
    try checkOutputAvailable(path, force: force)
    let file = try AtomicFile(creating: path, permissions: permissions)
    try writeThrough({ try file.write($0) }, direct: largeWrites, body)
    do {
        try file.commit(replace: force, durable: false)
    } catch let error as SystemError where error.code == 17 {
        throw CofferError(.refused, "\(path) already exists; pass --force to replace it")
    }
}

/// Writes straight from the producer's buffer where a write only copies into
/// memory (a regular file's page cache, a device such as /dev/null), and through
/// a write-behind thread where it can wait (a pipe, a socket), since only there
/// does the extra copy buy overlap. perf showed that copy as the one serial
/// step left in CPU-bound encryption.
private func writeThrough(_ sink: ByteSink, direct: Bool, _ body: (ByteSink) throws -> Void) throws {
    try withoutActuallyEscaping(sink) { sink in
        if direct { return try body(sink) }
        try withWriteBehind(sink) { sink in try body(sink) }
    }
}
