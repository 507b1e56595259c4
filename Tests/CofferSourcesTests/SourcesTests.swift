import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferSources

func scratchFolder() throws -> String {
    let path = NSTemporaryDirectory() + "coffer-sources-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("dotenv")
struct DotenvTests {
    @Test("values round-trip whatever they contain")
    func roundTrip() throws {
        let variables: [(name: String, value: [UInt8])] = [
            ("A", "plain"), ("B_2", "with \"quotes\" and \\backslashes\\"), ("C", "multi\nline\r\nvalue"), ("D", ""),
            ("E", "x=y # not a comment"), ("F", "ünïcødé ✓"), ("G", "'single'"),
        ].map { ($0.0, Array($0.1.utf8)) } + [("H", [0xFF, 0xFE, 0x00, 0x80])]
        let parsed = try Dotenv.parse(Dotenv.render(variables))
        #expect(parsed.map(\.name) == variables.map(\.name).sorted())
        for variable in variables {
            #expect(parsed.first { $0.name == variable.name }?.value == variable.value)
        }
    }

    @Test("common dotenv forms are read")
    func forms() throws {
        let parsed = try Dotenv.parse(Array("# comment\nexport A=1\nB = two  # note\nC='lit $X \\n'\nD=\"a\\nb\"\n\nA=3\n".utf8))
        #expect(parsed.map(\.name) == ["A", "B", "C", "D"])
        #expect(parsed.map { String(decoding: $0.value, as: UTF8.self) } == ["3", "two", "lit $X \\n", "a\nb"])
    }

    @Test("CRLF files are read line by line")
    func crlf() throws {
        let parsed = try Dotenv.parse(Array("# comment\r\nA=1\r\nB=\"two\"\r\n".utf8))
        #expect(parsed.map(\.name) == ["A", "B"])
        #expect(parsed.map(\.value) == [Array("1".utf8), Array("two".utf8)])
    }

    @Test("errors name the line, never the value")
    func errors() {
        do {
            _ = try Dotenv.parse(Array("OK=1\nSECRET=\"sk_live_unterminated\n".utf8))
            Issue.record("accepted an unterminated quote")
        } catch let error as Dotenv.ParseError {
            #expect(error.line == 2)
            #expect(!error.description.contains("sk_live"))
        } catch {
            Issue.record("\(error)")
        }
        #expect(throws: Dotenv.ParseError.self) { try Dotenv.parse(Array("1BAD=x\n".utf8)) }
        #expect(throws: Dotenv.ParseError.self) { try Dotenv.parse(Array("no equals sign\n".utf8)) }
    }
}

@Suite("env source")
struct EnvSourceTests {
    @Test("include list and pattern select variables; only the count is a stat")
    func selection() throws {
        let source = EnvSource(
            include: ["JWT_SECRET_KEY", "MISSING"], pattern: "^APP_", file: nil, restoreTo: nil,
            environment: ["JWT_SECRET_KEY": "j", "APP_MODE": "prod", "HOME": "/root", "APP_X": "1"])
        #expect(try source.collect().map(\.name) == ["APP_MODE", "APP_X", "JWT_SECRET_KEY"])
        #expect(try source.missingNames() == ["MISSING"])
        var text: [UInt8] = []
        let facts = try source.snapshot(workDirectory: "/nonexistent") { text += $0 }
        #expect(facts.stats == ["variables": .int(3)])
        #expect(!"\(facts.source)".contains("prod"))
        #expect(String(decoding: text, as: UTF8.self).contains("APP_MODE=\"prod\""))
    }

    @Test("stage, commit, undo of a dotenv target keeps its mode and the old file")
    func restore() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/.env"
        try "OLD=1\n".write(toFile: target, atomically: true, encoding: .utf8)
        try FileSystem.setPermissions(target, 0o640)
        let source = EnvSource(include: [], pattern: nil, file: nil, restoreTo: target, environment: [:])
        let stats = try source.stage(restoreID: "r1", entry: anyEntry) { sink in try Array("NEW=\"2\"\nOTHER=\"3\"\n".utf8).withUnsafeBytes { try sink($0) } }
        #expect(stats.stats == ["variables": .int(2)])
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "OLD=1\n")
        try source.commit(restoreID: "r1")
        try source.commit(restoreID: "r1")  // idempotent, as recovery needs
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "OLD=1\nNEW=\"2\"\nOTHER=\"3\"\n")
        #expect(try FileSystem.status(of: target)?.permissions == 0o640)
        try source.undo(restoreID: "r1")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "OLD=1\n")
    }
}

