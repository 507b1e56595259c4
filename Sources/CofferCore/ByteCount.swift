import Foundation

/// Sizes for people: `12.3 MB` (powers of 1000, as `df -H` and most dashboards show them).
public enum ByteCount {
    public static func format(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
