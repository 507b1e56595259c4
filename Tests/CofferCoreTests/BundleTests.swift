import CofferCrypto
import CofferFormat
import CofferSources
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

@Suite("bundles end to end")
struct BundleTests {
    @Test("snapshot, verify quick and deep, change, restore, rollback")
    func roundTrip() throws {
        try Project.with { project in
            let manifest = try project.snapshot(label: "before change")
            #expect(manifest.artifacts.map(\.name) == ["app", "env"])
            #expect(manifest.artifacts[0].stats["tables"]?.objectValue?["users"] == .int(100))
            #expect(manifest.artifacts[1].stats == ["variables": .int(3)])
            #expect(manifest.previous == nil)
            let manifestText = try String(contentsOfFile: project.bundleFolder(manifest.id) + "/manifest.json", encoding: .utf8)
            #expect(!manifestText.contains("jwt-1") && !manifestText.contains("JWT_SECRET_KEY"), "a secret or its name leaked into the manifest")

            #expect(try project.verify().passed)
            #expect(try project.verify(deep: true).passed)

            try project.makeDatabase("data/app.db", users: 7)
            try "JWT_SECRET_KEY=\"jwt-2\"\n".write(toFile: project.path("app.env"), atomically: true, encoding: .utf8)
            let result = try project.restore()
            #expect(result.committed == ["app", "env"])
            #expect(try project.users() == 100)
            #expect(try String(contentsOfFile: project.path("app.env"), encoding: .utf8).contains("jwt-1"))

            let restoreID = try #require(result.restoreID)
            _ = try RestoreOperation(config: project.config, environment: [:], progress: SilentProgress()).rollback(restoreID: restoreID)
            #expect(try project.users() == 7)
            #expect(try String(contentsOfFile: project.path("app.env"), encoding: .utf8).contains("jwt-2"))

            let second = try project.snapshot()
            #expect(second.previous == Manifest.digest(of: try FileSystem.readFile(project.bundleFolder(manifest.id) + "/manifest.json")))
            #expect(try ListOperation(config: project.config).run().map(\.id) == [manifest.id, second.id])
        }
    }

    @Test("a signing key that does not match signing.pub is refused before anything is written")
    func mismatchedSigningKey() throws {
        try Project.with { project in
            let stranger = MinisignSecretKey()
            let error = expectFailure("snapshot with a foreign signing key") {
                _ = try SnapshotOperation(config: project.config, environment: [:], progress: SilentProgress()).run(label: nil, signingKey: stranger)
            }
            #expect("\(String(describing: error))".contains("does not match"))
            #expect(!FileManager.default.fileExists(atPath: project.path("backups/bundles")))
        }
    }

    @Test("restoring env vars edits the critical ones in the file and keeps everything else")
    func envMerge() throws {
        try Project.with { project in
            _ = try project.snapshot()
            try "JWT_SECRET_KEY=\"leaked\"\nAPP_NEW=\"added later\"\nUNRELATED=\"x\"\nLOCAL_ONLY=\"keep me\"\n".write(
                toFile: project.path("app.env"), atomically: true, encoding: .utf8)
            try FileSystem.setPermissions(project.path("app.env"), 0o640)
            let result = try project.restore()
            let restored = try String(contentsOfFile: project.path("app.env"), encoding: .utf8)
            // JWT_SECRET_KEY in place; APP_NEW (critical, not in the bundle) left; the bundle's others appended.
            #expect(restored == "JWT_SECRET_KEY=\"jwt-1\"\nAPP_NEW=\"added later\"\nUNRELATED=\"x\"\nLOCAL_ONLY=\"keep me\"\nAPP_MODE=\"prod\"\nDATABASE_URL=\"postgres://u:p@h/db\"\n")
            #expect(result.warnings.contains { $0.contains("1 critical variable") && !$0.contains("APP_NEW") })
            #expect(try FileSystem.status(of: project.path("app.env"))?.permissions == 0o640)
        }
    }

