#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import CofferCrypto
import Dispatch
import NIOCore
import NIOHTTP1
import Synchronization

/// One S3 response, body whole (objects are read in bounded ranges).
struct S3Response: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// How often and how patiently a request is tried again after a 5xx, a 429 or
/// a broken connection.
public struct S3RetryPolicy: Sendable {
    public var attempts: Int
    /// Seconds before the first retry; doubled after each, up to `maximumDelay`.
    public var initialDelay: Double
    public var maximumDelay: Double

    public init(attempts: Int = 6, initialDelay: Double = 0.2, maximumDelay: Double = 5) {
        self.attempts = attempts
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }
}

/// Signed S3 requests, made synchronously (the storage protocol is blocking and
/// runs on worker threads) over async-http-client, with retries.
final class S3Client: Sendable {
    let location: S3Location
    private let signer: SigV4Signer
    private let http: HTTPClient
    private let retry: S3RetryPolicy
    /// Where the credentials come from, for messages ("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY").
    let credentialSource: String
    /// Seconds added to the clock when signing: only tests set it, to make the server see a skewed clock.
    private let clockOffset: Int64
    /// The retention of locked writes (`[s3] object_lock`), nil when off.
    let objectLock: S3ObjectLock?
    private let tls: S3TLS
    /// The bucket's protection, asked once per process (`protection()`).
    private let knownProtection = Mutex<BucketProtection?>(nil)

