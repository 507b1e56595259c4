import ArgumentParser
import CofferCore
import CofferSystem
import Foundation

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Config file (default: $COFFER_CONFIG, then ./coffer.toml).", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Print machine-readable JSON on standard output.")
    var json = false

    /// The loaded config; errors say how to provide one.
    /// The config; the first call also opens this process's temporary-file
    /// ledger in its state folder, removing what killed runs left behind.
    func loadConfig() throws -> CofferConfig {
        let loaded = try ConfigLoader.load(path: ConfigLoader.resolvePath(explicit: config, environment: ProcessInfo.processInfo.environment))
        do {
            try TemporaryLedger.open(in: StateDirectory(config: loaded).ledger)
        } catch {
            warn("cannot keep the temporary-file ledger in \(StateDirectory(config: loaded).ledger) (\(error)); a killed run may leave temporary files")
        }
        return loaded
    }

    /// The key store from `--keys-dir`, else the config's keys folder.
    func keyStore(override: String?) throws -> KeyStore {
        if let override { return KeyStore(directory: FileSystem.absolute(override)) }
        return KeyStore(directory: try loadConfig().keysDirectory)
    }

    /// The environment name from `--env`, else the config's.
    func environment(override: String?) throws -> String {
        if let override { return override }
        return try loadConfig().environment.rawValue
    }
}
