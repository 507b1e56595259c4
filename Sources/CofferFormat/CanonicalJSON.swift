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

/// A JSON object that names its own format (`coffer-journal/1`, `coffer-drill/1`).
public protocol FormattedJSON: Decodable {
    static var currentFormat: String { get }
    var format: String { get }
}

extension CanonicalJSON {
    /// Decodes a `FormattedJSON` object, refusing another format; errors are
    /// `FormatError`s naming `kind` ("journal") and `noun` ("a journal event").
    public static func decode<Value: FormattedJSON>(_ type: Value.Type, from bytes: [UInt8], kind: String, noun: String) throws -> Value {
        do {
            let value = try JSONDecoder().decode(type, from: Data(bytes))
            guard value.format == Value.currentFormat else {
                throw FormatError(.unsupportedVersion, "unknown \(kind) format '\(value.format.prefix(40))'")
            }
            return value
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformed, "\(noun) is not \(Value.currentFormat) JSON: \(error)")
        }
    }
}
