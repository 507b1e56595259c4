import Foundation
import Testing

@Suite("coffer audit")
struct AuditTests {
    @Test("passes on an intact repository with pruned gaps; names a bundle deleted outside prune, a foreign signature, an edited journal event")
    func audit() throws {
        try Workspace.withSQLiteApp(sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1);") { ws in
            let now = Date()
            func at(_ days: Double) -> [String: String] {
                let formatter = ISO8601DateFormatter()
                return ["COFFER_NOW": formatter.string(from: now.addingTimeInterval(days * 86_400))]
            }
            var ids: [String] = []
            for days in [-10.0, -9, -1, 0] {
                let snapshot = try ws.coffer("snapshot", environment: at(days))
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                ids.append(try #require(snapshot.stdout.split(separator: "\n").last.map(String.init)))
            }
            let prune = try ws.coffer("prune", environment: at(0))
            #expect(prune.status == 0, "\(prune.stderr)")
            #expect(!ws.exists("backups/bundles/development/\(ids[0])"))

            let passed = try ws.coffer("audit", "--deep", "--json", environment: at(0))
            #expect(passed.status == 0, "\(passed.stdout)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(passed.stdout.utf8)) as? [String: Any])
            #expect(report["passed"] as? Bool == true)
            #expect((report["bundles"] as? [Any])?.count == 2)

            // Stale: no bundle inside the window.
            let stale = try ws.coffer("audit", environment: at(30))
            #expect(stale.status == 5)
            #expect(stale.stdout.contains("needs one younger than"))

            // A bundle deleted by hand.
            try FileManager.default.moveItem(atPath: ws.path("backups/bundles/development/\(ids[2])"), toPath: ws.path("aside"))
            let deleted = try ws.coffer("audit", environment: at(0))
            #expect(deleted.status == 5)
            #expect(deleted.stdout.contains("bundle \(ids[2]) was made (journal) but is gone"))
            try FileManager.default.moveItem(atPath: ws.path("aside"), toPath: ws.path("backups/bundles/development/\(ids[2])"))
            #expect(try ws.coffer("audit", environment: at(0)).status == 0)

            // A manifest signed by a key that is not trusted.
            let folder = "backups/bundles/development/\(ids[3])"
            let original = try ws.read("\(folder)/manifest.json.minisig")
            #expect(try ws.run("sh", ["-c", "minisign -G -W -p foreign.pub -s foreign.key >/dev/null && minisign -S -s foreign.key -m \(folder)/manifest.json -x \(folder)/manifest.json.minisig >/dev/null"]).status == 0)
            let foreign = try ws.coffer("audit", environment: at(0))
            #expect(foreign.status == 5)
            #expect(foreign.stdout.contains("FAIL \(ids[3])") && foreign.stdout.contains("not a trusted signing key"))
            try ws.write("\(folder)/manifest.json.minisig", original)

            // An edited journal event.
            let event = ws.path("backups/journal/development/000000000002.json")
            let text = try String(contentsOfFile: event, encoding: .utf8)
            try text.replacingOccurrences(of: "\"snapshot\"", with: "\"snapsh0t\"").write(toFile: event, atomically: true, encoding: .utf8)
            let edited = try ws.coffer("audit", environment: at(0))
            #expect(edited.status == 5)
            #expect(edited.stdout.contains("journal event 2"))
        }
    }
}
