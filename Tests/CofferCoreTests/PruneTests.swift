import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

@Suite("retention")
struct PruneTests {
    @Test("development keeps 7 days; a dry run deletes nothing; the rest is deleted")
    func window() throws {
        try Project.with { project in
            let old1 = try project.snapshot(at: "2026-11-01T00:00:00Z").id
            let old2 = try project.snapshot(at: "2026-11-10T00:00:00Z").id
            let old3 = try project.snapshot(at: "2026-11-20T00:00:00Z").id
            let recent = try project.snapshot(at: "2026-11-27T00:00:00Z").id

            let planned = try project.prune(at: "2026-11-28T00:00:00Z", dryRun: true)
            #expect(planned.filter { !$0.keep }.map(\.id) == [old1, old2, old3])
            #expect(planned.first { $0.id == recent }?.reason.contains("younger than 7 days") == true)
            #expect(try ListOperation(config: project.config).run().count == 4)

            _ = try project.prune(at: "2026-11-28T00:00:00Z")
            #expect(try ListOperation(config: project.config).run().map(\.id) == [recent])
            #expect(try FileSystem.contentsOfDirectory(project.path("backups/bundles/development")) == [recent])
        }
    }

    @Test("the newest bundle that verifies is kept however old")
    func newestGood() throws {
        try Project.with { project in
            let older = try project.snapshot(at: "2026-10-01T00:00:00Z").id
            let newest = try project.snapshot(at: "2026-10-05T00:00:00Z").id
            let decisions = try project.prune(at: "2026-12-31T00:00:00Z")
            #expect(decisions.first { $0.id == newest }?.keep == true)
            #expect(decisions.first { $0.id == newest }?.reason.contains("verify") == true)
            #expect(try ListOperation(config: project.config).run().map(\.id) == [newest])
            #expect(decisions.first { $0.id == older }?.keep == false)
        }
    }

    @Test("a damaged newest bundle does not count; the newest good one is kept instead")
    func damagedNewest() throws {
        try Project.with { project in
            let good = try project.snapshot(at: "2026-10-01T00:00:00Z").id
            let damaged = try project.snapshot(at: "2026-10-05T00:00:00Z")
            let payload = project.bundleFolder(damaged.id) + "/" + damaged.artifacts[0].payloadPath
            var bytes = try FileSystem.readFile(payload, limit: 1 << 30)
            bytes[bytes.count / 2] ^= 1
            try FileSystem.writeFile(payload, bytes: bytes)
            let decisions = try project.prune(at: "2026-12-31T00:00:00Z")
            #expect(decisions.first { $0.id == good }?.keep == true)
            #expect(decisions.first { $0.id == damaged.id }?.keep == false)
            #expect(decisions.first { $0.id == damaged.id }?.reason.contains("does not verify") == true)
        }
    }

    @Test("keep_last keeps that many good bundles; defaults follow the environment")
    func policy() throws {
        try Project.with(extraConfig: "[retention]\nkeep_last = 2") { project in
            let first = try project.snapshot(at: "2026-09-01T00:00:00Z").id
            let second = try project.snapshot(at: "2026-09-02T00:00:00Z").id
            let third = try project.snapshot(at: "2026-09-03T00:00:00Z").id
            _ = try project.prune(at: "2026-12-31T00:00:00Z")
            #expect(try ListOperation(config: project.config).run().map(\.id) == [second, third])
            #expect(!first.isEmpty)
        }
        #expect(EnvironmentKind.production.defaultRetentionDays == 30)
    }
}
