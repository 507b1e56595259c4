import Testing

@testable import CofferCrypto

@Suite("minisign")
struct MinisignTests {
    let key = MinisignSecretKey()

    @Test("sign and verify, trusted comment returned")
    func roundTrip() throws {
        let data = Array("manifest".utf8)
        let signature = Minisign.sign(data, with: key, trustedComment: "bundle 1")
        let parsed = try MinisignSignature(parsing: signature.fileContents)
        #expect(parsed == signature)
        #expect(try Minisign.verify(parsed, data: data, publicKey: key.publicKey) == "bundle 1")
        #expect(try MinisignPublicKey(parsing: key.publicKey.fileContents) == key.publicKey)
    }

    @Test("altered data is a bad signature")
    func alteredData() {
        let signature = Minisign.sign(Array("manifest".utf8), with: key, trustedComment: "c")
        #expect(throws: MinisignError(.badSignature, "signature verification failed: the data or signature was altered")) {
            try Minisign.verify(signature, data: Array("manifesT".utf8), publicKey: key.publicKey)
        }
    }

    @Test("an edited trusted comment is caught by the global signature")
    func editedTrustedComment() throws {
        let signature = Minisign.sign(Array("m".utf8), with: key, trustedComment: "timestamp:1 file:m")
        var text = String(decoding: signature.fileContents, as: UTF8.self)
        text = text.replacingOccurrences(of: "timestamp:1", with: "timestamp:2")
        let edited = try MinisignSignature(parsing: Array(text.utf8))
        do {
            try Minisign.verify(edited, data: Array("m".utf8), publicKey: key.publicKey)
            Issue.record("edited trusted comment accepted")
        } catch {
            #expect(error.kind == .badTrustedComment)
        }
    }

    @Test("a signature by an unknown key id is refused and names both ids")
    func unknownKey() {
        let other = MinisignSecretKey()
        let signature = Minisign.sign(Array("m".utf8), with: other, trustedComment: "c")
        do {
            try Minisign.verify(signature, data: Array("m".utf8), publicKey: key.publicKey)
            Issue.record("foreign key accepted")
        } catch {
            #expect(error.kind == .unknownKeyID)
            #expect(error.message.contains(other.keyID.description) && error.message.contains(key.keyID.description))
        }
    }

    @Test("secret key file round trip, unencrypted and encrypted; a wrong password is named")
    func secretKeyFiles() throws {
        let plain = key.fileContents().withUnsafeBytes { Array($0) }
        #expect(!MinisignSecretKey.isEncrypted(plain))
        #expect(try MinisignSecretKey(parsing: plain).keyID == key.keyID)

        // Low scrypt limits keep this unit test fast; interop tests use minisign's own.
        let encrypted = key.fileContents(password: secure("pw"), opsLimit: 1 << 15, memLimit: 1 << 24).withUnsafeBytes { Array($0) }
        #expect(MinisignSecretKey.isEncrypted(encrypted))
        let reopened = try MinisignSecretKey(parsing: encrypted, password: secure("pw"))
        #expect(reopened.keyID == key.keyID)
        let signature = Minisign.sign(Array("x".utf8), with: reopened, trustedComment: "c")
        #expect(throws: Never.self) { try Minisign.verify(signature, data: Array("x".utf8), publicKey: key.publicKey) }
        do {
            _ = try MinisignSecretKey(parsing: encrypted, password: secure("nope"))
            Issue.record("wrong password accepted")
        } catch {
            #expect(error.kind == .wrongPassword)
        }
        #expect(throws: MinisignError.self) { try MinisignSecretKey(parsing: encrypted) }
    }

    @Test("malformed signature and key files are refused")
    func malformed() {
        #expect(throws: MinisignError.self) { try MinisignSignature(parsing: Array("untrusted comment: x\nAAAA\n".utf8)) }
        #expect(throws: MinisignError.self) { try MinisignPublicKey(parsing: Array("nonsense".utf8)) }
        #expect(throws: MinisignError.self) { try MinisignSecretKey(parsing: Array("untrusted comment: x\nRWQ=\n".utf8)) }
    }
}
