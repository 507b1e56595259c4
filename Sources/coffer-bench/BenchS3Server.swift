import Foundation

/// A SeaweedFS server that scripts/with-test-servers.sh starts, from its variables: the single `weed mini`
/// (COFFER_TEST_S3_*) or the cluster of scripts/s3-cluster.sh (COFFER_TEST_CLUSTER_*), which name the same things.
struct BenchS3Server {
    let endpoint, bucket, accessKey, secretKey, dataDirectory, proxyScript: String

    init(for benchmark: String, variables prefix: String = "COFFER_TEST_S3", what: String = "SeaweedFS server") throws {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env[prefix + "_ENDPOINT"], let bucket = env[prefix + "_BUCKET"],
            let accessKey = env[prefix + "_ACCESS_KEY"], let secretKey = env[prefix + "_SECRET_KEY"],
            let dataDirectory = env[prefix + "_DATA"], let proxyScript = env[prefix + "_PROXY"]
        else {
            throw BenchError("the \(benchmark) benchmark needs the \(what) of scripts/with-test-servers.sh (run `make bench`)")
        }
        (self.endpoint, self.bucket, self.accessKey, self.secretKey) = (endpoint, bucket, accessKey, secretKey)
        (self.dataDirectory, self.proxyScript) = (dataDirectory, proxyScript)
    }

    /// What a coffer process needs to reach it.
    var credentials: [String: String] { ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey] }
}
