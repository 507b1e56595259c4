import ArgumentParser
import CofferCore
import Foundation

/// Records a command's run in this machine's run log (`.coffer/runs/ENV.jsonl`)
/// whatever its outcome: what metrics and the status page know of durations,
/// failures and the last verify and audit. Recording never fails the command;
/// a log that cannot be written is a warning.
func recordingRun<T>(
    _ kind: RunRecord.Kind, config: CofferConfig, _ body: (inout RunRecord) async throws -> T
) async throws -> T {
    let environment = ProcessInfo.processInfo.environment
    let clock = ContinuousClock()
    let startedAt = clock.now
    let started = ((try? Clock.now(environment: environment)) ?? Date()).timeIntervalSince1970
    var record = RunRecord(kind: kind, environment: config.environment.rawValue, started: started, finished: started, outcome: .succeeded)
    func finish(_ outcome: RunRecord.Outcome, message: String?) {
        let elapsed = clock.now - startedAt
        record.finished = started + Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        record.outcome = outcome
        record.message = message
        do {
            try RunLog(config: config).append(record)
        } catch {
            warn("the run was not recorded in the run log: \(classify(error).1)")
        }
    }
    do {
        let result = try await body(&record)
        finish(.succeeded, message: nil)
        return result
    } catch let exit as ExitCode {
        finish(exit == .success ? .succeeded : .failed, message: record.message ?? "exit status \(exit.rawValue)")
        throw exit
    } catch {
        finish(.failed, message: classify(error).1)
        throw error
    }
}
