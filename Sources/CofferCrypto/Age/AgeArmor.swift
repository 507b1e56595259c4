import CofferSystem

/// The strict PEM armor of age files (`-----BEGIN AGE ENCRYPTED FILE-----`),
/// streamed in both directions.
enum AgeArmor {
    static let begin = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    static let end = Array("-----END AGE ENCRYPTED FILE-----".utf8)
    static let bytesPerLine = 48
    static let columnsPerLine = 64

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// True when `prefix` (the first bytes of a file) looks armored: a binary
    /// age file starts with its version line, never with dashes.
    static func looksArmored(_ prefix: UnsafeRawBufferPointer) -> Bool {
        guard let start = prefix.firstIndex(where: { !isWhitespace($0) }) else { return false }
        return prefix[start...].starts(with: Array("-----".utf8))
    }
}

/// Writes armor: 64-column padded base64 between the BEGIN and END lines.
public struct AgeArmorEncoder {
    private var carry: [UInt8] = []
    private var started = false

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer, output: ByteSink) throws {
        if !started {
            started = true
            try (AgeArmor.begin + [0x0A]).withUnsafeBytes { try output($0) }
        }
        carry += bytes
        let whole = carry.count / AgeArmor.bytesPerLine * AgeArmor.bytesPerLine
        guard whole > 0 else { return }
        var text: [UInt8] = []
        text.reserveCapacity(whole / 3 * 4 + whole / AgeArmor.bytesPerLine)
        var index = 0
        while index < whole {
            let line = carry[index..<(index + AgeArmor.bytesPerLine)]
            text += Array(Base64.encode(Array(line), .padded).utf8)
            text.append(0x0A)
            index += AgeArmor.bytesPerLine
        }
        carry.removeFirst(whole)
        try text.withUnsafeBytes { try output($0) }
    }

    public mutating func finish(output: ByteSink) throws {
        if !started { try update(UnsafeRawBufferPointer(start: nil, count: 0), output: output) }
        var text: [UInt8] = []
        if !carry.isEmpty { text += Array(Base64.encode(carry, .padded).utf8) + [0x0A] }
        text += AgeArmor.end + [0x0A]
        carry.removeAll()
        try text.withUnsafeBytes { try output($0) }
    }
}

/// Reads armor strictly: whitespace only before BEGIN and after END, LF or
/// CRLF line ends, full 64-column lines but the last, canonical padded base64.
public struct AgeArmorDecoder {
    private enum State { case leading, body, trailing }
    private var state = State.leading
    private var line: [UInt8] = []
    private var sawFinalLine = false
    private static let maximumLine = 128

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer, output: ByteSink) throws {
        var rest = bytes[...]
        if state == .leading {
            guard let start = rest.firstIndex(where: { !AgeArmor.isWhitespace($0) }) else { return }
            rest = rest[start...]
            state = .body
            line = []
            // The BEGIN line is checked as the first complete line below.
            sawBegin = false
        }
        while let newline = rest.firstIndex(of: 0x0A) {
            line += rest[rest.startIndex..<newline]
            rest = rest[(newline + 1)...]
            try handleLine(output: output)
            line.removeAll(keepingCapacity: true)
        }
        line += rest
        if state == .trailing {
            guard line.allSatisfy(AgeArmor.isWhitespace) else { throw AgeError(.armor, "data after the END line") }
            line.removeAll(keepingCapacity: true)
        } else if line.count > Self.maximumLine {
            throw AgeError(.armor, "armor line longer than \(AgeArmor.columnsPerLine) columns")
        }
    }

    private var sawBegin = false

    private mutating func handleLine(output: ByteSink) throws {
        if state == .trailing {
            guard line.allSatisfy(AgeArmor.isWhitespace) else { throw AgeError(.armor, "data after the END line") }
            return
        }
        var content = line[...]
        if content.last == 0x0D { content = content.dropLast() }
        if !sawBegin {
            guard content.elementsEqual(AgeArmor.begin) else {
                throw AgeError(.armor, "expected '-----BEGIN AGE ENCRYPTED FILE-----'")
            }
            sawBegin = true
            return
        }
        if content.elementsEqual(AgeArmor.end) {
            state = .trailing
            return
        }
        guard !sawFinalLine else { throw AgeError(.armor, "a line follows the short final line of the armor") }
        guard !content.isEmpty, content.count <= AgeArmor.columnsPerLine, content.count % 4 == 0 else {
            throw AgeError(.armor, "armor line of \(content.count) columns; lines must be 64 columns but the last")
        }
        guard let decoded = Base64.decode(content, .padded) else {
            throw AgeError(.armor, "armor line is not canonical base64")
        }
        if content.count < AgeArmor.columnsPerLine || content.last == UInt8(ascii: "=") { sawFinalLine = true }
        try decoded.withUnsafeBytes { try output($0) }
    }

    /// Checks that the END line was seen.
    public mutating func finish(output: ByteSink) throws {
        if state == .body && !line.isEmpty {
            try handleLine(output: output)  // an END line without a final newline
            line.removeAll()
        }
        guard state == .trailing else { throw AgeError(.armor, "the armor has no END line (truncated?)") }
    }
}
