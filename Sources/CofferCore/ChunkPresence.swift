import CofferFormat
import CofferStorage

/// Whether the chunks of a format v2 bundle are all in the repository: asked
/// of one listing of `chunks/ENV/` before a restore stages anything, so a
/// missing chunk stops it at once, naming every bundle the loss damages.
enum ChunkPresence {
    /// Throws `FormatError(.missing)` naming the missing chunk objects of
    /// `manifest` and the bundles (of those `ids`) that reference them.
    static func requireAll(_ manifest: Manifest, repository: Repository, ids: [String], trusted: TrustedSigners) throws {
        guard manifest.isChunked else { return }
        let environment = manifest.environment
        let present = try repository.chunkObjectSizes(environment: environment)
        var missing: [String] = []
        for chunk in manifest.artifacts.flatMap({ $0.chunks ?? [] }) where !missing.contains(chunk.id) {
            if present[chunk.headerKey(environment: environment)] == nil || present[chunk.payloadKey(environment: environment)] == nil {
                missing.append(chunk.id)
            }
        }
        guard !missing.isEmpty else { return }
        let lost = Set(missing)
        var referencing: [String] = []
        for id in ids {
            guard let other = try? repository.verifiedManifest(environment: environment, id: id, trusted: trusted) else { continue }
            if other.artifacts.contains(where: { ($0.chunks ?? []).contains { lost.contains($0.id) } }) { referencing.append(id) }
        }
        let names = missing.prefix(5).map { String($0.prefix(16)) }.joined(separator: ", ") + (missing.count > 5 ? ", ..." : "")
        throw FormatError(
            .missing,
            "\(missing.count) chunk(s) of bundle \(manifest.id) are missing from \(repository.storage.location)/\(BundleLayout.chunkPrefix(environment)) (\(names)); bundles that reference them: \(referencing.joined(separator: ", ")). Nothing was touched; restore an older bundle that `coffer audit` passes, or copy the chunks back from a copy of the repository")
    }
}
