#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The one place notifications touch HTTP. Blocking on purpose (operations are
/// synchronous): call it from a command or a background thread, never from an
/// event loop. Every request has its own deadline; one answered with a 5xx or
/// 429, or whose connection the server closed, is tried once more after half a
/// second; one that timed out or could not connect (the connection pool keeps
/// trying until the deadline) is not. A batch takes at most twice its longest
/// timeout plus half a second.
enum NotificationTransport {
    /// Requests sent concurrently; the result for each is nil (delivered) or
    /// what went wrong, in words that never include the URL.
    static func send(_ batch: [(request: NotificationRequest, timeout: Int)]) -> [String?] {
        guard !batch.isEmpty else { return [] }
        let longest = batch.map(\.timeout).max() ?? 10
        let client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(Int64(longest)), read: .seconds(Int64(longest))),
                connectionPool: .init(idleTimeout: .seconds(5))))
        defer { try? client.syncShutdown() }

        var results = [String?](repeating: "not sent", count: batch.count)
        var pending = Array(batch.indices)
        for attempt in 1...2 where !pending.isEmpty {
            if attempt > 1 { usleep(500_000) }
            let started: [(Int, EventLoopFuture<HTTPClient.Response>?)] = pending.map { index in
                let (request, timeout) = batch[index]
                do {
                    let (url, authorization) = splitCredentials(request.url)
                    var http = try HTTPClient.Request(url: url, method: HTTPMethod(rawValue: request.method))
                    http.headers = HTTPHeaders(request.headers + [("User-Agent", CofferVersion.tool)] + (authorization.map { [("Authorization", $0)] } ?? []))
                    http.body = .bytes(request.body)
                    let delegate = ResponseAccumulator(request: http, maxBodySize: 64 * 1024)
                    return (index, client.execute(request: http, delegate: delegate, deadline: .now() + .seconds(Int64(timeout))).futureResult)
                } catch {
                    results[index] = "the URL is not a valid http(s) URL"
                    return (index, nil)
                }
            }
            var retry: [Int] = []
            for (index, future) in started {
                guard let future else { continue }
                do {
                    let response = try future.wait()
                    let status = Int(response.status.code)
                    if (200..<300).contains(status) {
                        results[index] = nil
                    } else {
                        results[index] = "HTTP \(status)"
                        if status >= 500 || status == 429 { retry.append(index) }
                    }
                } catch {
                    let (text, retryable) = describe(error, timeout: batch[index].timeout)
                    results[index] = scrub(text, url: batch[index].request.url)
                    if retryable { retry.append(index) }
                }
            }
            if attempt > 1 {
                for index in pending { results[index] = results[index].map { $0 + " (after 2 attempts)" } }
            }
            pending = retry
        }
        return results
    }

    /// The URL without `user:password@`, and those as a Basic `Authorization` value
    /// (the HTTP client does not send a URL's user info by itself; ntfy takes it).
    static func splitCredentials(_ url: String) -> (String, String?) {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return (url, nil) }
        let credentials = "\(components.user ?? ""):\(components.password ?? "")"
        components.user = nil
        components.password = nil
        return (components.string ?? url, "Basic " + Data(credentials.utf8).base64EncodedString())
    }

    /// Words for a failed request, and whether trying again soon may help.
    static func describe(_ error: any Error, timeout: Int) -> (String, Bool) {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return ("no answer within \(timeout) s", false)
            case .connectTimeout: return ("could not connect within \(timeout) s", false)
            case .remoteConnectionClosed: return ("the server closed the connection", true)
            case .invalidURL, .emptyHost, .emptyScheme: return ("the URL is not a valid http(s) URL", false)
            default: return ("\(error)", true)
            }
        }
        // The connection pool already kept trying to connect until the deadline: no second attempt.
        let text = String(describing: error)
        if text.contains("refused") { return ("connection refused", false) }
        if let error = error as? IOError { return ("\(error.description)", false) }
        return (String(text.prefix(300)), false)
    }

    /// `text` without the URL or its path and query, which may hold the token.
    static func scrub(_ text: String, url: String) -> String {
        var result = text.replacingOccurrences(of: url, with: "<url>")
        guard let schemeEnd = url.range(of: "://") else { return result }
        let rest = url[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        if let at = rest[..<pathStart].lastIndex(of: "@") {
            result = result.replacingOccurrences(of: String(rest[..<at]), with: "<userinfo>")
        }
        let secret = String(rest[pathStart...])
        if secret.count > 1 { result = result.replacingOccurrences(of: secret, with: "/<path>") }
        return result
    }
}
