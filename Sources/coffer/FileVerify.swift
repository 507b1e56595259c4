import ArgumentParser
import CofferCore
import CofferCrypto
import CofferSystem

extension FileCommand {
    struct FileVerify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify a minisign signature of a file, trusted comment included.",
            discussion: "Exit status 5 when the file, the signature or its trusted comment was altered, or another key signed it."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Signed file.", valueName: "file"))
        var file: String

        @Option(name: [.customShort("x"), .customLong("signature")], help: ArgumentHelp("Signature file (default: FILE.minisig).", valueName: "file"))
        var signature: String?

        @Option(name: [.customShort("p"), .customLong("public-key")], help: ArgumentHelp("Public key file (default: keys/signing.pub).", valueName: "file"))
        var publicKey: String?

        func run() async throws {
            try await reportingErrors {
                let keyPath = try publicKey ?? global.keyStore(override: nil).signingPublicKeyPath
                let trusted = try KeyStore.signingPublicKey(at: keyPath)
                let signaturePath = signature ?? file + ".minisig"
                let parsed = try MinisignSignature(parsing: try FileSystem.readFile(signaturePath, limit: 1 << 16))
                let comment: String
                if parsed.isPrehashed {
                    comment = try Minisign.verify(parsed, prehash: try prehashFile(file), publicKey: trusted)
                } else {
                    comment = try Minisign.verify(parsed, data: try FileSystem.readFile(file, limit: 1 << 30), publicKey: trusted)
                }
                if global.json {
                    try printJSON(["verified": true, "key_id": trusted.keyID.description, "trusted_comment": comment])
                } else {
                    say("Signature and comment signature verified")
                    say("Trusted comment: \(comment)")
                }
            }
        }
    }
}
