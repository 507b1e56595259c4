import ArgumentParser

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and inspect the age and minisign keys in the keys folder.",
        subcommands: [KeysInit.self, KeysList.self, KeysRotate.self]
    )

    @OptionGroup var global: GlobalOptions
}

/// Options shared by the key commands.
struct KeyLocationOptions: ParsableArguments {
    @Option(name: .customLong("keys-dir"), help: ArgumentHelp("Keys folder (default: `keys` of the config).", valueName: "dir"))
    var keysDirectory: String?

    @Option(name: .customLong("env"), help: ArgumentHelp("Environment whose keys to use (default: the config's).", valueName: "name"))
    var environment: String?
}
