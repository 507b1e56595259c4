/// The dotenv format Coffer reads and writes: `NAME=value` lines, `#` comments,
/// optional `export `, values bare, in single quotes (literal) or in double
/// quotes (with `\\`, `\"`, `\n`, `\r`, `\t` escapes); quoted values may span
/// lines. Values are bytes, not text: a file need not be UTF-8. Coffer writes
/// every value double-quoted so any byte sequence round-trips.
public enum Dotenv {
    /// A malformed line, by number (the content is not repeated: it may be secret).
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// One piece of a dotenv file. The spans of a file, in order, cover each of
    /// its bytes exactly once, so a file can be edited span by span.
    public struct Span: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// `NAME=value` or `export NAME=value`; `value` is where the raw value
            /// (quotes included, inline comment and line end not) lies in the file.
            case assignment(name: String, value: Range<Int>)
            /// An empty line or a comment.
            case blank
            /// Anything else, with why it is not an assignment (never its content).
            case unreadable(reason: String)
        }

        /// The span's bytes in the file, its line end included.
        public let bytes: Range<Int>
        public let kind: Kind
    }

    /// Splits a file into spans without ever failing: a line that is not an
    /// assignment is one `unreadable` span; so is the first line of a quote that
    /// never closes (the lines after it are read on their own).
    public static func scan(_ text: [UInt8]) -> [Span] {
        var spans: [Span] = []
        var start = 0
        while start < text.count {
            let span = scanSpan(text, from: start)
            spans.append(span)
            start = span.bytes.upperBound
        }
        return spans
    }

    /// The assignments of a file in file order (a later duplicate replaces an
    /// earlier one), and the line numbers of the spans that are not assignments,
    /// blank lines or comments, with why.
    public static func read(_ text: [UInt8]) -> (variables: [(name: String, value: [UInt8])], unreadable: [ParseError]) {
        var variables: [(name: String, value: [UInt8])] = []
        var index: [String: Int] = [:]
        var unreadable: [ParseError] = []
        var line = 1
        for span in scan(text) {
            switch span.kind {
            case .assignment(let name, let raw):
                let value = decodeValue(text[raw])
                if let existing = index[name] {
                    wipe(&variables[existing].value)
                    variables[existing].value = value
                } else {
                    index[name] = variables.count
                    variables.append((name, value))
                }
            case .blank: break
            case .unreadable(let reason): unreadable.append(ParseError(line: line, reason: reason))
            }
            line += text[span.bytes].lazy.filter { $0 == newline }.count
        }
        return (variables, unreadable)
    }

    /// Like `read`, but any line that is not an assignment, blank or comment is
    /// an error: for Coffer's own artifacts, which it wrote.
    public static func parse(_ text: [UInt8]) throws -> [(name: String, value: [UInt8])] {
        let result = read(text)
        var variables = result.variables
        if let first = result.unreadable.first {
            for index in variables.indices { wipe(&variables[index].value) }
            throw first
        }
        return variables
    }

    /// The file for `variables`, sorted by name, each value double-quoted.
    public static func render(_ variables: [(name: String, value: [UInt8])]) -> [UInt8] {
        var text = Array("# Written by coffer. Values are double-quoted with \\\\ \\\" \\n \\r escapes.\n".utf8)
        text.reserveCapacity(text.count + variables.reduce(0) { $0 + renderedSize($1) })
        for variable in variables.sorted(by: { $0.name < $1.name }) {
            appendLine(variable, ending: [newline], to: &text)
        }
        return text
    }

    /// `current` with `variables` set in it: in the first assignment of each, the
    /// value is replaced by the rendered one (what surrounds it, `export`, an
    /// inline comment, the line end, stays); later assignments of it are dropped;
    /// those not assigned are appended in order. Every other span is kept byte
    /// for byte, so whatever Coffer cannot read survives untouched.
    public static func edit(_ current: [UInt8], setting variables: [(name: String, value: [UInt8])]) -> [UInt8] {
        let index = Dictionary(variables.indices.map { (variables[$0].name, $0) }, uniquingKeysWith: { $1 })
        // Reserved once, so that growing never leaves unwiped copies of secrets behind.
        var output: [UInt8] = []
        output.reserveCapacity(current.count + 2 + variables.reduce(0) { $0 + renderedSize($1) })
        var written = Set<Int>()
        for span in scan(current) {
            guard case .assignment(let name, let raw) = span.kind, let at = index[name] else {
                output += current[span.bytes]
                continue
            }
            guard written.insert(at).inserted else { continue }  // a later duplicate
            output += current[span.bytes.lowerBound..<raw.lowerBound]
            appendValue(variables[at].value, to: &output)
            output += current[raw.upperBound..<span.bytes.upperBound]
        }
        let crlf = current.firstIndex(of: newline).map { $0 > 0 && current[$0 - 1] == carriageReturn } ?? false
        let ending = crlf ? [carriageReturn, newline] : [newline]
        let missing = variables.indices.filter { index[variables[$0].name] == $0 && !written.contains($0) }
        if !missing.isEmpty, let last = output.last, last != newline { output += ending }
        for at in missing { appendLine(variables[at], ending: ending, to: &output) }
        return output
    }

    /// Letters, digits and `_`, not starting with a digit.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isNameByte(first), !isDigit(first) else { return false }
        return name.utf8.allSatisfy(isNameByte)
    }

    // MARK: Scanning

    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let doubleQuote = UInt8(ascii: "\"")
    private static let singleQuote = UInt8(ascii: "'")
    private static let backslash = UInt8(ascii: "\\")
    private static let hash = UInt8(ascii: "#")

    private static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    private static func isNameByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "_") || isDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    /// Where the line holding `position` ends: after its `\n`, or at the end of the file.
    private static func lineEnd(_ text: [UInt8], from position: Int) -> Int {
        text[position...].firstIndex(of: newline).map { $0 + 1 } ?? text.count
    }

    /// Where the content of the line holding `position` ends: before `\n` or `\r\n`.
    private static func contentEnd(_ text: [UInt8], from position: Int) -> Int {
        var end = text[position...].firstIndex(of: newline) ?? text.count
        if end > position, text[end - 1] == carriageReturn { end -= 1 }
        return end
    }

    private static func skipBlanks(_ text: [UInt8], from position: Int) -> Int {
        text[position...].firstIndex { !isBlank($0) } ?? text.count
    }

    private static func scanSpan(_ text: [UInt8], from start: Int) -> Span {
        let end = lineEnd(text, from: start)
        let unreadable = { (reason: String) in Span(bytes: start..<end, kind: .unreadable(reason: reason)) }
        var at = skipBlanks(text, from: start)
        if at >= contentEnd(text, from: start) || text[at] == hash { return Span(bytes: start..<end, kind: .blank) }
        let export = Array("export".utf8)
        if text[at...].starts(with: export), at + export.count < text.count, isBlank(text[at + export.count]) {
            at = skipBlanks(text, from: at + export.count)
        }
        let nameStart = at
        while at < text.count, isNameByte(text[at]) { at += 1 }
        let nameEnd = at
        at = skipBlanks(text, from: at)
        guard at < text.count, text[at] == UInt8(ascii: "=") else {
            return unreadable(text[start..<contentEnd(text, from: start)].contains(UInt8(ascii: "=")) ? "invalid variable name" : "expected NAME=value")
        }
        guard nameEnd > nameStart, !isDigit(text[nameStart]) else { return unreadable("invalid variable name") }
        let name = String(decoding: text[nameStart..<nameEnd], as: UTF8.self)
        let valueStart = skipBlanks(text, from: at + 1)
        guard valueStart < text.count, let quote = [doubleQuote, singleQuote].first(where: { $0 == text[valueStart] }) else {
            // A bare value ends at an inline comment (` #`) or the line end; trailing blanks are not part of it.
            var valueEnd = max(valueStart, contentEnd(text, from: start))
            if let comment = (valueStart..<valueEnd).first(where: { $0 > valueStart && isBlank(text[$0 - 1]) && text[$0] == hash }) {
                valueEnd = comment
            }
            while valueEnd > valueStart, isBlank(text[valueEnd - 1]) { valueEnd -= 1 }
            return Span(bytes: start..<end, kind: .assignment(name: name, value: valueStart..<valueEnd))
        }
        guard let close = closingQuote(text, quote, after: valueStart) else {
            return unreadable(quote == doubleQuote ? "unterminated double quote" : "unterminated single quote")
        }
        // The span runs to the end of the closing quote's line, so a value's inner lines are never read as lines.
        let spanEnd = lineEnd(text, from: close)
        let after = skipBlanks(text, from: close + 1)
        guard after >= contentEnd(text, from: close) || text[after] == hash else {
            return Span(bytes: start..<spanEnd, kind: .unreadable(reason: "text after the closing quote"))
        }
        return Span(bytes: start..<spanEnd, kind: .assignment(name: name, value: valueStart..<(close + 1)))
    }

    /// The index of the quote that closes the one at `open` (a backslash escapes
    /// the next byte inside double quotes), or nil.
    private static func closingQuote(_ text: [UInt8], _ quote: UInt8, after open: Int) -> Int? {
        var at = open + 1
        while at < text.count {
            if text[at] == quote { return at }
            at += quote == doubleQuote && text[at] == backslash ? 2 : 1
        }
        return nil
    }

    /// The value a raw value stands for: quotes removed and, in double quotes, escapes decoded.
    private static func decodeValue(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        guard let first = raw.first, first == singleQuote || first == doubleQuote else { return Array(raw) }
        if first == singleQuote { return Array(raw.dropFirst().dropLast()) }
        var value: [UInt8] = []
        value.reserveCapacity(raw.count)
        var escaped = false
        for byte in raw.dropFirst().dropLast() {
            if escaped {
                switch byte {
                case UInt8(ascii: "n"): value.append(newline)
                case UInt8(ascii: "r"): value.append(carriageReturn)
                case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                default: value.append(byte)
                }
                escaped = false
            } else if byte == backslash {
                escaped = true
            } else {
                value.append(byte)
            }
        }
        return value
    }

    // MARK: Rendering

    /// The most bytes `appendLine` writes for a variable, line end included.
    private static func renderedSize(_ variable: (name: String, value: [UInt8])) -> Int {
        variable.name.utf8.count + 2 * variable.value.count + 5
    }

    /// Appends `NAME="value"` and `ending`.
    private static func appendLine(_ variable: (name: String, value: [UInt8]), ending: [UInt8], to output: inout [UInt8]) {
        output += variable.name.utf8
        output.append(UInt8(ascii: "="))
        appendValue(variable.value, to: &output)
        output += ending
    }

    /// Appends `"value"` with `\\`, `\"`, `\n`, `\r` escaped: the rest, any byte, as it is.
    private static func appendValue(_ value: [UInt8], to output: inout [UInt8]) {
        output.append(doubleQuote)
        for byte in value {
            switch byte {
            case backslash, doubleQuote: output += [backslash, byte]
            case newline: output += [backslash, UInt8(ascii: "n")]
            case carriageReturn: output += [backslash, UInt8(ascii: "r")]
            default: output.append(byte)
            }
        }
        output.append(doubleQuote)
    }
}
