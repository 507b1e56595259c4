import CofferCrypto
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
        try Project.with(extraConfig: formatOneConfig) { project in
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
    @Test("a manifest that does not verify is kept whatever its age; deleteUnverifiable deletes it, by name, and a dry run only says so")
    func unverifiableKept() throws {
        try Project.with { project in
            let good = try project.snapshot(at: "2026-10-01T00:00:00Z").id
            let flipped = try project.snapshot(at: "2026-10-05T00:00:00Z").id
            let manifest = project.bundleFolder(flipped) + "/manifest.json"
            var bytes = try FileSystem.readFile(manifest)
            bytes[bytes.count / 2] ^= 0x20
            try FileSystem.writeFile(manifest, bytes: bytes)

            let decisions = try project.prune(at: "2026-12-31T00:00:00Z")
            let kept = try #require(decisions.first { $0.id == flipped })
            #expect(kept.keep && kept.unverifiable)
            #expect(kept.reason.contains("does not verify") && kept.reason.contains("--delete-unverifiable"))
            #expect(decisions.first { $0.id == good }?.keep == true)
            #expect(try FileSystem.contentsOfDirectory(project.path("backups/bundles/development")).sorted() == [good, flipped])

            let operation = PruneOperation(config: project.config, environment: ["COFFER_NOW": "2026-12-31T00:00:00Z"], progress: SilentProgress())
            let planned = try operation.run(dryRun: true, deleteUnverifiable: true)
            #expect(planned.decisions.first { $0.id == flipped }?.keep == false)
            #expect(FileSystem.exists(project.bundleFolder(flipped)))
            let removed = try operation.run(dryRun: false, deleteUnverifiable: true)
            #expect(removed.decisions.filter { !$0.keep }.map(\.id) == [flipped])
            #expect(!FileSystem.exists(project.bundleFolder(flipped)))
            #expect(FileSystem.exists(project.bundleFolder(good)))
        }
    }

    @Test("no bundle verifies (a wrong signing.pub): nothing is deleted, not even with deleteUnverifiable, and the error is about keys")
    func wrongKeysDeleteNothing() throws {
        try Project.with { project in
            let ids = [try project.snapshot(at: "2026-10-01T00:00:00Z").id, try project.snapshot(at: "2026-10-05T00:00:00Z").id]
            try FileSystem.writeFile(
                KeyStore(directory: project.config.keysDirectory).signingPublicKeyPath, bytes: MinisignSecretKey().publicKey.fileContents)
            for unverifiable in [false, true] {
                let operation = PruneOperation(config: project.config, environment: ["COFFER_NOW": "2026-12-31T00:00:00Z"], progress: SilentProgress())
                let error = expectFailure("prune with the wrong signing.pub") { _ = try operation.run(dryRun: false, deleteUnverifiable: unverifiable) }
                let refusal = try #require(error as? PruneRefusal)
                #expect(refusal.category == .key)
                #expect(refusal.message.contains("keys are probably wrong"))
                #expect(refusal.decisions.allSatisfy { $0.keep })
                #expect(try FileSystem.contentsOfDirectory(project.path("backups/bundles/development")).sorted() == ids)
            }
        }
    }

    @Test("every bundle signed but none with intact objects: nothing is deleted")
    func noneIntact() throws {
        try Project.with(extraConfig: formatOneConfig) { project in
            var ids: [String] = []
            for day in ["2026-10-01", "2026-10-05"] {
                let manifest = try project.snapshot(at: "\(day)T00:00:00Z")
                ids.append(manifest.id)
                let payload = project.bundleFolder(manifest.id) + "/" + manifest.artifacts[0].payloadPath
                var bytes = try FileSystem.readFile(payload, limit: 1 << 30)
                bytes[bytes.count / 2] ^= 1
                try FileSystem.writeFile(payload, bytes: bytes)
            }
            let error = expectFailure("prune without a good bundle") { _ = try project.prune(at: "2026-12-31T00:00:00Z") }
            #expect((error as? PruneRefusal)?.category == .integrity)
            #expect(try FileSystem.contentsOfDirectory(project.path("backups/bundles/development")).sorted() == ids)
        }
    }
}

