/// CRC-64 as Redis computes it for RDB files and DUMP payloads: the Jones
/// polynomial (0xad93d23594c935a9), reflected, initial value 0, no final xor.
/// crc64("123456789") = 0xe9c6d914c4b8d9ca.
public struct CRC64: Sendable {
    public private(set) var value: UInt64 = 0

    public init() {}

    /// Slicing-by-8 tables, built once.
    static let tables: [[UInt64]] = {
        let polynomial: UInt64 = 0x95ac_9329_ac4b_c9b5  // 0xad93d23594c935a9 reflected
        var first = [UInt64](repeating: 0, count: 256)
        for index in 0..<256 {
            var crc = UInt64(index)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            first[index] = crc
        }
        var tables = [first]
        for level in 1..<8 {
            var table = [UInt64](repeating: 0, count: 256)
            for index in 0..<256 {
                let previous = tables[level - 1][index]
                table[index] = (previous >> 8) ^ first[Int(previous & 0xff)]
            }
            tables.append(table)
        }
        return tables
    }()

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let t = Self.tables
        var crc = value
        var index = 0
        let count = bytes.count
        t[0].withUnsafeBufferPointer { t0 in
            t[1].withUnsafeBufferPointer { t1 in
                t[2].withUnsafeBufferPointer { t2 in
                    t[3].withUnsafeBufferPointer { t3 in
                        t[4].withUnsafeBufferPointer { t4 in
                            t[5].withUnsafeBufferPointer { t5 in
                                t[6].withUnsafeBufferPointer { t6 in
                                    t[7].withUnsafeBufferPointer { t7 in
                                        while index + 8 <= count {
                                            let word = crc ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                                            crc = t7[Int(word & 0xff)] ^ t6[Int((word >> 8) & 0xff)] ^ t5[Int((word >> 16) & 0xff)]
                                                ^ t4[Int((word >> 24) & 0xff)] ^ t3[Int((word >> 32) & 0xff)]
                                                ^ t2[Int((word >> 40) & 0xff)] ^ t1[Int((word >> 48) & 0xff)] ^ t0[Int(word >> 56)]
                                            index += 8
                                        }
                                        while index < count {
                                            crc = t0[Int((crc ^ UInt64(bytes[index])) & 0xff)] ^ (crc >> 8)
                                            index += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        value = crc
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var crc = CRC64()
        crc.update(bytes)
        return crc.value
    }
}
