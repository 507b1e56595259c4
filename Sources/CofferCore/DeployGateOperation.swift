import CofferCrypto
import CofferFormat
import CofferStorage
import CofferSystem
import Foundation

/// `coffer deploy-gate`: the seed's "before deployment" checklist run as
/// checks, for a deployment pipeline. Takes a labelled snapshot, re-reads it
/// from storage and verifies it deep, copies it to the `[offsite]` repository
/// and verifies the copy deep, and checks that the last restore drill passed
/// within `[drill] max_age_days`. Every line runs even when an earlier one
/// failed (a line that needs the bundle then says there is none), so one run
/// shows everything that stands between the pipeline and a deployment. The
/// outcome is journaled as a `deploy-gate` event, which the "after deployment"
/// half (`DeployGateOperation.after`) reads to know which bundle came before.
public struct DeployGateOperation {
    public let config: CofferConfig
    public let environment: [String: String]
    public let progress: any ProgressReporter
    /// `--no-offsite`: the off-site line is skipped (and counts as passed) instead of
    /// failing when no `[offsite]` repository is configured.
    public var skipOffsite = false

    public init(config: CofferConfig, environment: [String: String], progress: any ProgressReporter) {
        self.config = config
        self.environment = environment
        self.progress = progress
    }

    /// Runs the four "before deployment" lines. `lease` is the repository lock
    /// the caller took for the snapshot; it is released as soon as the snapshot
    /// is over (nothing after it writes to this repository's bundles). Never
    /// throws: what goes wrong is the failure of a line.
    public func before(label: String?, signingKey: MinisignSecretKey, lease: RepositoryLease?) -> DeployGateReport {
        var report = DeployGateReport(after: false)
        let names = DeployGateReport.beforeLines
        var bundle: String?
        do {
            defer { release(lease, into: &report) }
            let result = try SnapshotOperation(config: config, environment: environment, progress: progress)
                .run(label: label ?? "deploy-gate", signingKey: signingKey)
            let manifest = result.manifest
            bundle = manifest.id
            report.warnings += result.warnings
            report.lines.append(
                .pass(
                    names[0],
                    "bundle \(manifest.id) (\(manifest.artifacts.map { "\($0.name) \($0.kind.rawValue)" }.joined(separator: ", ")); \(ByteCount.format(manifest.storedBytes)) stored)"
                ))
            if environment["COFFER_FAULT"] == "deploy-gate-corrupt" { corruptForTesting(manifest) }
        } catch {
            report.lines.append(.fail(names[0], error: error))
        }
        report.bundle = bundle
        report.lines.append(verified(names[1], bundle: bundle, config: config, what: "the repository"))
        report.lines.append(storedOffsite(names[2], bundle: bundle))
        report.lines.append(drillPassed(names[3]))
        journal(&report, signingKey: signingKey)
        return report
    }

    private func release(_ lease: RepositoryLease?, into report: inout DeployGateReport) {
        do {
            try lease?.release()
        } catch {
            report.warnings.append("the repository lock could not be released: \(CofferError.classify(error).1); it expires on its own")
        }
    }

    /// The bundle read back from the storage `config` names and verified deep:
    /// signature, every object's SHA-256, decrypted and each artifact's format and counts.
    func verified(_ name: String, bundle: String?, config: CofferConfig, what: String) -> GateLine {
        guard let bundle else { return .fail(name, "no bundle: the snapshot failed") }
        do {
            let verify = try VerifyOperation(config: config, progress: progress).run(reference: bundle, deep: true)
            guard verify.passed else {
                let problems = verify.artifacts.compactMap { artifact in artifact.problem.map { "\(artifact.name): \($0)" } }
                return .fail(name, "bundle \(bundle) in \(what) does not verify: \(problems.joined(separator: "; "))", integrity: true)
            }
            return .pass(
                name,
                "bundle \(bundle) re-read from \(what), signature by \(verify.signer), \(verify.artifacts.count) artifact(s) decrypted and checked (deep)")
        } catch {
            return .fail(name, "bundle \(bundle) in \(what): ", error: error)
        }
    }

    /// The bundle copied to `[offsite] repository` (every object checked on the way)
    /// and the copy verified deep there.
    func storedOffsite(_ name: String, bundle: String?) -> GateLine {
        if skipOffsite {
            return GateLine(name: name, passed: true, skipped: true, detail: "skipped (--no-offsite): the bundle is in one repository only")
        }
        guard let offsite = config.offsite else {
            return .fail(
                name,
                "no off-site repository is configured: add `[offsite]` with `repository = \"s3://BUCKET/PREFIX\"` (or a folder on another disk) to \(config.path), or pass --no-offsite to skip this line"
            )
        }
        guard let bundle else { return .fail(name, "no bundle: the snapshot failed") }
        do {
            let destination = try Repository.open(offsite.repository, s3: config.s3, environment: environment)
            let copied = try CopyOperation(config: config).run(reference: bundle, destination: destination)
            var copyConfig = config
            copyConfig.repository = offsite.repository
            var line = verified(name, bundle: bundle, config: copyConfig, what: "off-site \(offsite.repository)")
            if line.passed, copied.first?.1 == false { line.detail += "; it was already there" }
            return line
        } catch {
            return .fail(name, "copy of \(bundle) to \(offsite.repository): ", error: error)
        }
    }

    /// The last trusted restore drill passed, within `[drill] max_age_days`.
    func drillPassed(_ name: String) -> GateLine {
        do {
            let now = try Clock.now(environment: environment)
            let standing = try DrillStanding(config: config, repository: try Repository.open(config), now: now)
            if let problem = standing.problem { return .fail(name, problem) }
            guard let passed = standing.lastPassed else { return .fail(name, "no restore drill has passed") }
            let days = Clock.parse(passed.finishedAt).map { Int(now.timeIntervalSince($0) / 86_400) } ?? 0
            return .pass(
                name,
                "drill \(passed.id) of bundle \(passed.bundle ?? "none") passed at \(passed.finishedAt) (\(days) days ago; the limit is \(config.drill.maxAgeDays))")
        } catch {
            return .fail(name, "the drill reports cannot be read: ", error: error)
        }
    }

    /// Journals the outcome (`deploy-gate`); a journal that cannot be written is a warning.
    func journal(_ report: inout DeployGateReport, signingKey: MinisignSecretKey?) {
        do {
            let repository = try Repository.open(config)
            if let problem = JournalRecorder.record(
                repository: repository, environment: config.environment.rawValue, kind: "deploy-gate", details: report.journalDetails,
                at: try Clock.now(environment: environment), signingKey: signingKey)
            {
                report.warnings.append(problem)
            }
        } catch {
            report.warnings.append("the deploy gate's journal event was not written: \(CofferError.classify(error).1)")
        }
    }

    /// `COFFER_FAULT=deploy-gate-corrupt`, for the tests only: flips one byte of the
    /// first artifact's payload right after the snapshot, as a storage that
    /// damages what it keeps would, so the verification line must catch it.
    private func corruptForTesting(_ manifest: Manifest) {
        guard let repository = try? Repository.open(config), let entry = manifest.artifacts.first,
            let key = entry.pieces(environment: manifest.environment, bundleID: manifest.id).first?.payloadKey
        else { return }
        guard var bytes = try? repository.storage.readSmall(key, limit: 64 << 20), !bytes.isEmpty else { return }
        bytes[bytes.count / 2] ^= 0x01
        try? repository.storage.writeSmall(key, bytes)
    }
}