    init(
        location: S3Location, credentials: S3Credentials, credentialSource: String, retry: S3RetryPolicy, tls: S3TLS = .system,
        objectLock: S3ObjectLock? = nil, clockOffset: Int64 = 0
    ) {
        self.location = location
        self.clockOffset = clockOffset
        signer = SigV4Signer(credentials: credentials, region: location.region)
        self.retry = retry
        self.credentialSource = credentialSource
        self.objectLock = objectLock
        self.tls = tls
        http = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(
                tlsConfiguration: tls.configuration,
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .seconds(120)),
                connectionPool: Self.connectionPool))
    }

    /// A failed connection (refused, or a TLS handshake the certificate
    /// fails) comes back at once, not after the connect timeout: `send`
    /// retries what is worth retrying, and a refused certificate never is.
    private static var connectionPool: HTTPClient.Configuration.ConnectionPool {
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(30))
        pool.retryConnectionEstablishment = false
        return pool
    }

    /// The clock the server sees.
    var now: UTCTime { UTCTime(seconds: UTCTime.now().seconds + clockOffset) }

    /// The Object Lock headers of a write of `key` (none when it is not locked),
    /// and the checksum of `body` that S3 demands with them. The first locked
    /// write asks the bucket whether it can honour them at all.
    func lockHeaders(for key: String, body: UnsafeRawBufferPointer?) throws -> [(String, String)] {
        guard let objectLock, S3ObjectLock.covers(key) else { return [] }
        try requireObjectLock(objectLock)
        return objectLock.headers(now: now) + (body.map { [("x-amz-checksum-crc32", S3ObjectLock.checksum($0))] } ?? [])
    }

    /// A PUT of a small body, locked when `key` is.
    func putSmall(_ key: String, _ bytes: [UInt8], headers: [(String, String)] = []) throws -> S3Response {
        let lock = try bytes.withUnsafeBytes { try lockHeaders(for: key, body: $0) }
        return try send(.PUT, key: key, headers: headers + lock, body: ByteBuffer(bytes: bytes))
    }

    deinit {
        try? http.syncShutdown()
    }

    /// Sends one request. `key` is repository-relative (nil: the bucket itself).
    /// Statuses in `accept` are returned; any other becomes a `StorageError`.
    func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
        body: ByteBuffer? = nil, signPayload: Bool = true, accept: Set<Int> = [200]
    ) throws -> S3Response {
        let objectKey = key.map(location.objectKey)
        let (host, path) = location.address(objectKey: objectKey)
        let payloadHash = Self.payloadHash(body, signed: signPayload)
        let queryString = S3Encoding.query(query)
        let url = "\(location.scheme)://\(host)\(S3Encoding.path(path))\(queryString.isEmpty ? "" : "?" + queryString)"
        let what = "\(method.rawValue) \(objectKey.map { "s3://\(location.bucket)/\($0)" } ?? "s3://\(location.bucket)")"

        var attempt = 0
        var delay = retry.initialDelay
        while true {
            attempt += 1
            var lastProblem: String
            do {
                let signedHeaders = [("host", host)] + extra
                let added = signer.sign(
                    method: method.rawValue, path: path, query: query, headers: signedHeaders, payloadHash: payloadHash, time: now)
                var request = try HTTPClient.Request(
                    url: url, method: method, headers: HTTPHeaders(signedHeaders + added), body: body.map { .byteBuffer($0) })
                request.headers.replaceOrAdd(name: "Host", value: host)
                let result = try http.execute(request: request, delegate: BodyCollector(), deadline: .now() + .minutes(10)).wait()
                if accept.contains(result.status) { return result }
                guard result.status >= 500 || result.status == 429 else { throw error(for: result, what: what) }
                lastProblem = "HTTP \(result.status) \(S3XML(result.body).value("Code") ?? "")"
            } catch let failure as StorageError {
                throw failure
            } catch {
                if let reason = S3TLS.failure(error) { throw tlsError(reason, what: what) }
                lastProblem = Self.describe(error)
            }
            guard attempt < retry.attempts else {
                throw StorageError(
                    .io, "\(what) at \(location.scheme)://\(location.endpointHost) failed \(attempt) times, last: \(lastProblem); is the S3 server up?")
            }
            let jitter = Double.random(in: 0.8...1.2)
            usleep(UInt32(min(delay, retry.maximumDelay) * jitter * 1_000_000))
            delay *= 2
        }
    }

    /// Object Lock and versioning of the bucket, asked once and remembered.
    func protection() throws -> BucketProtection {
        if let known = knownProtection.withLock({ $0 }) { return known }
        let lock = try send(.GET, key: nil, query: [("object-lock", "")], accept: [200, 400, 404, 405, 501])
        var protection = BucketProtection(objectLockEnabled: false, versioning: nil)
        let document = S3XML(lock.body)
        switch lock.status {
        case 200:
            protection.objectLockEnabled = document.value("ObjectLockEnabled") == "Enabled"
            if let rule = document.elements("DefaultRetention").first, let mode = rule.value("Mode") {
                let period = rule.value("Days").map { "\($0) days" } ?? rule.value("Years").map { "\($0) years" } ?? "?"
                protection.defaultRetention = "\(mode) \(period)"
            }
        case 404 where document.value("Code") == "ObjectLockConfigurationNotFoundError":
            break
        case 404:
            throw error(for: lock, what: "GET s3://\(location.bucket)?object-lock")
        default:
            protection.unsupported = "the server does not implement Object Lock (HTTP \(lock.status) \(document.value("Code") ?? ""))"
        }
        let versioning = try send(.GET, key: nil, query: [("versioning", "")], accept: [200, 400, 405, 501])
        if versioning.status == 200 { protection.versioning = S3XML(versioning.body).value("Status").flatMap { $0.isEmpty ? nil : $0 } }
        knownProtection.withLock { $0 = protection }
        return protection
    }

    /// Refuses a locked write to a bucket that cannot keep the lock.
    private func requireObjectLock(_ lock: S3ObjectLock) throws {
        let protection = try protection()
        guard !protection.objectLockEnabled else { return }
        let why = protection.unsupported ?? "its Object Lock is not enabled"
        throw StorageError(
            .config,
            "[s3] object_lock = \"\(lock.mode.rawValue)\" is set, but bucket \(location.bucket) at \(location.scheme)://\(location.endpointHost) cannot keep locks: \(why). "
                + "Nothing was written. Create a bucket with Object Lock (aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket) and point `repository` at it, or remove object_lock")
    }

    /// The same certificate would come back on every retry: refused at once.
    private func tlsError(_ reason: String, what: String) -> StorageError {
        let (host, port) = location.hostAndPort
        guard reason == S3TLS.verifyFailed || reason == S3TLS.hostMismatch else {
            return StorageError(.config, "\(what): the TLS connection to \(location.endpointHost) failed: \(reason)")
        }
        let why = S3TLSDiagnosis.reason(host: host, port: port, now: UTCTime.now().seconds) ?? reason
        let trusted = tls.caFile.map { "the system trust store and [s3] ca_file \($0)" } ?? "the system trust store"
        return StorageError(
            .config,
            "\(what): the TLS certificate of \(location.endpointHost) was refused: \(why). Checked against \(trusted); nothing was sent. "
                + (tls.caFile == nil
                    ? "If a private CA signed it, name that CA's PEM certificate in [s3] ca_file"
                    : "Renew the server's certificate, or name the CA that signed it in [s3] ca_file"))
    }

    /// A clear error for a refused request: what failed, S3's code and message, and what to do.
    func error(for response: S3Response, what: String) -> StorageError {
        let document = S3XML(response.body)
        let code = document.value("Code") ?? "HTTP \(response.status)"
        let message = document.value("Message").map { ": \($0)" } ?? ""
        let server = "\(location.scheme)://\(location.endpointHost)"
        switch code {
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
            return StorageError(
                .denied, "the S3 server at \(server) rejected the credentials (\(code)) for \(what); check \(credentialSource)")
        case "AccessDenied":
            return StorageError(.denied, "\(what): access denied (\(code)); the credentials in \(credentialSource) lack this permission")
        case "NoSuchBucket":
            return StorageError(
                .config, "bucket \(location.bucket) does not exist at \(server); create it or correct `repository` (\(location.description))")
        case "RequestTimeTooSkewed":
            return StorageError(
                .io, "\(what): the S3 server says this machine's clock is too far from its own (\(code)); set the clock right (NTP) and retry")
        case "NoSuchKey":
            return StorageError(.notFound, "\(what): no such object")
        case "PreconditionFailed":
            return StorageError(.exists, "\(what): the object already exists and is never replaced")
        default:
            if response.status == 404 { return StorageError(.notFound, "\(what): not found (\(code))") }
            if response.status == 401 || response.status == 403 {
                // HEAD answers carry no body to say more.
                return StorageError(.denied, "\(what): refused (HTTP \(response.status)); check the credentials in \(credentialSource) and their permissions")
            }
            if response.status == 412 { return StorageError(.exists, "\(what): the object already exists and is never replaced") }
            return StorageError(.io, "\(what) failed: HTTP \(response.status) \(code)\(message)")
        }
    }

    /// The digest to sign for a body: its SHA-256, or for the large bodies of
    /// streamed uploads `UNSIGNED-PAYLOAD` (their SHA-256 is in the signed
    /// manifest and checked on every read, and hashing each part again would
    /// cost a core's worth of time).
    static func payloadHash(_ body: ByteBuffer?, signed: Bool) -> String {
        guard let body else { return SigV4Signer.emptyPayloadHash }
        guard signed else { return "UNSIGNED-PAYLOAD" }
        return body.withUnsafeReadableBytes { bytes in
            var hasher = SHA256()
            hasher.update(bytes)
            return hexString(hasher.finalize())
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }
}

/// Gathers a response body into one array sized from Content-Length, so a
/// ranged read of N bytes holds N bytes (not a doubling buffer plus a copy).
private final class BodyCollector: HTTPClientResponseDelegate, @unchecked Sendable {
    // @unchecked: AsyncHTTPClient calls a delegate from one event loop, one call at a time,
    // and the result is read only after the request finished.
    typealias Response = S3Response
    private var status = 0
    private var headers = HTTPHeaders()
    private var body: [UInt8] = []

    func didReceiveHead(task: HTTPClient.Task<S3Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = Int(head.status.code)
        headers = head.headers
        if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length < 1 << 30 { body.reserveCapacity(length) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<S3Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        body.append(contentsOf: buffer.readableBytesView)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<S3Response>) throws -> S3Response {
        S3Response(status: status, headers: headers, body: body)
    }
}
