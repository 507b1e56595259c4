import CofferCrypto

/// Credentials for S3. The secret lives in locked memory and is wiped when the
/// credentials go; it never appears in a description, a log line or an error.
public final class S3Credentials: Sendable {
    public let accessKey: String
    let secret: SecureBytes
    public let sessionToken: String?

    public init(accessKey: String, secret: consuming SecureBytes, sessionToken: String?) {
        self.accessKey = accessKey
        self.secret = secret
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 for S3, with the signature in the Authorization header.
///
/// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
struct SigV4Signer: Sendable {
    let credentials: S3Credentials
    let region: String
    let service = "s3"

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`,
    /// the session token if any, and `Authorization`. `headers` are the ones the
    /// request already carries; every one of them (host included) is signed.
    func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String, time: UTCTime
    ) -> [(String, String)] {
        var signed = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }
        signed.append(("x-amz-date", time.basic))
        signed.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed.sort { $0.0 < $1.0 }

        let signedHeaderNames = signed.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method,
            S3Encoding.path(path),
            S3Encoding.query(query),
            signed.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaderNames,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(time.day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", time.basic, scope, hexString(SHA256.hash(Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let signature = hexString(hmac(signingKey(day: time.day), stringToSign))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signedHeaderNames), Signature=\(signature)"
        var added = [("x-amz-date", time.basic), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        added.append(("Authorization", authorization))
        return added
    }

    private func signingKey(day: String) -> [UInt8] {
        var dayKey = credentials.secret.withUnsafeBytes { secret in
            var prefixed = Array("AWS4".utf8) + Array(secret)
            defer { prefixed.withUnsafeMutableBytes(secureWipe) }
            return hmac(prefixed, day)
        }
        var regionKey = hmac(dayKey, region)
        var serviceKey = hmac(regionKey, service)
        defer {
            dayKey.withUnsafeMutableBytes(secureWipe)
            regionKey.withUnsafeMutableBytes(secureWipe)
            serviceKey.withUnsafeMutableBytes(secureWipe)
        }
        return hmac(serviceKey, "aws4_request")
    }

    private func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        key.withUnsafeBytes { key in
            Array(message.utf8).withUnsafeBytes { HMACSHA256.authenticate(key: key, $0) }
        }
    }

    private static func trim(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// SHA-256 of an empty body, the payload hash of every GET, HEAD and DELETE.
    static let emptyPayloadHash = hexString(SHA256.hash([]))
}

/// Percent-encoding as SigV4 and S3 want it: everything but RFC 3986's unreserved characters.
enum S3Encoding {
    static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + hexString([byte]).uppercased()
            }
        }
        return out
    }

    /// A path with each segment encoded and the slashes kept.
    static func path(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { component(String($0)) }.joined(separator: "/")
    }

    /// A query string with keys and values encoded, sorted by key.
    static func query(_ items: [(String, String)]) -> String {
        items.map { (component($0.0), component($0.1)) }.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }
}
