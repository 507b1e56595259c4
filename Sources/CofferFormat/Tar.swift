import CofferSystem

/// Plain POSIX ustar, enough to carry one bundle: regular files only, written
/// and read as streams. `tar -tf` and `tar -xf` read what `TarWriter` writes.
public enum Tar {
    static let block = 512

    /// Why a tar stream was refused.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { "tar: \(message)" }
    }
}

/// Writes entries into a tar stream.
public struct TarWriter {
    private let sink: ByteSink

    public init(_ sink: @escaping ByteSink) {
        self.sink = sink
    }

    /// Writes one regular file of `size` bytes whose content `produce` pushes.
    public func addFile(_ name: String, size: Int64, modificationTime: Int64 = 0, _ produce: (ByteSink) throws -> Void) throws {
        try header(name: name, size: size, modificationTime: modificationTime).withUnsafeBytes { try sink($0) }
        var written: Int64 = 0
        try produce { chunk in
            written += Int64(chunk.count)
            try sink(chunk)
        }
        guard written == size else { throw Tar.Failure(message: "\(name): \(written) bytes written, \(size) announced") }
        try padding(for: size).withUnsafeBytes { try sink($0) }
    }

    /// Ends the archive (two zero blocks).
    public func finish() throws {
        try [UInt8](repeating: 0, count: 2 * Tar.block).withUnsafeBytes { try sink($0) }
    }

    private func padding(for size: Int64) -> [UInt8] {
        let rest = Int(size % Int64(Tar.block))
        return rest == 0 ? [] : [UInt8](repeating: 0, count: Tar.block - rest)
    }

    private func header(name: String, size: Int64, modificationTime: Int64) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Tar.block)
        var nameBytes = Array(name.utf8)
        var prefix: [UInt8] = []
        if nameBytes.count > 100 {
            guard let slash = nameBytes.prefix(155).lastIndex(of: UInt8(ascii: "/")), nameBytes.count - slash - 1 <= 100 else {
                throw Tar.Failure(message: "name too long for ustar: \(name)")
            }
            prefix = Array(nameBytes[..<slash])
            nameBytes = Array(nameBytes[(slash + 1)...])
        }
        func put(_ bytes: [UInt8], at offset: Int) { block.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            Array(String(value, radix: 8).leftPadded(to: width - 1).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(modificationTime, width: 12), at: 136)
        put(Array("        ".utf8), at: 148)
        block[156] = UInt8(ascii: "0")
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(prefix, at: 345)
        let checksum = block.reduce(0) { $0 + Int64($1) }
        put(Array(String(checksum, radix: 8).leftPadded(to: 6).utf8) + [0, 0x20], at: 148)
        return block
    }
}

/// Reads the regular files of a tar stream, one after the other.
public struct TarReader {
    private var read: ByteSource

    public init(_ read: @escaping ByteSource) {
        self.read = read
    }

    /// Calls `body` with each file's name, size and a source of its content
    /// (which must be read to the end). Refuses anything but regular files.
    public mutating func forEachFile(_ body: (_ name: String, _ size: Int64, _ content: ByteSource) throws -> Void) throws {
        var header = [UInt8](repeating: 0, count: Tar.block)
        while true {
            guard try readExactly(&header) else { throw Tar.Failure(message: "the archive ends without its end marker (truncated?)") }
            if header.allSatisfy({ $0 == 0 }) { return }
            let stored = Self.number(header[148..<156])
            var copy = header
            copy.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
            guard stored == copy.reduce(0, { $0 + Int64($1) }) else { throw Tar.Failure(message: "a header checksum does not match (corrupt archive)") }
            let type = header[156]
            guard type == UInt8(ascii: "0") || type == 0 else {
                throw Tar.Failure(message: "only regular files are accepted (found type \(Character(UnicodeScalar(type))))")
            }
            let name = Self.string(header[0..<100])
            let prefix = Self.string(header[345..<500])
            let fullName = prefix.isEmpty ? name : prefix + "/" + name
            let size = Self.number(header[124..<136])
            var remaining = size
            try body(fullName, size) { buffer in
                guard remaining > 0 else { return 0 }
                let want = Int(min(Int64(buffer.count), remaining))
                let got = try self.read(UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(want)))
                guard got > 0 else { throw Tar.Failure(message: "\(fullName) is cut short (truncated archive)") }
                remaining -= Int64(got)
                return got
            }
            guard remaining == 0 else { throw Tar.Failure(message: "\(fullName) was not read to its end") }
            var padding = [UInt8](repeating: 0, count: Int((Int64(Tar.block) - size % Int64(Tar.block)) % Int64(Tar.block)))
            guard try readExactly(&padding) else { throw Tar.Failure(message: "the archive is cut short") }
        }
    }

    private mutating func readExactly(_ buffer: inout [UInt8]) throws -> Bool {
        var filled = 0
        let count = buffer.count
        while filled < count {
            let got = try buffer.withUnsafeMutableBytes { try read(UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            if got == 0 { return filled == 0 && count == 0 }
            filled += got
        }
        return true
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func number(_ bytes: ArraySlice<UInt8>) -> Int64 {
        let text = string(bytes).trimmingCharacters(in: " ")
        return Int64(text, radix: 8) ?? -1
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    func trimmingCharacters(in set: String) -> String {
        let drop: (Character) -> Bool = { set.contains($0) }
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
