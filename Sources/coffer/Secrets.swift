import ArgumentParser
import CofferCore
import CofferCrypto

/// Where a password or passphrase comes from: the variable named by an option,
/// else a prompt on the terminal. Never from argv.
func readSecret(environmentVariable: String?, prompt: String, what: String) throws -> SecureBytes {
    if let name = environmentVariable {
        guard let value = SecretInput.fromEnvironment(name) else {
            throw CofferError(.key, "environment variable \(name) (named for the \(what)) is not set")
        }
        return value
    }
    guard let typed = SecretInput.fromTerminal(prompt: prompt) else {
        throw CofferError(.key, "the \(what) is needed but there is no terminal; pass --password-env VAR")
    }
    return typed
}

/// The signing key's password (`--password-env VAR`, else the terminal), for `KeyStore.signingKey`.
func signingKeyPassword(_ variable: String?) throws -> SecureBytes {
    try readSecret(environmentVariable: variable, prompt: "Signing key password: ", what: "signing key password")
}

/// The config's signing key, decrypted with `signingKeyPassword` when it is encrypted.
func loadSigningKey(_ config: CofferConfig, passwordVariable: String?) throws -> MinisignSecretKey {
    try KeyStore(directory: config.keysDirectory).signingKey { try signingKeyPassword(passwordVariable) }
}

/// `-p` / `--passphrase-env`, shared by the commands that take an age passphrase.
struct PassphraseOptions: ParsableArguments {
    @Flag(name: [.customShort("p"), .customLong("passphrase")], help: "Use a passphrase instead of keys (asked on the terminal).")
    var prompt = false

    @Option(name: .customLong("passphrase-env"), help: ArgumentHelp("Read the passphrase from this environment variable.", valueName: "var"))
    var variable: String?

    /// True when a passphrase replaces the keys.
    var isRequested: Bool { prompt || variable != nil }

    func read() throws -> SecureBytes {
        try readSecret(environmentVariable: variable, prompt: "Passphrase: ", what: "passphrase")
    }
}
