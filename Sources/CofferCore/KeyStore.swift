import CofferCrypto
import CofferFormat
import CofferSystem

/// The keys folder: `ENV.age` / `ENV.age.pub` (age identity and recipients per
/// environment) and `signing.key` / `signing.pub` (minisign). The files are in
/// the standard formats, so `age -i`, `age -R`, `minisign -s` and `minisign -p`
/// take them as they are.
public struct KeyStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func identityPath(_ environment: String) -> String { FileSystem.join(directory, "\(environment).age") }
    public func recipientsPath(_ environment: String) -> String { FileSystem.join(directory, "\(environment).age.pub") }
    public var signingKeyPath: String { FileSystem.join(directory, "signing.key") }
    public var signingPublicKeyPath: String { FileSystem.join(directory, "signing.pub") }

    /// What `initialize` did.
    public struct InitResult: Sendable {
        public var written: [String]
        public var keptSigningKey: Bool
        public var recipient: String
        public var signingKeyID: String
    }

    /// Creates the environment's age key pair and, unless one exists, the signing
    /// key pair. Never overwrites: an existing identity is an error (rotation is
    /// a separate, deliberate command). On failure nothing new is left behind.
    public func initialize(environment: String, created: String) throws -> InitResult {
        try initialize(environment: environment, created: created) { $0.fileContents() }
    }

    /// As `initialize(environment:created:)`, with a new signing key encrypted under `signingPassword`.
    public func initialize(environment: String, created: String, signingPassword: borrowing SecureBytes) throws -> InitResult {
        try initialize(environment: environment, created: created) { $0.fileContents(password: signingPassword) }
    }

    private func initialize(
        environment: String, created: String, signingKeyFile: (MinisignSecretKey) -> SecureBytes
    ) throws -> InitResult {
        try FileSystem.createDirectory(directory, permissions: 0o700)
        for path in [identityPath(environment), recipientsPath(environment)] where FileSystem.exists(path) {
            throw CofferError(.refused, "\(path) already exists; refusing to overwrite a key (move it away first if you really mean to replace it)")
        }
        let hasSigningKey = FileSystem.exists(signingKeyPath)
        let hasSigningPublic = FileSystem.exists(signingPublicKeyPath)
        if hasSigningKey != hasSigningPublic {
            let missing = hasSigningKey ? signingPublicKeyPath : signingKeyPath
            throw CofferError(.key, "\(missing) is missing but its other half exists; restore it from your key backup")
        }

        var written: [String] = []
        do {
            let identity = AgeX25519Identity()
            try SecretFile.write(identityPath(environment), AgeKeyFiles.identityFile(identity, created: created))
            written.append(identityPath(environment))
            try writePublic(recipientsPath(environment), Array("\(identity.recipient)\n".utf8))
            written.append(recipientsPath(environment))

            let signingID: String
            if hasSigningKey {
                signingID = try signingPublicKey().keyID.description
            } else {
                let signing = MinisignSecretKey()
                try SecretFile.write(signingKeyPath, signingKeyFile(signing))
                written.append(signingKeyPath)
                try writePublic(signingPublicKeyPath, signing.publicKey.fileContents)
                written.append(signingPublicKeyPath)
                signingID = signing.keyID.description
            }
            if !FileSystem.exists(chunkKeyPath) {
                try ChunkKey.create(at: chunkKeyPath, created: created)
                written.append(chunkKeyPath)
            }
            try writeGitignoreIfAbsent()
            return InitResult(written: written, keptSigningKey: hasSigningKey, recipient: identity.recipient.description, signingKeyID: signingID)
        } catch {
            for path in written { try? FileSystem.removeFile(path) }
            throw error
        }
    }

    private func writePublic(_ path: String, _ bytes: [UInt8]) throws {
        do {
            try FileSystem.writeFile(path, bytes: bytes, permissions: 0o644, replace: false)
        } catch let error as SystemError where error.code == 17 {
            throw CofferError(.refused, "\(path) already exists; refusing to overwrite a key")
        }
    }

    /// Keeps secret keys out of git if someone commits the folder.
    private func writeGitignoreIfAbsent() throws {
        let path = FileSystem.join(directory, ".gitignore")
        if FileSystem.exists(path) {
            // One written by an older coffer lacks the temporary files' pattern or the chunk key.
            let current = try FileSystem.readFile(path, limit: 1 << 16)
            let lines = String(decoding: current, as: UTF8.self).split(separator: "\n")
            let missing = [".coffer-tmp-*", ChunkKey.fileName].filter { !lines.contains(Substring($0)) }
            if !missing.isEmpty {
                let added = missing.map { $0 + "\n" }.joined()
                try FileSystem.writeFile(path, bytes: current + Array("\(current.last == 0x0A || current.isEmpty ? "" : "\n")\(added)".utf8))
            }
            return
        }
        try FileSystem.writeFile(
            path,
            bytes: Array(
                "# Secret keys never belong in git (nor the temporary files they are rewritten through).\n*.age\n*.next\nsigning.key\n\(ChunkKey.fileName)\n.coffer-tmp-*\n!*.age.pub\n".utf8),
            replace: false)
    }

    // MARK: Loading

    /// The recipients snapshots encrypt to.
    public func recipients(_ environment: String) throws -> [AgeX25519Recipient] {
        let path = recipientsPath(environment)
        guard FileSystem.exists(path) else {
            throw CofferError(.key, "\(path) does not exist; run `coffer keys init --env \(environment)` first")
        }
        return try AgeKeyFiles.recipients(fromText: try FileSystem.readFile(path, limit: 1 << 20), path: path)
    }

    /// The identities that open this environment's bundles (refused if the file is too open).
    public func identities(_ environment: String) throws -> [AgeX25519Identity] {
        let path = identityPath(environment)
        guard FileSystem.exists(path) else {
            throw CofferError(.key, "\(path) does not exist; decryption needs the environment's identity (copy it from its safe place)")
        }
        return try AgeKeyFiles.identities(fromFile: path)
    }

    /// The signing key. `password` is called only when the key file is encrypted;
    /// it throws when no password can be had.
    public func signingKey(password: () throws -> SecureBytes) throws -> MinisignSecretKey {
        try Self.signingKey(at: signingKeyPath, password: password)
    }

    /// A minisign secret key file anywhere (such as one `minisign -G` wrote).
    public static func signingKey(at signingKeyPath: String, password: () throws -> SecureBytes) throws -> MinisignSecretKey {
        let contents = try SecretFile.read(signingKeyPath)
        var text = contents.withUnsafeBytes { Array($0) }
        defer { secureWipe(&text) }
        do {
            if MinisignSecretKey.isEncrypted(text) {
                return try MinisignSecretKey(parsing: text, password: try password())
            }
            return try MinisignSecretKey(parsing: text)
        } catch let error as MinisignError {
            throw CofferError(.key, "\(signingKeyPath): \(error.message)")
        }
    }

    /// The secret that names and cuts format v2 chunks (`chunk.key`, mode 0600).
    public var chunkKeyPath: String { FileSystem.join(directory, ChunkKey.fileName) }

    /// The chunk key; made now (mode 0600) on a host that has none yet, such as
    /// one set up before format v2: every chunk this host writes is named with it.
    public func chunkKey(created: String) throws -> ChunkKey {
        if !FileSystem.exists(chunkKeyPath) {
            do {
                try ChunkKey.create(at: chunkKeyPath, created: created)
            } catch let error as KeyFileError where error.kind == .exists {
                // Another run made it first; use that one.
            }
            try writeGitignoreIfAbsent()
        }
        do {
            return try ChunkKey(reading: chunkKeyPath)
        } catch let error as KeyFileError {
            throw CofferError(.key, "\(chunkKeyPath): \(error.message)")
        }
    }

    public var trustedSignersPath: String { FileSystem.join(directory, "trusted-signers") }

    /// The keys whose signatures are accepted: `trusted-signers` with its
    /// windows when it exists, else `signing.pub` for all time.
    public func trustedSigners() throws -> TrustedSigners {
        guard FileSystem.exists(trustedSignersPath) else { return TrustedSigners(try signingPublicKey()) }
        return try TrustedSigners.parse(String(decoding: try FileSystem.readFile(trustedSignersPath, limit: 1 << 20), as: UTF8.self), path: trustedSignersPath)
    }

    /// The public key of the current signing key.
    public func signingPublicKey() throws -> MinisignPublicKey {
        try Self.signingPublicKey(at: signingPublicKeyPath)
    }

    /// A minisign public key file anywhere.
    public static func signingPublicKey(at path: String) throws -> MinisignPublicKey {
        guard FileSystem.exists(path) else {
            throw CofferError(.key, "\(path) does not exist; copy signing.pub from the backup host or run `coffer keys init`")
        }
        do {
            return try MinisignPublicKey(parsing: try FileSystem.readFile(path, limit: 1 << 16))
        } catch let error as MinisignError {
            throw KeyFileError(.malformed, path: path, error.message)
        }
    }
}
