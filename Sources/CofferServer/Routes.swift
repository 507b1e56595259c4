import CofferCore
import Foundation
import Hummingbird

/// The endpoints. Every one but /healthz checks the bearer token before it does anything.
struct Routes: Sendable {
    let cache: MonitorCache
    let jobs: SnapshotJobs
    let tokens: ServerTokens

    func add(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in text("ok\n") }
        router.get("/metrics") { request, _ in
            try authorize(request, .read)
            guard let metrics = await cache.metrics() else { return unavailable() }
            return text(metrics, contentType: PrometheusMetrics.contentType)
        }
        router.get("/status") { request, _ in
            try authorize(request, .read)
            guard let view = await cache.current() else { return unavailable() }
            return json(view.latest.jsonObject)
        }
        router.get("/") { request, _ in
            try authorize(request, .read)
            let views = await cache.current().map { [$0] } ?? []
            return text(StatusPage.render(views, now: Date()), contentType: "text/html; charset=utf-8")
        }
        router.post("/snapshot") { request, _ in
            try authorize(request, .admin)
            switch await jobs.start() {
            case .started(let job):
                return json(["job": job.id, "state": job.state.rawValue], status: .accepted, location: "/jobs/\(job.id)")
            case .busy(let running):
                return json(["error": "a snapshot job is running; poll /jobs/\(running.id)", "job": running.id], status: .conflict)
            case .shuttingDown:
                return json(["error": "coffer serve is shutting down"], status: .serviceUnavailable)
            }
        }
        router.get("/jobs/:id") { request, context in
            try authorize(request, .read)
            guard let id = context.parameters.get("id"), let job = await jobs.job(id) else {
                return json(["error": "no such job (the last 100 are kept until serve restarts)"], status: .notFound)
            }
            return json(job.json)
        }
    }

    func authorize(_ request: Request, _ need: ServerTokens.Need) throws {
        guard tokens.allows(request.headers[.authorization], need) else {
            throw HTTPError(
                .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"coffer\""],
                message: need == .admin ? "an admin token is needed (Authorization: Bearer TOKEN)" : "a read token is needed (Authorization: Bearer TOKEN)")
        }
    }
}

func text(_ body: String, contentType: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: contentType, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: body)))
}

func json(_ object: [String: Any], status: HTTPResponse.Status = .ok, location: String? = nil) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
    if let location { headers[.location] = location }
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
}

/// Before the first look at the repository has ended.
func unavailable() -> Response {
    text("the first look at the repository has not finished yet\n", status: .serviceUnavailable)
}
