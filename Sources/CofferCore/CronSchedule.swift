/// systemd calendar expressions that cron can run exactly, as cron's five
/// fields. Anything else (seconds other than 0, years, time zones, a day of
/// the month together with a day of the week, which cron would OR where
/// systemd ANDs) has no translation: nil, and the caller asks for `[schedule] cron`.
public enum CronSchedule {
    /// `minute hour day month weekday` for `expression`, or nil when cron cannot say the same.
    public static func fields(onCalendar expression: String) -> String? {
        let shorthands = [
            "hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1", "monthly": "0 0 1 * *",
            "yearly": "0 0 1 1 *", "annually": "0 0 1 1 *",
        ]
        let tokens = expression.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if tokens.count == 1, let shorthand = shorthands[tokens[0].lowercased()] { return shorthand }
        var rest = tokens[...]
        var weekdays = "*"
        if let first = rest.first, first.contains(where: \.isLetter) {
            guard let days = weekdayField(first) else { return nil }
            weekdays = days
            rest = rest.dropFirst()
        }
        var day = "*"
        var month = "*"
        if let first = rest.first, first.contains("-") {
            let parts = first.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || parts.count == 3 else { return nil }
            if parts.count == 3 && parts[0] != "*" { return nil }  // a year
            guard let m = numberField(parts[parts.count - 2], 1...12), let d = numberField(parts[parts.count - 1], 1...31) else { return nil }
            month = m
            day = d
            rest = rest.dropFirst()
        }
        guard rest.count == 1, let time = rest.first else { return nil }
        let clock = time.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard clock.count == 2 || clock.count == 3 else { return nil }
        if clock.count == 3 && Int(clock[2]) != 0 { return nil }
        guard let hour = numberField(clock[0], 0...23), let minute = numberField(clock[1], 0...59) else { return nil }
        // cron runs a job when the day of the month OR the weekday matches; systemd wants both.
        if day != "*" && weekdays != "*" { return nil }
        return "\(minute) \(hour) \(day) \(month) \(weekdays)"
    }

    /// True for five cron fields made of what cron fields hold.
    public static func isValidFields(_ text: String) -> Bool {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        let allowed = Set("0123456789*,-/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return fields.count == 5 && fields.allSatisfy { field in field.allSatisfy { allowed.contains($0) } }
    }

    /// `*`, a number, a comma list of numbers, `A..B` ranges and `A/N` or `*/N` steps, all within `range`.
    static func numberField(_ text: String, _ range: ClosedRange<Int>) -> String? {
        if text == "*" { return "*" }
        var out: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let step = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard step.count <= 2 else { return nil }
            var base: String
            let bounds = step[0].components(separatedBy: "..")
            if step[0] == "*" {
                base = "*"
            } else if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), range.contains(low), range.contains(high), low <= high {
                base = "\(low)-\(high)"
            } else if bounds.count == 1, let value = Int(step[0]), range.contains(value) {
                base = "\(value)"
                // systemd's A/N repeats from A to the end of the range.
                if step.count == 2 { base = "\(value)-\(range.upperBound)" }
            } else {
                return nil
            }
            if step.count == 2 {
                guard let every = Int(step[1]), every > 0 else { return nil }
                base += "/\(every)"
            }
            out.append(base)
        }
        return out.joined(separator: ",")
    }

    /// `Mon`, `Mon,Wed`, `Mon..Fri` (names or full names) as cron weekdays (0 = Sunday; 7 ends a range at Sunday).
    static func weekdayField(_ text: String) -> String? {
        let names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        func number(_ name: String) -> Int? {
            let lower = name.lowercased()
            guard lower.count >= 3 else { return nil }
            let full = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
            return names.firstIndex(of: lower) ?? full.firstIndex(of: lower)
        }
        var out: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let bounds = item.components(separatedBy: "..")
            if bounds.count == 1, let day = number(item) {
                out.append("\(day)")
            } else if bounds.count == 2, let low = number(bounds[0]), var high = number(bounds[1]) {
                if high == 0 { high = 7 }
                guard low <= high else { return nil }
                out.append("\(low)-\(high)")
            } else {
                return nil
            }
        }
        return out.joined(separator: ",")
    }
}
