import Testing

@testable import CofferCrypto

@Suite("libsodium primitives and encodings")
struct PrimitiveTests {
    @Test("SHA-256 known answer (FIPS 180-2 'abc')")
    func sha256() {
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("SHA-256 fed in uneven pieces (and empty ones) equals one call (FIPS 180-2 two-block message)")
    func sha256Pieces() {
        let message = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        var hasher = SHA256()
        for piece in [message[0..<1], message[1..<1], message[1..<40], message[40...]] { hasher.update(Array(piece)) }
        #expect(hex(hasher.finalize()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash(message)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("ChaCha20-Poly1305: a chunk round-trips; a flipped bit, a wrong nonce or a cut tag fails and leaves no plaintext behind")
    func chaChaPolyOpenFailureWipes() {
        let key = SecureRandom.bytes(ChaCha20Poly1305.keyCount), nonce = [UInt8](repeating: 7, count: ChaCha20Poly1305.nonceCount)
        let plain = [UInt8](repeating: 0x41, count: 1000)
        var sealed = [UInt8](repeating: 0, count: plain.count + ChaCha20Poly1305.tagCount)
        key.withUnsafeBytes { k in nonce.withUnsafeBytes { n in plain.withUnsafeBytes { p in
            sealed.withUnsafeMutableBytes { ChaCha20Poly1305.seal(keyBytes: k, nonce: n, plaintext: p, into: $0) } } } }
        func open(_ cipher: [UInt8], nonce: [UInt8]) -> (Bool, [UInt8]) {
            var out = [UInt8](repeating: 0xee, count: plain.count)
            let ok = key.withUnsafeBytes { k in nonce.withUnsafeBytes { n in cipher.withUnsafeBytes { c in
                out.withUnsafeMutableBytes { ChaCha20Poly1305.open(keyBytes: k, nonce: n, ciphertext: c, into: $0) } } } }
            return (ok, out)
        }
        #expect(open(sealed, nonce: nonce) == (true, plain))
        var flipped = sealed
        flipped[10] ^= 1
        var otherNonce = nonce
        otherNonce[0] ^= 1
        for (cipher, nonce) in [(flipped, nonce), (sealed, otherNonce)] {
            let (ok, out) = open(cipher, nonce: nonce)
            #expect(!ok)
            #expect(out.allSatisfy { $0 == 0 }, "unchecked plaintext must be wiped")
        }
        #expect(open(Array(sealed.prefix(10)), nonce: nonce).0 == false)
    }

    @Test("HKDF-SHA-256 matches RFC 5869 test case 1 (first 32 bytes)")
    func hkdf() {
        let ikm = secure(String(repeating: "\u{0b}", count: 22))
        let salt = fromHex("000102030405060708090a0b0c")
        let info = fromHex("f0f1f2f3f4f5f6f7f8f9")
        let okm = HMACSHA256.deriveKey(inputKey: ikm, salt: salt, info: info)
        let derived = okm.withUnsafeBytes { hex(Array($0)) }
        #expect(derived == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")
    }

    @Test("HMAC-SHA-256 matches RFC 4231 test case 2")
    func hmac() {
        let mac = Array("Jefe".utf8).withUnsafeBytes { key in
            Array("what do ya want for nothing?".utf8).withUnsafeBytes { HMACSHA256.authenticate(key: key, $0) }
        }
        #expect(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("BLAKE2b-512 of the empty string")
    func blake2b() {
        #expect(hex(Minisign.prehash([])).hasPrefix("786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"))
    }

    @Test("base64 decoding is strict: no padding, canonical bits, no whitespace")
    func base64Strict() {
        #expect(Base64.decode("AAAA", .unpadded) == [0, 0, 0])
        #expect(Base64.decode("AA==", .unpadded) == nil)
        #expect(Base64.decode("AB", .unpadded) == nil)  // non-zero trailing bits
        #expect(Base64.decode("AA", .unpadded) == [0])
        #expect(Base64.decode("AA A", .unpadded) == nil)
        #expect(Base64.decode("AA==", .padded) == [0])
        #expect(Base64.decode("AA", .padded) == nil)
        #expect(Base64.encode([0xff, 0xee], .unpadded) == "/+4")
        #expect(Base64.encode([0xff, 0xee], .padded) == "/+4=")
    }

    @Test("Bech32 accepts the BIP 173 valid strings")
    func bech32Valid() throws {
        for text in ["A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"] {
            _ = try Bech32.decode(text)
        }
    }

    @Test("Bech32 rejects the BIP 173 invalid strings", arguments: [
        "pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "de1lg7wt\u{7f}", "A1G7SGD8", "10a06t8", "1qzzfhee", "a12UEL5L",
    ])
    func bech32Invalid(_ text: String) {
        #expect(throws: Bech32.Failure.self) { try Bech32.decode(text) }
    }

    /// The spec's example identity and recipient (Fixtures/age-spec-example-keys.txt).
    static let specExample: (identity: String, recipient: String) = {
        let text = (try? String(contentsOf: fixtures.appendingPathComponent("age-spec-example-keys.txt"), encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        return (lines.first ?? "", lines.dropFirst().first ?? "")
    }()

    @Test("the age spec's example identity gives the spec's recipient")
    func specExampleKeys() throws {
        let example = Self.specExample
        let identity = try AgeX25519Identity(parsing: example.identity)
        #expect(identity.recipient.description == example.recipient)
        let parsed = try AgeX25519Recipient(parsing: example.recipient)
        #expect(parsed == identity.recipient)
        let encoded = identity.encodedSecret().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(encoded == example.identity)
    }

    @Test("malformed keys are refused with the reason, never echoing a secret")
    func malformedKeys() {
        let secretText = String(Self.specExample.identity.dropLast()) + "Y"  // bad checksum
        do {
            _ = try AgeX25519Identity(parsing: secretText)
            Issue.record("a bad checksum was accepted")
        } catch {
            #expect(error.kind == .key)
            #expect(!error.description.contains("GFPYYSJZ"))
        }
        #expect(throws: AgeError.self) { try AgeX25519Identity(parsing: Self.specExample.identity.lowercased()) }
        #expect(throws: AgeError.self) { try AgeX25519Recipient(parsing: "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwJ") }
        #expect(throws: AgeError.self) { try AgeX25519Recipient(parsing: "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk") }
        #expect(throws: AgeError.self) { try AgeX25519Recipient(parsing: "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqz7d7wnk") }
    }
}

@Suite("secure memory")
struct SecureBytesTests {
    @Test("secrets compare in constant time and by value")
    func equality() {
        let a = secure("correct horse")
        let b = secure("correct horse")
        let c = secure("correct horsf")
        let same = a.constantTimeEquals(b)
        let different = a.constantTimeEquals(c)
        let shorter = a.constantTimeEquals(secure("short"))
        #expect(same)
        #expect(!different)
        #expect(!shorter)
    }

    @Test("taking over an array wipes and empties it")
    func wipingInit() {
        var bytes: [UInt8] = [1, 2, 3, 4]
        let secret = SecureBytes(wiping: &bytes)
        let contents = secret.withUnsafeBytes { Array($0) }
        #expect(bytes.isEmpty)
        #expect(contents == [1, 2, 3, 4])
    }

    @Test("slices and random secrets have the asked size")
    func sizes() {
        let random = SecureBytes(randomCount: 32)
        let count = random.count
        let randomIsZero = random.isAllZero
        let zeroedIsZero = SecureBytes(zeroed: 16).isAllZero
        let sliced = random.slice(4..<8).withUnsafeBytes { Array($0) }
        let expected = random.withUnsafeBytes { Array($0[4..<8]) }
        #expect(count == 32)
        #expect(!randomIsZero)
        #expect(zeroedIsZero)
        #expect(sliced == expected)
    }
}
