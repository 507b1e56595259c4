import ArgumentParser
import CofferCore
import CofferCrypto
import CofferSystem
import Foundation

extension FileCommand {
    struct FileSign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign",
            abstract: "Sign a file with the signing key (minisign format, prehashed).",
            discussion: "Writes FILE.minisig; `minisign -Vm FILE -p keys/signing.pub` verifies it."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("File to sign.", valueName: "file"))
        var file: String

        @Option(name: [.customShort("x"), .customLong("signature")], help: ArgumentHelp("Signature file (default: FILE.minisig).", valueName: "file"))
        var signature: String?

        @Option(name: [.customShort("s"), .customLong("secret-key")], help: ArgumentHelp("Secret key file (default: keys/signing.key).", valueName: "file"))
        var secretKey: String?

        @Option(name: [.customShort("t"), .customLong("trusted-comment")], help: ArgumentHelp("Trusted comment (signed too).", valueName: "text"))
        var trustedComment: String?

        @Option(name: .customLong("password-env"), help: ArgumentHelp("Password of an encrypted key, from this environment variable.", valueName: "var"))
        var passwordVariable: String?

        @Flag(name: .long, help: "Replace an existing signature file.")
        var force = false

        func validate() throws {
            if let trustedComment, trustedComment.contains("\n") || trustedComment.contains("\r") {
                throw ValidationError("the trusted comment must be one line")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let keyPath = try secretKey ?? global.keyStore(override: nil).signingKeyPath
                let key = try KeyStore.signingKey(at: keyPath) { try signingKeyPassword(passwordVariable) }
                let destination = signature ?? file + ".minisig"
                try checkOutputAvailable(destination, force: force)
                let prehash = try prehashFile(file)
                let comment = trustedComment
                    ?? "timestamp:\(Int(Date().timeIntervalSince1970))\tfile:\(FileSystem.baseName(of: file))\thashed"
                let signed = Minisign.sign(prehash: prehash, with: key, trustedComment: comment)
                try writeOutput(destination, force: force) { sink in try signed.fileContents.withUnsafeBytes { try sink($0) } }
                if global.json {
                    try printJSON(["signature": destination, "key_id": key.keyID.description, "trusted_comment": comment])
                } else {
                    say("signed \(file) with key \(key.keyID) -> \(destination)")
                }
            }
        }
    }
}

/// BLAKE2b-512 of a file, streamed.
func prehashFile(_ path: String) throws -> [UInt8] {
    let source = try openInput(path)
    var hasher = Minisign.Prehasher()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let count = try source.read(into: buffer)
        if count == 0 { break }
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
    }
    return hasher.finalize()
}
