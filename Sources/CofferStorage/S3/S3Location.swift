/// Which bucket and prefix a repository lives in, on which server, and how the
/// server wants buckets addressed.
public struct S3Location: Sendable {
    public let bucket: String
    /// Key prefix of the repository inside the bucket, without slashes at either end ("" for the bucket root).
    public let prefix: String
    public let region: String
    /// `http` or `https`.
    let scheme: String
    /// The server's host, with `:port` when the port is not the scheme's default.
    let endpointHost: String
    /// Path-style (`host/bucket/key`: MinIO, SeaweedFS, Ceph) or virtual-host
    /// (`bucket.host/key`: AWS, Google Cloud Storage).
    let pathStyle: Bool

    /// `repository` is `s3://bucket[/prefix]`; `endpoint` is `http[s]://host[:port]`.
    public init(repository: String, endpoint: String, region: String, pathStyle: Bool) throws {
        guard repository.hasPrefix("s3://") else {
            throw StorageError(.config, "\(repository) is not an s3://bucket/prefix address")
        }
        let path = repository.dropFirst("s3://".count).split(separator: "/", omittingEmptySubsequences: true)
        guard let bucket = path.first.map(String.init), Self.isValidBucket(bucket) else {
            throw StorageError(
                .config, "\(repository): the bucket name must be 3 to 63 lower-case letters, digits, dots or hyphens (s3://bucket/prefix)")
        }
        self.bucket = bucket
        self.prefix = path.dropFirst().joined(separator: "/")
        self.region = region
        let parts = endpoint.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, ["http", "https"].contains(parts[0]) else {
            throw StorageError(.config, "[s3] endpoint \(endpoint) must start with http:// or https://")
        }
        scheme = String(parts[0])
        var host = parts[1]
        while host.hasSuffix("/") { host = host.dropLast() }
        guard !host.isEmpty, !host.contains("/") else {
            throw StorageError(.config, "[s3] endpoint \(endpoint) must be a server address without a path (https://host[:port])")
        }
        if scheme == "http" && host.hasSuffix(":80") { host = host.dropLast(3) }
        if scheme == "https" && host.hasSuffix(":443") { host = host.dropLast(4) }
        endpointHost = String(host)
        self.pathStyle = pathStyle
    }

    /// The endpoint's host (without brackets) and port (the scheme's default when none is given).
    var hostAndPort: (host: String, port: Int) {
        let fallback = scheme == "https" ? 443 : 80
        if endpointHost.hasPrefix("["), let close = endpointHost.firstIndex(of: "]") {
            let host = String(endpointHost[endpointHost.index(after: endpointHost.startIndex)..<close])
            return (host, Int(endpointHost[close...].dropFirst(2)) ?? fallback)
        }
        let parts = endpointHost.split(separator: ":")
        return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? fallback) : (endpointHost, fallback)
    }

    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.count)
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x2d }
    }

    /// `s3://bucket/prefix`, for messages.
    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }

    /// The object key of a repository-relative key.
    func objectKey(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix)/\(key)" }

    /// The repository-relative key of an object key under the prefix.
    func relativeKey(_ objectKey: String) -> String {
        prefix.isEmpty ? objectKey : String(objectKey.dropFirst(prefix.count + 1))
    }

    /// Host header and request path for an object (or the bucket when `objectKey` is nil).
    func address(objectKey: String?) -> (host: String, path: String) {
        guard let objectKey else { return pathStyle ? (endpointHost, "/\(bucket)") : ("\(bucket).\(endpointHost)", "/") }
        return pathStyle ? (endpointHost, "/\(bucket)/\(objectKey)") : ("\(bucket).\(endpointHost)", "/\(objectKey)")
    }
}
