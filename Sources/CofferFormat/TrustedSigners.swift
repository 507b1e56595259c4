import CofferCrypto
import Foundation

/// The minisign keys whose signatures on manifests and journal events are
/// accepted, each for a window of time: after the signing key is rotated, the
/// old key stays trusted for what it signed while it was the signer, and for
/// nothing signed later.
///
/// `keys/trusted-signers`, one key a line (`#` comments):
///
///     RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3  2026-01-01T00:00:00Z  2026-11-28T20:00:00Z
///     RWSb1ZE2ZbcwL8D0tDjNnD7TJr2qrbzWz4mQ5W6K8H4bbWcdOMWvqU9D  2026-11-28T20:00:00Z  -
///
/// Without the file, `signing.pub` is the one trusted key, for all time.
public struct TrustedSigners: Sendable {
    public struct Signer: Sendable {
        public var key: MinisignPublicKey
        /// Signed items must be dated at or after `from` and at or before `until` (nil: open);
        /// items of the second of a rotation are covered by both keys.
        public var from: Date?
        public var until: Date?

        public init(key: MinisignPublicKey, from: Date?, until: Date?) {
            self.key = key
            self.from = from
            self.until = until
        }

        func covers(_ date: Date) -> Bool {
            (from.map { date >= $0 } ?? true) && (until.map { date <= $0 } ?? true)
        }
    }

    public var signers: [Signer]

    public init(signers: [Signer]) {
        self.signers = signers
    }

    /// One key, trusted for everything.
    public init(_ key: MinisignPublicKey) {
        signers = [Signer(key: key, from: nil, until: nil)]
    }

    public static func parse(_ text: String, path: String) throws -> TrustedSigners {
        var signers: [Signer] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            func date(_ field: String) throws -> Date? {
                if field == "-" { return nil }
                guard let value = ISO8601DateFormatter().date(from: field) else {
                    throw FormatError(.malformed, "\(path) line \(index + 1): \(field) is not a UTC time like 2026-11-28T20:00:00Z (or - for open)")
                }
                return value
            }
            guard fields.count == 3, let key = try? MinisignPublicKey(parsing: Array(fields[0].utf8)) else {
                throw FormatError(.malformed, "\(path) line \(index + 1): expected `PUBLIC-KEY FROM UNTIL` (minisign public key, two times or -)")
            }
            signers.append(Signer(key: key, from: try date(fields[1]), until: try date(fields[2])))
        }
        guard !signers.isEmpty else { throw FormatError(.malformed, "\(path) lists no signer") }
        return TrustedSigners(signers: signers)
    }

    public func render() -> String {
        var text = "# Keys whose signatures Coffer accepts: minisign public key, valid from, valid until (- = open).\n"
        for signer in signers {
            text += "\(signer.key.base64)  \(signer.from.map(Self.format) ?? "-")  \(signer.until.map(Self.format) ?? "-")\n"
        }
        return text
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: date)
    }

    /// Checks `signature` over `data` against the signer it names, and that the
    /// item's own date (read from the verified data by `dated`) lies in that
    /// signer's window. Returns the signer's key id.
    @discardableResult
    public func verify(_ data: [UInt8], signature: MinisignSignature, what: String, dated: () throws -> Date?) throws -> MinisignKeyID {
        let candidates = signers.filter { $0.key.keyID == signature.keyID }
        guard !candidates.isEmpty else {
            throw FormatError(.signature, "\(what) is signed by key \(signature.keyID), which is not a trusted signing key (\(trustedList))")
        }
        do {
            _ = try Minisign.verify(signature, data: data, publicKey: candidates[0].key)
        } catch {
            throw FormatError(.signature, "the signature of \(what) does not verify: \(error.message)")
        }
        if candidates.contains(where: { $0.from == nil && $0.until == nil }) { return signature.keyID }
        guard let date = try dated() else {
            throw FormatError(.signature, "\(what) carries no date to check against the window of signer \(signature.keyID)")
        }
        guard candidates.contains(where: { $0.covers(date) }) else {
            throw FormatError(
                .signature, "\(what) is dated \(Self.format(date)), outside the window in which key \(signature.keyID) is a trusted signer")
        }
        return signature.keyID
    }

    var trustedList: String { signers.map(\.key.keyID.description).joined(separator: ", ") }

    /// Whether `keyID` may sign something dated `date`.
    public func allows(_ keyID: MinisignKeyID, at date: Date) -> Bool {
        signers.contains { $0.key.keyID == keyID && $0.covers(date) }
    }
}
