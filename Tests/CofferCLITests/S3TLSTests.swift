import Foundation
import Testing

/// A project on the test bucket reached through `endpoint` (https), with `extra` added to `[s3]`.
private func withTLSProject(endpoint: String, extra: String = "", _ body: (Workspace, S3Server) throws -> Void) throws {
    try withS3Project(endpoint: endpoint) { ws, server, _ in
        if !extra.isEmpty { try ws.appendConfig(extra) }  // [s3] is the config's last section
        try body(ws, server)
    }
}

@Suite("S3 over TLS: SeaweedFS serving HTTPS with a certificate from a test CA", .serialized)
struct S3TLSTests {
    @Test("with [s3] ca_file naming the test CA: snapshot, verify --deep and restore over https")
    func trustedCA() throws {
        try Workspace.with(keys: false) { scratch in
            let certificates = try TestCertificates(in: scratch.root)
            let issued = try certificates.issue("server", altName: "IP:127.0.0.1,DNS:localhost")
            let gateway = try TLSGateway(certificate: issued.certificate, key: issued.key, logFolder: scratch.root)
            try withTLSProject(endpoint: gateway.endpoint, extra: "ca_file = \"\(certificates.caFile)\"") { ws, server in
                let snapshot = try ws.coffer("snapshot", environment: server.credentials)
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                let verify = try ws.coffer("verify", "latest", "--deep", environment: server.credentials)
                #expect(verify.status == 0, "\(verify.stderr)")
                let restore = try ws.coffer("restore", "latest", "--yes", environment: server.credentials)
                #expect(restore.status == 0, "\(restore.stderr)")
                // The host name works as well as the address: both are in the certificate.
                let text = try String(contentsOfFile: ws.config, encoding: .utf8)
                try text.replacingOccurrences(of: "https://127.0.0.1:", with: "https://localhost:").write(toFile: ws.config, atomically: true, encoding: .utf8)
                let byName = try ws.coffer("list", environment: server.credentials)
                #expect(byName.status == 0, "\(byName.stderr)")
            }
        }
    }

    @Test("an untrusted, an expired and a wrong-host certificate are refused at once (exit 3), naming the host and the reason; nothing is written")
    func refusedCertificates() throws {
        try Workspace.with(keys: false) { scratch in
            let certificates = try TestCertificates(in: scratch.root)
            let good = try certificates.issue("good", altName: "IP:127.0.0.1")
            let expired = try certificates.issue("expired", altName: "IP:127.0.0.1", from: "20200101000000Z", until: "20200102000000Z")
            let otherHost = try certificates.issue("other", altName: "DNS:other.example")
            let cases: [(TLSGateway, String, String)] = [
                (try TLSGateway(certificate: good.certificate, key: good.key, logFolder: scratch.root), "", "it is signed by \"coffer test CA\", a CA that is not trusted here"),
                (try TLSGateway(certificate: expired.certificate, key: expired.key, logFolder: scratch.root), "ca_file = \"\(certificates.caFile)\"", "it expired on 2020-01-02T00:00:00Z"),
                (try TLSGateway(certificate: otherHost.certificate, key: otherHost.key, logFolder: scratch.root), "ca_file = \"\(certificates.caFile)\"", "it is issued for other.example, not for 127.0.0.1"),
            ]
            for (gateway, extra, reason) in cases {
                try withTLSProject(endpoint: gateway.endpoint, extra: extra) { ws, server in
                    let started = Date()
                    let snapshot = try ws.coffer("snapshot", environment: server.credentials)
                    #expect(snapshot.status == 3, "\(snapshot.stdout)\(snapshot.stderr)")
                    let host = gateway.endpoint.replacingOccurrences(of: "https://", with: "")
                    #expect(snapshot.stderr.contains("the TLS certificate of \(host) was refused: \(reason)"), "\(snapshot.stderr)")
                    #expect(snapshot.stderr.contains("ca_file"), "the message says what to set: \(snapshot.stderr)")
                    #expect(!snapshot.stderr.contains("failed 6 times"), "a refused certificate is not retried: \(snapshot.stderr)")
                    #expect(Date().timeIntervalSince(started) < 8, "refused at once, not after retries")
                    // Over plain http the same bucket shows that nothing was written.
                    let list = try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "ls", "--recursive", "s3://\(server.bucket)/"], environment: server.credentials)
                    let repository = try String(contentsOfFile: ws.config, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("repository") }
                    let prefix = try #require(repository?.split(separator: "/").last.map { String($0.dropLast()) })
                    #expect(!list.stdout.contains(prefix + "/"), "nothing was written under \(prefix)")
                }
            }
        }
    }

    @Test("ca_file missing or not a PEM certificate, and https to a plain-HTTP port: exit 3 with the cause")
    func badSettings() throws {
        let server = try S3Server.require()
        try Workspace.with(keys: false) { scratch in
            try "not a certificate\n".write(toFile: scratch.path("junk.pem"), atomically: true, encoding: .utf8)
            let cases = [
                (server.endpoint.replacingOccurrences(of: "http://", with: "https://"), "", "does not speak TLS on this port"),
                ("https://127.0.0.1:1", "ca_file = \"\(scratch.path("absent.pem"))\"", "absent.pem does not exist"),
                ("https://127.0.0.1:1", "ca_file = \"\(scratch.path("junk.pem"))\"", "junk.pem cannot be read as PEM certificates"),
            ]
            for (endpoint, extra, message) in cases {
                try withTLSProject(endpoint: endpoint, extra: extra) { ws, server in
                    let list = try ws.coffer("list", environment: server.credentials)
                    #expect(list.status == 3, "\(endpoint) \(extra): \(list.stderr)")
                    #expect(list.stderr.contains(message), "\(list.stderr)")
                }
            }
        }
    }
}
