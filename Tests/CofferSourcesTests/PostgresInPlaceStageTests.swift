import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferSources

/// Runs a PostgreSQL client program of the test server (`make test` starts it; COFFER_TEST_PG_*).
private func pgRun(_ program: String, _ arguments: [String]) throws -> String {
    let env = ProcessInfo.processInfo.environment
    let bin = try #require(env["COFFER_TEST_PG_BIN"], "the PostgreSQL tests need the server that `make test` starts")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: bin + "/" + program)
    process.arguments = arguments
    process.environment = env.merging([
        "PGHOST": env["COFFER_TEST_PG_HOST"] ?? "", "PGPORT": env["COFFER_TEST_PG_PORT"] ?? "", "PGUSER": env["COFFER_TEST_PG_USER"] ?? "",
        "PGPASSWORD": env["COFFER_TEST_PG_PASSWORD"] ?? "",
    ]) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "\(program) \(arguments) failed")
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("PostgreSQL --in-place staging")
struct PostgresInPlaceStageTests {
    @Test("staging rehearses the restore in a transaction that is rolled back and returns the server's row counts, not the manifest's; the target is unchanged")
    func rehearsalCountsOnTheServer() throws {
        let env = ProcessInfo.processInfo.environment
        let database = "inplace_" + UUID().uuidString.prefix(8).lowercased()
        let folder = NSTemporaryDirectory() + "coffer-inplace-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try pgRun("psql", ["-X", "-q", "-d", "postgres", "-c", "CREATE DATABASE \(database)"])
        defer { _ = try? pgRun("psql", ["-X", "-q", "-d", "postgres", "-c", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"]) }
        _ = try pgRun("psql", ["-X", "-q", "-d", database, "-c", "CREATE TABLE t(x int); INSERT INTO t VALUES (1),(2),(3);"])
        let dump = folder + "/dump"
        _ = try pgRun("pg_dump", ["-Fc", "-d", database, "-f", dump])
        _ = try pgRun("psql", ["-X", "-q", "-d", database, "-c", "INSERT INTO t VALUES (4)"])

        var source = PostgresSource(
            name: "main", urlEnv: "DATABASE_URL",
            environment: [
                "DATABASE_URL":
                    "postgresql://\(env["COFFER_TEST_PG_USER"] ?? ""):\(env["COFFER_TEST_PG_PASSWORD"] ?? "")@\(env["COFFER_TEST_PG_HOST"] ?? ""):\(env["COFFER_TEST_PG_PORT"] ?? "")/\(database)"
            ])
        source.inPlace = true
        let digest = ObjectDigest(bytes: 0, sha256: "")
        // A manifest that claims 999 rows: the stage must report what the server holds after the script ran.
        let entry = ArtifactEntry(
            name: "main", kind: .postgres, path: "artifacts/main.pgdump.gz.age", plainBytes: 0, header: digest, payload: digest,
            source: ["encoding": .string("UTF8")], stats: ["tables": .object(["public.t": .int(999)])])
        let restoreID = "20261201T000000Z-0000abcd"
        defer { source.discardStage(restoreID: restoreID) }
        let report = try source.stage(restoreID: restoreID, entry: entry) { sink in try streamFile(dump, into: sink) }
        #expect(report.stats == ["tables": .object(["public.t": .int(3)])])
        #expect(try pgRun("psql", ["-X", "-q", "-A", "-t", "-d", database, "-c", "SELECT count(*) FROM t"]) == "4", "the rehearsal must change nothing")
        #expect(try source.content(restoreID: restoreID) == .previous)
    }
}
