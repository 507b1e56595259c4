import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation

struct Drill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a bundle into scratch targets, check it, run a smoke test, and record signed evidence with the measured RTO and RPO.",
        discussion: """
            Picks a bundle (the latest, or at random among those of the last 30 days with a recorded seed: the same --seed picks the same bundle again), fetches every object from the repository (or the [offsite] one with --from offsite), verifies it, and restores each artifact into a scratch target, never a live one: SQLite into a temporary file, PostgreSQL into a scratch database (on the source's server, or [drill] postgres_url_env), Redis into a throwaway redis-server on a unix socket (or [drill] redis_url_env), env vars into a 0600 file. Then every count is compared with the manifest and the smoke command runs with DATABASE_URL(_NAME), REDIS_URL(_NAME), SQLITE_PATH_NAME and COFFER_DRILL_ENV_FILE pointing at the scratch targets, and the source's own URL variables pointing there too.

            Every phase is timed (fetch, verify, decrypt_and_stage, checks, smoke); their sum is the RTO. The RPO is the age of the newest bundle when the drill started. [targets] rto and rpo (default 4h and 24h) decide pass or fail. The report (JSON, Markdown and a minisign signature) is stored under drills/ENV/ in the repository and a journal event points at it. Scratch targets are removed at the end, and those of a killed drill by the next drill or by --cleanup.

            Exit status: 0 the drill passed and its report is stored; 1 it failed (a check, the smoke command, RTO or RPO, or the report could not be stored); 5 the bundle is damaged; 3 config; 4 key.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("latest or random.", valueName: "how"))
    var pick: String = "latest"

    @Option(help: ArgumentHelp("How far back --pick random looks (default [drill] within, 30d).", valueName: "duration"))
    var within: String?

    @Option(help: ArgumentHelp("Seed of --pick random, to repeat a drill (default: a new one, recorded in the report).", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Smoke command (/bin/sh -c) run against the scratch targets (default [drill] smoke).", valueName: "command"))
    var smoke: String?

    @Option(name: .customLong("smoke-timeout"), help: ArgumentHelp("Kill the smoke command and its process group after this long (default [drill] smoke_timeout, 10m).", valueName: "duration"))
    var smokeTimeout: String?

    @Option(help: ArgumentHelp("Fetch from `offsite` (the [offsite] repository) instead of the main repository.", valueName: "where"))
    var from: String?

    @Flag(help: "List the stored drill reports, each with its signature checked, instead of drilling.")
    var history = false

    @Flag(help: "Only remove what interrupted drills left (scratch databases, servers, files).")
    var cleanup = false

    @Option(name: .customLong("password-env"), help: ArgumentHelp("Password of an encrypted signing key, from this environment variable.", valueName: "var"))
    var passwordVariable: String?

    func validate() throws {
        guard DrillPickMethod(rawValue: pick) != nil else { throw ValidationError("--pick \(pick): expected latest or random") }
        if let from, from != "offsite" { throw ValidationError("--from \(from): expected offsite (the [offsite] repository)") }
        _ = try within.map { try duration($0, "--within") }
        _ = try smokeTimeout.map { try duration($0, "--smoke-timeout") }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let environment = ProcessInfo.processInfo.environment
            if history { return try showHistory(config) }
            var operation = DrillOperation(config: config, environment: environment, progress: TerminalProgress())
            if cleanup { return try runCleanup(operation) }
            operation.pick = DrillPickMethod(rawValue: pick) ?? .latest
            operation.seed = seed
            operation.smoke = smoke
            operation.within = try within.map { try duration($0, "--within") }
            operation.smokeTimeout = try smokeTimeout.map { try duration($0, "--smoke-timeout") }
            operation.fromOffsite = from == "offsite"
            try await announcedRun(.drill, config: config) { record, run in
                let signingKey = try loadSigningKey(config, passwordVariable: passwordVariable)
                let outcome = try operation.run(signingKey: signingKey)
                let report = outcome.report
                for warning in outcome.warnings { warn(warning) }
                record.bundle = report.bundle
                record.bytes = report.storedBytes
                if outcome.succeeded {
                    run.succeeded(message: "drill \(report.id) of \(report.bundle ?? "-") passed, RTO \(DrillReport.text(seconds: report.rtoSeconds))", bundle: report.bundle)
                } else {
                    record.message = report.failure ?? "the drill report could not be stored"
                    run.failed(message: "restore drill \(report.id) FAILED: \(record.message ?? "")", bundle: report.bundle)
                }
                if global.json {
                    var object = report.jsonObject as? [String: Any] ?? [:]
                    object["report"] = outcome.storedAt as Any
                    object["warnings"] = outcome.warnings + run.warnings
                    try printJSON(object)
                } else {
                    printReport(report, storedAt: outcome.storedAt)
                }
                if !outcome.succeeded {
                    let why = report.passed ? "its report could not be stored" : report.failure ?? ""
                    FileHandle.standardError.write(Data("coffer: error: drill \(report.id) failed: \(why)\n".utf8))
                    throw ExitCode((outcome.category ?? .failure).rawValue)
                }
            }
        }
    }

    private func duration(_ text: String, _ option: String) throws -> Int {
        guard let seconds = DurationText.seconds(text) else { throw ValidationError("\(option) \(text): expected a duration such as 30d, 4h or 90s") }
        return seconds
    }

    private func printReport(_ report: DrillReport, storedAt: String?) {
        say("drill \(report.id): bundle \(report.bundle ?? "none") (\(report.pick.method)\(report.pick.seed.map { ", seed \($0)" } ?? ""))")
        for phase in report.phases {
            say("  \(phase.ok ? "ok  " : "FAIL") \(phase.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(format: "%8.2f s", phase.seconds))  \(phase.detail ?? "")")
        }
        for check in report.checks where !check.ok {
            say("  DIFFERS \(check.artifact): \(check.what): found \(check.found), manifest says \(check.expected)")
        }
        if let smoke = report.smoke, smoke.exitStatus != 0 {
            for line in smoke.lastLines.suffix(5) { say("  smoke| \(line)") }
        }
        say("  RTO \(DrillReport.text(seconds: report.rtoSeconds)) (target \(DurationText.format(report.rtoTargetSeconds))): \(report.rtoPassed ? "pass" : "FAIL")")
        say("  RPO \(DrillReport.text(seconds: report.rpoSeconds)) (target \(DurationText.format(report.rpoTargetSeconds))): \(report.rpoPassed ? "pass" : "FAIL")")
        for leftover in report.leftovers { say("  not removed: \(leftover)") }
        if let storedAt { say("  report: \(storedAt) (signed)") }
        say(report.passed ? "drill passed" : "drill FAILED: \(report.failure ?? "")")
    }

    private func showHistory(_ config: CofferConfig) throws {
        let keys = KeyStore(directory: config.keysDirectory)
        let store = DrillReportStore(repository: try Repository.open(config), environment: config.environment.rawValue)
        let entries = try store.all(trusted: try keys.trustedSigners())
        if global.json {
            try printJSON([
                "environment": config.environment.rawValue,
                "drills": entries.map { entry -> [String: Any] in
                    var object: [String: Any] = ["id": entry.id, "trusted": entry.trusted, "problem": entry.problem as Any]
                    if let report = entry.report {
                        object["bundle"] = report.bundle as Any
                        object["passed"] = report.passed
                        object["rto_seconds"] = report.rtoSeconds as Any
                        object["rpo_seconds"] = report.rpoSeconds as Any
                        object["finished_at"] = report.finishedAt
                        object["failure"] = report.failure as Any
                    }
                    return object
                },
            ])
        } else if entries.isEmpty {
            say("no drill reports for \(config.environment.rawValue); run `coffer drill`")
        } else {
            for entry in entries {
                guard let report = entry.report else {
                    say("\(entry.id)  UNREADABLE  \(entry.problem ?? "")")
                    continue
                }
                let verdict = !entry.trusted ? "UNTRUSTED" : report.passed ? "passed" : "FAILED"
                say("\(entry.id)  \(verdict.padding(toLength: 9, withPad: " ", startingAt: 0))  bundle \(report.bundle ?? "-")  RTO \(DrillReport.text(seconds: report.rtoSeconds))  RPO \(DrillReport.text(seconds: report.rpoSeconds))\(entry.problem.map { "  (\($0))" } ?? report.failure.map { "  (\($0))" } ?? "")")
            }
        }
        if entries.contains(where: { !$0.trusted }) { throw ExitCode(CofferError.Category.integrity.rawValue) }
    }

    private func runCleanup(_ operation: DrillOperation) throws {
        let (removed, problems) = operation.cleanup()
        if global.json {
            try printJSON(["removed": removed, "problems": problems])
        } else {
            for line in removed { say("removed \(line)") }
            for problem in problems { warn(problem) }
            if removed.isEmpty && problems.isEmpty { say("nothing left by interrupted drills") }
        }
        if !problems.isEmpty { throw ExitCode(CofferError.Category.failure.rawValue) }
    }
}
