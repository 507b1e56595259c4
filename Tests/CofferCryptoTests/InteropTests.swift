import CofferSystem
import Foundation
import Testing

@testable import CofferCrypto

private let passphraseHelper = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Helpers/with_passphrase.py").path

@Suite("interop with the real age program")
struct AgeInteropTests {
    @Test("age -d opens what Coffer wrote: binary, armored, and header+payload joined")
    func ageDecryptsCoffer() throws {
        try withTemporaryDirectory { dir in
            #expect(try run("age-keygen", ["-o", "\(dir)/key.txt"]).status == 0)
            let keyText = try String(contentsOfFile: "\(dir)/key.txt", encoding: .utf8)
            let recipientLine = try #require(keyText.split(separator: "\n").first { $0.hasPrefix("# public key: ") })
            let recipient = try AgeX25519Recipient(parsing: String(recipientLine.dropFirst("# public key: ".count)))
            let plaintext = SecureRandom.bytes(200_000)

            for armored in [false, true] {
                try writeBytes("\(dir)/file.age", try AgeFile.encrypt(plaintext, recipients: [recipient], armored: armored))
                let result = try run("age", ["-d", "-i", "\(dir)/key.txt", "\(dir)/file.age"])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout == plaintext, "armored: \(armored)")
            }

            var header: [UInt8] = [], payload: [UInt8] = []
            var source = MemorySource(plaintext)
            try AgeFile.encrypt(read: { source.read(into: $0) }, recipients: [recipient], header: { header += $0 }, payload: { payload += $0 })
            try writeBytes("\(dir)/h", header)
            try writeBytes("\(dir)/p", payload)
            let joined = try run("sh", ["-c", "cat '\(dir)/h' '\(dir)/p' | age -d -i '\(dir)/key.txt'"])
            #expect(joined.status == 0, "\(joined.stderr)")
            #expect(joined.stdout == plaintext)
        }
    }

    @Test("Coffer opens what age -r wrote, and age -i reads Coffer's identity file")
    func cofferDecryptsAge() throws {
        try withTemporaryDirectory { dir in
            let identity = AgeX25519Identity()
            try SecretFile.write("\(dir)/id.age", AgeKeyFiles.identityFile(identity, created: "2026-11-28T00:00:00Z"))
            let plaintext = SecureRandom.bytes(150_000)
            try writeBytes("\(dir)/plain", plaintext)
            for extra in [[], ["-a"]] {
                let encrypted = try run("age", ["-r", identity.recipient.description] + extra + ["-o", "\(dir)/out.age", "\(dir)/plain"])
                #expect(encrypted.status == 0, "\(encrypted.stderr)")
                #expect(try AgeFile.decrypt(try readBytes("\(dir)/out.age"), identities: [identity]) == plaintext)
                let loaded = try AgeKeyFiles.identities(fromFile: "\(dir)/id.age")
                #expect(try AgeFile.decrypt(try readBytes("\(dir)/out.age"), identities: loaded) == plaintext)
            }
            let viaAge = try run("age", ["-d", "-i", "\(dir)/id.age", "\(dir)/out.age"])
            #expect(viaAge.status == 0 && viaAge.stdout == plaintext, "\(viaAge.stderr)")
        }
    }

    @Test("passphrases: Coffer opens age -p, and age opens Coffer's scrypt files (through a pseudo-terminal)")
    func passphraseInterop() throws {
        try withTemporaryDirectory { dir in
            let plaintext = Array("passphrase protected\n".utf8)
            try writeBytes("\(dir)/plain", plaintext)
            var environment = ProcessInfo.processInfo.environment
            environment["TEST_PASSPHRASE"] = "correct horse battery"

            let byAge = try run("python3", [passphraseHelper, "age", "-p", "-o", "\(dir)/by-age.age", "\(dir)/plain"], environment: environment)
            #expect(byAge.status == 0, "\(byAge.stderr)")
            let file = try readBytes("\(dir)/by-age.age")
            #expect(try AgeFile.decrypt(file, identities: [AgeScryptIdentity(passphrase: secure("correct horse battery"))]) == plaintext)

            let mine = try AgeFile.encrypt(plaintext, recipients: [AgeScryptRecipient(passphrase: secure("correct horse battery"))])
            try writeBytes("\(dir)/by-coffer.age", mine)
            let opened = try run("python3", [passphraseHelper, "age", "-d", "-o", "\(dir)/opened", "\(dir)/by-coffer.age"], environment: environment)
            #expect(opened.status == 0, "\(opened.stderr)")
            #expect(try readBytes("\(dir)/opened") == plaintext)
        }
    }
}

