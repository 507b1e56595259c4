import ArgumentParser
import CofferSystem
#if canImport(Glibc)
import Glibc
#endif

@main
struct Coffer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "Encrypted, signed backups of databases and critical environment variables.",
        discussion: """
            Every backup is a bundle: artifacts encrypted in the age format and a manifest signed in the minisign format, so a bundle can be opened without Coffer. Configuration comes from --config, COFFER_CONFIG or ./coffer.toml. Exit status: 0 ok, 1 failure, 3 config error, 4 key problem, 5 integrity failure (tampered or corrupted data), 6 refused (would overwrite), 7 busy (another snapshot, prune or key rotation holds the repository lock), 64 usage.
            """,
        version: "0.1.0",
        subcommands: [Snapshot.self, List.self, Stats.self, Status.self, Serve.self, Verify.self, Drill.self, Restore.self, Rollback.self, Prune.self, JournalCommand.self, Audit.self, Copy.self, Export.self, Import.self, Env.self, Keys.self, NotifyCommand.self, ScheduleCommand.self, FileCommand.self, DeployGate.self]
    )

    // Declared at every level so that `coffer --config FILE CMD` works as well as `coffer CMD --config FILE`.
    @OptionGroup var global: GlobalOptions

    static func main() async {
        // Identities, env values and decrypted data will be in memory: never in a core dump.
        ProcessHardening.forbidCoreDumps()
        MemoryPolicy.returnLargeBuffersToTheSystem()
        // Over a file-size limit a write fails with EFBIG (reported, cleaned up) instead of killing the process.
        signal(SIGXFSZ, SIG_IGN)
        await main(nil)
    }
}
