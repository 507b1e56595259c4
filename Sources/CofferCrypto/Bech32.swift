/// Bech32 (BIP 173) as age uses it: no length limit, all-lowercase or
/// all-uppercase, checksum computed over the lowercase form.
enum Bech32 {
    private static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, char) in charset.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    enum Failure: Error, Equatable {
        case mixedCase, noSeparator, invalidCharacter, badChecksum, badPadding
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits; when decoding, leftover bits must be fewer than `from` and zero.
    private static func convertBits<Data: Collection<UInt8>>(_ data: Data, from: Int, to: Int, pad: Bool) throws(Failure) -> [UInt8] {
        var accumulator = 0
        var bits = 0
        var out: [UInt8] = []
        out.reserveCapacity(data.count * from / to + 1)
        let maxValue = (1 << to) - 1
        for value in data {
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((accumulator >> bits) & maxValue))
            }
            accumulator &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { out.append(UInt8((accumulator << (to - bits)) & maxValue)) }
        } else if bits >= from || accumulator != 0 {
            throw .badPadding
        }
        accumulator = 0
        return out
    }

    /// Encodes `data` under the human-readable part `hrp` (lowercase output).
    static func encode(hrp: String, data: UnsafeRawBufferPointer) -> String {
        var bytes = encodeBytes(hrp: hrp, data: data)
        defer { secureWipe(&bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// As `encode`, as bytes, so that an encoded secret never becomes a String.
    static func encodeBytes(hrp: String, data: UnsafeRawBufferPointer, uppercase: Bool = false) -> [UInt8] {
        let hrpBytes = Array(hrp.lowercased().utf8)
        var groups = (try? convertBits(data, from: 8, to: 5, pad: true)) ?? []
        defer { groups.withUnsafeMutableBytes { secureWipe($0) } }
        let checksum = polymod(expand(hrpBytes) + groups + [0, 0, 0, 0, 0, 0]) ^ 1
        var out = hrpBytes + [UInt8(ascii: "1")]
        for group in groups { out.append(charset[Int(group)]) }
        for index in 0..<6 { out.append(charset[Int((checksum >> (5 * (5 - UInt32(index)))) & 31)]) }
        if uppercase {
            for index in out.indices where out[index] >= UInt8(ascii: "a") && out[index] <= UInt8(ascii: "z") { out[index] -= 32 }
        }
        return out
    }

    /// Decodes a Bech32 string into its lowercase hrp and data bytes.
    /// The caller wipes `data` when it is secret.
    static func decode(_ text: String) throws(Failure) -> (hrp: String, data: [UInt8]) {
        var bytes = Array(text.utf8)
        defer { secureWipe(&bytes) }
        return try decode(bytes: bytes)
    }

    /// Decodes Bech32 text given as bytes (so a secret key need not become a String).
    static func decode(bytes input: [UInt8]) throws(Failure) -> (hrp: String, data: [UInt8]) {
        var bytes = input
        defer { secureWipe(&bytes) }
        let hasLower = bytes.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        let hasUpper = bytes.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        if hasLower && hasUpper { throw .mixedCase }
        for index in bytes.indices {
            if bytes[index] < 33 || bytes[index] > 126 { throw .invalidCharacter }
            if hasUpper, bytes[index] >= UInt8(ascii: "A"), bytes[index] <= UInt8(ascii: "Z") { bytes[index] += 32 }
        }
        guard let separator = bytes.lastIndex(of: UInt8(ascii: "1")), separator > 0, bytes.count - separator - 1 >= 6
        else { throw .noSeparator }
        let hrp = Array(bytes[..<separator])
        var groups: [UInt8] = []
        defer { secureWipe(&groups) }
        for char in bytes[(separator + 1)...] {
            guard char < 128, reverse[Int(char)] >= 0 else { throw .invalidCharacter }
            groups.append(UInt8(reverse[Int(char)]))
        }
        guard polymod(expand(hrp) + groups) == 1 else { throw .badChecksum }
        let data = try convertBits(groups.dropLast(6), from: 5, to: 8, pad: false)
        return (String(decoding: hrp, as: UTF8.self), data)
    }
}
