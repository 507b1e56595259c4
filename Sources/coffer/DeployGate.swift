import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation

struct DeployGate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy-gate",
        abstract: "Run the deployment checklist as checks: exit 0 only when every line passes.",
        discussion: """
            For a deployment pipeline: run it before deploying, and with --after once the deployment is done.

            Before deployment (the default), each line marked pass or fail:
            - backup created: a snapshot labelled --label (default "deploy-gate"), under the repository lock (exit 7 at once while another run holds it, unless --wait gives it time); needs keys/signing.key (--password-env for an encrypted one)
            - backup verified: that bundle re-read from the repository and verified deep (signature, every SHA-256, decrypted, integrity_check / pg_restore --list / RDB CRC, counts); needs keys/ENV.age
            - stored off-site: the bundle copied to the [offsite] repository (a folder or s3://...), every object checked, and the copy verified deep there; without [offsite] this line fails unless --no-offsite skips it
            - restore procedure tested: the last trusted restore drill (drills/ENV/ in the repository, `coffer drill`) passed, within [drill] max_age_days (default 90)

            After deployment (--after):
            - new backup exists: a trusted bundle newer than the one the last gate took (from its journal event); with no gate journaled, the newest bundle within the freshness limit of `coffer status`
            - retention applied: a prune dry run would delete nothing (run `coffer prune`)
            - monitoring healthy: `coffer status` is ok (a warning only about the restore drill does not count)

            Every line runs even when an earlier one failed. The last line of output is "deploy gate passed" or "deploy gate FAILED (n of m)"; --json prints {"passed", "after", "bundle", "checks": [{"name", "passed", "skipped", "detail"}], "warnings"}. Exit status 0 when every line passed (a skipped line counts as passed), 5 when a failed line is data that does not verify, 1 for any other failed line; configuration and key errors keep their own statuses (3, 4). Each run is recorded in the run log (kind deploy-gate) and journaled as a deploy-gate event.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("A note stored in the manifest of the gate's bundle (default: deploy-gate), such as the commit being deployed.", valueName: "text"))
    var label: String?

    @Flag(help: "Check the 'after deployment' lines instead (new backup exists, retention applied, monitoring healthy).")
    var after = false

    @Flag(name: .customLong("no-offsite"), help: "Skip the off-site line (marked skipped, counted as passed) instead of requiring an [offsite] repository.")
    var noOffsite = false

    @Option(
        name: .customLong("password-env"),
        help: ArgumentHelp("Password of an encrypted signing key, from this environment variable (signs the snapshot and the journal event).", valueName: "var"))
    var passwordVariable: String?

    @OptionGroup var lock: LockOptions

    func validate() throws {
        if after && (label != nil || noOffsite) { throw ValidationError("--label and --no-offsite belong to the checks before deployment, not to --after") }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            try await recordingRun(.deployGate, config: config) { record in
                var operation = DeployGateOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
                operation.skipOffsite = noOffsite
                let report: DeployGateReport
                if after {
                    report = operation.after(signingKey: try signingKey(config, required: false))
                } else {
                    let key = try signingKey(config, required: true)
                    guard let key else { throw CofferError(.key, "no signing key") }
                    let lease = try lock.acquire(config, purpose: "deploy-gate")
                    defer { try? lease.release() }
                    report = operation.before(label: label, signingKey: key, lease: lease)
                }
                record.bundle = report.bundle
                for warning in report.warnings { warn(warning) }
                try show(report)
                if let category = report.exitCategory {
                    record.message = "deploy gate failed: " + report.failed.map(\.name).joined(separator: ", ")
                    throw ExitCode(category.rawValue)
                }
            }
        }
    }

    /// The signing key: read with --password-env or a prompt when `required`;
    /// for --after, only when --password-env is given or the key needs no password.
    private func signingKey(_ config: CofferConfig, required: Bool) throws -> MinisignSecretKey? {
        guard required || passwordVariable != nil else { return JournalRecorder.unattendedSigningKey(config) }
        return try loadSigningKey(config, passwordVariable: passwordVariable)
    }

    private func show(_ report: DeployGateReport) throws {
        if global.json {
            try printJSON(report.jsonObject)
            return
        }
        for line in report.lines {
            say("[\(line.skipped ? "skip" : line.passed ? "pass" : "FAIL")] \(line.name): \(line.detail)")
        }
        say(report.passed ? "deploy gate passed" : "deploy gate FAILED (\(report.failed.count) of \(report.lines.count))")
    }
}
