import ArgumentParser
import CofferCore

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the bundles of the environment, oldest first, with their signature checked."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let bundles = try ListOperation(config: try global.loadConfig()).run()
            if global.json {
                try printJSON(bundles.map { bundle -> [String: Any] in
                    [
                        "id": bundle.id, "created_at": bundle.createdAt, "label": bundle.label as Any, "artifacts": bundle.artifacts,
                        "plain_bytes": bundle.plainBytes, "stored_bytes": bundle.storedBytes, "problem": bundle.problem as Any,
                    ]
                })
                return
            }
            if bundles.isEmpty { say("no bundles yet; take one with `coffer snapshot`") }
            for bundle in bundles {
                if let problem = bundle.problem {
                    say("\(bundle.id)  UNTRUSTED: \(problem)")
                } else {
                    let label = bundle.label.map { "  \"\($0)\"" } ?? ""
                    say("\(bundle.id)  \(bundle.artifacts.joined(separator: ","))  \(formatBytes(bundle.plainBytes)) -> \(formatBytes(bundle.storedBytes))\(label)")
                }
            }
        }
    }
}
