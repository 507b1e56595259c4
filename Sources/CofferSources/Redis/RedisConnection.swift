#if canImport(Glibc)
import Glibc
#endif
import CHiredis

/// Where a Redis server is: `redis://[user:password@]host[:port][/db]` or
/// `unix:///path/to/socket[?db=N]`. `rediss://` (TLS) is refused: Debian's
/// hiredis 0.14 has no TLS. The password is kept out of `description`.
public struct RedisAddress: Sendable, CustomStringConvertible {
    public enum Endpoint: Sendable {
        case tcp(host: String, port: Int32)
        case unix(path: String)
    }

    public var endpoint: Endpoint
    public var user: String?
    var password: String?
    public var db: Int

    public init(url: String) throws {
        if url.hasPrefix("rediss://") {
            throw RedisError("rediss:// (TLS) is not supported by this build: hiredis 0.14 has no TLS; use a TLS tunnel (stunnel) and redis://")
        }
        if url.hasPrefix("unix://") {
            let rest = url.dropFirst("unix://".count)
            let parts = rest.split(separator: "?", maxSplits: 1)
            guard let path = parts.first, path.hasPrefix("/") else { throw RedisError("\(url): expected unix:///path/to/socket[?db=N]") }
            endpoint = .unix(path: String(path))
            db = parts.count > 1 ? Int(parts[1].replacingOccurrences(of: "db=", with: "")) ?? 0 : 0
            return
        }
        guard url.hasPrefix("redis://") else {
            throw RedisError("a Redis URL starts with redis:// (or unix:// for a socket); got \(url.prefix(12))...")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = String(credentials[..<colon])
                user = name.isEmpty ? nil : Self.percentDecoded(name)
                password = Self.percentDecoded(String(credentials[credentials.index(after: colon)...]))
            } else {
                password = Self.percentDecoded(String(credentials))
            }
        }
        let hostAndDB = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        db = hostAndDB.count > 1 && !hostAndDB[1].isEmpty ? Int(hostAndDB[1]) ?? -1 : 0
        guard db >= 0 else { throw RedisError("the database number in the Redis URL is not a number") }
        let hostPort = hostAndDB[0]
        if let colon = hostPort.lastIndex(of: ":"), let port = Int32(hostPort[hostPort.index(after: colon)...]) {
            endpoint = .tcp(host: String(hostPort[..<colon]), port: port)
        } else {
            endpoint = .tcp(host: hostPort.isEmpty ? "127.0.0.1" : String(hostPort), port: 6379)
        }
    }

    public var description: String {
        let auth = password == nil ? "" : "\(user ?? ""):***@"
        switch endpoint {
        case .tcp(let host, let port): return "redis://\(auth)\(host):\(port)/\(db)"
        case .unix(let path): return "unix://\(path)?db=\(db)"
        }
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A Redis reply.
public enum RedisValue: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error inside an array (a failed command in an `EXEC` reply); a top-level error throws instead.
    case error(String)

    public var text: String? {
        switch self {
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }
}

/// A failure talking to Redis, with the server's or hiredis' message; never a password.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One connection to a Redis server: the only place that sees a `redisContext`.
public final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    public let address: RedisAddress

    /// Connects, authenticates (`AUTH [user] password`) and selects the database.
    public init(_ address: RedisAddress, timeoutSeconds: Int = 10) throws {
        self.address = address
        let timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        let made: UnsafeMutablePointer<redisContext>?
        switch address.endpoint {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, port, timeout)
        case .unix(let path): made = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let made else { throw RedisError("cannot allocate a Redis connection") }
        // From here every property is set: a throw runs deinit, which frees the context.
        context = made
        if context.pointee.err != 0 {
            throw RedisError("cannot connect to \(address): \(Self.errorText(context))")
        }
        _ = redisSetTimeout(context, timeout)
        if let password = address.password {
            let arguments = [Array("AUTH".utf8)] + (address.user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)]
            do {
                _ = try command(arguments)
            } catch let error as RedisError {
                // The server's answer (WRONGPASS, ...) carries no password; argv is never shown.
                throw RedisError("\(address) refused the credentials: \(error.message)")
            }
        }
        if address.db != 0 { _ = try command("SELECT", String(address.db)) }
    }

    deinit {
        redisFree(context)
    }

    @discardableResult
    public func command(_ arguments: String...) throws -> RedisValue {
        try command(arguments.map { Array($0.utf8) })
    }

    /// Sends one command (binary-safe arguments) and returns its reply; an error reply throws.
    @discardableResult
    public func command(_ arguments: [[UInt8]]) throws -> RedisValue {
        var request: [UInt8] = []
        RESP.append(arguments, to: &request)
        try send(request)
        return try reply()
    }

    /// Queues commands already encoded by `RESP.append` without waiting for their
    /// replies (pipelining); read each reply, in order, with `reply()`.
    public func send(_ request: [UInt8]) throws {
        let status = request.withUnsafeBytes { raw in
            redisAppendFormattedCommand(context, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard status == REDIS_OK else { throw RedisError("\(address): \(Self.errorText(context))") }
    }

    /// The next reply of a command sent earlier (sending what is queued first); an error reply throws.
    public func reply() throws -> RedisValue {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            throw RedisError("\(address): \(Self.errorText(context))")
        }
        defer { freeReplyObject(raw) }
        return try Self.value(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>, nested: Bool = false) throws -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING: return .string(bytes(r.str, r.len))
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_ERROR:
            let message = String(decoding: bytes(r.str, r.len), as: UTF8.self)
            if nested { return .error(message) }
            throw RedisError(message)
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            for index in 0..<Int(r.elements) {
                if let element = r.element[index] { items.append(try value(element, nested: true)) }
            }
            return .array(items)
        default: throw RedisError("unknown Redis reply type \(r.type)")
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    // MARK: The raw socket, for SYNC

    /// Asks the kernel for a larger receive buffer, so a server streaming a
    /// snapshot can run ahead while a block is being compressed.
    func enlargeReceiveBuffer(_ bytes: Int32) {
        var size = bytes
        _ = setsockopt(context.pointee.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Writes bytes straight to the socket (after the last reply was read).
    func writeRaw(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.write(context.pointee.fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RedisError("\(address): writing failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads what the socket has (waiting up to the connection's timeout); 0 at its end.
    func readRaw(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(context.pointee.fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw RedisError("\(address): no data from the server within the timeout") }
            throw RedisError("\(address): reading failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// The Redis wire format for commands: `*N` then `$len` + bytes per argument.
public enum RESP {
    public static func append(_ arguments: [[UInt8]], to request: inout [UInt8]) {
        header(arguments.count, to: &request)
        for argument in arguments { append(argument: argument, to: &request) }
    }

    /// Starts a command of `count` arguments; add each with `append(argument:to:)`.
    public static func header(_ count: Int, to request: inout [UInt8]) {
        request.append(UInt8(ascii: "*"))
        request.append(contentsOf: String(count).utf8)
        request.append(contentsOf: [13, 10])
    }

    public static func append(argument: some Collection<UInt8>, to request: inout [UInt8]) {
        request.append(UInt8(ascii: "$"))
        request.append(contentsOf: String(argument.count).utf8)
        request.append(contentsOf: [13, 10])
        request.append(contentsOf: argument)
        request.append(contentsOf: [13, 10])
    }
}
