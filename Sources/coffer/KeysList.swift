import ArgumentParser
import CofferCore
import Foundation

extension Keys {
    struct KeysList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show each key file with its public id and whether it is usable."
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: KeyLocationOptions

        func run() async throws {
            try await reportingErrors {
                let store = try global.keyStore(override: location.keysDirectory)
                let entries = try store.inventory()
                if global.json {
                    try printJSON(entries.map { entry -> [String: Any] in
                        var object: [String: Any] = [
                            "kind": entry.kind.rawValue, "file": entry.path, "mode": String(entry.permissions, radix: 8),
                            "ids": entry.ids,
                        ]
                        object["environment"] = entry.environment ?? NSNull()
                        object["problem"] = entry.problem ?? NSNull()
                        object["notes"] = entry.notes
                        return object
                    })
                    return
                }
                if entries.isEmpty {
                    say("no keys in \(store.directory); create them with `coffer keys init`")
                    return
                }
                for entry in entries {
                    let mode = "0" + String(entry.permissions, radix: 8)
                    let ids = entry.ids.isEmpty ? "-" : entry.ids.joined(separator: ", ")
                    var line = "\(entry.kind.rawValue.padding(to: 16)) \((entry.environment ?? "-").padding(to: 12)) \(ids)"
                    line += "  [\(entry.path), mode \(mode)]"
                    if let problem = entry.problem { line += "  PROBLEM: \(problem)" }
                    say(line)
                    for note in entry.notes { say("    \(note)") }
                }
            }
        }
    }
}


extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
