/// One recipient stanza of an age header: `-> TYPE ARGS...` and a body that
/// carries the file key wrapped for one recipient.
public struct AgeStanza: Sendable, Equatable {
    /// The type (first argument) and its arguments, as written.
    public let arguments: [String]
    /// The decoded body.
    public let body: [UInt8]

    /// The stanza type, such as `X25519` or `scrypt`.
    public var type: String { arguments[0] }

    public init(arguments: [String], body: [UInt8]) {
        precondition(!arguments.isEmpty)
        self.arguments = arguments
        self.body = body
    }

    /// The stanza as it appears in a header: body wrapped at 64 columns and
    /// always ended by a line shorter than 64 (possibly empty).
    var encoded: [UInt8] {
        var out = Array("-> \(arguments.joined(separator: " "))\n".utf8)
        let text = Array(Base64.encode(body, .unpadded).utf8)
        var index = 0
        while true {
            let end = min(index + 64, text.count)
            out += text[index..<end]
            out.append(0x0A)
            if end - index < 64 { break }
            index = end
        }
        return out
    }
}
