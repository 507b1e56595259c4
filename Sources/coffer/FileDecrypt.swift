import ArgumentParser
import CofferCore
import CofferCrypto
import CofferSystem

extension FileCommand {
    struct FileDecrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decrypt",
            abstract: "Decrypt an age file (binary or armored) with the environment's identity.",
            discussion: """
                Without -i the identity is keys/ENV.age. A payload stored apart from its header (NAME.age-payload beside NAME.age-header, as in bundles) is found automatically, or named with --header. The output appears only when the whole file decrypted and authenticated; on any failure nothing is left behind.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: KeyLocationOptions

        @Argument(help: ArgumentHelp("Age file (or payload object) to decrypt; - for standard input.", valueName: "input"))
        var input: String

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file (default: INPUT without .age; - for standard output).", valueName: "file"))
        var output: String?

        @Option(name: [.customShort("i"), .customLong("identity")], help: ArgumentHelp("Identity file to decrypt with (repeatable).", valueName: "file"))
        var identityFiles: [String] = []

        @Option(name: .long, help: ArgumentHelp("The age header object, when INPUT is only the payload.", valueName: "file"))
        var header: String?

        @OptionGroup var passphrase: PassphraseOptions

        @Flag(name: .long, help: "Replace an existing output file.")
        var force = false

        func run() async throws {
            try await reportingErrors {
                let headerPath = header ?? siblingHeader()
                let destination = try outputPath()
                try checkOutputAvailable(destination, force: force)
                let identities = try resolveIdentities()
                let source = try openInput(input)
                let read: ByteSource = { try source.read(into: $0) }
                try writeOutput(destination, force: force, permissions: 0o600, largeWrites: true) { sink in
                    if let headerPath {
                        let headerBytes = try FileSystem.readFile(headerPath, limit: AgeHeader.maximumSize)
                        try AgeFile.decrypt(header: headerBytes, payload: read, identities: identities, output: sink)
                    } else {
                        try AgeFile.decrypt(read: read, identities: identities, output: sink)
                    }
                }
                if global.json && destination != "-" { try printJSON(["output": destination]) }
            }
        }

        private func siblingHeader() -> String? {
            guard input.hasSuffix(".age-payload") else { return nil }
            let candidate = String(input.dropLast("-payload".count)) + "-header"
            return FileSystem.exists(candidate) ? candidate : nil
        }

        private func outputPath() throws -> String {
            if let output { return output }
            if input == "-" { return "-" }
            for suffix in [".age-payload", ".age"] where input.hasSuffix(suffix) {
                return String(input.dropLast(suffix.count))
            }
            throw CofferError(.failure, "cannot derive an output name from \(input) (no .age suffix); pass -o FILE")
        }

        private func resolveIdentities() throws -> [any AgeIdentity] {
            if passphrase.isRequested {
                return [AgeScryptIdentity(passphrase: try passphrase.read())]
            }
            if !identityFiles.isEmpty { return try identityFiles.flatMap { try AgeKeyFiles.identities(fromFile: $0) } }
            let store = try global.keyStore(override: location.keysDirectory)
            return try store.identities(try global.environment(override: location.environment))
        }
    }
}
