import CofferCrypto
import Foundation

/// Size and SHA-256 of one stored object, so `sha256sum` can check it by hand.
public struct ObjectDigest: Codable, Hashable, Sendable {
    public var bytes: Int64
    public var sha256: String

    public init(bytes: Int64, sha256: String) {
        self.bytes = bytes
        self.sha256 = sha256
    }
}

/// What kind of source an artifact came from; decides how it is checked and restored.
public enum ArtifactKind: String, Codable, Sendable, CaseIterable {
    case sqlite, postgres, redis, env, file
}

/// One artifact of a bundle and the non-secret facts a restore checks against.
/// Format v1: two objects (age header, age payload) in the bundle's folder.
/// Format v2: `chunks`, in order, whose plaintexts concatenated are the artifact.
public struct ArtifactEntry: Codable, Equatable, Sendable {
    public var name: String
    public var kind: ArtifactKind
    /// Object path without the `-header`/`-payload` suffix, relative to the bundle.
    public var path: String
    /// `gzip+age`: gzip members, then age v1.
    public var codec: String
    public var plainBytes: Int64
    /// Format v1 only.
    public var header: ObjectDigest?
    /// Format v1 only.
    public var payload: ObjectDigest?
    /// Format v2 only: the chunks, in order (one may appear more than once).
    public var chunks: [ChunkReference]?
    /// Facts about the source (versions, formats); never a secret.
    public var source: [String: JSONValue]
    /// Counts a restore can compare (rows per table, number of variables).
    public var stats: [String: JSONValue]
    /// The header object, when key rotation replaced the original `PATH-header`.
    public var headerObject: String?
    /// The payload object, when `keys rotate --reencrypt` replaced the original `PATH-payload`.
    public var payloadObject: String?
    /// Seconds the source took to snapshot and seal (absent in bundles of earlier releases), so
    /// drills and auditors can tell per source how long a backup of it takes.
    public var snapshotSeconds: Double?

    public static let codec = "gzip+age"

    enum CodingKeys: String, CodingKey {
        case name, kind, path, codec, header, payload, chunks, source, stats
        case plainBytes = "plain_bytes"
        case headerObject = "header_object"
        case payloadObject = "payload_object"
        case snapshotSeconds = "snapshot_seconds"
    }

    public init(
        name: String, kind: ArtifactKind, path: String, plainBytes: Int64, header: ObjectDigest, payload: ObjectDigest,
        source: [String: JSONValue], stats: [String: JSONValue]
    ) {
        self.init(name: name, kind: kind, path: path, plainBytes: plainBytes, source: source, stats: stats)
        self.header = header
        self.payload = payload
    }

    /// A format v2 artifact made of `chunks`.
    public init(
        name: String, kind: ArtifactKind, path: String, plainBytes: Int64, chunks: [ChunkReference], source: [String: JSONValue],
        stats: [String: JSONValue]
    ) {
        self.init(name: name, kind: kind, path: path, plainBytes: plainBytes, source: source, stats: stats)
        self.chunks = chunks
    }

    private init(name: String, kind: ArtifactKind, path: String, plainBytes: Int64, source: [String: JSONValue], stats: [String: JSONValue]) {
        self.name = name
        self.kind = kind
        self.path = path
        self.codec = Self.codec
        self.plainBytes = plainBytes
        self.source = source
        self.stats = stats
    }

    /// Bytes the artifact references in the repository: its header and payload
    /// objects (v1), or those of every chunk it lists (v2; shared chunks count in full).
    public var storedBytes: Int64 {
        if let chunks { return chunks.reduce(0) { $0 + $1.storedBytes } }
        return (header?.bytes ?? 0) + (payload?.bytes ?? 0)
    }

    /// Checks the shape of the entry for `format`: v1 has both objects and no
    /// chunks; v2 has chunks with valid ids whose sizes add up, and no objects of its own.
    func checkShape(format: String) throws {
        if format == Manifest.formatV1 {
            guard header != nil, payload != nil, chunks == nil else {
                throw FormatError(.malformed, "artifact \(name.prefix(40)) of a \(format) manifest must list a header and a payload object and no chunks")
            }
            return
        }
        guard let chunks, header == nil, payload == nil, headerObject == nil, payloadObject == nil else {
            throw FormatError(.malformed, "artifact \(name.prefix(40)) of a \(format) manifest must list chunks and no objects of its own")
        }
        var total: Int64 = 0
        for chunk in chunks {
            guard ChunkReference.isValidID(chunk.id), chunk.plainBytes > 0, chunk.plainBytes <= Int64(ContentChunker.maximumSize),
                chunk.header.bytes > 0, chunk.payload.bytes > 0
            else {
                throw FormatError(.malformed, "artifact \(name.prefix(40)) lists a chunk that cannot be one (\(chunk.id.prefix(64)), \(chunk.plainBytes) bytes)")
            }
            total += chunk.plainBytes
        }
        guard total == plainBytes else {
            throw FormatError(.malformed, "artifact \(name.prefix(40)): its chunks hold \(total) bytes, the manifest says \(plainBytes)")
        }
    }

