import ArgumentParser
import CofferCore
import CofferServer
import CofferSystem
import Foundation

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve health, Prometheus metrics, status, a status page and POST /snapshot over HTTP.",
        discussion: """
            Endpoints: GET /healthz (no token), GET /metrics (Prometheus text), GET /status (the JSON of `coffer status --json`), GET / (the status page), POST /snapshot (answers 202 {"job": ID}; runs `snapshot --prune` then `verify ID --deep`, one job at a time, 409 while one runs), GET /jobs/ID (state running, succeeded or failed, and the bundle). Tokens are sent as `Authorization: Bearer TOKEN`: the read token (COFFER_READ_TOKEN, or [serve] read_token_env / read_token_file) for every GET but /healthz, the admin token (COFFER_ADMIN_TOKEN, or [serve] admin_token_env / admin_token_file) for POST /snapshot; without a token configured the endpoint is open, and serve then refuses to listen anywhere but on loopback. Metrics and the page come from a look at the repository every --refresh seconds and from this machine's run log, so a scrape costs the repository nothing; when a look fails, coffer_up is 0 and the last values stay, with coffer_last_reached_timestamp_seconds. SIGTERM or SIGINT: no new job is taken and a running one finishes before serve exits.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Address to listen on (default: [serve] listen, else 127.0.0.1:9187).", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("Seconds between two looks at the repository (default: [serve] refresh, else 300).", valueName: "seconds"))
    var refresh: Int?

    @Option(name: .customLong("password-env"), help: ArgumentHelp("Password of an encrypted signing key, from this environment variable (passed on to snapshot jobs by name).", valueName: "var"))
    var passwordVariable: String?

    func run() async throws {
        try await reportingErrors {
            var config = try global.loadConfig()
            if let refresh {
                guard (1...86_400).contains(refresh) else { throw CofferError(.config, "--refresh \(refresh): expected 1 to 86400 seconds") }
                config.serve.refresh = refresh
            }
            let environment = ProcessInfo.processInfo.environment
            let (host, port) = try CofferServer.parseListen(listen ?? config.serve.listen)
            let tokens = try ServerTokens.load(config.serve, environment: environment)
            if !CofferServer.isLoopback(host) && (tokens.read == nil || tokens.admin == nil) {
                throw CofferError(
                    .refused,
                    "serve refuses to listen on \(host) without both tokens: set \(config.serve.readTokenEnv) and \(config.serve.adminTokenEnv) (or [serve] read_token_file and admin_token_file), or listen on 127.0.0.1")
            }
            let server = CofferServer(
                config: config, environment: environment, host: host, port: port, tokens: tokens,
                command: JobCommand(executable: ProcessIdentity.executablePath, global: ["--config", config.path], passwordEnv: passwordVariable)
            ) { port in
                FileHandle.standardError.write(Data("coffer serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)\n".utf8))
            }
            try await server.run()
        }
    }
}
