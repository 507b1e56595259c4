import Foundation
import Testing

@testable import CofferCore

private let examplesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples").standardized.path

/// Every examples/*.toml: a new example is parsed without being listed here.
private let examples: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: examplesFolder)) ?? [])
    .filter { $0.hasSuffix(".toml") }.sorted()

private func load(_ name: String) throws -> CofferConfig { try ConfigLoader.load(path: examplesFolder + "/" + name) }

@Suite("examples/*.toml")
struct ExampleConfigTests {
    @Test("each example loads with the strict loader (real keys only), configures a source and starts with a comment saying how to use it", arguments: examples)
    func loads(_ name: String) throws {
        let config = try load(name)
        #expect(!(config.sqlite.isEmpty && config.postgres.isEmpty && config.redis.isEmpty && config.env == nil))
        let text = try String(contentsOfFile: examplesFolder + "/" + name, encoding: .utf8)
        #expect(text.hasPrefix("# "))
        #expect(text.contains("coffer keys init") && text.contains("coffer snapshot"))
    }

    @Test("the three stacks: SQLite + env to a folder; PostgreSQL + Redis + env on S3; staging, weekly")
    func stacks() throws {
        #expect(examples.count >= 3)
        let sqlite = try load("sqlite-local.toml")
        #expect(sqlite.sqlite.count == 1 && sqlite.env?.file != nil && !sqlite.repository.hasPrefix("s3://"))
        #expect(sqlite.repository == examplesFolder + "/backups")

        let s3 = try load("postgres-redis-s3.toml")
        #expect(s3.postgres.map(\.urlEnv) == ["COFFER_DATABASE_URL"] && s3.redis.map(\.urlEnv) == ["COFFER_REDIS_URL"] && s3.env?.file != nil)
        #expect(s3.repository.hasPrefix("s3://") && s3.s3?.pathStyle == false)
        #expect(s3.s3?.accessKeyEnv == "AWS_ACCESS_KEY_ID" && s3.s3?.secretKeyEnv == "AWS_SECRET_ACCESS_KEY")

        let staging = try load("staging-weekly.toml")
        #expect(staging.environment == .staging)
        // One bundle a week: five weeks kept, and more than one good bundle even if the job stops.
        #expect(staging.retention.days == 35 && staging.retention.keepLast == 4)
    }
}
