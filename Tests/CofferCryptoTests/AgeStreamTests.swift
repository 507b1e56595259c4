import Testing

@testable import CofferCrypto

/// Encrypts `plaintext` to a fresh identity; returns the file, its header length and the identity.
private func sealed(_ plaintext: [UInt8]) throws -> (file: [UInt8], headerCount: Int, identity: AgeX25519Identity) {
    let identity = AgeX25519Identity()
    let file = try AgeFile.encrypt(plaintext, recipients: [identity.recipient])
    let headerCount = try #require(try AgeHeader.parsePrefix(file)).1
    return (file, headerCount, identity)
}

private func failure(_ file: [UInt8], _ identities: [any AgeIdentity]) -> AgeError? {
    do {
        _ = try AgeFile.decrypt(file, identities: identities)
        return nil
    } catch let error as AgeError {
        return error
    } catch {
        return AgeError(.key, "unexpected \(error)")
    }
}

@Suite("age payload and tampering")
struct AgeStreamTests {
    static let chunk = 64 * 1024

    @Test("round trip at chunk boundaries", arguments: [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 2 * chunk + 7, 300_000])
    func roundTrip(_ size: Int) throws {
        let plaintext = SecureRandom.bytes(size)
        let (file, headerCount, identity) = try sealed(plaintext)
        let chunks = max(1, (size + Self.chunk - 1) / Self.chunk)
        #expect(file.count == headerCount + 16 + size + 16 * chunks)
        #expect(try AgeFile.decrypt(file, identities: [identity]) == plaintext)
    }

    @Test("header and payload written apart decrypt apart and joined")
    func separateObjects() throws {
        let plaintext = SecureRandom.bytes(100_000)
        let identity = AgeX25519Identity()
        var header: [UInt8] = []
        var payload: [UInt8] = []
        var source = MemorySource(plaintext)
        try AgeFile.encrypt(read: { source.read(into: $0) }, recipients: [identity.recipient], header: { header += $0 }, payload: { payload += $0 })
        #expect(try AgeFile.decrypt(header + payload, identities: [identity]) == plaintext)
        var out: [UInt8] = []
        var payloadSource = MemorySource(payload)
        try AgeFile.decrypt(header: header, payload: { payloadSource.read(into: $0) }, identities: [identity]) { out += $0 }
        #expect(out == plaintext)
    }

    @Test("several recipients can each decrypt")
    func multipleRecipients() throws {
        let first = AgeX25519Identity(), second = AgeX25519Identity()
        let file = try AgeFile.encrypt(Array("two keys".utf8), recipients: [first.recipient, second.recipient])
        #expect(try AgeFile.decrypt(file, identities: [second]) == Array("two keys".utf8))
        #expect(try AgeFile.decrypt(file, identities: [first]) == Array("two keys".utf8))
    }

