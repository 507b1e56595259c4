import ArgumentParser
import CofferCore
import Foundation

struct Env: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the critical environment variables with a bundle.",
        subcommands: [EnvDiffCommand.self]
    )

    @OptionGroup var global: GlobalOptions
}

struct EnvDiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Names added, removed or changed since a bundle; never values.",
        discussion: "Needs keys/ENV.age to open the bundle's env artifact. Exit status 0 when nothing differs, 1 when something does."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Bundle id (or a unique prefix), or `latest`.", valueName: "id"))
    var bundle: String = "latest"

    func run() async throws {
        try await reportingErrors {
            let diff = try EnvDiffOperation(config: try global.loadConfig(), environment: ProcessInfo.processInfo.environment).run(reference: bundle)
            if global.json {
                try printJSON(["bundle": diff.bundle, "added": diff.added, "removed": diff.removed, "changed": diff.changed, "unchanged": diff.unchanged])
            } else {
                for name in diff.added { say("+ \(name)  (set now, not in the bundle)") }
                for name in diff.removed { say("- \(name)  (in the bundle, not set now)") }
                for name in diff.changed { say("~ \(name)  (value differs)") }
                say(diff.isEmpty ? "no differences from bundle \(diff.bundle) (\(diff.unchanged) variables)" : "\(diff.unchanged) unchanged")
            }
            if !diff.isEmpty { throw ExitCode.failure }
        }
    }
}
