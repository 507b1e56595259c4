import ArgumentParser

struct FileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "Encrypt, decrypt, sign or verify one file with the repository's keys.",
        discussion: """
            The formats are standard age and minisign: `age -d -i keys/ENV.age` opens what `coffer file encrypt` writes, and `minisign -V -p keys/signing.pub` checks what `coffer file sign` writes (and the other way round).
            """,
        subcommands: [FileEncrypt.self, FileDecrypt.self, FileSign.self, FileVerify.self]
    )

    @OptionGroup var global: GlobalOptions
}
