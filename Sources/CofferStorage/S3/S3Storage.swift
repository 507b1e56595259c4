#if canImport(Glibc)
import Glibc
#endif
import CofferFormat
import CofferSystem
import Dispatch
import NIOCore

/// A repository in an S3-compatible bucket (AWS S3, Google Cloud Storage's
/// interoperability endpoint, MinIO, Ceph, SeaweedFS), under a key prefix, laid
/// out exactly as a local repository: plain objects any S3 tool can fetch.
///
/// Memory stays bounded: uploads go in parts of `partSize` (two in memory at a
/// time) and downloads in ranges of `partSize` (one being read ahead).
public struct S3Storage: Storage {
    let client: S3Client
    let partSize: Int
    let listPageSize: Int

    /// How old an unpublished bundle or multipart upload must be before it counts as abandoned.
    public static let abandonedAfter: Int64 = 86_400

    /// `tls` says which certificates an https endpoint may present;
    /// `objectLock` locks every bundle object and journal event it writes.
    public init(
        location: S3Location, credentials: S3Credentials, credentialSource: String,
        retry: S3RetryPolicy = .init(), partSize: Int = 8 << 20, listPageSize: Int = 1000, tls: S3TLS = .system, objectLock: S3ObjectLock? = nil
    ) {
        self.init(
            location: location, credentials: credentials, credentialSource: credentialSource, retry: retry, partSize: partSize,
            listPageSize: listPageSize, tls: tls, objectLock: objectLock, clockOffset: 0)
    }

    init(
        location: S3Location, credentials: S3Credentials, credentialSource: String, retry: S3RetryPolicy, partSize: Int, listPageSize: Int,
        tls: S3TLS = .system, objectLock: S3ObjectLock? = nil, clockOffset: Int64
    ) {
        client = S3Client(
            location: location, credentials: credentials, credentialSource: credentialSource, retry: retry, tls: tls, objectLock: objectLock,
            clockOffset: clockOffset)
        self.partSize = max(partSize, 5 << 20)
        self.listPageSize = listPageSize
    }

    public var location: String { client.location.description }

    public func beginBundle(at prefix: String) throws -> any BundleWriter {
        if !(try listObjects(under: prefix + "/", limit: 1)).isEmpty {
            throw StorageError(.exists, "\(location)/\(prefix) already exists")
        }
        return S3BundleWriter(client: client, prefix: prefix, partSize: partSize)
    }

    public func read(_ key: String, range: Range<Int64>?, into sink: ByteSink) throws {
        let start = range?.lowerBound ?? 0
        var next = start
        var end = range?.upperBound
        // Each range is fetched while the previous one is being consumed.
        var pending: Prefetch? = Prefetch { [self, end] in try fetch(key, from: start, end: end) }
        while let current = pending {
            let chunk = try current.result()
            // The object may end before the range does: then its end is the end (no request past it).
            end = min(end ?? chunk.total, chunk.total)
            let wanted = max(0, (end ?? 0) - next)
            // Never more than the range, even from a server that ignores Range and sends everything.
            let bytes = Int64(chunk.bytes.count) > wanted ? Array(chunk.bytes.prefix(Int(wanted))) : chunk.bytes
            next += Int64(bytes.count)
            let from = next, to = end
            pending = bytes.isEmpty || next >= (end ?? 0) ? nil : Prefetch { [self] in try fetch(key, from: from, end: to) }
            try bytes.withUnsafeBytes { try sink($0) }
        }
    }