    @Test("armor round trip: 64 columns, BEGIN/END lines")
    func armor() throws {
        let identity = AgeX25519Identity()
        let plaintext = SecureRandom.bytes(5000)
        let armored = try AgeFile.encrypt(plaintext, recipients: [identity.recipient], armored: true)
        let lines = String(decoding: armored, as: UTF8.self).split(separator: "\n")
        #expect(lines.first == "-----BEGIN AGE ENCRYPTED FILE-----")
        #expect(lines.last == "-----END AGE ENCRYPTED FILE-----")
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.count <= 64 })
        #expect(try AgeFile.decrypt(armored, identities: [identity]) == plaintext)
    }

    @Test("passphrase (scrypt) round trip; the wrong passphrase does not match")
    func scrypt() throws {
        let file = try AgeFile.encrypt(Array("pw".utf8), recipients: [AgeScryptRecipient(passphrase: secure("right"), workFactor: 10)])
        #expect(try AgeFile.decrypt(file, identities: [AgeScryptIdentity(passphrase: secure("right"))]) == Array("pw".utf8))
        #expect(failure(file, [AgeScryptIdentity(passphrase: secure("wrong"))])?.kind == .noMatch)
    }

    @Test("a scrypt work factor above the limit is refused before any work")
    func workFactorLimit() throws {
        let file = try AgeFile.encrypt(Array("x".utf8), recipients: [AgeScryptRecipient(passphrase: secure("pw"), workFactor: 10)])
        var text = file
        let stanza = try #require(text.firstRange(of: Array(" 10\n".utf8)))
        text.replaceSubrange(stanza, with: Array(" 23\n".utf8))
        let error = failure(text, [AgeScryptIdentity(passphrase: secure("pw"))])
        #expect(error?.kind == .header)
        #expect(error?.message.contains("limit") == true)
    }

    @Test("a wrong identity is 'no match'")
    func wrongIdentity() throws {
        let (file, _, _) = try sealed(Array("secret".utf8))
        #expect(failure(file, [AgeX25519Identity()])?.kind == .noMatch)
    }

    @Test("truncation at each boundary is detected")
    func truncation() throws {
        let (file, headerCount, identity) = try sealed(SecureRandom.bytes(2 * Self.chunk + 100))
        let cuts: [(String, Int, AgeError.Kind)] = [
            ("inside the header", headerCount / 2, .header),
            ("just before the MAC line ends", headerCount - 1, .header),
            ("right after the MAC", headerCount, .header),
            ("inside the nonce", headerCount + 8, .header),
            ("after the nonce, no chunk", headerCount + 16, .payload),
            ("mid first chunk", headerCount + 16 + 1000, .payload),
            ("missing final chunk", headerCount + 16 + 2 * (Self.chunk + 16), .payload),
            ("mid final chunk", file.count - 10, .payload),
            ("only the tag missing", file.count - 16, .payload),
        ]
        for (name, length, kind) in cuts {
            let error = failure(Array(file.prefix(length)), [identity])
            #expect(error?.kind == kind, "\(name): \(String(describing: error))")
        }
        let missingFinal = failure(Array(file.prefix(headerCount + 16 + 2 * (Self.chunk + 16))), [identity])
        #expect(missingFinal?.message.contains("final chunk") == true)
    }

    @Test("a flipped byte anywhere is detected")
    func flippedBytes() throws {
        let (file, headerCount, identity) = try sealed(SecureRandom.bytes(Self.chunk + 500))
        let stanzaBody = try #require(file.firstIndex(of: 0x0A).flatMap { file[($0 + 1)...].firstIndex(of: 0x0A) }) + 5
        let places: [(String, Int, Set<AgeError.Kind>)] = [
            ("version line", 3, [.header]),
            ("stanza body", stanzaBody, [.header, .noMatch]),
            ("MAC", headerCount - 5, [.header, .headerMAC]),
            ("nonce", headerCount + 3, [.payload]),
            ("first chunk", headerCount + 16 + 10, [.payload]),
            ("first chunk tag", headerCount + 16 + Self.chunk + 3, [.payload]),
            ("final chunk", file.count - 1, [.payload]),
        ]
        for (name, offset, kinds) in places {
            var damaged = file
            damaged[offset] ^= 0x01
            let error = failure(damaged, [identity])
            #expect(error.map { kinds.contains($0.kind) } == true, "\(name): \(String(describing: error))")
        }
    }

    @Test("a header altered but still well formed fails its MAC")
    func alteredHeader() throws {
        let identity = AgeX25519Identity()
        let file = try AgeFile.encrypt(Array("x".utf8), recipients: [identity.recipient])
        // Add a grease stanza: the file key still unwraps, but the MAC no longer covers the header.
        let marker = try #require(file.firstRange(of: Array("---".utf8)))
        var altered = file
        altered.insert(contentsOf: Array("-> grease\n\n".utf8), at: marker.lowerBound)
        #expect(failure(altered, [identity])?.kind == .headerMAC)
    }

    @Test("data after the final chunk is refused")
    func trailingData() throws {
        let (file, _, identity) = try sealed(SecureRandom.bytes(10))
        #expect(failure(file + [0x00], [identity])?.kind == .payload)
        #expect(failure(file + SecureRandom.bytes(Self.chunk + 16), [identity])?.kind == .payload)
    }

    @Test("a bad chunk in the middle of a parallel batch is named; nothing after it is released")
    func badChunkInBatch() throws {
        let (file, headerCount, identity) = try sealed(SecureRandom.bytes(10 * Self.chunk + 3))
        var damaged = file
        damaged[headerCount + 16 + 5 * (Self.chunk + 16) + 100] ^= 0x80
        var released = 0
        var source = MemorySource(damaged)
        do {
            try AgeFile.decrypt(read: { source.read(into: $0) }, identities: [identity]) { released += $0.count }
            Issue.record("a corrupted chunk was accepted")
        } catch let error as AgeError {
            #expect(error.kind == .payload)
            #expect(error.message.contains("chunk 5"))
        }
        #expect(released == 5 * Self.chunk)
    }

    @Test("a whole file followed by more chunks is refused inside a batch")
    func joinedFiles() throws {
        let identity = AgeX25519Identity()
        let first = try AgeFile.encrypt(SecureRandom.bytes(Self.chunk), recipients: [identity.recipient])
        let headerCount = try #require(try AgeHeader.parsePrefix(first)).1
        let second = try AgeFile.encrypt(SecureRandom.bytes(5 * Self.chunk), recipients: [identity.recipient])
        let secondHeader = try #require(try AgeHeader.parsePrefix(second)).1
        // Another payload's chunks appended after the first file's final chunk.
        let joined = first + second[(secondHeader + 16)...]
        #expect(headerCount > 0)
        let error = failure(Array(joined), [identity])
        #expect(error?.kind == .payload)
        #expect(error?.message.contains("follows the final chunk") == true, "\(String(describing: error))")
    }

    @Test("an unsupported version and a non-age file are header failures")
    func notAge() {
        #expect(failure(Array("age-encryption.org/v2\n".utf8), [AgeX25519Identity()])?.message.contains("unsupported") == true)
        #expect(failure(Array("hello world\n".utf8), [AgeX25519Identity()])?.kind == .header)
        #expect(failure([], [AgeX25519Identity()])?.kind == .header)
    }
}
