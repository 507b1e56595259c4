import CSodium

/// Strict base64 through libsodium: decoding rejects non-canonical input,
/// whitespace and (for the unpadded alphabet) any `=`, as age requires.
public enum Base64 {
    /// Which padding rule applies.
    public enum Variant: Sendable {
        /// RFC 4648 with `=` padding (minisign, PEM armor).
        case padded
        /// RFC 4648 without padding (age headers).
        case unpadded

        var sodiumValue: Int32 {
            switch self {
            case .padded: return sodium_base64_VARIANT_ORIGINAL
            case .unpadded: return sodium_base64_VARIANT_ORIGINAL_NO_PADDING
            }
        }
    }

    /// Encodes `bytes`.
    public static func encode(_ bytes: UnsafeRawBufferPointer, _ variant: Variant) -> String {
        _ = Sodium.ready
        let length: Int
        switch variant {
        case .padded: length = (bytes.count + 2) / 3 * 4 + 1
        case .unpadded: length = (bytes.count * 4 + 2) / 3 + 1
        }
        var out = [CChar](repeating: 0, count: length)
        out.withUnsafeMutableBufferPointer { text in
            _ = sodium_bin2base64(
                text.baseAddress!, length, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
                variant.sodiumValue)
        }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Encodes `bytes`.
    public static func encode(_ bytes: [UInt8], _ variant: Variant) -> String {
        bytes.withUnsafeBytes { encode($0, variant) }
    }

    /// Decodes `text`, or nil when it is not canonical base64 of that variant.
    public static func decode<Text: Collection<UInt8>>(_ text: Text, _ variant: Variant) -> [UInt8]? {
        _ = Sodium.ready
        let chars = Array(text)
        var out = [UInt8](repeating: 0, count: chars.count / 4 * 3 + 3)  // never empty
        var written = 0
        let status = chars.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                input.withMemoryRebound(to: CChar.self) { input in
                    sodium_base642bin(
                        output.baseAddress!, output.count, input.baseAddress, input.count, nil, &written, nil,
                        variant.sodiumValue)
                }
            }
        }
        if status != 0 { return nil }
        out.removeLast(out.count - written)
        return out
    }

    /// Decodes `text`, or nil when it is not canonical base64 of that variant.
    public static func decode(_ text: String, _ variant: Variant) -> [UInt8]? {
        decode(Array(text.utf8), variant)
    }
}