    /// The header object's path, relative to the bundle.
    public var headerPath: String { headerObject ?? path + "-header" }

    /// Where a header rewrapped by rotation `generation` goes: `NAME.gz.GEN.age-header`,
    /// so `cat NAME*.age-header NAME*.age-payload` still opens it by hand.
    public func rotatedHeaderPath(generation: String) -> String {
        let base = path.hasSuffix(".age") ? String(path.dropLast(4)) : path
        return "\(base).\(generation).age-header"
    }
    /// The payload object's path, relative to the bundle.
    public var payloadPath: String { payloadObject ?? path + "-payload" }

    /// Where a payload re-encrypted by rotation `generation` goes (beside `rotatedHeaderPath`).
    public func rotatedPayloadPath(generation: String) -> String {
        let base = path.hasSuffix(".age") ? String(path.dropLast(4)) : path
        return "\(base).\(generation).age-payload"
    }
}

/// The signed description of a bundle. A bundle exists exactly when its
/// manifest (and signature) exist; everything in it is covered by the signature.
public struct Manifest: Codable, Equatable, Sendable {
    /// One artifact = one age file in the bundle's folder.
    public static let formatV1 = "coffer/1"
    /// Artifacts = deduplicated chunks under `chunks/ENV/`.
    public static let formatV2 = "coffer/2"
    /// The formats this build reads.
    public static let readableFormats = [formatV1, formatV2]

    /// True for a format v2 (chunked) bundle.
    public var isChunked: Bool { format == Self.formatV2 }

    public var format: String
    public var id: String
    public var environment: String
    public var label: String?
    public var createdAt: String
    public var host: String
    public var tool: String
    public var recipients: [String]
    /// The minisign key id of the signer.
    public var signer: String
    /// SHA-256 of the previous manifest of the same environment, or nil for the first.
    public var previous: String?
    public var artifacts: [ArtifactEntry]

    /// Bytes the bundle takes in the repository, manifest aside.
    public var storedBytes: Int64 { artifacts.reduce(0) { $0 + $1.storedBytes } }
    /// Set by key rotation: SHA-256 of the bundle's manifest as first written,
    /// the digest the next bundle's `previous` names.
    public var original: String?

    enum CodingKeys: String, CodingKey {
        case format, id, environment, label, host, tool, recipients, signer, previous, artifacts, original
        case createdAt = "created_at"
    }

    public init(
        id: String, environment: String, label: String?, createdAt: String, host: String, tool: String,
        recipients: [String], signer: String, previous: String?, artifacts: [ArtifactEntry], format: String = Manifest.formatV1
    ) {
        self.format = format
        self.id = id
        self.environment = environment
        self.label = label
        self.createdAt = createdAt
        self.host = host
        self.tool = tool
        self.recipients = recipients
        self.signer = signer
        self.previous = previous
        self.artifacts = artifacts
    }

    public func encode(to encoder: any Encoder) throws {
        // Explicit nulls: every manifest has the same keys.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encode(id, forKey: .id)
        try container.encode(environment, forKey: .environment)
        try container.encode(label, forKey: .label)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(host, forKey: .host)
        try container.encode(tool, forKey: .tool)
        try container.encode(recipients, forKey: .recipients)
        try container.encode(signer, forKey: .signer)
        try container.encode(previous, forKey: .previous)
        try container.encode(artifacts, forKey: .artifacts)
        try container.encodeIfPresent(original, forKey: .original)
    }

    /// The canonical bytes: JSON with sorted keys, two-space indentation, LF, final newline.
    public func canonicalBytes() throws -> [UInt8] {
        try CanonicalJSON.bytes(self)
    }

    /// Parses manifest bytes, refusing unknown formats before anything else, and artifacts of the wrong shape.
    public static func parse(_ bytes: [UInt8]) throws -> Manifest {
        struct FormatOnly: Decodable { let format: String? }
        let data = Data(bytes)
        guard let probe = try? JSONDecoder().decode(FormatOnly.self, from: data) else {
            throw FormatError(.malformed, "the manifest is not JSON")
        }
        guard let format = probe.format else { throw FormatError(.malformed, "the manifest has no format field") }
        guard readableFormats.contains(format) else {
            throw FormatError(
                .unsupportedVersion,
                "unknown bundle format '\(format.prefix(40))'; this coffer reads \(readableFormats.joined(separator: " and ")) (a newer coffer wrote it? upgrade)")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw FormatError(.malformed, "the manifest does not have the \(format) fields: \(error)")
        }
        try manifest.artifacts.forEach { try $0.checkShape(format: format) }
        return manifest
    }

    /// SHA-256 (hex) of canonical manifest bytes, as the next manifest's `previous`.
    public static func digest(of bytes: [UInt8]) -> String { hexString(SHA256.hash(bytes)) }
}
