import CofferSystem

/// Plain POSIX ustar, written and read as streams: regular files and folders
/// with their permission bits and modification times (seconds), names up to
/// 255 bytes through the ustar prefix field. No links, devices or extensions:
/// what Coffer writes it can read, and `tar -tf`/`tar -xf` read it too.
public enum Tar {
    static let block = 512

    /// Why a tar stream was refused.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { "tar: \(message)" }
    }
}

/// One header of a tar stream, as `TarReader` found it.
public struct TarEntry: Sendable {
    public enum Kind: Sendable { case file, directory }
    /// The name as stored (prefix and name joined; a folder's ends with `/`).
    public var name: String
    public var kind: Kind
    /// Bytes of content (0 for a folder).
    public var size: Int64
    /// Permission bits (`0o7777` at most).
    public var mode: UInt32
    /// Modification time, seconds since 1970.
    public var modificationTime: Int64
}

/// Writes entries into a tar stream.
public struct TarWriter {
    private let sink: ByteSink

    public init(_ sink: @escaping ByteSink) {
        self.sink = sink
    }

    /// Writes one regular file of `size` bytes whose content `produce` pushes;
    /// throws when it pushes more or fewer (the archive would be corrupt).
    public func addFile(
        _ name: String, size: Int64, mode: UInt32 = 0o644, modificationTime: Int64 = 0, _ produce: (ByteSink) throws -> Void
    ) throws {
        try header(name: name, type: UInt8(ascii: "0"), size: size, mode: mode, modificationTime: modificationTime).withUnsafeBytes { try sink($0) }
        var written: Int64 = 0
        try produce { chunk in
            written += Int64(chunk.count)
            guard written <= size else { throw Tar.Failure(message: "\(name): more than the \(size) bytes announced") }
            try sink(chunk)
        }
        guard written == size else { throw Tar.Failure(message: "\(name): \(written) bytes written, \(size) announced") }
        try padding(for: size).withUnsafeBytes { try sink($0) }
    }

    /// Writes a folder entry; `name` gets a trailing `/` if it has none.
    public func addDirectory(_ name: String, mode: UInt32 = 0o755, modificationTime: Int64 = 0) throws {
        let named = name.hasSuffix("/") ? name : name + "/"
        try header(name: named, type: UInt8(ascii: "5"), size: 0, mode: mode, modificationTime: modificationTime).withUnsafeBytes { try sink($0) }
    }

    /// Ends the archive (two zero blocks).
    public func finish() throws {
        try [UInt8](repeating: 0, count: 2 * Tar.block).withUnsafeBytes { try sink($0) }
    }

    private func padding(for size: Int64) -> [UInt8] {
        let rest = Int(size % Int64(Tar.block))
        return rest == 0 ? [] : [UInt8](repeating: 0, count: Tar.block - rest)
    }

    /// A ustar header. A name over 100 bytes is split at a `/` into the prefix
    /// (at most 155 bytes) and the name (at most 100); one that cannot be split
    /// so is refused, naming it.
    private func header(name: String, type: UInt8, size: Int64, mode: UInt32, modificationTime: Int64) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Tar.block)
        var nameBytes = Array(name.utf8)
        var prefix: [UInt8] = []
        if nameBytes.count > 100 {
            // A folder's trailing slash belongs to the name part, never the split.
            let searched = nameBytes.last == UInt8(ascii: "/") ? nameBytes.dropLast() : nameBytes[...]
            guard let slash = searched.prefix(156).lastIndex(of: UInt8(ascii: "/")), slash <= 155, nameBytes.count - slash - 1 <= 100 else {
                throw Tar.Failure(message: "the name \(name) is too long for a ustar archive (at most 100 bytes after the last '/' that leaves at most 155 before it)")
            }
            prefix = Array(nameBytes[..<slash])
            nameBytes = Array(nameBytes[(slash + 1)...])
        }
        guard size >= 0, size < 0o77777777777, modificationTime >= 0, modificationTime < 0o77777777777 else {
            throw Tar.Failure(message: "\(name): its size or modification time does not fit a ustar header")
        }
        func put(_ bytes: [UInt8], at offset: Int) { block.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            Array(String(value, radix: 8).leftPadded(to: width - 1).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(Int64(mode & 0o7777), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(modificationTime, width: 12), at: 136)
        put(Array("        ".utf8), at: 148)
        block[156] = type
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(prefix, at: 345)
        let checksum = block.reduce(0) { $0 + Int64($1) }
        put(Array(String(checksum, radix: 8).leftPadded(to: 6).utf8) + [0, 0x20], at: 148)
        return block
    }
}

/// Reads the entries of a tar stream, one after the other.
public struct TarReader {
    private var read: ByteSource

    public init(_ read: @escaping ByteSource) {
        self.read = read
    }

    /// Calls `body` with each file's name, size and a source of its content
    /// (which must be read to the end). Refuses anything but regular files.
    public mutating func forEachFile(_ body: (_ name: String, _ size: Int64, _ content: ByteSource) throws -> Void) throws {
        try forEachEntry { entry, content in
            guard entry.kind == .file else { throw Tar.Failure(message: "only regular files are accepted (found the folder \(entry.name))") }
            try withoutActuallyEscaping(content) { content in try body(entry.name, entry.size, content) }
        }
    }

    /// Calls `body` with each entry and a source of its content (a regular
    /// file's must be read to the end). Refuses any type but regular files and
    /// folders (links, devices, GNU and pax extensions), and a corrupt or cut header.
    public mutating func forEachEntry(_ body: (_ entry: TarEntry, _ content: ByteSource) throws -> Void) throws {
        var header = [UInt8](repeating: 0, count: Tar.block)
        while true {
            guard try readExactly(&header) else { throw Tar.Failure(message: "the archive ends without its end marker (truncated?)") }
            if header.allSatisfy({ $0 == 0 }) { return }
            let stored = Self.number(header[148..<156])
            var copy = header
            copy.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
            guard stored == copy.reduce(0, { $0 + Int64($1) }) else { throw Tar.Failure(message: "a header checksum does not match (corrupt archive)") }
            let type = header[156]
            let name = Self.string(header[0..<100])
            let prefix = Self.string(header[345..<500])
            let fullName = prefix.isEmpty ? name : prefix + "/" + name
            let kind: TarEntry.Kind
            switch type {
            case UInt8(ascii: "0"), 0: kind = .file
            case UInt8(ascii: "5"): kind = .directory
            default:
                throw Tar.Failure(message: "\(fullName): only regular files and folders are accepted (found type \(Character(UnicodeScalar(type))))")
            }
            let size = kind == .directory ? 0 : Self.number(header[124..<136])
            guard size >= 0 else { throw Tar.Failure(message: "\(fullName): the size field is not a number (corrupt archive)") }
            let entry = TarEntry(
                name: fullName, kind: kind, size: size, mode: UInt32(max(0, Self.number(header[100..<108]))) & 0o7777,
                modificationTime: max(0, Self.number(header[136..<148])))
            var remaining = size
            try body(entry) { buffer in
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
