import CofferFormat
import Foundation

/// Where an environment stands on restore drills: the last drill, the last
/// passing one, and what is wrong with that (`status` warns, `deploy-gate` fails).
public struct DrillStanding: Sendable {
    public var last: DrillReport?
    public var lastPassed: DrillReport?
    /// nil when the last drill passed within `maxAgeDays`.
    public var problem: String?

    /// Reads the newest reports of the config's environment in `repository` that
    /// `trusted` signed (default: the config's trusted signers, read from the keys folder).
    public init(config: CofferConfig, repository: Repository, trusted: TrustedSigners? = nil, now: Date) throws {
        let trusted = try trusted ?? KeyStore(directory: config.keysDirectory).trustedSigners()
        (last, lastPassed) = try DrillReportStore(repository: repository, environment: config.environment.rawValue).newest(trusted: trusted)
        problem = Self.problem(last: last, lastPassed: lastPassed, now: now, maxAgeDays: config.drill.maxAgeDays)
    }

    static func problem(last: DrillReport?, lastPassed: DrillReport?, now: Date, maxAgeDays: Int) -> String? {
        guard let last else { return "no restore drill has been run; run `coffer drill`" }
        if !last.passed {
            return "the last restore drill (\(last.id), bundle \(last.bundle ?? "none")) failed: \(last.failure ?? "see `coffer drill --history`")"
        }
        guard let lastPassed, let finished = Clock.parse(lastPassed.finishedAt) else { return "no restore drill has passed" }
        let days = now.timeIntervalSince(finished) / 86_400
        if days > Double(maxAgeDays) {
            return "the last passing restore drill (\(lastPassed.id)) is \(Int(days)) days old (more than \(maxAgeDays)); run `coffer drill`"
        }
        return nil
    }
}
