import CofferCompression
import Foundation
import Testing

@testable import CofferCrypto

/// One Community Cryptography Test Vectors (CCTV) age vector.
struct AgeVector: CustomStringConvertible, Sendable {
    let name: String
    let expect: String
    let payloadSHA256: String?
    let identities: [String]
    let passphrases: [String]
    let armored: Bool
    let file: [UInt8]

    var description: String { name }

    init(name: String, contents: [UInt8]) throws {
        self.name = name
        var fields: [(String, String)] = []
        var index = 0
        while true {
            let end = contents[index...].firstIndex(of: 0x0A)!
            let line = String(decoding: contents[index..<end], as: UTF8.self)
            index = end + 1
            if line.isEmpty { break }
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            fields.append((parts[0], parts.count > 1 ? parts[1] : ""))
        }
        func all(_ key: String) -> [String] { fields.filter { $0.0 == key }.map(\.1) }
        expect = all("expect").first ?? ""
        payloadSHA256 = all("payload").first
        identities = all("identity")
        passphrases = all("passphrase")
        armored = all("armored").first == "yes"
        let body = Array(contents[index...])
        file = all("compressed").first == "zlib" ? try Inflater.decompress(body, format: .zlib) : body
    }

    static let all: [AgeVector] = {
        let folder = fixtures.appendingPathComponent("age-cctv")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0 != "LICENSE" && $0 != "SOURCE.txt" }.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { return nil }
            return try? AgeVector(name: name, contents: [UInt8](data))
        }
    }()

    /// True when the vector needs the post-quantum hybrid identity, which libsodium cannot provide.
    var needsPostQuantum: Bool { identities.contains { $0.hasPrefix("AGE-SECRET-KEY-PQ-") } }
}

@Suite("age CCTV test vectors")
struct AgeVectorTests {
    @Test("every vector is present and parsed")
    func allVectorsLoaded() {
        #expect(AgeVector.all.count == 143)
    }

    @Test("vector", arguments: AgeVector.all)
    func vector(_ vector: AgeVector) throws {
        var identities: [any AgeIdentity] = []
        for text in vector.identities where !text.hasPrefix("AGE-SECRET-KEY-PQ-") {
            identities.append(try AgeX25519Identity(parsing: text))
        }
        for passphrase in vector.passphrases {
            identities.append(AgeScryptIdentity(passphrase: secure(passphrase)))
        }

        let outcome: Result<[UInt8], AgeError>
        do {
            outcome = .success(try AgeFile.decrypt(vector.file, identities: identities, armored: vector.armored))
        } catch let error as AgeError {
            outcome = .failure(error)
        }

        let expectedKind: AgeError.Kind? = switch vector.expect {
        case "success": nil
        case "header failure": .header
        case "HMAC failure": .headerMAC
        case "payload failure": .payload
        case "armor failure": .armor
        case "no match": .noMatch
        default: Optional<AgeError.Kind>.none
        }

        switch outcome {
        case .success(let plaintext):
            #expect(!vector.needsPostQuantum, "a post-quantum vector must never succeed without ML-KEM")
            #expect(expectedKind == nil, "\(vector.name) should fail with \(vector.expect)")
            if let digest = vector.payloadSHA256 {
                #expect(hex(SHA256.hash(plaintext)) == digest)
            }
        case .failure(let error):
            if vector.needsPostQuantum && vector.identities.allSatisfy({ $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) {
                // No identity here can open an mlkem768x25519 stanza: "no match" is right,
                // and a generic parse failure is right where the vector expects a header failure.
                let allowed: [AgeError.Kind] = expectedKind == .header ? [.header, .noMatch] : [.noMatch, expectedKind ?? .noMatch]
                #expect(allowed.contains(error.kind), "\(vector.name): \(error)")
            } else {
                #expect(error.kind == expectedKind, "\(vector.name) expected \(vector.expect), got \(error)")
            }
        }
    }
}
