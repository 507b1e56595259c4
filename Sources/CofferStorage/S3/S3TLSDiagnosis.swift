#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Why a server's certificate was refused. BoringSSL says only
/// CERTIFICATE_VERIFY_FAILED; the operator needs to know whether it expired,
/// names another host, or comes from a CA nobody trusts. So, after a refusal
/// (never instead of verification), the certificate is fetched once more
/// without verifying it, only to be read, and nothing is sent over that connection.
enum S3TLSDiagnosis {
    /// The reason in words, or nil when the certificate could not be fetched.
    static func reason(host: String, port: Int, now: Int64) -> String? {
        guard let certificate = try? peerCertificate(host: host, port: port) else { return nil }
        if Int64(certificate.notValidAfter) < now {
            return "it expired on \(UTCTime(seconds: Int64(certificate.notValidAfter)).iso8601)"
        }
        if Int64(certificate.notValidBefore) > now {
            return "it is not valid before \(UTCTime(seconds: Int64(certificate.notValidBefore)).iso8601) (is this machine's clock right?)"
        }
        let names = alternativeNames(certificate)
        if !names.contains(host.lowercased()) && !names.contains(where: { wildcard($0, matches: host.lowercased()) }) {
            return "it is issued for \(names.isEmpty ? "no host name (no subjectAltName)" : names.joined(separator: ", ")), not for \(host)"
        }
        let issuer = certificate.issuerName.first { $0.type == .commonName }?.value ?? "an unnamed issuer"
        let selfSigned = certificate.issuerName == certificate.subjectName
        return selfSigned
            ? "it is self-signed (\(issuer)) and not in the trust store"
            : "it is signed by \"\(issuer)\", a CA that is not trusted here"
    }

    private static func wildcard(_ pattern: String, matches host: String) -> Bool {
        guard pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
        return host[dot...] == pattern.dropFirst()
    }

    /// DNS names and IP addresses of the subjectAltName extension, as text.
    private static func alternativeNames(_ certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
            switch name.nameType {
            case .dnsName:
                return String(decoding: bytes, as: UTF8.self).lowercased()
            case .ipAddress where bytes.count == 4:
                return bytes.map(String.init).joined(separator: ".")
            case .ipAddress where bytes.count == 16:
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                return bytes.withUnsafeBytes { raw in
                    inet_ntop(AF_INET6, raw.baseAddress, &text, socklen_t(text.count)) != nil
                        ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
                }
            default:
                return nil
            }
        }
    }

    private static func peerCertificate(host: String, port: Int) throws -> NIOSSLCertificate? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.next().makePromise(of: NIOSSLCertificate?.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: handshake))
                }
            }
        let channel = try bootstrap.connect(host: host, port: port).wait()
        defer { _ = channel.close() }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { handshake.fail(ChannelError.connectTimeout(.seconds(5))) }
        defer { timeout.cancel() }
        return try handshake.futureResult.wait()
    }
}

/// Hands over the peer certificate once the handshake is done.
private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<NIOSSLCertificate?>

    init(promise: EventLoopPromise<NIOSSLCertificate?>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            promise.succeed(tls?.peerCertificate)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
    }
}
