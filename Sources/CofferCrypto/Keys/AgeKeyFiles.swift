/// The age key file formats, as `age-keygen` writes them and `age -i` / `age -R` read them.
public enum AgeKeyFiles {
    /// Identities from an identity file (`# created: ...`, `# public key: ...`, `AGE-SECRET-KEY-1...`).
    public static func identities(fromFile path: String) throws -> [AgeX25519Identity] {
        let contents = try SecretFile.read(path)
        var identities: [AgeX25519Identity] = []
        var lineNumber = 0
        try SecretFile.forEachLine(contents) { line in
            lineNumber += 1
            do {
                identities.append(try AgeX25519Identity(parsing: line))
            } catch {
                throw KeyFileError(.malformed, path: path, "entry \(lineNumber) is not an age identity: \((error as? AgeError)?.message ?? "\(error)")")
            }
        }
        guard !identities.isEmpty else { throw KeyFileError(.malformed, path: path, "no AGE-SECRET-KEY-1 line in the file") }
        return identities
    }

    /// The text of an identity file for `identity`, as `age-keygen` formats it.
    public static func identityFile(_ identity: AgeX25519Identity, created: String) -> SecureBytes {
        var text = Array("# created: \(created)\n# public key: \(identity.recipient)\n".utf8)
        identity.encodedSecret().withUnsafeBytes { text += $0 }
        text.append(0x0A)
        return SecureBytes(wiping: &text)
    }

    /// Recipients from a recipients file: one `age1...` a line, `#` comments allowed.
    public static func recipients(fromText text: [UInt8], path: String) throws -> [AgeX25519Recipient] {
        var recipients: [AgeX25519Recipient] = []
        for (index, rawLine) in text.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: rawLine, as: UTF8.self).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                recipients.append(try AgeX25519Recipient(parsing: line))
            } catch {
                throw KeyFileError(.malformed, path: path, "line \(index + 1): \(error.message)")
            }
        }
        guard !recipients.isEmpty else { throw KeyFileError(.malformed, path: path, "no age1... recipient in the file") }
        return recipients
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks and line ends.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
