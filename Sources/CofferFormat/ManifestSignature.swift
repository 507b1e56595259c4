import CofferCrypto
import Foundation

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

    /// Checks the signature of manifest bytes against the trusted signers (and
    /// the signer's window against the manifest's date), then parses them;
    /// throws `FormatError(.signature)` naming what is wrong.
    public static func verify(manifest bytes: [UInt8], signature: [UInt8]?, trusted: TrustedSigners) throws -> Manifest {
        guard let signature else {
            throw FormatError(.signature, "the manifest is not signed (manifest.json.minisig is missing); refusing to trust it")
        }
        let parsed: MinisignSignature
        do {
            parsed = try MinisignSignature(parsing: signature)
        } catch {
            throw FormatError(.signature, "manifest.json.minisig is not a minisign signature")
        }
        var manifest: Manifest?
        let signer = try trusted.verify(bytes, signature: parsed, what: "the manifest") {
            manifest = try Manifest.parse(bytes)
            return manifest.flatMap { ISO8601DateFormatter().date(from: $0.createdAt) }
        }
        let parsedManifest = try manifest ?? Manifest.parse(bytes)
        guard parsedManifest.signer == signer.description else {
            throw FormatError(.signature, "the manifest names signer \(parsedManifest.signer) but was signed by \(signer)")
        }
        return parsedManifest
    }

    /// As above, with one key trusted for all time.
    public static func verify(manifest bytes: [UInt8], signature: [UInt8]?, trusted: MinisignPublicKey) throws -> Manifest {
        try verify(manifest: bytes, signature: signature, trusted: TrustedSigners(trusted))
    }
}