    @Test("a corrupt live database is replaced; rollback brings its bytes back")
    func corruptTarget() throws {
        try Project.with { project in
            _ = try project.snapshot()
            let garbage = Array(repeating: UInt8(0x5A), count: 8192)
            try FileSystem.writeFile(project.path("data/app.db"), bytes: garbage)
            let result = try project.restore()
            #expect(try project.users() == 100)
            _ = try RestoreOperation(config: project.config, environment: [:], progress: SilentProgress()).rollback(restoreID: try #require(result.restoreID))
            #expect(try FileSystem.readFile(project.path("data/app.db")) == garbage)
        }
    }

    @Test("a missing database is created with mode 0600; rollback removes it again")
    func missingTarget() throws {
        try Project.with { project in
            _ = try project.snapshot()
            try FileSystem.removeFile(project.path("data/app.db"))
            let result = try project.restore()
            #expect(try project.users() == 100)
            #expect(try FileSystem.status(of: project.path("data/app.db"))?.permissions == 0o600)
            _ = try RestoreOperation(config: project.config, environment: [:], progress: SilentProgress()).rollback(restoreID: try #require(result.restoreID))
            #expect(!FileSystem.exists(project.path("data/app.db")))
        }
    }

    @Test("a second restore while one runs is refused")
    func concurrentRestore() throws {
        try Project.with { project in
            _ = try project.snapshot()
            let journals = RestoreJournalStore(state: StateDirectory(config: project.config))
            try FileSystem.createDirectory(journals.directory, permissions: 0o700)
            let held = try #require(try LockFile(path: journals.directory + "/lock"))
            defer { held.release() }
            let error = expectFailure("restore while another holds the lock") { _ = try project.restore() }
            #expect((error as? CofferError)?.category == .refused)
            #expect(try project.users() == 100)
        }
    }

    @Test("a flipped byte in an artifact fails verify and restore, targets untouched")
    func flippedArtifactByte() throws {
        try Project.with(extraConfig: formatOneConfig) { project in
            let manifest = try project.snapshot()
            let payload = project.bundleFolder(manifest.id) + "/" + manifest.artifacts[0].payloadPath
            var bytes = try FileSystem.readFile(payload, limit: 1 << 30)
            bytes[bytes.count / 2] ^= 0x20
            try FileSystem.writeFile(payload, bytes: bytes)
            let report = try project.verify()
            #expect(!report.passed)
            #expect(report.artifacts[0].problem?.contains("does not match the manifest") == true)
            try project.makeDatabase("data/app.db", users: 3)
            let before = try project.targetsSnapshot()
            let error = expectFailure("restore of a tampered bundle") { _ = try project.restore() }
            #expect((error as? FormatError)?.kind == .digest)
            #expect(try project.targetsSnapshot() == before)
        }
    }

    @Test("truncated, missing and swapped objects are named")
    func objects() throws {
        try Project.with(extraConfig: formatOneConfig) { project in
            let first = try project.snapshot()
            try project.makeDatabase("data/app.db", users: 50)
            let second = try project.snapshot()
            let folder = project.bundleFolder(second.id)
            let entry = second.artifacts[0]

            // Swapped with the same artifact of another bundle.
            let original = try FileSystem.readFile(folder + "/" + entry.payloadPath, limit: 1 << 30)
            try FileSystem.writeFile(folder + "/" + entry.payloadPath, bytes: try FileSystem.readFile(project.bundleFolder(first.id) + "/" + entry.payloadPath, limit: 1 << 30))
            #expect(try project.verify(second.id).artifacts[0].problem?.contains("swapped") == true)
            // Truncated.
            try FileSystem.writeFile(folder + "/" + entry.payloadPath, bytes: Array(original.dropLast(10)))
            #expect(try project.verify(second.id).artifacts[0].problem != nil)
            // Missing.
            try FileSystem.removeFile(folder + "/" + entry.payloadPath)
            #expect(try project.verify(second.id).artifacts[0].problem?.contains("missing") == true)
            let before = try project.targetsSnapshot()
            _ = expectFailure("restore with a missing object") { _ = try project.restore(second.id) }
            #expect(try project.targetsSnapshot() == before)
        }
    }

    @Test("manifests: a flipped byte, no signature, an untrusted signer, an unknown format")
    func manifests() throws {
        try Project.with(extraConfig: formatOneConfig) { project in
            let manifest = try project.snapshot()
            let folder = project.bundleFolder(manifest.id)
            let bytes = try FileSystem.readFile(folder + "/manifest.json")

            var flipped = bytes
            flipped[40] ^= 0x01
            try FileSystem.writeFile(folder + "/manifest.json", bytes: flipped)
            #expect((expectFailure("flipped manifest") { _ = try project.verify() } as? FormatError)?.kind == .signature)

            try FileSystem.writeFile(folder + "/manifest.json", bytes: bytes)
            try FileSystem.removeFile(folder + "/manifest.json.minisig")
            let unsigned = expectFailure("unsigned manifest") { _ = try project.verify() } as? FormatError
            #expect(unsigned?.message.contains("not signed") == true)

            let stranger = MinisignSecretKey()
            try FileSystem.writeFile(folder + "/manifest.json.minisig", bytes: ManifestSignature.sign(bytes, manifest: manifest, with: stranger))
            let untrusted = expectFailure("manifest by an untrusted key") { _ = try project.verify() } as? FormatError
            #expect(untrusted?.message.contains("not a trusted signing key") == true)

            // A future format, properly signed by the trusted key, is still refused by name.
            let keys = KeyStore(directory: project.config.keysDirectory)
            let key = try keys.signingKey { throw CofferError(.key, "no password") }
            let future = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "coffer/1", with: "coffer/9").utf8)
            try FileSystem.writeFile(folder + "/manifest.json", bytes: future)
            try FileSystem.writeFile(folder + "/manifest.json.minisig", bytes: Minisign.sign(future, with: key, trustedComment: "x").fileContents)
            let unknown = expectFailure("unknown format") { _ = try project.verify() } as? FormatError
            #expect(unknown?.kind == .unsupportedVersion)
            #expect(unknown?.message.contains("coffer/9") == true)
            let before = try project.targetsSnapshot()
            _ = expectFailure("restore of an unknown format") { _ = try project.restore() }
            #expect(try project.targetsSnapshot() == before)
        }
    }

