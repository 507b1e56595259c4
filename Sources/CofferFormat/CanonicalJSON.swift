import Foundation

/// The one JSON form Coffer writes: sorted keys, two-space indentation, no
/// escaped slashes, a final newline. Signed objects (manifests, journal
/// events, drill reports) are signed in it; state files use it so they diff well.
public enum CanonicalJSON {
    public static func bytes<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [0x0A]
    }
}
