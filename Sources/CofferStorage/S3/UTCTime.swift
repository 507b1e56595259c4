#if canImport(Glibc)
import Glibc
#endif

/// A moment in UTC, in the two shapes S3 speaks: SigV4's `20130524T000000Z`
/// and the ISO 8601 timestamps of listings (`2013-05-24T00:00:00.000Z`).
struct UTCTime: Sendable, Comparable {
    /// Seconds since 1970.
    let seconds: Int64

    init(seconds: Int64) { self.seconds = seconds }

    static func now() -> UTCTime { UTCTime(seconds: Int64(time(nil))) }

    private var fields: tm {
        var value = time_t(seconds)
        var parts = tm()
        gmtime_r(&value, &parts)
        return parts
    }

    /// `YYYYMMDD'T'HHMMSS'Z'`
    var basic: String {
        let t = fields
        return pad(Int(t.tm_year) + 1900, 4) + pad(Int(t.tm_mon) + 1, 2) + pad(Int(t.tm_mday), 2) + "T"
            + pad(Int(t.tm_hour), 2) + pad(Int(t.tm_min), 2) + pad(Int(t.tm_sec), 2) + "Z"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, as Object Lock headers carry it.
    var iso8601: String {
        let t = fields
        return pad(Int(t.tm_year) + 1900, 4) + "-" + pad(Int(t.tm_mon) + 1, 2) + "-" + pad(Int(t.tm_mday), 2) + "T"
            + pad(Int(t.tm_hour), 2) + ":" + pad(Int(t.tm_min), 2) + ":" + pad(Int(t.tm_sec), 2) + "Z"
    }

    /// `YYYYMMDD`, the day of the signing scope.
    var day: String { String(basic.prefix(8)) }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    static func parseISO8601(_ text: String) -> UTCTime? {
        let digits = text.unicodeScalars.split { !("0"..."9").contains($0) }.map { String($0) }
        guard digits.count >= 6, let year = Int32(digits[0]), let month = Int32(digits[1]), let day = Int32(digits[2]),
            let hour = Int32(digits[3]), let minute = Int32(digits[4]), let second = Int32(digits[5])
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return UTCTime(seconds: Int64(timegm(&parts)))
    }

    static func < (lhs: UTCTime, rhs: UTCTime) -> Bool { lhs.seconds < rhs.seconds }

    private func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
