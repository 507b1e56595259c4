import CofferCrypto
import CofferSystem

/// One key file as `coffer keys list` shows it.
public struct KeyEntry: Sendable {
    public enum Kind: String, Sendable {
        case recipients
        case identity
        case signingPublic = "signing-pub"
        case signingSecret = "signing-key"
        case trustedSigners = "trusted-signers"
        /// The format 2 chunk key: a secret with no public half.
        case chunkKey = "chunk-key"
    }

    public var kind: Kind
    /// The environment for age keys; nil for the signing pair.
    public var environment: String?
    public var path: String
    public var permissions: UInt32
    /// Public identifiers: `age1...` recipients, or the minisign key id.
    public var ids: [String]
    /// Why the file cannot be used as it is, if it cannot.
    public var problem: String?
    /// Of `ids`, those kept only to open older bundles (retired identities), or
    /// trusted signers with their windows.
    public var notes: [String] = []
}

extension KeyStore {
    /// Every key file in the folder, with its public id and any problem
    /// (too-open permissions, malformed content, halves that do not match).
    public func inventory() throws -> [KeyEntry] {
        guard FileSystem.exists(directory) else { return [] }
        var entries: [KeyEntry] = []
        let publicSigning = try? signingPublicKey()
        for name in try FileSystem.contentsOfDirectory(directory) {
            let path = FileSystem.join(directory, name)
            let permissions = (try? FileSystem.status(of: path))?.permissions ?? 0
            if name.hasSuffix(".age.pub") {
                let environment = String(name.dropLast(".age.pub".count))
                var entry = KeyEntry(kind: .recipients, environment: environment, path: path, permissions: permissions, ids: [])
                do { entry.ids = try recipients(environment).map(\.description) } catch { entry.problem = "\(error)" }
                entries.append(entry)
            } else if name.hasSuffix(".age") {
                let environment = String(name.dropLast(".age".count))
                var entry = KeyEntry(kind: .identity, environment: environment, path: path, permissions: permissions, ids: [])
                do {
                    entry.ids = try identities(environment).map(\.recipient.description)
                    if let published = try? recipients(environment).map(\.description) {
                        if !entry.ids.contains(where: published.contains) {
                            entry.problem = "matches no recipient in \(recipientsPath(environment))"
                        }
                        entry.notes = entry.ids.filter { !published.contains($0) }.map { "retired: \($0) (until `coffer keys rotate --retire`)" }
                    }
                } catch let error as KeyFileError {
                    entry.problem = error.message
                } catch {
                    entry.problem = "\(error)"
                }
                entries.append(entry)
            } else if name == "signing.pub" {
                var entry = KeyEntry(kind: .signingPublic, path: path, permissions: permissions, ids: [])
                if let publicSigning { entry.ids = [publicSigning.keyID.description] } else { entry.problem = "not a minisign public key" }
                entries.append(entry)
            } else if name == "trusted-signers" {
                var entry = KeyEntry(kind: .trustedSigners, path: path, permissions: permissions, ids: [])
                do {
                    let signers = try trustedSigners().signers
                    entry.ids = signers.map(\.key.keyID.description)
                    entry.notes = signers.map { signer in
                        "\(signer.key.keyID) trusted from \(signer.from.map(Clock.format) ?? "the start") until \(signer.until.map(Clock.format) ?? "further notice")"
                    }
                } catch {
                    entry.problem = "\(error)"
                }
                entries.append(entry)
            } else if name == "signing.key" {
                entries.append(inspectSigningKey(path: path, permissions: permissions, expected: publicSigning))
            } else if name == ChunkKey.fileName {
                var entry = KeyEntry(kind: .chunkKey, path: path, permissions: permissions, ids: ["(names and cuts format 2 chunks)"])
                do { _ = try ChunkKey(reading: path) } catch let error as KeyFileError { entry.problem = error.message } catch { entry.problem = "\(error)" }
                entries.append(entry)
            }
        }
        return entries
    }

    private func inspectSigningKey(path: String, permissions: UInt32, expected: MinisignPublicKey?) -> KeyEntry {
        var entry = KeyEntry(kind: .signingSecret, path: path, permissions: permissions, ids: [])
        do {
            let contents = try SecretFile.read(path)
            var text = contents.withUnsafeBytes { Array($0) }
            defer { secureWipe(&text) }
            if MinisignSecretKey.isEncrypted(text) {
                entry.ids = ["(encrypted)"]
            } else {
                let key = try MinisignSecretKey(parsing: text)
                entry.ids = [key.keyID.description]
                if let expected, expected.keyID != key.keyID {
                    entry.problem = "key id differs from signing.pub (\(expected.keyID))"
                }
            }
        } catch let error as KeyFileError {
            entry.problem = error.message
        } catch {
            entry.problem = "\(error)"
        }
        return entry
    }
}
