import CofferFormat
import CofferStorage
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

private func export(_ project: Project, _ id: String = "latest") throws -> [UInt8] {
    var bytes: [UInt8] = []
    _ = try ExportOperation(config: project.config).run(reference: id) { bytes += $0 }
    return bytes
}

private func importArchive(_ project: Project, _ bytes: [UInt8]) throws -> (Manifest, alreadyPresent: Bool) {
    var position = 0
    return try ImportOperation(config: project.config).run { buffer in
        let count = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: count) }
        position += count
        return count
    }
}

@Suite("export, import, copy")
struct TransferTests {
    @Test("export then import restores the bundle; the real tar reads the archive")
    func roundTrip() throws {
        try Project.with { project in
            let manifest = try project.snapshot()
            let archive = try export(project)
            try FileSystem.writeFile(project.path("b.tar"), bytes: archive)
            let listing = Process()
            listing.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            listing.arguments = ["tar", "-xf", project.path("b.tar"), "-C", project.path("unpacked")]
            try FileManager.default.createDirectory(atPath: project.path("unpacked"), withIntermediateDirectories: true)
            try listing.run()
            listing.waitUntilExit()
            #expect(listing.terminationStatus == 0)
            #expect(try FileSystem.readFile(project.path("unpacked/bundles/development/\(manifest.id)/manifest.json"))
                == (try FileSystem.readFile(project.bundleFolder(manifest.id) + "/manifest.json")))

            try FileSystem.removeTree(project.bundleFolder(manifest.id))
            let (imported, present) = try importArchive(project, archive)
            #expect(imported.id == manifest.id && !present)
            #expect(try project.verify(deep: true).passed)
            #expect(try importArchive(project, archive).alreadyPresent)
        }
    }

    @Test("a tampered, truncated or padded archive is refused and leaves nothing")
    func badArchives() throws {
        try Project.with { project in
            let manifest = try project.snapshot()
            let archive = try export(project)
            try FileSystem.removeTree(project.bundleFolder(manifest.id))

            var flipped = archive
            flipped[512 + 10] ^= 0x01  // inside the first object (the age header)
            let cases: [(String, [UInt8])] = [
                ("flipped", flipped), ("truncated", Array(archive.prefix(archive.count / 2))),
                ("no manifest", Array(archive.prefix(archive.count - 1024 - 2048))),
            ]
            for (name, bytes) in cases {
                _ = expectFailure("import of a \(name) archive") { _ = try importArchive(project, bytes) }
                #expect(try ListOperation(config: project.config).run().isEmpty, "\(name) left a bundle")
                #expect(try FileSystem.contentsOfDirectory(project.path("backups/bundles/development")).isEmpty, "\(name) left files")
            }
        }
    }

    @Test("archive paths outside a bundle are refused")
    func paths() {
        for bad in ["../etc/passwd", "bundles/development/20261128T064512Z-3f9a1c2e/../../x", "bundles/development/not-an-id/manifest.json",
                    "bundles/development/20261128T064512Z-3f9a1c2e/artifacts/../manifest.json", "bundles/Dev/20261128T064512Z-3f9a1c2e/manifest.json"] {
            #expect(throws: FormatError.self) { try ImportOperation.split(bad) }
        }
        #expect(throws: Never.self) { try ImportOperation.split("bundles/development/20261128T064512Z-3f9a1c2e/artifacts/app.sqlite.gz.age-payload") }
    }

    @Test("copy checks every object, skips bundles already there, and refuses a damaged one")
    func copy() throws {
        try Project.with(extraConfig: formatOneConfig) { project in
            let first = try project.snapshot()
            let second = try project.snapshot()
            let destination = Repository(storage: LocalStorage(root: project.path("offsite")))
            let copied = try CopyOperation(config: project.config).run(reference: nil, destination: destination)
            #expect(copied.map(\.1) == [true, true])
            #expect(try CopyOperation(config: project.config).run(reference: nil, destination: destination).map(\.1) == [false, false])
            #expect(try destination.bundleIDs(environment: "development", now: Date()) == [first.id, second.id])

            let third = try project.snapshot()
            let payload = project.bundleFolder(third.id) + "/" + third.artifacts[0].payloadPath
            var bytes = try FileSystem.readFile(payload, limit: 1 << 30)
            bytes[bytes.count / 2] ^= 1
            try FileSystem.writeFile(payload, bytes: bytes)
            _ = expectFailure("copy of a damaged bundle") { _ = try CopyOperation(config: project.config).run(reference: third.id, destination: destination) }
            #expect(try destination.bundleIDs(environment: "development", now: Date()) == [first.id, second.id])
            #expect(try FileSystem.contentsOfDirectory(project.path("offsite/bundles/development")) == [first.id, second.id])
        }
    }
}