    @Test("a wrong or world-readable identity fails the restore before any target changes")
    func identities() throws {
        try Project.with { project in
            _ = try project.snapshot()
            try project.makeDatabase("data/app.db", users: 3)
            let before = try project.targetsSnapshot()
            let identityPath = KeyStore(directory: project.config.keysDirectory).identityPath("development")
            let original = try FileSystem.readFile(identityPath)

            try FileSystem.setPermissions(identityPath, 0o644)
            let open = expectFailure("restore with a world-readable identity") { _ = try project.restore() }
            #expect("\(String(describing: open))".contains("chmod 600"))
            #expect(try project.targetsSnapshot() == before)

            try FileSystem.removeFile(identityPath)
            try SecretFile.write(identityPath, AgeKeyFiles.identityFile(AgeX25519Identity(), created: "now"))
            let wrong = expectFailure("restore with the wrong identity") { _ = try project.restore() }
            #expect((wrong as? AgeError)?.kind == .noMatch)
            #expect(try project.targetsSnapshot() == before)
            try FileSystem.removeFile(identityPath)
            try FileSystem.writeFile(identityPath, bytes: original, permissions: 0o600)
            #expect(try project.verify(deep: true).passed)
        }
    }

    @Test("hooks: a failing pre_restore stops the restore untouched; post_restore runs after a commit")
    func hooks() throws {
        try Project.with(extraConfig: "[hooks]\npre_restore = \"echo stopped >> hooks.log; test ! -e block\"\npost_restore = \"echo started >> hooks.log\"") { project in
            _ = try project.snapshot()
            try project.makeDatabase("data/app.db", users: 9)
            _ = FileManager.default.createFile(atPath: project.path("block"), contents: nil)
            let before = try project.targetsSnapshot()
            let error = expectFailure("restore with a failing pre_restore hook") { _ = try project.restore() }
            #expect("\(String(describing: error))".contains("pre_restore"))
            #expect(try project.targetsSnapshot() == before)
            #expect(try String(contentsOfFile: project.path("hooks.log"), encoding: .utf8) == "stopped\n")
            #expect(try FileSystem.contentsOfDirectory(project.path("data")) == ["app.db"], "staging copies were left behind")

            try FileManager.default.removeItem(atPath: project.path("block"))
            let result = try project.restore()
            #expect(result.warnings.isEmpty)
            #expect(try project.users() == 100)
            #expect(try String(contentsOfFile: project.path("hooks.log"), encoding: .utf8) == "stopped\nstopped\nstarted\n")
        }
    }

    @Test("a failing post_restore hook is reported, the committed restore stands")
    func failingPostHook() throws {
        try Project.with(extraConfig: "[hooks]\npost_restore = \"exit 3\"") { project in
            _ = try project.snapshot()
            try project.makeDatabase("data/app.db", users: 2)
            let result = try project.restore()
            #expect(try project.users() == 100)
            #expect(result.warnings.count == 1)
            #expect(result.warnings.first?.contains("post_restore hook failed with exit status 3") == true)
        }
    }

    @Test("a target locked during commit undoes the targets already committed")
    func lockedTargetUndo() throws {
        try Project.with(extraConfig: "[[sqlite]]\nname = \"second\"\npath = \"data/second.db\"") { project in
            try project.makeDatabase("data/second.db", users: 40)
            _ = try project.snapshot()
            try project.makeDatabase("data/app.db", users: 1)
            try project.makeDatabase("data/second.db", users: 2)
            let before = try project.targetsSnapshot()
            let holder = try SQLiteDatabase(path: project.path("data/second.db"))
            try holder.execute("BEGIN IMMEDIATE")
            // Shorten the wait so the test is quick: the restore sees the lock, fails, and undoes `app`.
            let error = expectFailure("restore into a locked database") {
                _ = try RestoreOperation(config: project.config, environment: [:], progress: SilentProgress())
                    .run(reference: "latest", dryRun: false) { _ in true }
            }
            try holder.execute("ROLLBACK")
            #expect("\(String(describing: error))".contains("locked by another writer"))
            #expect("\(String(describing: error))".contains("put back"))
            #expect(try project.users() == 1)
            #expect(try project.users("data/second.db") == 2)
            #expect(try project.targetsSnapshot()["app.env"] == before["app.env"])
        }
    }
}
