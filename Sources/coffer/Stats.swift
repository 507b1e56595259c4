import ArgumentParser
import CofferCore
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What the environment's bundles reference and what the repository holds for them.",
        discussion: "Reads the verified manifests and the listing of chunks/ENV/; needs no secret key. Referenced bytes count every bundle's objects in full (what the bundles would take if nothing were shared); unique bytes count each object once (what they take). Their ratio is what deduplication saves: format v2 bundles share the chunks whose content did not change. Per source, and with the chunk objects no bundle names (left by a killed snapshot or a key rotation; `coffer prune` deletes them once they are a day old)."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let stats = try StatsOperation(config: try global.loadConfig()).run()
            func object(_ usage: RepositoryStats.Usage) -> [String: Any] {
                [
                    "plain_bytes": usage.plainBytes, "referenced_bytes": usage.referencedBytes, "unique_bytes": usage.uniqueBytes,
                    "dedup_ratio": (usage.dedupRatio * 1000).rounded() / 1000, "chunks": usage.chunks, "objects": usage.objects,
                ]
            }
            if global.json {
                var total = object(stats.total)
                total["bundles"] = stats.bundles
                try printJSON([
                    "environment": stats.environment, "bundles": stats.bundles, "format_1_bundles": stats.v1Bundles, "format_2_bundles": stats.v2Bundles,
                    "unverifiable": stats.unverifiable, "total": total,
                    "sources": Dictionary(uniqueKeysWithValues: stats.sources.map { ($0.name, object($0.usage)) }),
                    "unreferenced_objects": stats.unreferencedObjects, "unreferenced_bytes": stats.unreferencedBytes,
                ])
                return
            }
            func line(_ name: String, _ usage: RepositoryStats.Usage) -> String {
                "\(name): \(ByteCount.format(usage.plainBytes)) of data, \(ByteCount.format(usage.referencedBytes)) referenced, \(ByteCount.format(usage.uniqueBytes)) stored (dedup \(String(format: "%.2f", usage.dedupRatio))x), \(usage.chunks) chunk(s), \(usage.objects) object(s)"
            }
            say("\(stats.environment): \(stats.bundles) bundle(s) (\(stats.v2Bundles) chunked, \(stats.v1Bundles) format 1)")
            say(line("total", stats.total))
            for source in stats.sources { say("  " + line(source.name, source.usage)) }
            if stats.unverifiable > 0 { warn("\(stats.unverifiable) bundle(s) do not verify and are not counted; see `coffer audit`") }
            if stats.unreferencedObjects > 0 {
                say("\(stats.unreferencedObjects) chunk object(s) no bundle names (\(ByteCount.format(stats.unreferencedBytes))): `coffer prune` deletes them once they are a day old")
            }
        }
    }
}
