import CofferCrypto

/// Signing and checking manifests with minisign.
public enum ManifestSignature {
    /// The trusted comment names the bundle, so `minisign -V` shows what was signed.
    static func trustedComment(for manifest: Manifest) -> String {
        "coffer bundle \(manifest.id) environment \(manifest.environment) created \(manifest.createdAt)"
    }

    /// The `.minisig` file for manifest bytes.
    public static func sign(_ bytes: [UInt8], manifest: Manifest, with key: MinisignSecretKey) -> [UInt8] {
        Minisign.sign(
            bytes, with: key, trustedComment: trustedComment(for: manifest),
            untrustedComment: "coffer manifest signature from key \(key.keyID)"
        ).fileContents
    }

    /// Checks the signature of manifest bytes against the trusted key, then parses
    /// them; throws `FormatError(.signature)` naming what is wrong.
    public static func verify(manifest bytes: [UInt8], signature: [UInt8]?, trusted: MinisignPublicKey) throws -> Manifest {
        guard let signature else {
            throw FormatError(.signature, "the manifest is not signed (manifest.json.minisig is missing); refusing to trust it")
        }
        let parsed: MinisignSignature
        do {
            parsed = try MinisignSignature(parsing: signature)
        } catch {
            throw FormatError(.signature, "manifest.json.minisig is not a minisign signature")
        }
        do {
            try Minisign.verify(parsed, data: bytes, publicKey: trusted)
        } catch {
            switch error.kind {
            case .unknownKeyID:
                throw FormatError(.signature, "the manifest is signed by key \(parsed.keyID), which is not the trusted signing key \(trusted.keyID)")
            default:
                throw FormatError(.signature, "the manifest signature does not verify: \(error.message)")
            }
        }
        let manifest = try Manifest.parse(bytes)
        guard manifest.signer == trusted.keyID.description else {
            throw FormatError(.signature, "the manifest names signer \(manifest.signer) but was signed by \(trusted.keyID)")
        }
        return manifest
    }
}
