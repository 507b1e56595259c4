import CofferCrypto
import CofferFormat
import CofferSources
import CofferSystem
import Foundation
import Testing

@testable import CofferCore

/// For tests that damage or read format 1 objects by their paths in the bundle
/// folder; the same faults on format 2 chunks are tested in ChunkedFormatTests.
let formatOneConfig = "[format]\nchunked = false"

/// A scratch project: config, keys, a SQLite database and a dotenv file.
struct Project {
    let root: String
    let config: CofferConfig

    static func with(extraConfig: String = "", _ body: (Project) throws -> Void) throws {
        let root = NSTemporaryDirectory() + "coffer-core-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [[sqlite]]
            name = "app"
            path = "data/app.db"

            [env]
            include = ["JWT_SECRET_KEY", "DATABASE_URL"]
            pattern = "^APP_"
            file = "app.env"

            \(extraConfig)
            """
        try text.write(toFile: root + "/coffer.toml", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.parse(text, path: root + "/coffer.toml")
        _ = try KeyStore(directory: config.keysDirectory).initialize(environment: "development", created: "2026-11-28T00:00:00Z")
        let project = Project(root: root, config: config)
        try project.makeDatabase("data/app.db", users: 100)
        try "JWT_SECRET_KEY=\"jwt-1\"\nDATABASE_URL=\"postgres://u:p@h/db\"\nAPP_MODE=\"prod\"\nUNRELATED=\"x\"\n".write(
            toFile: root + "/app.env", atomically: true, encoding: .utf8)
        try body(project)
    }

    func path(_ relative: String) -> String { root + "/" + relative }

    func makeDatabase(_ relative: String, users: Int) throws {
        let database = try SQLiteDatabase(path: path(relative), create: true)
        try database.execute("CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, email TEXT)")
        try database.execute("DELETE FROM users")
        try database.execute("BEGIN")
        for index in 0..<users { try database.execute("INSERT INTO users(email) VALUES ('user\(index)@example.com')") }
        try database.execute("COMMIT")
    }

    func users(_ relative: String = "data/app.db") throws -> Int64 {
        try SQLiteDatabase(path: path(relative), readOnly: true).integer("SELECT count(*) FROM users")
    }

    func snapshot(label: String? = nil, config: CofferConfig? = nil, at now: String? = nil) throws -> Manifest {
        let keys = KeyStore(directory: self.config.keysDirectory)
        let key = try keys.signingKey { throw CofferError(.key, "no password") }
        let environment = now.map { ["COFFER_NOW": $0] } ?? [:]
        return try SnapshotOperation(config: config ?? self.config, environment: environment, progress: SilentProgress()).run(label: label, signingKey: key).manifest
    }

    func prune(at now: String, dryRun: Bool = false) throws -> [PruneDecision] {
        try PruneOperation(config: config, environment: ["COFFER_NOW": now], progress: SilentProgress()).run(dryRun: dryRun).decisions
    }

    func verify(_ id: String = "latest", deep: Bool = false) throws -> VerifyReport {
        try VerifyOperation(config: config, progress: SilentProgress()).run(reference: id, deep: deep)
    }

    func restore(_ id: String = "latest", config: CofferConfig? = nil) throws -> RestoreResult {
        try RestoreOperation(config: config ?? self.config, environment: [:], progress: SilentProgress()).run(reference: id, dryRun: false) { _ in true }
    }

    func bundleFolder(_ id: String) -> String { path("backups/bundles/development/\(id)") }

    /// Every file under the project except the repository, with its content: what a failed restore must not change.
    func targetsSnapshot() throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in ["data/app.db", "app.env"] where FileManager.default.fileExists(atPath: path(name)) {
            result[name] = FileManager.default.contents(atPath: path(name))
        }
        return result
    }
}

/// Runs `body` and returns the error it threw, failing the test if it threw none.
func expectFailure(_ what: String, _ body: () throws -> Void) -> (any Error)? {
    do {
        try body()
        Issue.record("\(what) succeeded but should have failed")
        return nil
    } catch {
        return error
    }
}
