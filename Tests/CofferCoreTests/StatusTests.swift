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
}
