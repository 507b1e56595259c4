/// The textual header of an age file: version line, recipient stanzas, MAC.
///
/// Parsing follows the spec's ABNF exactly (LF line ends, canonical unpadded
/// base64, 64-column bodies ended by a short line); anything else is refused.
public struct AgeHeader: Sendable {
    static let versionLine = "age-encryption.org/v1"
    static let versionPrefix = "age-encryption.org/"
    static let macKeyInfo = "header"
    /// Largest header accepted, so a garbage stream cannot grow memory without bound.
    public static let maximumSize = 1 << 20

    /// The recipient stanzas, in order.
    public let stanzas: [AgeStanza]
    /// The whole header as it was read or written, including the MAC line.
    public let encoded: [UInt8]
    let mac: [UInt8]
    /// How many leading bytes of `encoded` the MAC covers (through `---`).
    let macCoveredCount: Int

    /// Builds and MACs a header for `stanzas` under `fileKey`.
    init(stanzas: [AgeStanza], fileKey: borrowing SecureBytes) {
        var bytes = Array("\(Self.versionLine)\n".utf8)
        for stanza in stanzas { bytes += stanza.encoded }
        bytes += Array("---".utf8)
        let mac = Self.computeMAC(over: bytes, fileKey: fileKey)
        macCoveredCount = bytes.count
        bytes += Array(" \(Base64.encode(mac, .unpadded))\n".utf8)
        self.stanzas = stanzas
        self.encoded = bytes
        self.mac = mac
    }

    private init(stanzas: [AgeStanza], encoded: [UInt8], mac: [UInt8], macCoveredCount: Int) {
        self.stanzas = stanzas
        self.encoded = encoded
        self.mac = mac
        self.macCoveredCount = macCoveredCount
    }

    static func computeMAC<Bytes: Collection<UInt8>>(over bytes: Bytes, fileKey: borrowing SecureBytes) -> [UInt8] {
        let macKey = HMACSHA256.deriveKey(inputKey: fileKey, salt: [], info: macKeyInfo)
        return macKey.withUnsafeBytes { key in Array(bytes).withUnsafeBytes { HMACSHA256.authenticate(key: key, $0) } }
    }

    /// Parses a complete header object; trailing bytes are an error.
    public init(parsing bytes: [UInt8]) throws(AgeError) {
        guard let (header, consumed) = try Self.parsePrefix(bytes) else {
            throw AgeError(.header, "the header ends before its MAC line (truncated?)")
        }
        if consumed != bytes.count {
            throw AgeError(.header, "\(bytes.count - consumed) unexpected bytes after the header MAC line")
        }
        self = header
    }

