import ArgumentParser
import CofferCore
import CofferCrypto

extension Keys {
    struct KeysInit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create ENV.age, ENV.age.pub, signing.key, signing.pub and chunk.key.",
            discussion: """
                Secret files are written with mode 0600 and never overwrite an existing file. An existing signing key pair (and chunk.key, which names and cuts format 2 chunks) is kept and shared by all environments. The signing key is unencrypted by default so that scheduled snapshots run unattended; --password-env encrypts it (minisign's scrypt format). Keep ENV.age offline if you can: snapshots need only ENV.age.pub and signing.key.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: KeyLocationOptions

        @Option(name: .customLong("password-env"), help: ArgumentHelp(
            "Encrypt the new signing key with the password in this environment variable.", valueName: "var"))
        var passwordVariable: String?

        func validate() throws {
            if let name = location.environment, !isValidEnvironmentName(name) {
                throw ValidationError("--env must be lowercase letters, digits, '-' or '_' (it names the key files)")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let store = try global.keyStore(override: location.keysDirectory)
                let environment = try global.environment(override: location.environment)
                let result: KeyStore.InitResult
                if let passwordVariable {
                    let password = try readSecret(environmentVariable: passwordVariable, prompt: "", what: "signing key password")
                    result = try store.initialize(environment: environment, created: timestampNow(), signingPassword: password)
                } else {
                    result = try store.initialize(environment: environment, created: timestampNow())
                }
                if global.json {
                    try printJSON([
                        "environment": environment, "recipient": result.recipient, "signing_key_id": result.signingKeyID,
                        "written": result.written, "kept_signing_key": result.keptSigningKey,
                    ])
                    return
                }
                for path in result.written { say("wrote \(path)") }
                if result.keptSigningKey { say("kept the existing signing key \(result.signingKeyID)") }
                say("recipient: \(result.recipient)")
                say("signing key id: \(result.signingKeyID)")
            }
        }
    }
}

func isValidEnvironmentName(_ name: String) -> Bool {
    guard let first = name.utf8.first, (97...122).contains(first) || (48...57).contains(first) else { return false }
    return name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
}
