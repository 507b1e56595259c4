import ArgumentParser
import CofferCore

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the bundles of the environment, oldest first, with their signature checked.",
        discussion: "Bundles without a manifest (an interrupted write) or whose manifest is not signed by the trusted key are left out; a note on standard error counts them and `coffer status` names them."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let (bundles, ignored) = try ListOperation(config: try global.loadConfig()).runReportingIgnored()
            if !ignored.isEmpty {
                warn("\(ignored.count) bundle(s) left out: no manifest or not trusted; `coffer status` names them")
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
                say("\(bundle.id)  \(bundle.artifacts.joined(separator: ","))  \(formatBytes(bundle.plainBytes)) -> \(formatBytes(bundle.storedBytes))\(label)")
            }
        }
    }
}
