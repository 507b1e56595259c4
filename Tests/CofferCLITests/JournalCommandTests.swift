import Foundation
import Testing

@Suite("the repository journal")
struct JournalCommandTests {
    @Test("snapshot, restore, rollback and prune each leave a signed, chained event; a deleted or edited event is named")
    func chain() throws {
        try Workspace.withSQLiteApp(sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1);") { ws in
            let first = try #require(try ws.coffer("snapshot").stdout.split(separator: "\n").last.map(String.init))
            #expect(try ws.coffer("snapshot").status == 0)
            let restore = try ws.coffer("restore", first, "--yes", "--json")
            #expect(restore.status == 0, "\(restore.stderr)")
            let restoreID = try #require(
                (try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any])?["restore_id"] as? String)
            #expect(try ws.coffer("rollback", restoreID).status == 0)
            let prune = try ws.coffer("prune", environment: ["COFFER_NOW": "2099-01-01T00:00:00Z"])
            #expect(prune.status == 0, "\(prune.stderr)")

            let journal = try ws.coffer("journal", "--json")
            #expect(journal.status == 0, "\(journal.stdout)\(journal.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(journal.stdout.utf8)) as? [String: Any])
            let events = try #require(object["events"] as? [[String: Any]])
            #expect(events.compactMap { $0["kind"] as? String } == ["snapshot", "snapshot", "restore", "rollback", "prune"])
            #expect((events[4]["details"] as? [String: Any])?["deleted"] as? [String] == [first])
            #expect(try ws.run("minisign", ["-Vm", "backups/journal/development/000000000003.json", "-p", "keys/signing.pub"]).status == 0)

            // An edited event: its signature fails, and the next one no longer follows it.
            let third = ws.path("backups/journal/development/000000000003.json")
            let original = try String(contentsOfFile: third, encoding: .utf8)
            try original.replacingOccurrences(of: "\"restore\"", with: "\"rest0re\"").write(toFile: third, atomically: true, encoding: .utf8)
            let edited = try ws.coffer("journal")
            #expect(edited.status == 5)
            #expect(edited.stdout.contains("the signature of journal event 3 does not verify"))
            #expect(edited.stdout.contains("event 4 does not follow event 3"))
            try original.write(toFile: third, atomically: true, encoding: .utf8)
            #expect(try ws.coffer("journal").status == 0)

            // A deleted event.
            try FileManager.default.removeItem(atPath: ws.path("backups/journal/development/000000000002.json"))
            let deleted = try ws.coffer("journal")
            #expect(deleted.status == 5)
            #expect(deleted.stdout.contains("journal events 2...2 are missing"))
        }
    }
}
