import ArgumentParser
import CofferCore
import CofferFormat
import Foundation

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Show the repository's journal of snapshots, restores, rollbacks and prunes, with its chain checked.",
        discussion: """
            Every event is one object under journal/ENV/ in the repository, signed with the signing key and chained to the one before by its SHA-256. Exit status 5 when an event is missing, edited, unsigned or signed by another key.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let config = try global.loadConfig()
            let journal = Journal(repository: try Repository.open(config), environment: config.environment.rawValue)
            let (events, problems) = try journal.check(trusted: try KeyStore(directory: config.keysDirectory).trustedSigners())
            if global.json {
                try printJSON([
                    "events": events.map { event -> [String: Any] in
                        [
                            "sequence": event.sequence, "kind": event.kind, "at": event.at, "host": event.host, "user": event.user,
                            "details": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(event.details))) ?? [:],
                        ]
                    },
                    "problems": problems, "intact": problems.isEmpty,
                ])
            } else {
                if events.isEmpty { say("the journal of \(config.environment.rawValue) is empty") }
                for event in events {
                    let about = event.details.keys.sorted().map { "\($0)=\(event.details[$0]!)" }.joined(separator: " ")
                    say("\(event.sequence)  \(event.at)  \(event.kind)  \(event.user)@\(event.host)  \(about)")
                }
                for problem in problems { say("PROBLEM: \(problem)") }
            }
            if !problems.isEmpty { throw ExitCode(CofferError.Category.integrity.rawValue) }
        }
    }
}
