import Foundation

/// The SeaweedFS server that scripts/with-test-servers.sh starts, from its COFFER_TEST_S3_* variables.
struct BenchS3Server {
    let endpoint, bucket, accessKey, secretKey, dataDirectory, proxyScript: String

    init(for benchmark: String) throws {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["COFFER_TEST_S3_ENDPOINT"], let bucket = env["COFFER_TEST_S3_BUCKET"],
            let accessKey = env["COFFER_TEST_S3_ACCESS_KEY"], let secretKey = env["COFFER_TEST_S3_SECRET_KEY"],
            let dataDirectory = env["COFFER_TEST_S3_DATA"], let proxyScript = env["COFFER_TEST_S3_PROXY"]
        else {
            throw BenchError("the \(benchmark) benchmark needs the SeaweedFS server of scripts/with-test-servers.sh (run `make bench`)")
        }
        (self.endpoint, self.bucket, self.accessKey, self.secretKey) = (endpoint, bucket, accessKey, secretKey)
        (self.dataDirectory, self.proxyScript) = (dataDirectory, proxyScript)
    }

    /// What a coffer process needs to reach it.
    var credentials: [String: String] { ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey] }
}
