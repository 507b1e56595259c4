import CofferCrypto
import CofferFormat
import CofferSystem
import Foundation

/// What `coffer keys rotate --signing` did.
public struct SigningRotationReport: Sendable {
    public var oldKeyID: String
    public var newKeyID: String
    /// Bundles re-signed (only for a leaked key).
    public var resigned: [String]
    public var journalEventsResigned: Int
    /// Replaced objects still in the repository (Object Lock, or a refused delete).
    public var leftBehind: [String] = []
}

extension KeyRotationOperation {
    var pendingSigningKeyPath: String { keys.signingKeyPath + ".next" }

    /// A new signing key. Planned (`leaked == false`): the old key stays
    /// trusted for what it signed until now, the new one from now on, and
    /// nothing is re-signed. Leaked: the old key is dropped from
    /// `trusted-signers` and every manifest and journal event is re-signed with
    /// the new key (the same crash-safe steps as identity rotation; the old key
    /// is trusted for reading until the last one is done). The new key is made
    /// once (`signing.key.next`) so a re-run resumes with it. `keyFile` writes
    /// the new secret key file (encrypted or not).
    public func rotateSigningKey(
        current: MinisignSecretKey, leaked: Bool, keyFile: (MinisignSecretKey) throws -> SecureBytes, password: () throws -> SecureBytes
    ) throws -> SigningRotationReport {
        let now = try Clock.now(environment: environment)
        let next: MinisignSecretKey
        if FileSystem.exists(pendingSigningKeyPath) {
            next = try KeyStore.signingKey(at: pendingSigningKeyPath, password: password)
        } else {
            next = MinisignSecretKey()
            try SecretFile.write(pendingSigningKeyPath, keyFile(next))
        }
        var report = SigningRotationReport(
            oldKeyID: current.keyID.description, newKeyID: next.keyID.description, resigned: [], journalEventsResigned: 0)

        // 1. Trust: the new key, and the old one for its window (or, leaked, for reading until re-signed).
        var signers = try keys.trustedSigners().signers.filter { $0.key.keyID != next.keyID }
        if !leaked {
            for index in signers.indices where signers[index].key.keyID == current.keyID && signers[index].until == nil {
                signers[index].until = now
            }
        }
        signers.append(TrustedSigners.Signer(key: next.publicKey, from: leaked ? nil : now, until: nil))
        let reading = TrustedSigners(signers: signers)
        try writeTrustedSigners(reading)

        // 2. The new key becomes the signing key.
        try SecretFile.replace(keys.signingKeyPath, keyFile(next))
        try FileSystem.writeFile(keys.signingPublicKeyPath, bytes: next.publicKey.fileContents, permissions: 0o644)

        // 3. Leaked: nothing may rest on the old key's signature.
        if leaked {
            let repository = try Repository.open(config)
            for kind in EnvironmentKind.allCases {
                let name = kind.rawValue
                var scopedConfig = config
                scopedConfig.environment = kind
                let scoped = KeyRotationOperation(config: scopedConfig, environment: environment, progress: progress)
                var rotatedChunks: [ChunkReference: ChunkReference] = [:]
                for id in try repository.bundleIDs(environment: name, now: now) {
                    var moved: Int64 = 0
                    if try scoped.rotateBundle(
                        repository: repository, id: id, rewrap: nil, signingKey: next, trusted: reading, moved: &moved, leftBehind: &report.leftBehind,
                        rotatedChunks: &rotatedChunks)
                    {
                        report.resigned.append(id)
                    }
                }
                report.journalEventsResigned += try Journal(repository: repository, environment: name).resign(with: next, trusted: reading)
            }
            try writeTrustedSigners(TrustedSigners(signers: signers.filter { $0.key.keyID != current.keyID }))
        }
        try FileSystem.removeFile(pendingSigningKeyPath)
        _ = JournalRecorder.record(
            repository: try Repository.open(config), environment: environmentName, kind: "rotate",
            details: ["signing_key": .string(next.keyID.description), "replaced": .string(current.keyID.description), "leaked": .bool(leaked)],
            at: now, signingKey: next)
        return report
    }

    private func writeTrustedSigners(_ signers: TrustedSigners) throws {
        try FileSystem.writeFile(keys.trustedSignersPath, bytes: Array(signers.render().utf8), permissions: 0o644)
    }
}
