/// Durations as people write them in options and config (`30s`, `10m`,
/// `1h30m`, `2d`; a bare number is seconds), the systemd time-span units that
/// cron and systemd users already know.
public enum DurationText {
    /// Whole seconds, or nil when `text` is not a duration.
    public static func seconds(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("seconds", 1), ("second", 1), ("sec", 1), ("s", 1), ("minutes", 60), ("minute", 60), ("min", 60), ("m", 60),
            ("hours", 3600), ("hour", 3600), ("hr", 3600), ("h", 3600), ("days", 86400), ("day", 86400), ("d", 86400),
        ]
        let trimmed = text.filter { $0 != " " }
        guard !trimmed.isEmpty else { return nil }
        if let plain = Int(trimmed) { return plain >= 0 ? plain : nil }
        var rest = Substring(trimmed)
        var total = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int(digits), number < 1_000_000 else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.0 == letters.lowercased() }) else { return nil }
            rest = rest.dropFirst(letters.count)
            total += number * unit.1
        }
        return total
    }

    /// `seconds` in the largest exact unit: `90s` -> `90s`, `600` -> `10m`, `7200` -> `2h`.
    public static func format(_ seconds: Int) -> String {
        if seconds > 0 && seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
