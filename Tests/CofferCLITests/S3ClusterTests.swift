import Foundation
import Testing

/// coffer against a real SeaweedFS cluster (scripts/s3-cluster.sh), with real parts of it lost: a volume server
/// stopped or killed, the gateway restarted. A fault proxy in front of the gateway only holds an upload still at a
/// known point, so the fault lands mid-upload every time; the faults themselves are real.
@Suite("coffer on a SeaweedFS cluster (master, three volume servers, replication 001, filer, gateway)", .serialized)
struct S3ClusterTests {
    @Test("snapshot, verify --deep and restore through the cluster: the restored database is the one snapshotted")
    func endToEnd() throws {
        try withClusterProject(rows: 300) { ws, cluster, _ in
            let env = cluster.credentials
            let before = try databaseDigest(ws)
            let snapshot = try ws.coffer("snapshot", environment: env)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let id = try #require(snapshot.stdout.split(separator: "\n").last.map(String.init))
            #expect(try listedBundles(ws, cluster) == [id])
            try expectVerifies(ws, cluster)

            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            #expect(try databaseDigest(ws) != before)
            let restored = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try databaseDigest(ws) == before)
        }
    }

    @Test("every needle of a bundle is on two volume servers; with one of them stopped, restore reads the replicas")
    func restoreWithAVolumeServerDown() throws {
        try withClusterProject(rows: 3_000) { ws, cluster, prefix in
            try ws.pinFormatOne()
            let env = cluster.credentials
            let before = try databaseDigest(ws)
            let snapshot = try ws.coffer("snapshot", environment: env)
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            let id = try #require(snapshot.stdout.split(separator: "\n").last.map(String.init))

            // Replication 001 as the master records it: each volume holding a chunk of the bundle's artifacts has
            // two copies, on two different volume servers.
            let objects = try cluster.chunkVolumes(under: "\(prefix)/bundles/development/\(id)/artifacts")
            let payloads = objects.filter { $0.key.hasSuffix("-payload") }
            try #require(payloads.count == 2 && payloads.values.allSatisfy { !$0.isEmpty }, "payload chunks: \(objects)")
            var copies: [Int: [String]] = [:]
            for volume in objects.values.reduce(into: Set<Int>(), { $0.formUnion($1) }) {
                copies[volume] = try cluster.locations(ofVolume: volume)
            }
            #expect(copies.values.allSatisfy { Set($0).count == 2 }, "volume copies: \(copies)")

            // Stop a volume server that holds a copy of the database payload's first chunk: the restore must read that
            // chunk from the other copy.
            let databasePayload = try #require(payloads.first { $0.key.hasPrefix("app.") }?.value.min())
            let holder = try #require(copies[databasePayload]?.first)
            let stopped = try #require(cluster.number(of: holder), "\(holder) is not one of \(cluster.volumes)")
            try cluster.control("stop-volume", "\(stopped)")
            #expect(try cluster.locations(ofVolume: databasePayload).allSatisfy { $0 != holder })

            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            let restored = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try databaseDigest(ws) == before)
            try expectVerifies(ws, cluster)

            try cluster.control("start-volume", "\(stopped)")
            #expect(try cluster.locations(ofVolume: databasePayload).contains(holder))
        }
    }

    @Test("a volume server killed (-9) mid-upload: the snapshot completes and verifies, or fails clearly leaving nothing; the next one succeeds")
    func volumeServerKilledMidUpload() throws {
        let cluster = try S3Cluster.require()
        let proxy = try CLIFaultProxy(server: cluster.gateway)
        try withClusterProject(endpoint: proxy.endpoint, rows: 20_000) { ws, cluster, prefix in
            try ws.pinFormatOne()
            // The volume server holding the first copy of the volume the first part went to: the kill takes away a
            // copy of data the bundle needs, and a server the upload is writing to.
            let outcome = try snapshotThroughFault(ws, cluster, proxy, prefix) {
                let victim = try victimHoldingAnUploadedPart(cluster, prefix)
                try cluster.control("kill-volume", "\(victim)")
            }
            print("S3ClusterTests: the snapshot with a volume server killed mid-upload \(outcome)")
            if case .failed = outcome {
                // The gateway stayed up: the failed snapshot could abort its multipart upload.
                #expect(try !cluster.openUploads(under: prefix).contains("UploadId"), "a failed snapshot left its multipart upload open")
            }
            // With one volume server gone, the next snapshot goes to the other two; then with all three.
            let next = try ws.coffer("snapshot", environment: cluster.credentials)
            #expect(next.status == 0, "after \(outcome): \(next.stderr)")
            try expectVerifies(ws, cluster)
            try cluster.control("repair")
            let again = try ws.coffer("snapshot", environment: cluster.credentials)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try ws.coffer("audit", environment: cluster.credentials).status == 0)
        }
    }

    @Test("the gateway restarted mid-upload: the snapshot completes and verifies, or fails clearly leaving nothing; the next one succeeds")
    func gatewayRestartedMidUpload() throws {
        let cluster = try S3Cluster.require()
        let proxy = try CLIFaultProxy(server: cluster.gateway)
        try withClusterProject(endpoint: proxy.endpoint, rows: 20_000) { ws, cluster, prefix in
            try ws.pinFormatOne()
            let outcome = try snapshotThroughFault(ws, cluster, proxy, prefix) {
                try cluster.control("restart-gateway")
            }
            print("S3ClusterTests: the snapshot with the gateway restarted mid-upload \(outcome)")
            // The held part was on a connection to the old gateway: it must have died with it.
            #expect(proxy.log.contains("upstream gone after the hold"), "\(proxy.log)")
            let next = try ws.coffer("snapshot", environment: cluster.credentials)
            #expect(next.status == 0, "after \(outcome): \(next.stderr)")
            try expectVerifies(ws, cluster)
        }
    }

    @Test("the gateway down mid-upload for longer than the retries last: the snapshot fails clearly, nothing of it is visible, prune clears its upload, the next one succeeds")
    func gatewayDownLongerThanRetries() throws {
        let cluster = try S3Cluster.require()
        let proxy = try CLIFaultProxy(server: cluster.gateway)
        try withClusterProject(endpoint: proxy.endpoint, rows: 20_000) { ws, cluster, prefix in
            try ws.pinFormatOne()
            let env = cluster.credentials
            // Stopped while a part is held, started again only once the snapshot has given up.
            let outcome = try snapshotThroughFault(ws, cluster, proxy, prefix, fault: { try cluster.control("stop-gateway") }, recover: { try cluster.control("start-gateway") })
            guard case .failed(let message) = outcome else {
                Issue.record("the snapshot outlived a gateway that stayed down: \(outcome)")
                return
            }
            #expect(message.contains("is the S3 server up?"), "\(message)")
            // The gateway was down when the snapshot tried to abort its upload: it is left for prune, which removes
            // uploads a day old.
            let later = ["COFFER_NOW": "2099-01-01T00:00:00Z"].merging(env) { $1 }
            let prune = try ws.coffer("prune", environment: later)
            #expect(prune.status == 0, "\(prune.stderr)")
            #expect(try !cluster.openUploads(under: prefix).contains("UploadId"))
            let next = try ws.coffer("snapshot", environment: env)
            #expect(next.status == 0, "\(next.stderr)")
            try expectVerifies(ws, cluster)
        }
    }
}

