import CofferCore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `coffer serve`: health, metrics, status and the status page from a cache
/// of the repository, and `POST /snapshot` for platform cron jobs. SIGTERM or
/// SIGINT stops it gracefully: no new job is taken, a running one finishes.
public struct CofferServer: Sendable {
    public var config: CofferConfig
    public var environment: [String: String]
    public var host: String
    public var port: Int
    public var tokens: ServerTokens
    public var command: JobCommand
    /// Called once the socket listens, with the port it got (useful with port 0).
    public var listening: @Sendable (Int) -> Void

    public init(
        config: CofferConfig, environment: [String: String], host: String, port: Int, tokens: ServerTokens, command: JobCommand,
        listening: @escaping @Sendable (Int) -> Void
    ) {
        self.config = config
        self.environment = environment
        self.host = host
        self.port = port
        self.tokens = tokens
        self.command = command
        self.listening = listening
    }

    /// Loopback addresses need no token; anything else does (a backup trigger and the
    /// repository's state are not for the whole network).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Splits `HOST:PORT` (`[::1]:PORT` for IPv6).
    public static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        var host = Substring(text)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw CofferError(.config, "listen address '\(text)' is not HOST:PORT (such as 127.0.0.1:9187)")
        }
        host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw CofferError(.config, "listen address '\(text)' has no host") }
        return (String(host), port)
    }

    public func run() async throws {
        var logger = Logger(label: "coffer.serve")
        logger.logLevel = .warning
        let cache = MonitorCache(config: config, environment: environment)
        await cache.refresh()
        let jobs = SnapshotJobs(command: command) { await cache.refresh() }
        let router = Router()
        Routes(cache: cache, jobs: jobs, tokens: tokens).add(to: router)
        let listening = self.listening
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "coffer"),
            services: [JobsService(jobs: jobs), RefreshService(cache: cache, seconds: config.serve.refresh)],
            onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.runService()
    }
}

/// Looks at the repository every `refresh` seconds until shutdown.
struct RefreshService: Service {
    let cache: MonitorCache
    let seconds: Int

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            await cache.refresh()
        }
    }
}

/// Holds shutdown until a running snapshot job has ended.
struct JobsService: Service {
    let jobs: SnapshotJobs

    func run() async throws {
        try? await gracefulShutdown()
        await jobs.close()
    }
}