    /// One ranged GET of at most `partSize` bytes starting at `offset`.
    private func fetch(_ key: String, from offset: Int64, end: Int64?) throws -> S3StorageChunk {
        var last = offset + Int64(partSize) - 1
        if let end { last = min(last, end - 1) }
        let response = try client.send(.GET, key: key, headers: [("range", "bytes=\(offset)-\(last)")], accept: [200, 206, 416])
        switch response.status {
        case 416:
            // Only an empty object has no byte 0.
            return S3StorageChunk(bytes: [], total: 0)
        case 206:
            let total = response.header("Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) }
            return S3StorageChunk(bytes: response.body, total: total ?? offset + Int64(response.body.count))
        default:
            // A server that ignores Range sends the whole object.
            return S3StorageChunk(bytes: Array(response.body.dropFirst(Int(offset))), total: Int64(response.body.count))
        }
    }

    /// One GET of the first `limit + 1` bytes: a larger object is refused
    /// without being downloaded (`Content-Range` gives its size).
    public func readSmall(_ key: String, limit: Int) throws -> [UInt8]? {
        let response = try client.send(.GET, key: key, headers: [("range", "bytes=0-\(limit)")], accept: [200, 206, 404, 416])
        switch response.status {
        case 404:
            let error = client.error(for: response, what: "GET \(location)/\(key)")
            guard error.kind == .notFound else { throw error }
            return nil
        case 416:
            // Only an empty object has no byte 0.
            return []
        default:
            let total = response.status == 206
                ? response.header("Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) } ?? Int64(response.body.count)
                : Int64(response.body.count)
            guard total <= Int64(limit), response.body.count <= limit else {
                throw StorageError(.invalid, "\(location)/\(key) is \(total) bytes, more than the \(limit) expected")
            }
            return response.body
        }
    }

    public func writeSmall(_ key: String, _ bytes: [UInt8]) throws {
        _ = try client.putSmall(key, bytes)
    }

    /// A PUT with `If-None-Match: *`: the server refuses it (412) when the key exists.
    public func createSmall(_ key: String, _ bytes: [UInt8]) throws {
        _ = try client.putSmall(key, bytes, headers: [("if-none-match", "*")])
    }

    public func writeStream(_ key: String, _ produce: (ByteSink) throws -> Void) throws {
        try S3ObjectUpload.upload(client: client, key: key, partSize: partSize, produce)
    }

    public func writeUnsynced(_ key: String, _ bytes: [UInt8]) throws {
        _ = try client.putSmall(key, bytes)
    }

    public func syncWrites() throws {}

    public func objects(under prefix: String) throws -> [StoredObject] {
        try listObjects(under: prefix + "/").filter { !$0.key.hasSuffix("/") }.map { StoredObject(key: $0.key, size: $0.size, modified: $0.modified) }
            .sorted { $0.key < $1.key }
    }

    public func delete(_ key: String) throws {
        _ = try client.send(.DELETE, key: key, accept: [200, 204, 404])
    }

    public func children(of prefix: String) throws -> [String] {
        var names: Set<String> = []
        try list(prefix: prefix.isEmpty ? "" : prefix + "/", delimiter: "/") { page in
            for folder in page.elements("CommonPrefixes") {
                if let name = folder.value("Prefix") { names.insert(Self.lastComponent(client.location.relativeKey(name))) }
            }
            for object in page.elements("Contents") {
                if let name = object.value("Key") { names.insert(Self.lastComponent(client.location.relativeKey(name))) }
            }
        }
        return names.filter { !$0.isEmpty && !$0.hasPrefix(".") }.sorted()
    }

    public func size(of key: String) throws -> Int64? {
        let response = try client.send(.HEAD, key: key, accept: [200, 404])
        guard response.status == 200 else { return nil }
        return response.header("Content-Length").flatMap { Int64($0) }
    }

    /// Lists without a delimiter, so folders (which SeaweedFS keeps, empty,
    /// after their objects are deleted) are not objects; keys ending in `/`
    /// (folder markers some tools write) are not either.
    public func containsObjects(under prefix: String) throws -> Bool {
        var found = false
        try list(prefix: prefix + "/", delimiter: nil) { page in
            found = page.elements("Contents").contains { object in object.value("Key").map { !$0.hasSuffix("/") } ?? false }
            return !found
        }
        return found
    }

    /// Deletes the manifest first: from then on the bundle does not exist, and
    /// an interrupted delete leaves only invisible leftovers for `prune`. On a
    /// versioned bucket every version goes, the manifest's first.
    public func deleteBundle(at prefix: String) throws {
        let manifest = "\(prefix)/\(BundleLayout.manifestName)"
        if try client.protection().versioned {
            let versions = try objectVersions(under: prefix + "/")
            for version in versions.filter({ $0.key == manifest }) + versions.filter({ $0.key != manifest }) {
                try deleteObject(version.key, version: version.id)
            }
            return
        }
        let keys = try listObjects(under: prefix + "/").map(\.key)
        for key in keys.filter({ $0 == manifest }) + keys.filter({ $0 != manifest }) {
            try deleteObject(key, version: nil)
        }
    }

    /// One DELETE (of one version when `version` is set); a refusal names the object.
    func deleteObject(_ key: String, version: String?) throws {
        do {
            _ = try client.send(.DELETE, key: key, query: version.map { [("versionId", $0)] } ?? [], accept: [200, 204, 404])
        } catch let error as StorageError where error.kind == .denied {
            throw StorageError(
                .denied,
                "the S3 server refused to delete \(location)/\(key)\(version.map { " (version \($0))" } ?? ""): access denied, by an Object Lock retention or legal hold, or by a policy that grants \(client.credentialSource) no delete")
        }
    }

    public func availableBytes() throws -> Int64? { nil }

    public func checkWritable() throws {
        let key = ".coffer-probe/\(ProcessIdentity.hostName)-\(getpid())"
        _ = try client.send(.PUT, key: key, body: ByteBuffer(string: "probe\n"))
        do {
            _ = try client.send(.DELETE, key: key, accept: [200, 204, 404])
        } catch let error as StorageError where error.kind == .denied {
            // A credential that may write but not delete: what an immutable repository wants.
        }
    }

    public func protection() throws -> BucketProtection? { try client.protection() }

    /// Deletes bundles that never got their manifest and multipart uploads that
    /// were never completed, once they are older than `abandonedAfter`.
    public func removeAbandonedWrites(now: Int64) throws -> Int {
        let cutoff = now - Self.abandonedAfter
        var bundles: [String: (published: Bool, newest: Int64, keys: [String])] = [:]
        for object in try listObjects(under: "bundles/") {
            let parts = object.key.split(separator: "/", maxSplits: 3)
            guard parts.count == 4 else { continue }
            let prefix = parts[0...2].joined(separator: "/")
            var entry = bundles[prefix] ?? (false, 0, [])
            entry.published = entry.published || parts[3] == BundleLayout.manifestName
            entry.newest = max(entry.newest, object.modified)
            entry.keys.append(object.key)
            bundles[prefix] = entry
        }
        var removed = 0
        for (prefix, entry) in bundles where !entry.published && entry.newest < cutoff {
            do {
                try deleteBundle(at: prefix)
                removed += 1
            } catch let error as StorageError where error.kind == .denied {
                // Locked or refused by policy: invisible anyway; the next prune tries again.
            }
        }
        for upload in try multipartUploads() where upload.initiated < cutoff {
            _ = try client.send(.DELETE, key: upload.key, query: [("uploadId", upload.id)], accept: [200, 204, 404])
            removed += 1
        }
        return removed
    }

    struct ObjectInfo {
        var key: String
        var size: Int64
        var modified: Int64
    }

    /// Every object under `prefix` (repository-relative keys), up to `limit`.
    func listObjects(under prefix: String, limit: Int = .max) throws -> [ObjectInfo] {
        var objects: [ObjectInfo] = []
        try list(prefix: prefix, delimiter: nil, maxKeys: min(limit, listPageSize)) { page in
            for object in page.elements("Contents") {
                guard let key = object.value("Key") else { continue }
                objects.append(
                    ObjectInfo(
                        key: client.location.relativeKey(key), size: object.value("Size").flatMap { Int64($0) } ?? 0,
                        modified: object.value("LastModified").flatMap(UTCTime.parseISO8601)?.seconds ?? 0))
            }
            return objects.count < limit
        }
        return objects
    }

    /// Multipart uploads under the repository prefix that were started and neither completed nor aborted.
    func multipartUploads() throws -> [(key: String, id: String, initiated: Int64)] {
        var uploads: [(key: String, id: String, initiated: Int64)] = []
        var marker: (key: String, id: String)? = nil
        repeat {
            var query = [("uploads", ""), ("prefix", client.location.objectKey("bundles/"))]
            if let marker { query += [("key-marker", marker.key), ("upload-id-marker", marker.id)] }
            let page = S3XML(try client.send(.GET, key: nil, query: query).body)
            for upload in page.elements("Upload") {
                guard let key = upload.value("Key"), let id = upload.value("UploadId") else { continue }
                uploads.append((client.location.relativeKey(key), id, upload.value("Initiated").flatMap(UTCTime.parseISO8601)?.seconds ?? 0))
            }
            marker = nil
            if page.value("IsTruncated") == "true", let key = page.value("NextKeyMarker"), let id = page.value("NextUploadIdMarker") {
                marker = (key, id)
            }
        } while marker != nil
        return uploads
    }

    /// ListObjectsV2, page by page (`IsTruncated` and continuation tokens);
    /// `page` returns false to stop early.
    private func list(prefix: String, delimiter: String?, maxKeys: Int? = nil, _ page: (S3XML) throws -> Bool) throws {
        var token: String? = nil
        repeat {
            var query = [("list-type", "2"), ("prefix", client.location.objectKey(prefix)), ("max-keys", String(maxKeys ?? listPageSize))]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let document = S3XML(try client.send(.GET, key: nil, query: query).body)
            guard try page(document) else { return }
            token = document.value("IsTruncated") == "true" ? document.value("NextContinuationToken") : nil
        } while token != nil
    }

    private func list(prefix: String, delimiter: String?, _ page: (S3XML) throws -> Void) throws {
        try list(prefix: prefix, delimiter: delimiter) { try page($0); return true }
    }

    private static func lastComponent(_ key: String) -> String {
        String(key.split(separator: "/").last ?? "")
    }
}

/// Bytes of one ranged GET, and the size of the whole object.
private struct S3StorageChunk: Sendable {
    var bytes: [UInt8]
    var total: Int64
}

/// A value computed on another thread, waited for when needed.
private final class Prefetch: @unchecked Sendable {
    // @unchecked: `value` is written once by the worker before `ready` is signalled
    // and read only after waiting for it.
    private var value: Result<S3StorageChunk, any Error>?
    private let ready = DispatchSemaphore(value: 0)
    private var waited = false

    init(_ work: @escaping @Sendable () throws -> S3StorageChunk) {
        DispatchQueue.global().async { [self] in
            value = Result { try work() }
            ready.signal()
        }
    }

    func result() throws -> S3StorageChunk {
        if !waited {
            ready.wait()
            waited = true
        }
        return try value!.get()
    }

    deinit {
        // Never leave a fetch running past its reader.
        if !waited { ready.wait() }
    }
}
