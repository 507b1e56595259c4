import ArgumentParser
import CofferCore
import CofferStorage
import CofferSystem
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one bundle as a plain tar file (objects checked against the signed manifest on the way).",
        discussion: "The tar holds bundles/ENV/ID/... with the manifest last, so `tar -xf FILE -C REPOSITORY` restores the layout without Coffer. The output appears only when the whole bundle was written."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Bundle id (or a unique prefix), or `latest`.", valueName: "id"))
    var bundle: String = "latest"

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file (default: ID.tar; - for standard output).", valueName: "file"))
    var output: String?

    @Flag(help: "Replace an existing output file.")
    var force = false

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let id = try Repository.open(config).resolve(bundle, environment: config.environment.rawValue, now: try Clock.now())
            let destination = output ?? "\(id).tar"
            try writeOutput(destination, force: force) { sink in
                try withoutActuallyEscaping(sink) { sink in _ = try ExportOperation(config: config).run(reference: id, into: sink) }
            }
            if global.json { try printJSON(["id": id, "output": destination]) } else if destination != "-" { say("exported \(id) -> \(destination)") }
        }
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a bundle from a tar file made by `coffer export` (verified before it appears).",
        discussion: "The manifest's signature (against keys/signing.pub) and every object's digest are checked; a bundle that fails leaves nothing behind. A bundle already in the repository is left as it is."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The tar file, or - for standard input.", valueName: "file"))
    var file: String

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let input = try openInput(file)
            let (manifest, alreadyPresent) = try withoutActuallyEscaping({ try input.read(into: $0) }) { read in
                try ImportOperation(config: config).run(read: read)
            }
            if global.json {
                try printJSON(["id": manifest.id, "environment": manifest.environment, "already_present": alreadyPresent])
            } else {
                say(alreadyPresent ? "\(manifest.id) is already in the repository; left as it is" : "imported \(manifest.environment)/\(manifest.id)")
            }
        }
    }
}

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy bundles to a second repository, checking every object on the way.",
        discussion: """
            Bundles already in the destination are skipped. Each copied bundle appears there whole or not at all. \
            The destination is a folder or s3://bucket/prefix; an S3 destination uses the endpoint and credentials of the [s3] section.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Bundle id (or a unique prefix), or `latest`; omit with --all.", valueName: "id"))
    var bundle: String?

    @Flag(help: "Copy every bundle of the environment.")
    var all = false

    @Option(help: ArgumentHelp("The destination repository (a folder or s3://bucket/prefix).", valueName: "repository"))
    var to: String

    func validate() throws {
        if (bundle == nil) == !all { throw ValidationError("give a bundle id or --all") }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let destination = try Repository.open(to.hasPrefix("s3://") ? to : FileSystem.absolute(to), s3: config.s3)
            let results = try CopyOperation(config: config).run(reference: all ? nil : bundle, destination: destination)
            if global.json {
                try printJSON(results.map { ["id": $0.0, "copied": $0.1] })
            } else {
                for (id, copied) in results { say("\(copied ? "copied " : "present") \(id)") }
            }
        }
    }
}
