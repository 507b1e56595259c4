import CofferFormat
import Foundation

/// Which bundle a drill restores. `random` draws among the bundles of the
/// last `within` seconds with a recorded seed: the same seed over the same
/// bundles draws the same one, so a drill can be repeated exactly.
public enum DrillPickMethod: String, Sendable, CaseIterable {
    case latest, random
}

struct DrillPick {
    let method: DrillPickMethod
    let within: Int
    let seed: UInt64?

    /// The chosen id and the pick's record, or a refusal naming the window.
    func choose(from ids: [String], now: Date, environment: String) throws -> (String, DrillReport.Pick) {
        switch method {
        case .latest:
            let record = DrillReport.Pick(method: "latest", seed: nil, withinSeconds: nil, candidates: ids.count)
            guard let id = ids.last else {
                throw DrillPickRefusal(pick: record, message: "there is no bundle of \(environment) to drill; take one with `coffer snapshot`")
            }
            return (id, record)
        case .random:
            let since = now.addingTimeInterval(-Double(within))
            let candidates = ids.filter { (BundleID.date(of: $0) ?? .distantPast) >= since }
            let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
            let record = DrillReport.Pick(method: "random", seed: seed, withinSeconds: within, candidates: candidates.count)
            guard !candidates.isEmpty else {
                throw DrillPickRefusal(
                    pick: record,
                    message: "no bundle of \(environment) in the last \(DurationText.format(within)) (since \(Clock.format(since))) to drill; take one with `coffer snapshot`, or widen --within")
            }
            var generator = SplitMix64(seed: seed)
            return (candidates[Int(generator.next() % UInt64(candidates.count))], record)
        }
    }
}

/// No bundle to pick, with the pick's record for the report.
struct DrillPickRefusal: Error, CustomStringConvertible {
    let pick: DrillReport.Pick
    let message: String
    var description: String { message }
}

/// SplitMix64: a small generator whose sequence is fixed by its seed on every
/// platform and release (Swift's own generator promises neither).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