    /// Parses a header at the start of `bytes`. Returns nil when more bytes are
    /// needed, or the header and how many bytes it took.
    public static func parsePrefix<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes
    ) throws(AgeError) -> (AgeHeader, Int)? where Bytes.Index == Int {
        var reader = LineReader(bytes: bytes)
        guard let version = reader.nextLine() else {
            if bytes.count >= maximumSize { throw AgeError(.header, "no header within \(maximumSize) bytes") }
            return try checkedIncomplete(bytes)
        }
        if version.elementsEqual(versionLine.utf8) {
            // fine
        } else if version.starts(with: versionPrefix.utf8) {
            throw AgeError(.header, "unsupported age version '\(String(decoding: version, as: UTF8.self))'")
        } else {
            throw AgeError(.header, "not an age file (it does not start with '\(versionLine)')")
        }

        var stanzas: [AgeStanza] = []
        while true {
            let lineStart = reader.position
            guard let line = reader.nextLine() else { return try checkedIncomplete(bytes) }
            if line.starts(with: "---".utf8) {
                let macText = line.dropFirst(3)
                guard macText.first == UInt8(ascii: " "), macText.count == 44,
                    let mac = Base64.decode(macText.dropFirst(), .unpadded), mac.count == 32
                else { throw AgeError(.header, "malformed MAC line") }
                guard !stanzas.isEmpty else { throw AgeError(.header, "the header has no recipient stanza") }
                let header = AgeHeader(
                    stanzas: stanzas, encoded: Array(bytes[bytes.startIndex..<reader.position]), mac: mac,
                    macCoveredCount: lineStart - bytes.startIndex + 3)
                return (header, reader.position - bytes.startIndex)
            }
            guard line.starts(with: "-> ".utf8) else {
                throw AgeError(.header, "unexpected line in the header (expected a stanza or the MAC line)")
            }
            let arguments = line.dropFirst(3).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard !arguments.isEmpty, arguments.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 33 && $0 <= 126 } })
            else { throw AgeError(.header, "malformed stanza line: arguments must be non-empty printable ASCII") }

            var bodyText: [UInt8] = []
            while true {
                guard let bodyLine = reader.nextLine() else { return try checkedIncomplete(bytes) }
                guard bodyLine.count <= 64 else { throw AgeError(.header, "stanza body line longer than 64 columns") }
                guard bodyLine.allSatisfy(isBase64Character) else {
                    throw AgeError(.header, "stanza body is not base64 (missing the final short line?)")
                }
                bodyText += bodyLine
                if bodyLine.count < 64 { break }
            }
            guard let body = Base64.decode(bodyText, .unpadded) else {
                throw AgeError(.header, "stanza body is not canonical unpadded base64")
            }
            stanzas.append(AgeStanza(arguments: arguments.map { String(decoding: $0, as: UTF8.self) }, body: body))
        }
    }

    private static func checkedIncomplete<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(AgeError) -> (AgeHeader, Int)? {
        if bytes.count >= maximumSize { throw AgeError(.header, "header larger than \(maximumSize) bytes") }
        return nil
    }

    private static func isBase64Character(_ c: UInt8) -> Bool {
        (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 43 || c == 47
    }

    /// The same file key wrapped for other recipients, with a new MAC: what key
    /// rotation writes beside a payload it never reads. Needs an identity that
    /// opens this header.
    public func rewrapped(opening identities: [any AgeIdentity], for recipients: [any AgeRecipient]) throws(AgeError) -> AgeHeader {
        guard !recipients.isEmpty else { throw AgeError(.key, "no recipients to wrap the file key for") }
        let fileKey = try unwrapFileKey(with: identities)
        var stanzas: [AgeStanza] = []
        for recipient in recipients { stanzas += try recipient.wrap(fileKey) }
        return AgeHeader(stanzas: stanzas, fileKey: fileKey)
    }

    /// Finds the file key with one of `identities` and checks the header MAC with it.
    ///
    /// Throws `.noMatch` when no identity opens a stanza, `.headerMAC` when the
    /// header was altered, `.header` for stanzas malformed for their type.
    public func unwrapFileKey(with identities: [any AgeIdentity]) throws(AgeError) -> SecureBytes {
        if stanzas.contains(where: { $0.type == AgeScryptRecipient.stanzaType }) && stanzas.count != 1 {
            throw AgeError(.header, "an scrypt stanza must be the only stanza in the header")
        }
        for identity in identities {
            if let fileKey = try identity.unwrap(stanzas) {
                guard fileKey.count == 16 else { throw AgeError(.header, "the file key is not 16 bytes") }
                let expected = Self.computeMAC(over: encoded.prefix(macCoveredCount), fileKey: fileKey)
                guard constantTimeEquals(expected, mac) else {
                    throw AgeError(.headerMAC, "the header MAC does not match: the header was altered or corrupted")
                }
                return fileKey
            }
        }
        throw AgeError(.noMatch, "none of the given identities can decrypt this file (wrong key?)")
    }
}

/// Splits bytes at LF without copying; a line without its LF is not returned.
private struct LineReader<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
    let bytes: Bytes
    var position: Int

    init(bytes: Bytes) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    mutating func nextLine() -> Bytes.SubSequence? {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { return nil }
        let line = bytes[position..<end]
        position = end + 1
        return line
    }
}