@Suite("interop with the real minisign program")
struct MinisignInteropTests {
    @Test("minisign -V verifies Coffer's signatures made with Coffer's key files")
    func minisignVerifiesCoffer() throws {
        try withTemporaryDirectory { dir in
            let key = MinisignSecretKey()
            try writeBytes("\(dir)/signing.pub", key.publicKey.fileContents)
            let data = SecureRandom.bytes(100_000)
            try writeBytes("\(dir)/data", data)
            let signature = Minisign.sign(data, with: key, trustedComment: "timestamp:1 file:data hashed")
            try writeBytes("\(dir)/data.minisig", signature.fileContents)
            let result = try run("minisign", ["-Vm", "\(dir)/data", "-p", "\(dir)/signing.pub"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutText.contains("Trusted comment: timestamp:1 file:data hashed"))

            // minisign signs with Coffer's unencrypted key file, as with its own -W keys.
            try SecretFile.write("\(dir)/signing.key", key.fileContents())
            let signed = try run("minisign", ["-S", "-s", "\(dir)/signing.key", "-m", "\(dir)/data", "-x", "\(dir)/by-minisign.sig"])
            #expect(signed.status == 0, "\(signed.stderr)")
            let parsed = try MinisignSignature(parsing: try readBytes("\(dir)/by-minisign.sig"))
            #expect(throws: Never.self) { try Minisign.verify(parsed, data: data, publicKey: key.publicKey) }
        }
    }

    @Test("Coffer verifies minisign's signatures (prehashed and legacy) and uses its -W keys")
    func cofferVerifiesMinisign() throws {
        try withTemporaryDirectory { dir in
            #expect(try run("minisign", ["-G", "-W", "-p", "\(dir)/m.pub", "-s", "\(dir)/m.key"]).status == 0)
            let data = SecureRandom.bytes(50_000)
            try writeBytes("\(dir)/data", data)
            #expect(try run("minisign", ["-S", "-s", "\(dir)/m.key", "-m", "\(dir)/data", "-t", "from minisign"]).status == 0)
            #expect(try run("minisign", ["-S", "-l", "-s", "\(dir)/m.key", "-m", "\(dir)/data", "-x", "\(dir)/legacy.sig"]).status == 0)
            let publicKey = try MinisignPublicKey(parsing: try readBytes("\(dir)/m.pub"))

            let prehashed = try MinisignSignature(parsing: try readBytes("\(dir)/data.minisig"))
            #expect(prehashed.isPrehashed)
            #expect(try Minisign.verify(prehashed, data: data, publicKey: publicKey) == "from minisign")
            let legacy = try MinisignSignature(parsing: try readBytes("\(dir)/legacy.sig"))
            #expect(!legacy.isPrehashed)
            #expect(throws: Never.self) { try Minisign.verify(legacy, data: data, publicKey: publicKey) }

            // Coffer signs with minisign's own -W secret key; minisign verifies.
            let key = try MinisignSecretKey(parsing: try readBytes("\(dir)/m.key"))
            #expect(key.publicKey == publicKey)
            try writeBytes("\(dir)/data.minisig", Minisign.sign(data, with: key, trustedComment: "by coffer").fileContents)
            #expect(try run("minisign", ["-Vm", "\(dir)/data", "-p", "\(dir)/m.pub"]).status == 0)
        }
    }

    @Test("password-encrypted secret keys work both ways (minisign's scrypt limits)")
    func encryptedKeys() throws {
        try withTemporaryDirectory { dir in
            let password = "s3cret pass"
            let data = Array("signed with an encrypted key".utf8)
            try writeBytes("\(dir)/data", data)

            // Coffer-encrypted key, used by minisign (password on standard input).
            let key = MinisignSecretKey()
            try SecretFile.write("\(dir)/c.key", key.fileContents(password: secure(password)))
            try writeBytes("\(dir)/c.pub", key.publicKey.fileContents)
            let signed = try run("minisign", ["-S", "-s", "\(dir)/c.key", "-m", "\(dir)/data"], stdin: Array("\(password)\n".utf8))
            #expect(signed.status == 0, "\(signed.stderr)")
            #expect(try run("minisign", ["-Vm", "\(dir)/data", "-p", "\(dir)/c.pub"]).status == 0)

            // minisign-encrypted key, opened by Coffer.
            let generated = try run("minisign", ["-G", "-p", "\(dir)/m.pub", "-s", "\(dir)/m.key"], stdin: Array("\(password)\n\(password)\n".utf8))
            #expect(generated.status == 0, "\(generated.stderr)")
            let text = try readBytes("\(dir)/m.key")
            #expect(MinisignSecretKey.isEncrypted(text))
            let opened = try MinisignSecretKey(parsing: text, password: secure(password))
            #expect(opened.publicKey == (try MinisignPublicKey(parsing: try readBytes("\(dir)/m.pub"))))
        }
    }
}

@Suite("secret key files")
struct SecretFileTests {
    @Test("a secret file readable by group or others is refused with the fix")
    func tooOpen() throws {
        try withTemporaryDirectory { dir in
            let identity = AgeX25519Identity()
            try SecretFile.write("\(dir)/id.age", AgeKeyFiles.identityFile(identity, created: "now"))
            #expect(try FileSystem.status(of: "\(dir)/id.age")?.permissions == 0o600)
            #expect(throws: Never.self) { try AgeKeyFiles.identities(fromFile: "\(dir)/id.age") }
            for mode: UInt32 in [0o644, 0o640, 0o604] {
                try FileSystem.setPermissions("\(dir)/id.age", mode)
                do {
                    _ = try AgeKeyFiles.identities(fromFile: "\(dir)/id.age")
                    Issue.record("mode \(String(mode, radix: 8)) accepted")
                } catch let error as KeyFileError {
                    #expect(error.kind == .permissionsTooOpen)
                    #expect(error.description.contains("chmod 600"))
                }
            }
        }
    }

    @Test("secret files are never overwritten")
    func noOverwrite() throws {
        try withTemporaryDirectory { dir in
            try SecretFile.write("\(dir)/k", secure("first"))
            #expect(throws: KeyFileError.self) { try SecretFile.write("\(dir)/k", secure("second")) }
            #expect(try readBytes("\(dir)/k") == Array("first".utf8))
            #expect(try FileSystem.contentsOfDirectory(dir) == ["k"])
        }
    }
}
