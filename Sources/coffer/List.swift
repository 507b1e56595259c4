import ArgumentParser
import CofferCore

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the bundles of the environment, oldest first, with their signature checked.",
        discussion: "Bundles without a manifest (an interrupted write), whose manifest is not signed by the trusted key or cannot be read (not a regular file, over 64 MiB), and names that are not bundle ids or are dated more than 5 minutes in the future are left out; a note on standard error counts them and `coffer status` names them. A repository path that is not a folder is a configuration error (exit 3)."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let (bundles, ignored) = try ListOperation(config: try global.loadConfig()).runReportingIgnored()
            if !ignored.isEmpty {
                warn("\(ignored.count) bundle(s) left out: no manifest, not trusted, unreadable, or not a current bundle id; `coffer status` names them")
            }
            if global.json {
                try printJSON(bundles.map { bundle -> [String: Any] in
                    [
                        "id": bundle.id, "created_at": bundle.createdAt, "label": bundle.label as Any, "artifacts": bundle.artifacts,
                        "plain_bytes": bundle.plainBytes, "stored_bytes": bundle.storedBytes,
                    ]
                })
                return
            }
            if bundles.isEmpty { say("no bundles yet; take one with `coffer snapshot`") }
            for bundle in bundles {
                let label = bundle.label.map { "  \"\($0)\"" } ?? ""
                say("\(bundle.id)  \(bundle.artifacts.joined(separator: ","))  \(ByteCount.format(bundle.plainBytes)) -> \(ByteCount.format(bundle.storedBytes))\(label)")
            }
        }
    }
}
