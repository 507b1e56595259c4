import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

@Suite("status and space")
struct StatusTests {
    func status(_ project: Project, at now: String? = nil) throws -> StatusReport {
        try StatusOperation(config: project.config, environment: now.map { ["COFFER_NOW": $0] } ?? [:]).run()
    }

    @Test("critical without bundles, ok after a snapshot, warn when stale, critical when the newest is not trusted")
    func levels() throws {
        try Project.with { project in
            let empty = try status(project)
            #expect(empty.level == .critical)
            #expect(empty.problems.first?.contains("no bundle") == true)

            let manifest = try project.snapshot(at: "2026-11-20T00:00:00Z")
            let fresh = try status(project, at: "2026-11-21T00:00:00Z")
            #expect(fresh.level == .ok, "\(fresh.problems)")
            #expect(fresh.bundles == 1 && fresh.newestID == manifest.id)
            #expect((fresh.freeBytes ?? 0) > 0)

            let stale = try status(project, at: "2026-12-20T00:00:00Z")
            #expect(stale.level == .warn)
            #expect(stale.problems.first?.contains("older than") == true)

            try FileSystem.writeFile(project.bundleFolder(manifest.id) + "/manifest.json.minisig", bytes: Array("garbage".utf8))
            #expect(try status(project, at: "2026-11-21T00:00:00Z").level == .critical)
        }
    }

    @Test("a snapshot that cannot fit fails before anything is written")
    func noRoom() throws {
        try Project.with { project in
            // A sparse 15 TB file: real, and larger than any free space here.
            #expect(truncate(project.path("data/app.db"), 15 << 40) == 0)
            let error = expectFailure("snapshot larger than the disk") { _ = try project.snapshot() }
            #expect("\(String(describing: error))".contains("bytes free"))
            #expect(!FileSystem.exists(project.path("backups/bundles")))
        }
    }
    @Test("a bundle that does not verify, not the newest, is a warning; prune keeps it")
    func unverifiableIsWarning() throws {
        try Project.with { project in
            _ = try project.snapshot(at: "2026-11-20T00:00:00Z")
            let flipped = try project.snapshot(at: "2026-11-20T01:00:00Z").id
            _ = try project.snapshot(at: "2026-11-20T02:00:00Z")
            let manifest = project.bundleFolder(flipped) + "/manifest.json"
            var bytes = try FileSystem.readFile(manifest)
            bytes[bytes.count / 2] ^= 0x20
            try FileSystem.writeFile(manifest, bytes: bytes)
            _ = try project.prune(at: "2026-11-21T00:00:00Z")
            #expect(FileSystem.exists(project.bundleFolder(flipped)))
            let report = try status(project, at: "2026-11-21T00:00:00Z")
            #expect(report.level == .warn, "\(report.problems)")
            #expect(report.problems.contains { $0.contains(flipped) })
        }
    }

    @Test("the high-water mark: per repository and environment, 0600, only raised")
    func highWaterMark() throws {
        try Project.with { project in
            let store = HighWaterMarkStore(config: project.config)
            #expect(try store.load().bundle == nil)
            try store.raise(bundle: "20261120T000000Z-00000002", journal: 5)
            try store.raise(bundle: "20261120T000000Z-00000001", journal: 3, alarms: ["x"])
            try store.raise(alarms: ["x"])
            let mark = try store.load()
            #expect(mark.bundle == "20261120T000000Z-00000002" && mark.journal == 5 && mark.alarms == ["x"])
            #expect(try FileSystem.status(of: store.path)?.permissions == 0o600)

            var other = project.config
            other.repository = project.path("elsewhere")
            #expect(HighWaterMarkStore(config: other).path != store.path)
            #expect(try HighWaterMarkStore(config: other).load().bundle == nil)
            other = project.config
            other.environment = .production
            #expect(HighWaterMarkStore(config: other).path != store.path)
        }
    }

    @Test("status raises the mark from what it reads; a snapshot taken elsewhere is no alarm")
    func markFollowsTheRepository() throws {
        try Project.with { project in
            let first = try project.snapshot(at: "2026-11-20T00:00:00Z").id
            #expect(try status(project, at: "2026-11-20T01:00:00Z").level == .ok)
            #expect(try HighWaterMarkStore(config: project.config).load().bundle == first)
            // Another host's snapshot: only a newer bundle.
            let store = HighWaterMarkStore(config: project.config)
            try FileSystem.removeFile(store.path)
            let second = try project.snapshot(at: "2026-11-20T02:00:00Z").id
            try FileSystem.removeFile(store.path)
            try store.raise(bundle: first)
            #expect(try status(project, at: "2026-11-20T03:00:00Z").level == .ok)
            #expect(try store.load().bundle == second)
        }
    }
}

