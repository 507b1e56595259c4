import CofferCore
import CofferCrypto
import CofferStorage
import Dispatch
import Foundation
import Synchronization

/// A repository of many small, genuine bundles, for the scale benchmark.
///
/// Every bundle is made by CofferCore's own `SnapshotOperation` (the code behind
/// `coffer snapshot`), run in this process so that 10,000 of them take minutes, not
/// the hour that as many `coffer` processes would: a tiny SQLite database and two
/// environment variables sealed with the repository's keys, the manifest signed with
/// its signing key, `previous` naming the manifest before, one signed journal event
/// each. The clock (`COFFER_NOW`) steps one hour per bundle. Nothing is forged, so
/// `coffer audit` finds every signature, digest, chain link and journal event
/// in order. The snapshots go to a local folder (a snapshot to S3 lists every
/// bundle first, which would make building the repository quadratic); `upload`
/// then copies its objects, byte for byte, to a prefix of the bucket.
///
/// Every snapshot lists the repository's bundles and parses each id's date
/// (`Repository.listing`), which costs about half a millisecond a bundle here:
/// 10,000 snapshots into one growing folder would take hours. So once a bundle
/// has a successor it is moved (renamed) into `archive`, a folder with the same
/// layout. A snapshot reads only the newest bundle (its manifest becomes
/// `previous`) and the journal, which stays whole, so the bundles it makes are
/// the ones a full folder would give; `upload` sends both folders.
final class ScaleRepositoryBuilder {
    let config: CofferConfig
    let signingKey: MinisignSecretKey
    /// When the first bundle was made; bundle `i` is made `i` hours later.
    let first: Date
    /// Where the bundles that have a successor wait for the upload (the repository's layout).
    let archive: String
    private(set) var count = 0
    private var newest: String?

    init(configPath: String, first: Date) throws {
        config = try ConfigLoader.load(path: configPath)
        signingKey = try KeyStore(directory: config.keysDirectory).signingKey {
            throw BenchError("the scale benchmark's signing key is unencrypted; nothing should ask for its password")
        }
        self.first = first
        archive = config.repository + "-archive"
        try FileManager.default.createDirectory(atPath: archive + "/" + bundlesFolder, withIntermediateDirectories: true)
    }

    private var bundlesFolder: String { "bundles/\(config.environment.rawValue)" }

    /// The time bundle `index` (from 0) is made at.
    func time(of index: Int) -> Date { first.addingTimeInterval(Double(index) * 3600) }

    /// Takes snapshots until the local repository holds `target` bundles.
    func extend(to target: Int) throws {
        var environment = ProcessInfo.processInfo.environment
        while count < target {
            environment["COFFER_NOW"] = Clock.format(time(of: count))
            let operation = SnapshotOperation(config: config, environment: environment, progress: SilentProgress())
            let result = try operation.run(label: nil, signingKey: signingKey)
            // A warning (a journal event not written, say) would make the repository less than genuine.
            guard result.warnings.isEmpty else {
                throw BenchError("snapshot \(count + 1) of the scale repository warned: \(result.warnings.joined(separator: "; "))")
            }
            if let newest {
                try FileManager.default.moveItem(
                    atPath: "\(config.repository)/\(bundlesFolder)/\(newest)", toPath: "\(archive)/\(bundlesFolder)/\(newest)")
            }
            newest = result.manifest.id
            count += 1
        }
    }

    /// Copies every object of the local repository to `storage`, `workers`
    /// requests at a time; within a bundle the manifest goes last and within a
    /// journal event the signature first, as coffer writes them. Hidden names
    /// (a bundle being written or deleted) are not objects. Returns how many were copied.
    func upload(to storage: any Storage, workers: Int = 8) throws -> Int {
        var groups: [String: [String]] = [:]
        var files: [String: String] = [:]  // object key -> local path
        for root in [archive, config.repository] {
            guard let walker = FileManager.default.enumerator(atPath: root) else { throw BenchError("cannot read \(root)") }
            while let relative = walker.nextObject() as? String {
                let parts = relative.split(separator: "/")
                guard !parts.contains(where: { $0.hasPrefix(".") }) else { continue }
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isFolder), !isFolder.boolValue else { continue }
                // bundles/ENV/ID/... is one bundle; journal/ENV/N.json(.minisig) one event.
                let group = parts.first == "bundles" && parts.count > 3 ? parts.prefix(3).joined(separator: "/")
                    : parts.first == "journal" ? String(relative.prefix { $0 != "." }) : relative
                groups[group, default: []].append(relative)
                files[relative] = root + "/" + relative
            }
        }
        func rank(_ key: String) -> Int {
            key.hasSuffix("/manifest.json") ? 2 : key.hasSuffix("/manifest.json.minisig") ? 1 : key.hasSuffix(".minisig") ? 0 : 1
        }
        let work = groups.keys.sorted().map { groups[$0, default: []].sorted { (rank($0), $0) < (rank($1), $1) } }
        let queue = UploadQueue(work)
        let paths = files
        let done = DispatchGroup()
        for _ in 0..<workers {
            DispatchQueue.global().async(group: done) {
                while let keys = queue.next() {
                    do {
                        for key in keys {
                            guard let path = paths[key], let data = FileManager.default.contents(atPath: path) else {
                                throw BenchError("cannot read the scale repository's \(key)")
                            }
                            try storage.writeSmall(key, Array(data))
                        }
                        queue.finished(keys.count)
                    } catch {
                        queue.fail("\(error)")
                    }
                }
            }
        }
        done.wait()
        return try queue.result()
    }
}

/// Groups of objects handed out to the upload workers, and what came of them.
private final class UploadQueue: Sendable {
    private struct State {
        var next = 0
        var uploaded = 0
        var failure: String?
    }

    private let groups: [[String]]
    private let state = Mutex(State())

    init(_ groups: [[String]]) { self.groups = groups }

    /// The next group, or nil when all are handed out or one failed.
    func next() -> [String]? {
        state.withLock { state in
            guard state.failure == nil, state.next < groups.count else { return nil }
            defer { state.next += 1 }
            return groups[state.next]
        }
    }

    func finished(_ count: Int) { state.withLock { $0.uploaded += count } }

    func fail(_ message: String) { state.withLock { $0.failure = $0.failure ?? message } }

    func result() throws -> Int {
        try state.withLock { state in
            if let failure = state.failure { throw BenchError("uploading the scale repository: \(failure)") }
            return state.uploaded
        }
    }
}
