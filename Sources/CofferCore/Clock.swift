import Foundation

/// The tool's identity in manifests.
public enum CofferVersion {
    public static let string = "0.1.0"
    public static var tool: String { "coffer \(string)" }
}

/// "Now", overridable with `COFFER_NOW` (RFC 3339) for retention and drill tests.
public enum Clock {
    /// The time, or `COFFER_NOW` from `environment` (the process's by default);
    /// throws `CofferError(.config)` when `COFFER_NOW` is not RFC 3339.
    public static func now(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Date {
        guard let fixed = environment["COFFER_NOW"] else { return Date() }
        guard let date = parse(fixed) else {
            throw CofferError(.config, "COFFER_NOW='\(fixed)' is not an RFC 3339 time such as 2026-11-28T06:45:12Z")
        }
        return date
    }

    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

/// Progress of long work. The CLI shows it on a terminal and stays quiet otherwise.
public protocol ProgressReporter: AnyObject {
    /// A new step, such as sealing one artifact.
    func begin(_ step: String)
    /// More bytes done in the current step.
    func advance(by bytes: Int)
    /// The step is over.
    func end()
}

/// Reports nothing.
public final class SilentProgress: ProgressReporter {
    public init() {}
    public func begin(_ step: String) {}
    public func advance(by bytes: Int) {}
    public func end() {}
}
