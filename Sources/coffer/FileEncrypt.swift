import ArgumentParser
import CofferCore
import CofferCrypto
import CofferSystem

extension FileCommand {
    struct FileEncrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "encrypt",
            abstract: "Encrypt a file to the environment's recipients (age format).",
            discussion: """
                Without -r/-R/--passphrase the file is encrypted to keys/ENV.age.pub. --split writes the age header and payload as OUTPUT-header and OUTPUT-payload, as bundles store artifacts; `cat OUTPUT-header OUTPUT-payload` is the age file.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: KeyLocationOptions

        @Argument(help: ArgumentHelp("File to encrypt, or - for standard input.", valueName: "input"))
        var input: String

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file (default: INPUT.age; - for standard output).", valueName: "file"))
        var output: String?

        @Option(name: [.customShort("r"), .customLong("recipient")], help: ArgumentHelp("Encrypt to this age1... recipient (repeatable).", valueName: "age1..."))
        var recipients: [String] = []

        @Option(name: [.customShort("R"), .customLong("recipients-file")], help: ArgumentHelp("Encrypt to the recipients in this file (repeatable).", valueName: "file"))
        var recipientFiles: [String] = []

        @OptionGroup var passphrase: PassphraseOptions

        @Flag(name: [.customShort("a"), .customLong("armor")], help: "Write PEM-armored text.")
        var armor = false

        @Flag(name: .long, help: "Write the header and the payload as two files.")
        var split = false

        @Flag(name: .long, help: "Replace an existing output file.")
        var force = false

        func validate() throws {
            if passphrase.isRequested && !(recipients.isEmpty && recipientFiles.isEmpty) {
                throw ValidationError("a passphrase cannot be combined with recipients")
            }
            if split && armor { throw ValidationError("--split and --armor do not go together") }
            if split && (output == "-" || (output == nil && input == "-")) {
                throw ValidationError("--split needs an output file name")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let targets = try resolveRecipients()
                let destination = output ?? (input == "-" ? "-" : input + ".age")
                let source = try openInput(input)
                let read: ByteSource = { try source.read(into: $0) }
                if split {
                    for path in [destination + "-header", destination + "-payload"] { try checkOutputAvailable(path, force: force) }
                    let headerFile = try AtomicFile(creating: destination + "-header")
                    let payloadFile = try AtomicFile(creating: destination + "-payload")
                    try withWriteBehind({ try payloadFile.write($0) }) { payload in
                        try AgeFile.encrypt(read: read, recipients: targets, header: { try headerFile.write($0) }, payload: payload)
                    }
                    try payloadFile.commit(replace: force, durable: false)
                    try headerFile.commit(replace: force, durable: false)
                } else {
                    try writeOutput(destination, force: force, largeWrites: !armor) { sink in
                        try AgeFile.encrypt(read: read, recipients: targets, armored: armor, output: sink)
                    }
                }
                if global.json && destination != "-" {
                    try printJSON(["output": split ? [destination + "-header", destination + "-payload"] : [destination]])
                }
            }
        }

        private func resolveRecipients() throws -> [any AgeRecipient] {
            if passphrase.isRequested {
                return [AgeScryptRecipient(passphrase: try passphrase.read())]
            }
            var result: [any AgeRecipient] = []
            for text in recipients { result.append(try AgeX25519Recipient(parsing: text)) }
            for path in recipientFiles {
                result += try AgeKeyFiles.recipients(fromText: try FileSystem.readFile(path, limit: 1 << 20), path: path)
            }
            if result.isEmpty {
                let store = try global.keyStore(override: location.keysDirectory)
                result = try store.recipients(try global.environment(override: location.environment))
            }
            return result
        }
    }
}
