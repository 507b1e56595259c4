import CofferCrypto
import CofferFormat
import Foundation

/// The seed's "after deployment" lines: a new bundle exists (the deployed state
/// is backed up), retention was applied, and monitoring is healthy.
extension DeployGateOperation {
    /// Runs the three "after deployment" lines and journals the outcome signed
    /// with `signingKey` (not at all without one). Never throws: what goes wrong is the failure of a line.
    ///
    /// - "new backup exists": the newest trusted bundle is newer than the one the
    ///   last "before" gate took (its journal event names it), so the state after
    ///   the deployment is in a bundle. Without such an event (no gate ran
    ///   before, or its event is not trusted) the newest bundle must be fresher
    ///   than the environment's freshness limit, as `coffer status` judges it.
    /// - "retention applied": a prune dry run would delete nothing.
    /// - "monitoring healthy": `coffer status` is ok; a warning only about the
    ///   restore drill does not fail it (that is the "restore procedure tested"
    ///   line's business, before deployment).
    public func after(signingKey: MinisignSecretKey?) -> DeployGateReport {
        var report = DeployGateReport(after: true)
        let names = DeployGateReport.afterLines
        let (line, newest) = newBackup(names[0])
        report.bundle = newest
        report.lines.append(line)
        report.lines.append(retentionApplied(names[1]))
        report.lines.append(monitoringHealthy(names[2]))
        // An unsigned event would make `coffer journal` and `coffer audit` fail; this one explains nothing they need.
        if let signingKey {
            journal(&report, signingKey: signingKey)
        } else {
            report.warnings.append("the deploy gate was not journaled: the signing key needs a password (give --password-env)")
        }
        return report
    }

    func newBackup(_ name: String) -> (GateLine, String?) {
        do {
            let repository = try Repository.open(config)
            let environmentName = config.environment.rawValue
            let trusted = try KeyStore(directory: config.keysDirectory).trustedSigners()
            let now = try Clock.now(environment: environment)
            var newest: Manifest?
            for id in try repository.bundleIDs(environment: environmentName, now: now).reversed() {
                if let manifest = try? repository.verifiedManifest(environment: environmentName, id: id, trusted: trusted) {
                    newest = manifest
                    break
                }
            }
            guard let newest else { return (.fail(name, "no trusted bundle of \(environmentName); take one with `coffer snapshot`"), nil) }
            if let (sequence, gateBundle) = try lastGateBundle(repository: repository, trusted: trusted) {
                guard newest.id > gateBundle else {
                    return (
                        .fail(
                            name,
                            "no bundle newer than \(gateBundle), which the last deploy gate took (journal event \(sequence)); take one after the deployment with `coffer snapshot`"
                        ), newest.id
                    )
                }
                return (.pass(name, "bundle \(newest.id) (created \(newest.createdAt)) is newer than \(gateBundle), which the last deploy gate took"), newest.id)
            }
            let limit = StatusOperation.freshnessLimit(config)
            let age = Clock.parse(newest.createdAt).map { Int64(now.timeIntervalSince($0)) }
            guard let age, age <= limit else {
                return (
                    .fail(
                        name,
                        "no deploy gate is journaled, and the newest bundle \(newest.id) is \(age.map { "\($0 / 3600) h" } ?? "of unknown age") old, more than the \(limit / 3600) h allowed for \(environmentName); take one with `coffer snapshot`"
                    ), newest.id
                )
            }
            return (
                .pass(name, "bundle \(newest.id) is \(age / 60) min old, within the \(limit / 3600) h freshness limit (no deploy gate is journaled to compare with)"),
                newest.id
            )
        } catch {
            return (.fail(name, error: error), nil)
        }
    }

    /// The newest trusted `deploy-gate` event of a "before" run that took a bundle: its number and the bundle.
    func lastGateBundle(repository: Repository, trusted: TrustedSigners, window: Int = 256) throws -> (Int, String)? {
        let journal = Journal(repository: repository, environment: config.environment.rawValue)
        for sequence in try journal.sequences().suffix(window).reversed() {
            guard let event = try journal.verifiedEvent(sequence, trusted: trusted), event.kind == "deploy-gate",
                event.details["mode"] == .string("before"), case .string(let bundle)? = event.details["bundle"]
            else { continue }
            return (sequence, bundle)
        }
        return nil
    }

    func retentionApplied(_ name: String) -> GateLine {
        do {
            let report = try PruneOperation(config: config, environment: environment, progress: progress).run(dryRun: true)
            let doomed = report.decisions.filter { !$0.keep }.map(\.id)
            guard doomed.isEmpty else {
                return .fail(
                    name,
                    "\(doomed.count) bundle(s) the retention policy (\(config.retention.days) days, keep_last \(config.retention.keepLast)) would delete are still there: \(doomed.joined(separator: ", ")); run `coffer prune`"
                )
            }
            return .pass(
                name,
                "a prune would delete nothing: \(report.decisions.count) bundle(s) all kept under the retention policy (\(config.retention.days) days, keep_last \(config.retention.keepLast))")
        } catch let refusal as PruneRefusal {
            return .fail(name, refusal.message, integrity: refusal.category == .integrity)
        } catch {
            return .fail(name, error: error)
        }
    }

    func monitoringHealthy(_ name: String) -> GateLine {
        do {
            let status = try StatusOperation(config: config, environment: environment).run()
            let drillProblem = try? DrillStanding(config: config, repository: try Repository.open(config), now: status.checkedAt).problem
            let others = status.problems.filter { problem in drillProblem.map { !problem.contains($0) } ?? true }
            if status.level == .ok || (status.level == .warn && others.isEmpty) {
                let note = status.problems.isEmpty ? "" : " (only the restore drill warning: \(status.problems.joined(separator: "; ")))"
                return .pass(name, "status \(status.level.name): \(status.bundles) bundle(s), newest \(status.newestID ?? "none")\(note)")
            }
            return .fail(name, "status \(status.level.name): \(others.joined(separator: "; "))")
        } catch {
            return .fail(name, "status: ", error: error)
        }
    }
}