/// What a snapshot under a fault did.
enum FaultOutcome: CustomStringConvertible {
    case completed(String)
    case failed(String)

    var description: String {
        switch self {
        case .completed(let id): "completed as \(id)"
        case .failed(let message): "failed: \(message)"
        }
    }
}

/// Runs `coffer snapshot` (20 MB: three parts of 8 MiB for the database payload), holds the second part 6 MiB in,
/// does `fault` while it is held, lets it go on, does `recover` once the snapshot ended, and checks the contract:
/// either exit 0 with a new bundle that `verify --deep` passes, or a non-zero exit with a message naming the S3
/// request, no new bundle listed and no object of a half bundle visible (`status` names none).
func snapshotThroughFault(
    _ ws: Workspace, _ cluster: S3Cluster, _ proxy: CLIFaultProxy, _ prefix: String, fault: () throws -> Void,
    recover: () throws -> Void = {}
) throws -> FaultOutcome {
    let env = cluster.credentials
    let earlier = try listedBundles(ws, cluster)
    let earlierObjects = try cluster.objectKeys(under: "\(prefix)/bundles/")
    try proxy.control(#"{"hold_after_bytes": 6291456, "hold_on": "partNumber=2"}"#)
    let snapshot = try RunningCoffer(ws, ["snapshot"], environment: env)
    let held = proxy.waitForHold(while: snapshot)
    do {
        try #require(held, "the snapshot never reached its second part: \(proxy.log)")
        try fault()
    } catch {
        try proxy.control("{}")
        _ = snapshot.wait()
        throw error
    }
    try proxy.control("{}")
    let result = snapshot.wait()
    try recover()

    let listed = try listedBundles(ws, cluster)
    if result.status == 0 {
        let id = try #require(result.stdout.split(separator: "\n").last.map(String.init))
        #expect(listed == earlier + [id], "\(listed)")
        try expectVerifies(ws, cluster, id, "the bundle the faulted snapshot published does not verify: ")
        return .completed(id)
    }
    #expect(result.stderr.contains("s3://\(cluster.bucket)/\(prefix)"), "an unclear error: \(result.stderr)")
    #expect(listed == earlier, "a failed snapshot left a bundle: \(listed)")
    let objects = try cluster.objectKeys(under: "\(prefix)/bundles/")
    #expect(objects == earlierObjects, "a failed snapshot left objects: \(Set(objects).subtracting(earlierObjects))")
    let status = try ws.coffer("status", environment: env)
    #expect(!status.stdout.contains("has no manifest"), "\(status.stdout)")
    return .failed(result.stderr)
}

/// While a multipart upload under `prefix` is open: the volume server holding the first copy of the volume of its
/// first finished part's first chunk (the filer keeps parts under /buckets/BUCKET/.uploads/UPLOAD-ID/).
func victimHoldingAnUploadedPart(_ cluster: S3Cluster, _ prefix: String) throws -> Int {
    let uploads = try cluster.openUploads(under: prefix)
    let data = try #require(try JSONSerialization.jsonObject(with: Data(uploads.utf8)) as? [String: Any], "no open upload: \(uploads)")
    let ids = ((data["Uploads"] as? [[String: Any]]) ?? []).compactMap { $0["UploadId"] as? String }
    for id in ids {
        let parts = try cluster.chunkVolumes(under: ".uploads/\(id)")
        if let volume = parts.sorted(by: { $0.key < $1.key }).first(where: { !$0.value.isEmpty })?.value.min(),
            let holder = try cluster.locations(ofVolume: volume).first, let number = cluster.number(of: holder)
        {
            return number
        }
    }
    throw ClusterTestError("no finished part of an open upload under \(prefix): \(uploads)")
}

struct ClusterTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
