import Foundation
import Testing

@Suite("coffer deploy-gate: the deployment checklist as checks")
struct DeployGateTests {
    @Test("before and after deployment, all passing: bundle labelled, verified, copied off-site, drill recent; journaled and in the run log")
    func passing() throws {
        try withGateProject { ws in
            let gate = try deployGate(ws, "--label", "v1.2.3")
            #expect(gate.status == 0, "\(gate.result.stdout) \(gate.result.stderr)")
            #expect(gate.passed == true && gate.object["after"] as? Bool == false)
            #expect(gate.names == beforeLines)
            for name in beforeLines { #expect(gate.passed(name) == true, "\(name): \(gate.detail(name))") }
            let bundle = try #require(gate.bundle)
            #expect(gate.detail("backup created").contains(bundle))
            #expect(gate.detail("backup verified").contains("deep"))
            #expect(ws.exists("offsite/bundles/development/\(bundle)/manifest.json"), "no off-site copy")
            let manifest = try JSONSerialization.jsonObject(with: Data(try ws.read("backups/bundles/development/\(bundle)/manifest.json"))) as? [String: Any]
            #expect(manifest?["label"] as? String == "v1.2.3")

            // The journal holds the gate, signed: `coffer journal` stays clean.
            let journal = try ws.coffer("journal")
            #expect(journal.status == 0, "\(journal.stdout) \(journal.stderr)")
            #expect(journal.stdout.contains("deploy-gate"), "\(journal.stdout)")
            let runs = String(decoding: try ws.read(".coffer/runs/development.jsonl"), as: UTF8.self)
            #expect(runs.contains("\"kind\":\"deploy-gate\"") && runs.contains(bundle), "\(runs)")

            // After deployment, before a new bundle: the gate's own bundle is not new.
            let early = try deployGate(ws, "--after")
            #expect(early.status == 1)
            #expect(early.passed("new backup exists") == false && early.detail("new backup exists").contains(bundle), "\(early.detail("new backup exists"))")
            #expect(early.passed("retention applied") == true && early.passed("monitoring healthy") == true, "\(early.object)")

            #expect(try ws.coffer("snapshot", "--label", "after v1.2.3").status == 0)
            let after = try deployGate(ws, "--after")
            #expect(after.status == 0, "\(after.object) \(after.result.stderr)")
            #expect(after.names == afterLines && after.object["after"] as? Bool == true)
            for name in afterLines { #expect(after.passed(name) == true, "\(name): \(after.detail(name))") }
            #expect(after.bundle != nil && after.bundle != bundle)
        }
    }

    @Test("text output: one [pass]/[FAIL] line per item, then the verdict")
    func textOutput() throws {
        try withGateProject(offsite: nil) { ws in
            let passed = try ws.coffer("deploy-gate", "--no-offsite")
            #expect(passed.status == 0, "\(passed.stdout) \(passed.stderr)")
            let lines = passed.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("[pass] backup created: bundle ") == true, "\(passed.stdout)")
            #expect(lines.contains { $0.hasPrefix("[skip] stored off-site: skipped (--no-offsite)") }, "\(passed.stdout)")
            #expect(lines.last == "deploy gate passed")

            let failed = try ws.coffer("deploy-gate")
            #expect(failed.status == 1)
            #expect(failed.stdout.contains("[FAIL] stored off-site: no off-site repository is configured: add `[offsite]`"), "\(failed.stdout)")
            #expect(failed.stdout.split(separator: "\n").last == "deploy gate FAILED (1 of 4)")
        }
    }

    @Test("a snapshot that fails: no bundle to verify or copy, the drill line still checked")
    func snapshotFails() throws {
        try withGateProject { ws in
            try FileManager.default.removeItem(atPath: ws.path("app.db"))
            try FileManager.default.createDirectory(atPath: ws.path("app.db"), withIntermediateDirectories: true)
            let gate = try deployGate(ws)
            #expect(gate.status == 1, "\(gate.object)")
            #expect(gate.passed == false && gate.bundle == nil && gate.names == beforeLines)
            #expect(gate.passed("backup created") == false, "\(gate.detail("backup created"))")
            #expect(gate.passed("backup verified") == false && gate.detail("backup verified").contains("no bundle"))
            #expect(gate.passed("stored off-site") == false && gate.detail("stored off-site").contains("no bundle"))
            #expect(gate.passed("restore procedure tested") == true, "\(gate.detail("restore procedure tested"))")
        }
    }

    @Test("a bundle damaged in storage: verification and the off-site copy fail, exit 5")
    func damagedBundle() throws {
        try withGateProject { ws in
            let gate = try deployGate(ws, environment: ["COFFER_FAULT": "deploy-gate-corrupt"])
            #expect(gate.status == 5, "\(gate.object)")
            #expect(gate.passed("backup created") == true)
            #expect(gate.passed("backup verified") == false && gate.detail("backup verified").contains("does not verify"), "\(gate.detail("backup verified"))")
            #expect(gate.passed("stored off-site") == false, "\(gate.detail("stored off-site"))")
            #expect(gate.passed("restore procedure tested") == true)
        }
    }

    @Test("no age identity on the gate's host: the deep verification fails, exit 1")
    func noIdentity() throws {
        try withGateProject { ws in
            try FileManager.default.moveItem(atPath: ws.path("keys/development.age"), toPath: ws.path("development.age.away"))
            let gate = try deployGate(ws)
            #expect(gate.status == 1, "\(gate.object)")
            #expect(gate.passed("backup created") == true)
            #expect(gate.passed("backup verified") == false && gate.detail("backup verified").contains("development.age"), "\(gate.detail("backup verified"))")
        }
    }

    @Test("off-site: not configured fails naming [offsite] (unless --no-offsite); an unwritable off-site folder fails")
    func offsite() throws {
        try withGateProject(offsite: nil) { ws in
            let gate = try deployGate(ws)
            #expect(gate.status == 1)
            #expect(gate.passed("stored off-site") == false && gate.detail("stored off-site").contains("repository = "), "\(gate.detail("stored off-site"))")
            #expect(gate.passed("backup created") == true && gate.passed("backup verified") == true && gate.passed("restore procedure tested") == true)
            let skipped = try deployGate(ws, "--no-offsite")
            #expect(skipped.status == 0, "\(skipped.object)")
            #expect(skipped.check("stored off-site")?["skipped"] as? Bool == true)
        }
        try withGateProject(offsite: "app.db/offsite") { ws in
            let gate = try deployGate(ws)
            #expect(gate.status == 1, "\(gate.object)")
            #expect(gate.passed("stored off-site") == false && gate.detail("stored off-site").contains("app.db/offsite"), "\(gate.detail("stored off-site"))")
            #expect(gate.passed("backup verified") == true)
        }
    }

    @Test("restore procedure tested: no drill, the last drill failed, the last passing drill older than 90 days")
    func drills() throws {
        try withGateProject(drill: false) { ws in
            let none = try deployGate(ws)
            #expect(none.status == 1)
            #expect(none.passed("restore procedure tested") == false && none.detail("restore procedure tested").contains("no restore drill"), "\(none.object)")
            #expect(none.passed("backup verified") == true && none.passed("stored off-site") == true)

            try writeDrillReport(ws, passed: true, finishedAt: Date().addingTimeInterval(-7200))
            try writeDrillReport(ws, passed: false, finishedAt: Date().addingTimeInterval(-600))
            let failed = try deployGate(ws)
            #expect(failed.status == 1)
            #expect(failed.passed("restore procedure tested") == false && failed.detail("restore procedure tested").contains("failed"), "\(failed.object)")
        }
        try withGateProject { ws in
            let later = try deployGate(ws, environment: ["COFFER_NOW": rfc3339(Date().addingTimeInterval(91 * 86_400))])
            #expect(later.status == 1, "\(later.object)")
            #expect(later.passed("restore procedure tested") == false && later.detail("restore procedure tested").contains("91 days old"), "\(later.object)")
            #expect(later.passed("backup created") == true && later.passed("stored off-site") == true)
        }
    }

    @Test("a report written by `coffer drill` (SQLite into a scratch file, smoke passing) satisfies the drill line; a failing smoke fails it")
    func realDrill() throws {
        try withGateProject(drill: false) { ws in
            #expect(try ws.coffer("snapshot").status == 0)
            let drill = try ws.coffer("drill", "--smoke", "true")
            try #require(drill.status == 0, "\(drill.stdout) \(drill.stderr)")
            let gate = try deployGate(ws)
            #expect(gate.status == 0, "\(gate.object)")
            #expect(gate.passed("restore procedure tested") == true && gate.detail("restore procedure tested").contains("passed"), "\(gate.object)")

            #expect(try ws.coffer("drill", "--smoke", "exit 3").status != 0)
            let failed = try deployGate(ws)
            #expect(failed.status == 1)
            #expect(failed.passed("restore procedure tested") == false && failed.detail("restore procedure tested").contains("failed"), "\(failed.object)")
        }
    }

    @Test("after deployment: a status warning only about the restore drill leaves monitoring healthy")
    func drillWarningOnly() throws {
        try withGateProject { ws in
            #expect(try deployGate(ws).status == 0)
            #expect(try ws.coffer("snapshot").status == 0)
            try writeDrillReport(ws, passed: false, finishedAt: Date().addingTimeInterval(-60))
            #expect(try ws.coffer("status").status == 1, "status should warn about the failed drill")
            let after = try deployGate(ws, "--after")
            #expect(after.status == 0, "\(after.object)")
            #expect(after.detail("monitoring healthy").contains("only the restore drill warning"), "\(after.detail("monitoring healthy"))")
        }
    }

    @Test("after deployment: retention not applied, monitoring unhealthy, and no gate journaled (then freshness decides)")
    func afterFailures() throws {
        try withGateProject { ws in
            // No gate ran: a fresh bundle is new enough.
            #expect(try ws.coffer("snapshot", environment: ["COFFER_NOW": rfc3339(Date().addingTimeInterval(-20 * 86_400))]).status == 0)
            let stale = try deployGate(ws, "--after")
            #expect(stale.passed("new backup exists") == false && stale.detail("new backup exists").contains("no deploy gate is journaled"), "\(stale.object)")
            #expect(stale.passed("monitoring healthy") == false, "\(stale.object)")

            #expect(try ws.coffer("snapshot").status == 0)
            let after = try deployGate(ws, "--after")
            #expect(after.status == 1, "\(after.object)")
            #expect(after.passed("new backup exists") == true, "\(after.detail("new backup exists"))")
            #expect(after.passed("retention applied") == false && after.detail("retention applied").contains("coffer prune"), "\(after.object)")
            #expect(after.passed("monitoring healthy") == true, "\(after.detail("monitoring healthy"))")

            #expect(try ws.coffer("prune").status == 0)
            try FileManager.default.createDirectory(atPath: ws.path("backups/bundles/development/not-a-bundle"), withIntermediateDirectories: true)
            try ws.write("backups/bundles/development/not-a-bundle/junk", [1, 2, 3])
            let unhealthy = try deployGate(ws, "--after")
            #expect(unhealthy.status == 1, "\(unhealthy.object)")
            #expect(unhealthy.passed("retention applied") == true, "\(unhealthy.detail("retention applied"))")
            #expect(unhealthy.passed("monitoring healthy") == false && unhealthy.detail("monitoring healthy").contains("not-a-bundle"), "\(unhealthy.object)")
        }
    }
}

@Suite("coffer deploy-gate with an S3 off-site repository (SeaweedFS)")
struct DeployGateS3Tests {
    @Test("the bundle is copied to s3://BUCKET/PREFIX and verified deep there; aws lists its manifest")
    func offsiteOnS3() throws {
        let server = try S3Server.require()
        try withGateProject(offsite: nil) { ws in
            let prefix = "gate-" + UUID().uuidString.lowercased()
            try ws.appendConfig("[offsite]\nrepository = \"s3://\(server.bucket)/\(prefix)\"\n\n[s3]\nendpoint = \"\(server.endpoint)\"\n")
            let gate = try deployGate(ws, environment: server.credentials)
            #expect(gate.status == 0, "\(gate.object) \(gate.result.stderr)")
            let bundle = try #require(gate.bundle)
            #expect(gate.detail("stored off-site").contains("s3://\(server.bucket)/\(prefix)"), "\(gate.detail("stored off-site"))")
            let listed = try ws.run(
                server.aws, ["--endpoint-url", server.endpoint, "s3", "ls", "s3://\(server.bucket)/\(prefix)/bundles/development/\(bundle)/"],
                environment: server.credentials)
            #expect(listed.stdout.contains("manifest.json"), "\(listed.stdout) \(listed.stderr)")

            // Without the credentials the copy cannot be made: that line fails, the others pass.
            let denied = try deployGate(ws, environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
            #expect(denied.status == 1, "\(denied.object)")
            #expect(denied.passed("stored off-site") == false && denied.detail("stored off-site").contains("credentials"), "\(denied.object)")
            #expect(denied.passed("backup verified") == true)
        }
    }
}
