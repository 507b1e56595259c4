import CofferCrypto
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

private func withStore(_ body: (KeyStore) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "coffer-keys-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(KeyStore(directory: path + "/keys"))
}

@Suite("key store")
struct KeyStoreTests {
    @Test("init writes five files (the chunk key too) with the right modes and they load back")
    func initialize() throws {
        try withStore { store in
            let result = try store.initialize(environment: "production", created: "2026-11-28T00:00:00Z")
            #expect(result.written.count == 5)
            #expect(try FileSystem.status(of: store.chunkKeyPath)?.permissions == 0o600)
            #expect(try FileSystem.status(of: store.identityPath("production"))?.permissions == 0o600)
            #expect(try FileSystem.status(of: store.signingKeyPath)?.permissions == 0o600)
            #expect(try FileSystem.status(of: store.recipientsPath("production"))?.permissions == 0o644)
            #expect(try FileSystem.status(of: store.directory)?.permissions == 0o700)
            let identity = try #require(try store.identities("production").first)
            #expect(try store.recipients("production") == [identity.recipient])
            #expect(identity.recipient.description == result.recipient)
            let signing = try store.signingKey { throw CofferError(.key, "unencrypted key asked for a password") }
            #expect(signing.publicKey == (try store.signingPublicKey()))
            #expect(FileSystem.exists(store.directory + "/.gitignore"))
        }
    }

    @Test("init refuses to overwrite, and a second environment reuses the signing key")
    func noOverwrite() throws {
        try withStore { store in
            let first = try store.initialize(environment: "staging", created: "t")
            let before = try readSecretText(store.identityPath("staging"))
            do {
                _ = try store.initialize(environment: "staging", created: "t")
                Issue.record("overwrote an identity")
            } catch let error as CofferError {
                #expect(error.category == .refused)
            }
            #expect(try readSecretText(store.identityPath("staging")) == before)
            let second = try store.initialize(environment: "production", created: "t")
            #expect(second.keptSigningKey)
            #expect(second.signingKeyID == first.signingKeyID)
            #expect(second.written.count == 2)
        }
    }

    @Test("half a signing pair is an error and leaves nothing new behind")
    func halfSigningPair() throws {
        try withStore { store in
            _ = try store.initialize(environment: "development", created: "t")
            try FileSystem.removeFile(store.signingPublicKeyPath)
            #expect(throws: CofferError.self) { try store.initialize(environment: "staging", created: "t") }
            #expect(!FileSystem.exists(store.identityPath("staging")))
        }
    }

    @Test("an encrypted signing key needs its password")
    func encryptedSigningKey() throws {
        try withStore { store in
            var password = Array("hunter2".utf8)
            _ = try store.initialize(environment: "development", created: "t", signingPassword: SecureBytes(wiping: &password))
            #expect(throws: CofferError.self) { try store.signingKey { throw CofferError(.key, "no password") } }
            let key = try store.signingKey {
                var bytes = Array("hunter2".utf8)
                return SecureBytes(wiping: &bytes)
            }
            #expect(key.publicKey == (try store.signingPublicKey()))
        }
    }

    @Test("the inventory shows ids and flags a too-open secret")
    func inventory() throws {
        try withStore { store in
            let result = try store.initialize(environment: "development", created: "t")
            try FileSystem.setPermissions(store.identityPath("development"), 0o644)
            let entries = try store.inventory()
            #expect(entries.count == 5)
            #expect(entries.first { $0.kind == .chunkKey }?.problem == nil)
            let identity = try #require(entries.first { $0.kind == .identity })
            #expect(identity.problem?.contains("chmod 600") == true)
            let recipients = try #require(entries.first { $0.kind == .recipients })
            #expect(recipients.ids == [result.recipient])
            #expect(entries.first { $0.kind == .signingSecret }?.ids == [result.signingKeyID])
        }
    }
}

private func readSecretText(_ path: String) throws -> [UInt8] {
    try SecretFile.read(path).withUnsafeBytes { Array($0) }
}
