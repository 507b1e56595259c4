import CofferCrypto
import Foundation

/// Where things live in a repository (any storage):
///
///     coffer.json
///     bundles/ENV/BUNDLE-ID/artifacts/NAME.EXT.gz.age-header
///     bundles/ENV/BUNDLE-ID/artifacts/NAME.EXT.gz.age-payload
///     bundles/ENV/BUNDLE-ID/manifest.json.minisig
///     bundles/ENV/BUNDLE-ID/manifest.json        (written last)
///     chunks/ENV/AB/CHUNK-ID-DIGEST16.age-header  (format v2: shared chunks)
///     chunks/ENV/AB/CHUNK-ID-DIGEST16.age-payload
public enum BundleLayout {
    public static let descriptor = "coffer.json"
    public static let descriptorFormat = "coffer-repository/1"
    public static let manifestName = "manifest.json"
    public static let signatureName = "manifest.json.minisig"
    /// A rotated manifest (and `.minisig`) waiting to replace the main pair; see key rotation.
    public static let rotatingManifestName = "manifest.json.rotating"

    public static func environmentPrefix(_ environment: String) -> String { "bundles/\(environment)" }
    public static let headerSuffix = ".age-header"
    public static let payloadSuffix = ".age-payload"

    /// Where the chunks of an environment's format v2 bundles live.
    public static func chunkPrefix(_ environment: String) -> String { "chunks/\(environment)" }

    /// `chunks/ENV/AB/ID-DIGEST16SUFFIX`: the first two digits of the id fan the
    /// objects out over 256 folders; the object's own digest (16 digits) keeps
    /// every ciphertext of a chunk under its own name.
    public static func chunkKey(environment: String, id: String, digest: String, suffix: String) -> String {
        "\(chunkPrefix(environment))/\(id.prefix(2))/\(id)-\(digest.prefix(16))\(suffix)"
    }

    /// The chunk id a chunk object's key names, nil for any other key.
    public static func chunkID(ofKey key: String) -> String? {
        let name = key.split(separator: "/").last.map(String.init) ?? ""
        guard name.hasSuffix(headerSuffix) || name.hasSuffix(payloadSuffix) else { return nil }
        let id = String(name.prefix(64))
        return ChunkReference.isValidID(id) ? id : nil
    }
    public static func bundlePrefix(environment: String, id: String) -> String { "bundles/\(environment)/\(id)" }

    /// `artifacts/NAME.EXT.gz.age`, to which `-header` and `-payload` are appended.
    public static func artifactPath(name: String, fileExtension: String) -> String {
        "artifacts/\(name).\(fileExtension).gz.age"
    }

    /// The descriptor's content. `chunked` records that the repository was
    /// created for format v2 bundles, the default of new repositories; a
    /// descriptor without it (an existing repository) keeps format v1 until
    /// the config says `[format] chunked = true`.
    public static func descriptorBytes(chunked: Bool = false) -> [UInt8] {
        Array("{\n  \"format\" : \"\(descriptorFormat)\"\(chunked ? ",\n  \"chunked\" : true" : "")\n}\n".utf8)
    }

    /// Checks a descriptor, refusing unknown repository formats; returns
    /// whether it says the repository is chunked.
    @discardableResult
    public static func checkDescriptor(_ bytes: [UInt8]) throws -> Bool {
        struct Descriptor: Decodable {
            let format: String
            let chunked: Bool?
        }
        guard let descriptor = try? JSONDecoder().decode(Descriptor.self, from: Data(bytes)) else {
            throw FormatError(.malformed, "coffer.json is not a Coffer repository descriptor")
        }
        guard descriptor.format == descriptorFormat else {
            throw FormatError(.unsupportedVersion, "unknown repository format '\(descriptor.format.prefix(40))'; this coffer reads \(descriptorFormat)")
        }
        return descriptor.chunked ?? false
    }
}

/// Bundle ids sort by time and read well: `20261128T064512Z-3f9a1c2e`.
public enum BundleID {
    /// How far in the future an id may be dated and still count: clocks of
    /// the hosts that share a repository may differ by this much. An id dated
    /// later was planted, or made by a clock that was wrong; it is ignored.
    public static let allowedClockSkew: TimeInterval = 300

    /// A new id for `date` (UTC) with 8 random hex digits. The time is always
    /// the clock's, never taken from the repository; only when `previous` (the
    /// newest bundle) falls in the same second are the digits chosen above its
    /// digits (a random step of at most 2^20, so thousands fit in one second),
    /// so that "latest" and the `previous` chain follow the order of creation
    /// (tests that fix the clock take several bundles in one second). When no
    /// digits are left above it, the id is random and may sort before it.
    public static func make(at date: Date, after previous: String? = nil) -> String {
        let time = timeFormatter.string(from: date)
        if let previous, isValid(previous), previous.prefix(16) == time,
            let previousSuffix = UInt32(previous.suffix(8), radix: 16), previousSuffix < UInt32.max
        {
            let step = UInt32.random(in: 1...(1 << 20))
            let next = previousSuffix.addingReportingOverflow(step)
            return time + "-" + String(format: "%08x", next.overflow ? UInt32.max : next.partialValue)
        }
        return time + "-" + hexString(SecureRandom.bytes(4))
    }

    /// The time an id names, or nil when it is not a valid id of a real time
    /// (a 13th month, a 31st of April, a year beyond 9999).
    public static func date(of id: String) -> Date? {
        guard isValid(id) else { return nil }
        let time = String(id.prefix(16))
        let formatter = timeFormatter
        guard let date = formatter.date(from: time), formatter.string(from: date) == time else { return nil }
        return date
    }

    /// True when `id` is a valid id dated no later than `now` plus the allowed clock skew.
    public static func isCurrent(_ id: String, now: Date) -> Bool {
        guard let date = date(of: id) else { return false }
        return date <= now.addingTimeInterval(allowedClockSkew)
    }

    private static var timeFormatter: DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter
    }

    /// True for strings of the form above (also guards paths built from user input).
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 25, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z"), bytes[16] == UInt8(ascii: "-")
        else { return false }
        let digits = bytes[0..<8] + bytes[9..<15]
        let isHex: (UInt8) -> Bool = { (48...57).contains($0) || (97...102).contains($0) }
        return digits.allSatisfy { (48...57).contains($0) } && bytes[17...].allSatisfy(isHex)
    }
}
