#if canImport(Glibc)
import Glibc
#endif
import CofferSystem
import Foundation

/// The PostgreSQL client programs (`pg_dump`, `pg_restore`), as Debian installs
/// them side by side in `/usr/lib/postgresql/N/bin`, and how Coffer runs them:
/// connection parameters and password in the environment, never in argv.
public enum PostgresTools {
    static let root = "/usr/lib/postgresql"

    /// The major versions installed, ascending.
    static func installedMajors() -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Int($0) }.sorted()
    }

    /// `program` of the lowest installed major version that can talk to a server
    /// of `serverMajor` (pg_dump refuses servers newer than itself).
    static func program(_ name: String, forServer serverMajor: Int) throws -> String {
        let majors = installedMajors().filter { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/\(name)") }
        guard let major = majors.first(where: { $0 >= serverMajor }) else {
            let found = majors.isEmpty ? "none" : majors.map(String.init).joined(separator: ", ")
            throw PostgresError(
                "the server runs PostgreSQL \(serverMajor) and \(name) must be of that version or newer (installed: \(found)); install postgresql-client-\(serverMajor)")
        }
        return "\(root)/\(major)/bin/\(name)"
    }

    /// The newest installed `program` (pg_restore reads dumps of older versions).
    static func newest(_ name: String) throws -> String {
        guard let major = installedMajors().last(where: { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/\(name)") }) else {
            throw PostgresError("\(name) is not installed (make deps installs postgresql-client-15)")
        }
        return "\(root)/\(major)/bin/\(name)"
    }

    /// Runs a program and returns its standard output (a listing, not a dump).
    static func capture(_ program: String, _ arguments: [String], environment: [String: String], scratch: String) throws -> String {
        var output: [UInt8] = []
        try run(program, arguments, environment: environment, scratch: scratch) { output.append(contentsOf: $0) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Runs a program, streaming its standard output into `sink` and keeping
    /// its standard error (in `scratch`) for the error message. Throws with the
    /// program's own message when it exits non-zero.
    static func run(
        _ program: String, _ arguments: [String], environment: [String: String], scratch: String, output sink: ByteSink
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        // libpq reads PG* variables: the connection's own replace any inherited ones.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }.merging(environment) { $1 }
        let errors = FileSystem.join(scratch, "\(FileSystem.baseName(of: program)).\(getpid()).stderr")
        defer { try? FileSystem.removeFile(errors) }
        _ = FileManager.default.createFile(atPath: errors, contents: nil, attributes: [.posixPermissions: 0o600])
        process.standardError = FileHandle(forWritingAtPath: errors)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        var failure: (any Error)?
        let descriptor = pipe.fileHandleForReading.fileDescriptor
        _ = fcntl(descriptor, 1031 /* F_SETPIPE_SZ, Linux */, 1 << 20)  // fewer stalls of the child while a block is handed on
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            do {
                try sink(chunk)
            } catch {
                failure = error
                kill(process.processIdentifier, SIGTERM)
                break
            }
        }
        process.waitUntilExit()
        if let failure { throw failure }
        guard process.terminationReason == .exit && process.terminationStatus == 0 else {
            let message = String(decoding: (try? FileSystem.readFile(errors, limit: 1 << 16)) ?? [], as: UTF8.self)
            let lines = message.split(separator: "\n").suffix(5).joined(separator: "; ")
            throw PostgresError("\(FileSystem.baseName(of: program)) failed (exit status \(process.terminationStatus)): \(lines.isEmpty ? "no message" : lines)")
        }
    }
}
