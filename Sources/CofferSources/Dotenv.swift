/// The dotenv format Coffer reads and writes: `NAME=value` lines, `#` comments,
/// optional `export `, values bare, in single quotes (literal) or in double
/// quotes (with `\\`, `\"`, `\n`, `\r`, `\t` escapes). Coffer writes every value
/// double-quoted so any byte sequence round-trips.
public enum Dotenv {
    /// A malformed line, by number (the content is not repeated: it may be secret).
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// The variables in file order; a later duplicate replaces an earlier one.
    public static func parse(_ text: String) throws -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        var index: [String: Int] = [:]
        // "\r\n" is one Character in Swift, so CRLF files need their own separator.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        var number = 0
        var cursor = 0
        while cursor < lines.count {
            number = cursor + 1
            var line = String(lines[cursor])
            cursor += 1
            if line.hasSuffix("\r") { line.removeLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var body = Substring(trimmed)
            if body.hasPrefix("export ") { body = body.dropFirst(7).drop { $0 == " " } }
            guard let equals = body.firstIndex(of: "=") else { throw ParseError(line: number, reason: "expected NAME=value") }
            let name = body[..<equals].trimmingCharacters(in: " \t")
            guard isValidName(name) else { throw ParseError(line: number, reason: "invalid variable name") }
            var raw = String(body[body.index(after: equals)...].drop { $0 == " " || $0 == "\t" })
            // A double-quoted value may span lines.
            if raw.hasPrefix("\"") {
                while !closesDoubleQuote(raw), cursor < lines.count {
                    raw += "\n" + lines[cursor]
                    cursor += 1
                }
            }
            let value = try decodeValue(raw, line: number)
            if let existing = index[name] {
                result[existing].value = value
            } else {
                index[name] = result.count
                result.append((name, value))
            }
        }
        return result
    }

    /// The file text for `variables`, sorted by name, each value double-quoted.
    public static func render(_ variables: [(name: String, value: String)]) -> String {
        var text = "# Written by coffer. Values are double-quoted with \\\\ \\\" \\n \\r escapes.\n"
        for (name, value) in variables.sorted(by: { $0.name < $1.name }) {
            var escaped = ""
            // By scalar: "\r\n" is one Character and would slip past a Character switch.
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                case "\r": escaped += "\\r"
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            text += "\(name)=\"\(escaped)\"\n"
        }
        return text
    }

    /// Letters, digits and `_`, not starting with a digit.
    public static func isValidName(_ name: String) -> Bool {
        let isLetter: (Unicode.Scalar) -> Bool = { $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) }
        guard let first = name.unicodeScalars.first, isLetter(first) else { return false }
        return name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }

    private static func closesDoubleQuote(_ raw: String) -> Bool {
        var escaped = false
        for character in raw.dropFirst() {
            if escaped { escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "\"" { return true }
        }
        return false
    }

    private static func decodeValue(_ raw: String, line: Int) throws -> String {
        if raw.hasPrefix("\"") {
            var value = ""
            var escaped = false
            var closed = false
            var rest = raw.dropFirst()
            while let character = rest.first {
                rest = rest.dropFirst()
                if escaped {
                    switch character {
                    case "n": value += "\n"
                    case "r": value += "\r"
                    case "t": value += "\t"
                    default: value.append(character)
                    }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    closed = true
                    break
                } else {
                    value.append(character)
                }
            }
            guard closed else { throw ParseError(line: line, reason: "unterminated double quote") }
            let after = rest.drop { $0 == " " || $0 == "\t" }
            guard after.isEmpty || after.hasPrefix("#") else { throw ParseError(line: line, reason: "text after the closing quote") }
            return value
        }
        if raw.hasPrefix("'") {
            let inner = raw.dropFirst()
            guard let close = inner.firstIndex(of: "'") else { throw ParseError(line: line, reason: "unterminated single quote") }
            let after = inner[inner.index(after: close)...].drop { $0 == " " || $0 == "\t" }
            guard after.isEmpty || after.hasPrefix("#") else { throw ParseError(line: line, reason: "text after the closing quote") }
            return String(inner[..<close])
        }
        // Bare value: up to an inline comment (" #"), trailing blanks dropped.
        var value = raw
        if let comment = value.range(of: " #") { value = String(value[..<comment.lowerBound]) }
        return value.trimmingCharacters(in: " \t")
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let isTrimmed: (Character) -> Bool = { set.contains($0) }
        guard let first = firstIndex(where: { !isTrimmed($0) }), let last = lastIndex(where: { !isTrimmed($0) }) else { return "" }
        return String(self[first...last])
    }
}
