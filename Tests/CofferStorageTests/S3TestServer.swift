import CofferCrypto
import Foundation
import Testing

@testable import CofferStorage

/// The SeaweedFS server that `make test` starts (scripts/with-test-servers.sh)
/// and describes in COFFER_TEST_S3_* variables.
struct S3TestServer {
    let endpoint: String
    let bucket: String
    let accessKey: String
    let secretKey: String
    let readOnlyAccessKey: String
    let readOnlySecretKey: String
    let proxyScript: String

    static func require() throws -> S3TestServer {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: the S3 tests need the SeaweedFS server that `make test` starts")
        }
        return S3TestServer(
            endpoint: try value("COFFER_TEST_S3_ENDPOINT"), bucket: try value("COFFER_TEST_S3_BUCKET"),
            accessKey: try value("COFFER_TEST_S3_ACCESS_KEY"), secretKey: try value("COFFER_TEST_S3_SECRET_KEY"),
            readOnlyAccessKey: try value("COFFER_TEST_S3_RO_ACCESS_KEY"), readOnlySecretKey: try value("COFFER_TEST_S3_RO_SECRET_KEY"),
            proxyScript: try value("COFFER_TEST_S3_PROXY"))
    }

    /// A storage under a fresh prefix of the test bucket, so tests do not see each other.
    func storage(
        prefix: String = "t-" + UUID().uuidString.lowercased(), endpoint: String? = nil, bucket: String? = nil,
        accessKey: String? = nil, secret: String? = nil, retry: S3RetryPolicy = .init(attempts: 4, initialDelay: 0.05),
        listPageSize: Int = 1000, partSize: Int = 5 << 20, clockOffset: Int64 = 0, objectLock: S3ObjectLock? = nil
    ) throws -> S3Storage {
        var secretBytes = Array((secret ?? secretKey).utf8)
        let credentials = S3Credentials(accessKey: accessKey ?? self.accessKey, secret: SecureBytes(wiping: &secretBytes), sessionToken: nil)
        let location = try S3Location(
            repository: "s3://\(bucket ?? self.bucket)/\(prefix)", endpoint: endpoint ?? self.endpoint, region: "us-east-1", pathStyle: true)
        return S3Storage(
            location: location, credentials: credentials, credentialSource: "TEST_KEY / TEST_SECRET", retry: retry, partSize: partSize,
            listPageSize: listPageSize, objectLock: objectLock, clockOffset: clockOffset)
    }
}

/// The fault-injection proxy (Tests/Support/fault_proxy.py) between a client and the server.
final class FaultProxy {
    let process = Process()
    let folder: String
    let endpoint: String

    init(server: S3TestServer) throws {
        folder = NSTemporaryDirectory() + "coffer-proxy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let upstream = server.endpoint.replacingOccurrences(of: "http://", with: "")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", server.proxyScript, "--upstream", upstream, "--control", folder + "/control.json", "--port-file", folder + "/port",
            "--log", folder + "/log",
        ]
        try process.run()
        var port: String? = nil
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: folder + "/port", encoding: .utf8), !text.isEmpty {
                port = text.trimmingCharacters(in: .whitespacesAndNewlines)
                break
            }
            usleep(50_000)
        }
        endpoint = "http://127.0.0.1:\(try #require(port, "the fault proxy did not start"))"
    }

    /// Sets the proxy's behaviour (see fault_proxy.py): `["fail": 3]`, `["down": true]`, `["drop_after_bytes": N]`, `[:]`.
    func control(_ settings: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: settings)
        try data.write(to: URL(fileURLWithPath: folder + "/control.tmp"))
        _ = rename(folder + "/control.tmp", folder + "/control.json")
    }

    /// The proxy's request log, one line per request.
    func log() -> [String] {
        ((try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        // SIGKILL: a child spawned from a worker thread may have SIGTERM blocked.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count / 8 + 1).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }.prefix(count).map { $0 }
}
