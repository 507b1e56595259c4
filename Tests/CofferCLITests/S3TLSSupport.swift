import Foundation
import Testing

/// A test CA and server certificates, made with `openssl` in the test's folder.
struct TestCertificates {
    let folder: String

    /// Makes the CA (`ca.pem`).
    init(in folder: String) throws {
        self.folder = folder
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=coffer test CA"])
        try "1000\n".write(toFile: folder + "/serial", atomically: true, encoding: .utf8)
        try "".write(toFile: folder + "/index.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: folder + "/issued", withIntermediateDirectories: true)
        try """
            [ca]
            default_ca = test
            [test]
            database = \(folder)/index.txt
            new_certs_dir = \(folder)/issued
            serial = \(folder)/serial
            default_md = sha256
            policy = any
            copy_extensions = copy
            unique_subject = no
            [any]
            commonName = supplied
            """.write(toFile: folder + "/ca.cnf", atomically: true, encoding: .utf8)
    }

    var caFile: String { folder + "/ca.pem" }

    /// A server certificate `NAME.pem` / `NAME.key` signed by the CA, for
    /// `subjectAltName` (such as `IP:127.0.0.1`), valid between the two
    /// `YYYYMMDDHHMMSSZ` times (default: from an hour ago, for two days).
    func issue(_ name: String, altName: String, from start: String? = nil, until end: String? = nil) throws -> (certificate: String, key: String) {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr",
            "-subj", "/CN=\(name)", "-addext", "subjectAltName=\(altName)"])
        let format = DateFormatter()
        format.dateFormat = "yyyyMMddHHmmss'Z'"
        format.timeZone = TimeZone(identifier: "UTC")
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "\(name).csr", "-out", "\(name).pem",
            "-startdate", start ?? format.string(from: Date().addingTimeInterval(-3600)),
            "-enddate", end ?? format.string(from: Date().addingTimeInterval(2 * 86_400))])
        return (folder + "/\(name).pem", folder + "/\(name).key")
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl \(arguments.prefix(2).joined(separator: " ")) failed")
    }
}

/// One more S3 gateway (`weed s3`) on the test server's filer, serving HTTPS
/// with the given certificate: the same buckets and identities over TLS.
final class TLSGateway {
    let process = Process()
    let endpoint: String

    init(certificate: String, key: String, logFolder: String) throws {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: the TLS tests need the SeaweedFS server that `make test` starts")
        }
        let port = try Self.freePort(), grpc = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: try value("COFFER_TEST_WEED"))
        process.arguments = [
            "-logdir=\(logFolder)", "s3", "-ip.bind=127.0.0.1", "-port=\(port)", "-port.grpc=\(grpc)", "-port.iceberg=0", "-port.lance=0",
            "-filer=\(try value("COFFER_TEST_S3_FILER"))", "-config=\(try value("COFFER_TEST_S3_IDENTITIES"))",
            "-cert.file=\(certificate)", "-key.file=\(key)",
        ]
        process.environment = ["GOMEMLIMIT": "128MiB", "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        endpoint = "https://127.0.0.1:\(port)"
        // Ready once it accepts a TCP connection (TLS is what the tests are about).
        for _ in 0..<100 {
            if Self.accepts(port) { return }
            usleep(100_000)
        }
        kill(process.processIdentifier, SIGKILL)
        throw TLSGatewayError.notReady
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    private enum TLSGatewayError: Error { case notReady, noPort }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port nothing listens on, below 55535 (SeaweedFS adds 10000 for gRPC by default).
    private static func freePort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000...45000)
            if !accepts(port) && !accepts(port + 10000) { return port }
        }
        throw TLSGatewayError.noPort
    }
}
