import CofferFormat
import CofferSources
import CofferSystem
import Foundation

/// The scratch targets of a drill, recorded in `.coffer/drills/ID.json`
/// before each is created, so a drill killed at any point leaves a list of
/// what to remove: the next drill, `coffer drill --cleanup` and `status` read it.
public struct DrillScratch: Sendable {
    /// One thing a drill creates.
    public struct Resource: Codable, Sendable, Equatable {
        /// `folder`, `postgres` (a scratch database), `redis-server` (a throwaway server), `redis-db` (a drill server's data).
        public var kind: String
        /// The folder (folder, redis-server) or the database name (postgres).
        public var name: String
        /// The variable holding the server's URL (postgres, redis-db): the URL itself holds a password.
        public var urlEnv: String?

        enum CodingKeys: String, CodingKey {
            case kind, name
            case urlEnv = "url_env"
        }

        public var description: String {
            switch kind {
            case "postgres": return "scratch database \(name) (server in \(urlEnv ?? "?"))"
            case "redis-server": return "throwaway redis-server in \(name)"
            case "redis-db": return "the drill Redis server in \(urlEnv ?? "?") (emptied after a drill)"
            default: return "scratch folder \(name)"
            }
        }
    }

    public struct Record: Codable, Sendable {
        public var drill: String
        public var pid: Int32
        public var resources: [Resource]
    }

    public let folder: String

    public init(state: StateDirectory) {
        folder = FileSystem.join(state.root, "drills")
    }

    private func path(_ drill: String) -> String { FileSystem.join(folder, "\(drill).json") }

    /// Adds `resource` to the drill's record, durably, before it is created.
    public func record(_ resource: Resource, drill: String) throws {
        try FileSystem.createDirectory(FileSystem.directoryName(of: folder), permissions: 0o700)
        try FileSystem.createDirectory(folder, permissions: 0o700)
        var record = load(drill) ?? Record(drill: drill, pid: ProcessIdentity.current, resources: [])
        record.resources.append(resource)
        try FileSystem.writeFile(path(drill), bytes: try CanonicalJSON.bytes(record), permissions: 0o600)
    }

    func load(_ drill: String) -> Record? {
        guard let bytes = try? FileSystem.readFile(path(drill), limit: 1 << 20) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: Data(bytes))
    }

    /// Records of drills whose process is gone: what a killed drill left.
    public func leftovers() -> [Record] {
        let names = (try? FileSystem.contentsOfDirectory(folder)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { load(String($0.dropLast(5))) }
            .filter { $0.pid != ProcessIdentity.current && !ProcessIdentity.isAlive($0.pid) }
    }

    /// Removes every resource of `drill`, newest first; returns what could not be removed.
    /// The record goes once everything in it is gone.
    @discardableResult
    public func remove(_ drill: String, environment: [String: String]) -> [String] {
        guard let record = load(drill) else { return [] }
        var problems: [String] = []
        for resource in record.resources.reversed() {
            do {
                try Self.remove(resource, environment: environment)
            } catch {
                problems.append("\(resource.description): \(error)")
            }
        }
        if problems.isEmpty { try? FileSystem.removeFile(path(drill)) }
        return problems
    }

    /// Removes what killed drills left; returns (removed descriptions, problems).
    public func removeLeftovers(environment: [String: String]) -> (removed: [String], problems: [String]) {
        var removed: [String] = []
        var problems: [String] = []
        for record in leftovers() {
            let failed = remove(record.drill, environment: environment)
            problems += failed
            if failed.isEmpty { removed += record.resources.map(\.description) }
        }
        return (removed, problems)
    }

    static func remove(_ resource: Resource, environment: [String: String]) throws {
        switch resource.kind {
        case "folder":
            try FileSystem.removeTree(resource.name)
        case "redis-server":
            RedisScratchServer.stopLeftover(folder: resource.name)
            try FileSystem.removeTree(resource.name)
        case "postgres":
            guard let variable = resource.urlEnv, let url = environment[variable], !url.isEmpty else {
                throw CofferError(.config, "\(resource.urlEnv ?? "its URL variable") is not set, so the server cannot be reached to drop \(resource.name)")
            }
            try PostgresScratchServer(url: url).drop(resource.name)
        case "redis-db":
            guard let variable = resource.urlEnv, let url = environment[variable], !url.isEmpty else {
                throw CofferError(.config, "\(resource.urlEnv ?? "its URL variable") is not set, so the drill Redis server cannot be reached")
            }
            try RedisScratchServer.flush(url: url)
        default:
            throw CofferError(.failure, "unknown scratch resource kind \(resource.kind)")
        }
    }
}
