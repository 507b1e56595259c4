import CofferCrypto
import Testing

@testable import CofferStorage

@Suite("AWS Signature Version 4")
struct SigV4Tests {
    // The examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    let signer: SigV4Signer = {
        var secret = Array("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".utf8)
        return SigV4Signer(
            credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secret: SecureBytes(wiping: &secret), sessionToken: nil),
            region: "us-east-1")
    }()
    let time = UTCTime(seconds: 1_369_353_600)  // 2013-05-24T00:00:00Z

    func authorization(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "Authorization" }?.1
    }

    @Test("GET object with a range")
    func getObject() {
        let headers = signer.sign(
            method: "GET", path: "/test.txt", query: [], headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash, time: time)
        #expect(
            authorization(headers)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    @Test("PUT object: a key with a character that must be encoded, and a signed payload")
    func putObject() {
        let payload = hexString(SHA256.hash(Array("Welcome to Amazon S3.".utf8)))
        let headers = signer.sign(
            method: "PUT", path: "/test$file.text", query: [],
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ], payloadHash: payload, time: time)
        #expect(authorization(headers)?.hasSuffix("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    @Test("GET with a query: ListObjects and lifecycle")
    func queries() {
        let lifecycle = signer.sign(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [("Host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4Signer.emptyPayloadHash, time: time)
        #expect(authorization(lifecycle)?.hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
        let list = signer.sign(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: [("Host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4Signer.emptyPayloadHash, time: time)
        #expect(authorization(list)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test("URI encoding keeps unreserved characters and slashes only")
    func encoding() {
        #expect(S3Encoding.path("/a b/ü+$~_.-") == "/a%20b/%C3%BC%2B%24~_.-")
        #expect(S3Encoding.query([("prefix", "x/y"), ("delimiter", "/"), ("uploads", "")]) == "delimiter=%2F&prefix=x%2Fy&uploads=")
    }

    @Test("times in SigV4 and ISO 8601 shapes")
    func times() {
        #expect(time.basic == "20130524T000000Z")
        #expect(time.day == "20130524")
        #expect(UTCTime.parseISO8601("2013-05-24T00:00:00.000Z") == time)
        #expect(UTCTime.parseISO8601("2026-11-28T19:21:57Z")?.basic == "20261128T192157Z")
        #expect(UTCTime.parseISO8601("yesterday") == nil)
    }

    @Test("S3's XML: elements by name, entities decoded")
    func xml() {
        let document = S3XML(Array("<R><Contents><Key>a&amp;b&lt;c&#x41;</Key></Contents><Contents><Key>d</Key></Contents><IsTruncated>false</IsTruncated></R>".utf8))
        #expect(document.elements("Contents").compactMap { $0.value("Key") } == ["a&b<cA", "d"])
        #expect(document.value("IsTruncated") == "false")
        #expect(document.value("Missing") == nil)
    }

    @Test("repository addresses: path-style and virtual-host, prefixes, bad input")
    func locations() throws {
        let path = try S3Location(repository: "s3://backups/team/app/", endpoint: "http://127.0.0.1:8333/", region: "us-east-1", pathStyle: true)
        #expect(path.prefix == "team/app")
        #expect(path.objectKey("coffer.json") == "team/app/coffer.json")
        #expect(path.address(objectKey: "team/app/coffer.json") == ("127.0.0.1:8333", "/backups/team/app/coffer.json"))
        #expect(path.address(objectKey: nil) == ("127.0.0.1:8333", "/backups"))
        let virtual = try S3Location(repository: "s3://backups", endpoint: "https://s3.eu-west-1.amazonaws.com:443", region: "eu-west-1", pathStyle: false)
        #expect(virtual.prefix == "")
        #expect(virtual.address(objectKey: "coffer.json") == ("backups.s3.eu-west-1.amazonaws.com", "/coffer.json"))
        #expect(virtual.address(objectKey: nil) == ("backups.s3.eu-west-1.amazonaws.com", "/"))
        #expect(throws: StorageError.self) { try S3Location(repository: "s3://Bad_Bucket/x", endpoint: "http://h", region: "r", pathStyle: true) }
        #expect(throws: StorageError.self) { try S3Location(repository: "s3://good", endpoint: "ftp://h", region: "r", pathStyle: true) }
        #expect(throws: StorageError.self) { try S3Location(repository: "s3://good", endpoint: "http://h/path", region: "r", pathStyle: true) }
    }
}