@Suite("SQLite source")
struct SQLiteSourceTests {
    func makeDatabase(_ path: String, wal: Bool, rows: Int) throws {
        let database = try SQLiteDatabase(path: path, create: true)
        if wal { try database.execute("PRAGMA journal_mode = WAL") }
        try database.execute("CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);")
        try database.execute("BEGIN")
        for index in 0..<rows { try database.execute("INSERT INTO a(v) VALUES ('\(index)'); INSERT INTO b(v) VALUES ('\(index)');") }
        try database.execute("COMMIT")
    }

    @Test("a snapshot taken while another connection writes is consistent (WAL and rollback journal)", arguments: [true, false])
    func consistentUnderWriters(_ wal: Bool) throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/app.db"
        try makeDatabase(path, wal: wal, rows: 2000)
        // A writer process inserts into both tables in one transaction, over and over.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = String(repeating: "BEGIN; INSERT INTO a(v) SELECT v FROM a LIMIT 50; INSERT INTO b(v) SELECT v FROM b LIMIT 50; COMMIT;\n", count: 400)
        writer.arguments = ["sqlite3", "-cmd", ".timeout 5000", path, script]
        try writer.run()
        defer { writer.waitUntilExit() }
        var source = SQLiteSource(name: "app", path: path)
        source.busyTimeoutMilliseconds = 10_000
        for _ in 0..<3 {
            var bytes: [UInt8] = []
            let facts = try source.snapshot(workDirectory: dir) { bytes += $0 }
            let tables = facts.stats["tables"]?.objectValue
            #expect(tables?["a"] == tables?["b"], "a snapshot mixed two transactions")
            _ = FileManager.default.createFile(atPath: dir + "/copy.db", contents: Data(bytes))
            #expect(try SQLiteSource.inspect(dir + "/copy.db", name: "app") == facts.stats)
            try FileManager.default.removeItem(atPath: dir + "/copy.db")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/app.sqlite"), "the temporary copy was left behind")
    }

    @Test("commit goes through the backup API: an open connection sees the new rows")
    func commitIntoOpenConnection() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/new.db", wal: false, rows: 30)
        try makeDatabase(dir + "/live.db", wal: true, rows: 5)
        let application = try SQLiteDatabase(path: dir + "/live.db")
        #expect(try application.integer("SELECT count(*) FROM a") == 5)

        let source = SQLiteSource(name: "app", path: dir + "/live.db")
        let bytes = try FileSystem.readFile(dir + "/new.db", limit: 1 << 30)
        let stats = try source.stage(restoreID: "r1", entry: anyEntry) { sink in try bytes.withUnsafeBytes { try sink($0) } }
        #expect(stats.stats["tables"]?.objectValue?["a"] == .int(30))
        #expect(try application.integer("SELECT count(*) FROM a") == 5, "staging touched the target")
        try source.commit(restoreID: "r1")
        #expect(try application.integer("SELECT count(*) FROM a") == 30)
        #expect(try application.rows("PRAGMA journal_mode").first?.first == "wal")
        #expect(source.hasPreRestoreCopy(restoreID: "r1"))
        try source.undo(restoreID: "r1")
        #expect(try application.integer("SELECT count(*) FROM a") == 5)
    }

    @Test("a target locked by another writer fails the commit with a clear error and stays unchanged")
    func lockedTarget() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/new.db", wal: false, rows: 30)
        try makeDatabase(dir + "/live.db", wal: false, rows: 5)
        var source = SQLiteSource(name: "app", path: dir + "/live.db")
        source.busyTimeoutMilliseconds = 200
        let bytes = try FileSystem.readFile(dir + "/new.db", limit: 1 << 30)
        _ = try source.stage(restoreID: "r1", entry: anyEntry) { sink in try bytes.withUnsafeBytes { try sink($0) } }
        let other = try SQLiteDatabase(path: dir + "/live.db")
        try other.execute("BEGIN IMMEDIATE; INSERT INTO a(v) VALUES ('held');")
        do {
            try source.commit(restoreID: "r1")
            Issue.record("committed into a locked database")
        } catch let error as SourceError {
            #expect(error.message.contains("locked by another writer"))
        }
        try other.execute("ROLLBACK")
        #expect(try other.integer("SELECT count(*) FROM a") == 5)
    }
}

/// An artifact entry for targets that do not look at it (SQLite, env).
let anyEntry = ArtifactEntry(
    name: "any", kind: .file, path: "artifacts/any", plainBytes: 0, header: ObjectDigest(bytes: 0, sha256: ""),
    payload: ObjectDigest(bytes: 0, sha256: ""), source: [:], stats: [:])
