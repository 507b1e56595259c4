#if canImport(Glibc)
import Glibc
#endif
import CofferSystem

/// A throwaway `redis-server` for a restore drill: started on a unix socket in
/// a private folder, with no TCP port, no persistence and no other client,
/// loading the drill's restored `dump.rdb` as a server on a new machine would.
/// `stop` ends it with its process group; a pid left by a killed run is ended
/// by `stopLeftover` once `/proc` confirms it is this socket's server.
public final class RedisScratchServer {
    public let folder: String
    public var socket: String { Self.socket(in: folder) }
    /// The URL for clients (the smoke command's `REDIS_URL`).
    public var url: String { "unix://\(socket)" }
    public let process: ChildProcess

    public static func socket(in folder: String) -> String { FileSystem.join(folder, "redis.sock") }
    public static func dumpFile(in folder: String) -> String { FileSystem.join(folder, "dump.rdb") }

    /// Starts `binary` in `folder` (which holds `dump.rdb` to load, or not) and
    /// waits until it has loaded it and answers, up to `timeout` seconds.
    public init(binary: String, folder: String, databases: Int, timeout: Double = 120) throws {
        self.folder = folder
        let log = FileSystem.join(folder, "redis.log")
        process = try ChildProcess(
            executable: binary,
            arguments: [
                "--port", "0", "--unixsocket", Self.socket(in: folder), "--unixsocketperm", "700", "--dir", folder,
                "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--databases", String(max(16, databases)), "--logfile", "",
            ],
            environment: ["PATH": "/usr/bin:/bin"], outputPath: log)
        let deadline = MonotonicTime.now + timeout
        while true {
            if let ended = process.wait(seconds: 0.05) {
                throw RedisError("\(binary) stopped at start (exit status \(ended.status)): \(Self.lastLines(of: log))")
            }
            if let connection = try? RedisConnection(try RedisAddress(url: url), timeoutSeconds: 5),
                (try? connection.info("persistence")["loading"]) == "0"
            {
                return
            }
            if MonotonicTime.now > deadline {
                process.terminateGroup(grace: 2)
                throw RedisError("\(binary) did not answer on \(Self.socket(in: folder)) within \(Int(timeout)) s: \(Self.lastLines(of: log))")
            }
            usleep(50_000)
        }
    }

    /// Keys per non-empty database, as the server holds them.
    public func keyspace() throws -> [Int: Int] {
        try RedisConnection(try RedisAddress(url: url)).keyspace()
    }

    public func stop() { process.terminateGroup(grace: 5) }

    /// Ends a server a killed drill left running in `folder` (found by its socket in its command line).
    public static func stopLeftover(folder: String) {
        let socket = socket(in: folder)
        ChildProcess.terminateLeftovers { arguments in arguments.contains { $0.contains(socket) } }
    }

    /// Empties a drill server (`[drill] redis_url_env`, not a throwaway one) after a drill restored into it.
    public static func flush(url: String) throws {
        try RedisConnection(try RedisAddress(url: url)).command("FLUSHALL")
    }

    /// The end of the server's log, for an error message.
    static func lastLines(of log: String) -> String {
        guard let bytes = try? FileSystem.readFile(log, limit: 1 << 20) else { return "no log" }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").suffix(3).joined(separator: " | ")
    }
}
