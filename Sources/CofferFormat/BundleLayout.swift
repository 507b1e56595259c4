import CofferCrypto
import Foundation

/// Where things live in a repository (any storage):
///
///     coffer.json
///     bundles/ENV/BUNDLE-ID/artifacts/NAME.EXT.gz.age-header
///     bundles/ENV/BUNDLE-ID/artifacts/NAME.EXT.gz.age-payload
///     bundles/ENV/BUNDLE-ID/manifest.json.minisig
///     bundles/ENV/BUNDLE-ID/manifest.json        (written last)
public enum BundleLayout {
    public static let descriptor = "coffer.json"
    public static let descriptorFormat = "coffer-repository/1"
    public static let manifestName = "manifest.json"
    public static let signatureName = "manifest.json.minisig"
    /// A rotated manifest (and `.minisig`) waiting to replace the main pair; see key rotation.
    public static let rotatingManifestName = "manifest.json.rotating"

    public static func environmentPrefix(_ environment: String) -> String { "bundles/\(environment)" }
    public static func bundlePrefix(environment: String, id: String) -> String { "bundles/\(environment)/\(id)" }

    /// `artifacts/NAME.EXT.gz.age`, to which `-header` and `-payload` are appended.
    public static func artifactPath(name: String, fileExtension: String) -> String {
        "artifacts/\(name).\(fileExtension).gz.age"
    }

    /// The descriptor's content.
    public static func descriptorBytes() -> [UInt8] {
        Array("{\n  \"format\" : \"\(descriptorFormat)\"\n}\n".utf8)
    }

    /// Checks a descriptor, refusing unknown repository formats.
    public static func checkDescriptor(_ bytes: [UInt8]) throws {
        struct Descriptor: Decodable { let format: String }
        guard let descriptor = try? JSONDecoder().decode(Descriptor.self, from: Data(bytes)) else {
            throw FormatError(.malformed, "coffer.json is not a Coffer repository descriptor")
        }
        guard descriptor.format == descriptorFormat else {
            throw FormatError(.unsupportedVersion, "unknown repository format '\(descriptor.format.prefix(40))'; this coffer reads \(descriptorFormat)")
        }
    }
}

/// Bundle ids sort by time and read well: `20261128T064512Z-3f9a1c2e`.
public enum BundleID {
    /// A new id for `date` (UTC) with 8 random hex digits, sorting after
    /// `previous` even when both fall in the same second (so "latest" and the
    /// `previous` chain follow the order of creation).
    public static func make(at date: Date, after previous: String? = nil) -> String {
        let time = timeFormatter.string(from: date)
        guard let previous, isValid(previous) else { return time + "-" + hexString(SecureRandom.bytes(4)) }
        let previousTime = String(previous.prefix(16))
        guard previousTime >= time else { return time + "-" + hexString(SecureRandom.bytes(4)) }
        // Same second as the newest bundle (or a clock that went back): stay after it.
        let previousSuffix = UInt32(previous.suffix(8), radix: 16) ?? 0
        if previousSuffix < UInt32.max {
            return previousTime + "-" + String(format: "%08x", UInt32.random(in: (previousSuffix + 1)...UInt32.max))
        }
        let nextSecond = (timeFormatter.date(from: previousTime) ?? date).addingTimeInterval(1)
        return timeFormatter.string(from: nextSecond) + "-" + hexString(SecureRandom.bytes(4))
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
