import Foundation
import Testing

/// The `coffer` executable that `swift test` built next to the test bundle.
let cofferBinary: String = {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("coffer").path,
        Bundle.main.bundleURL.appendingPathComponent("coffer").path,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/coffer").standardized.path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}()

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// A scratch folder with a config and, optionally, keys; removed afterwards.
struct Workspace {
    let root: String
    var config: String { root + "/coffer.toml" }

    static func with(keys: Bool = true, _ body: (Workspace) throws -> Void) throws {
        let root = NSTemporaryDirectory() + "coffer-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let workspace = Workspace(root: root)
        try "environment = \"development\"\nrepository = \"backups\"\nkeys = \"keys\"\n".write(toFile: workspace.config, atomically: true, encoding: .utf8)
        if keys { try #require(try workspace.coffer("keys", "init").status == 0) }
        try body(workspace)
    }

    /// A workspace whose config has one SQLite database, `app.db`, made by `sql`,
    /// backed up to the local repository `backups`.
    static func withSQLiteApp(sql: String = "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);", _ body: (Workspace) throws -> Void) throws {
        try with { ws in
            try """
                environment = "development"
                repository = "backups"
                keys = "keys"

                [[sqlite]]
                name = "app"
                path = "app.db"
                """.write(toFile: ws.config, atomically: true, encoding: .utf8)
            try #require(try ws.run("sqlite3", ["app.db", sql]).status == 0)
            try body(ws)
        }
    }

    func path(_ name: String) -> String { root + "/" + name }

    /// Configures the project most CLI tests back up: the SQLite database `app`
    /// (data/app.db, made by `sql`) and `JWT_SECRET_KEY` from app.env, into
    /// `repository`, through `s3Endpoint` when there is one.
    func makeSQLiteEnvProject(repository: String, s3Endpoint: String? = nil, sql: String) throws {
        try """
            environment = "development"
            repository = "\(repository)"
            keys = "keys"

            [[sqlite]]
            name = "app"
            path = "data/app.db"

            [env]
            include = ["JWT_SECRET_KEY"]
            file = "app.env"
            """.appending(s3Endpoint.map { "\n\n[s3]\nendpoint = \"\($0)\"\n" } ?? "\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path("data"), withIntermediateDirectories: true)
        let made = try run("sqlite3", ["data/app.db", sql])
        try #require(made.status == 0, "\(made.stderr)")
        try "JWT_SECRET_KEY=\"s3cr3t-value\"\n".write(toFile: path("app.env"), atomically: true, encoding: .utf8)
    }

    /// Makes the config write format 1 bundles (`[format] chunked = false`),
    /// for a test that reads or damages format 1 objects by their paths in the
    /// bundle folder, or needs one large object (multipart faults); the same
    /// cases for format 2 are in ChunkedFormatTests. The table goes before the
    /// config's first one, so sections appended later stay where they were.
    func pinFormatOne() throws {
        var lines = try String(contentsOfFile: config, encoding: .utf8).components(separatedBy: "\n")
        let index = lines.firstIndex { $0.hasPrefix("[") } ?? lines.count
        lines.insert(contentsOf: ["[format]", "chunked = false", ""], at: index)
        try lines.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// Adds sections (TOML) at the end of the config.
    func appendConfig(_ text: String) throws {
        try (try String(contentsOfFile: config, encoding: .utf8) + "\n" + text).write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// Runs `coffer --config ... ARGS` in the workspace.
    @discardableResult
    func coffer(_ arguments: String..., environment: [String: String] = [:], stdin: String = "") throws -> CommandResult {
        try run(cofferBinary, ["--config", config] + arguments, environment: environment, stdin: stdin)
    }

    @discardableResult
    func run(_ program: String, _ arguments: [String], environment: [String: String] = [:], stdin: String = "") throws -> CommandResult {
        let process = Process()
        if program.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let scratch = root + "/.run-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: scratch + ".in", contents: Data(stdin.utf8))
        _ = FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
        defer { for suffix in [".in", ".out", ".err"] { try? FileManager.default.removeItem(atPath: scratch + suffix) } }
        process.standardInput = FileHandle(forReadingAtPath: scratch + ".in")
        process.standardOutput = FileHandle(forWritingAtPath: scratch + ".out")
        process.standardError = FileHandle(forWritingAtPath: scratch + ".err")
        try process.run()
        process.waitUntilExit()
        let out = (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? ""
        return CommandResult(status: process.terminationStatus, stdout: out, stderr: err)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    func mode(_ name: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path(name))[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
    }

    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }

    /// Files in the workspace root (to check that a failure left nothing behind).
    func files() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".run-") })
    }
}

func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

/// SQL that fills table `t` with `rows` random kilobyte rows.
func randomRowsSQL(_ rows: Int) -> String {
    "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < \(rows)) INSERT INTO t SELECT randomblob(1000) FROM n;"
}

/// The environment a coffer or aws process needs to reach a test S3 server with these keys.
func s3Credentials(accessKey: String, secretKey: String) -> [String: String] {
    ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"]
}
