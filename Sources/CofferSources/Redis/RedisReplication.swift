import CofferSystem

/// The server's RDB, fetched the way `redis-cli --rdb` does: `REPLCONF capa
/// eof`, `REPLCONF rdb-only 1`, then `SYNC` on the raw socket, in either
/// transfer form (`$<length>` or diskless `$EOF:<40-byte mark>`), skipping the
/// newline keepalives the master sends while it prepares.
public enum RedisReplication {
    /// Streams the RDB into `sink` while the RDB reader walks it (CRC-64 and
    /// every record checked on the way); returns what the reader found. A
    /// transfer cut short, or an RDB that does not check, throws.
    public static func fetchRDB(_ connection: RedisConnection, into sink: ByteSink) throws -> RDBSummary {
        // Errors here are not fatal: older servers do not know these options.
        _ = try? connection.command("REPLCONF", "capa", "eof")
        _ = try? connection.command("REPLCONF", "rdb-only", "1")
        connection.enlargeReceiveBuffer(8 << 20)
        try connection.writeRaw(Array("SYNC\r\n".utf8))
        let preamble = try readPreamble(connection)
        guard preamble.first == UInt8(ascii: "$") else {
            let text = String(decoding: preamble, as: UTF8.self)
            throw SyncRefused(message: "\(connection.address) refused SYNC: \(text.hasPrefix("-") ? String(text.dropFirst()) : text)")
        }
        let transfer: Transfer
        if preamble.starts(with: Array("$EOF:".utf8)) {
            let mark = Array(preamble.dropFirst(5))
            guard mark.count == 40 else { throw RedisError("\(connection.address) sent a diskless mark of \(mark.count) bytes, not 40") }
            transfer = .untilMark(mark)
        } else {
            guard let length = Int(String(decoding: preamble.dropFirst(), as: UTF8.self)), length >= 0 else {
                throw RedisError("\(connection.address) answered SYNC with an unexpected line")
            }
            transfer = .length(length)
        }
        // The socket is read a block ahead on its own thread; each block goes to
        // `sink` and to the reader, so neither the check nor the sink holds up the server.
        let stream = RDBStream(connection: connection, transfer: transfer)
        return try withPulledStream({ reader in
            try forEachBlock(read: { try stream.read(into: $0) }, blockSize: 1 << 20) { block in
                try sink(block)
                try reader(block)
            }
        }) { source in try withoutActuallyEscaping(source) { try RDBReader.check($0) } }
    }

    /// The first line after SYNC, without its line end; leading keepalive newlines skipped.
    static func readPreamble(_ connection: RedisConnection) throws -> [UInt8] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = try withUnsafeMutableBytes(of: &byte) { try connection.readRaw(into: $0) }
            guard count == 1 else { throw RedisError("\(connection.address) closed the connection before sending the RDB") }
            if byte == UInt8(ascii: "\n") {
                if line.isEmpty { continue }  // keepalive
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            line.append(byte)
            if line.count > 1024 { throw RedisError("\(connection.address) answered SYNC with an overlong line") }
        }
    }

    /// The server will not replicate to us (ACLs, a renamed command, a managed
    /// service); nothing was streamed, so a logical snapshot can be taken instead.
    public struct SyncRefused: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    enum Transfer {
        case length(Int)
        case untilMark([UInt8])
    }
}

/// The RDB bytes of one SYNC transfer as a byte source.
private final class RDBStream {
    let connection: RedisConnection
    let transfer: RedisReplication.Transfer
    var remaining: Int
    /// Diskless form: the last bytes read, not handed out yet, since they may be the end mark.
    var held: [UInt8] = []
    var markSeen = false

    init(connection: RedisConnection, transfer: RedisReplication.Transfer) {
        self.connection = connection
        self.transfer = transfer
        if case .length(let length) = transfer { remaining = length } else { remaining = .max }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch transfer {
        case .length:
            guard remaining > 0 else { return 0 }
            let count = try connection.readRaw(into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(min(buffer.count, remaining))))
            guard count > 0 else { throw RedisError("\(connection.address) closed the connection \(remaining) bytes before the end of the RDB") }
            remaining -= count
            return count
        case .untilMark(let mark):
            // The last 40 bytes read are held back until more arrive: they may be the end mark.
            while !markSeen {
                let kept = held.count
                held.withUnsafeBytes { buffer.copyMemory(from: $0) }
                let count = try connection.readRaw(into: UnsafeMutableRawBufferPointer(rebasing: buffer[kept...]))
                guard count > 0 else { throw RedisError("\(connection.address) closed the connection before the end of the RDB") }
                let total = kept + count
                let tail = max(0, total - mark.count)
                if total >= mark.count && UnsafeRawBufferPointer(rebasing: buffer[tail..<total]).elementsEqual(mark) {
                    markSeen = true
                    held = []
                } else {
                    held = Array(UnsafeRawBufferPointer(rebasing: buffer[tail..<total]))
                }
                if tail > 0 { return tail }
            }
            return 0
        }
    }
}
