import CofferCrypto

/// One chunk of a format v2 artifact, as the manifest lists it: the chunk id
/// (HMAC-SHA-256 of its plaintext under the repository's chunk key), its
/// plaintext size, and size and SHA-256 of its two objects. The objects live
/// under `chunks/ENV/` and are shared by every bundle whose artifacts hold
/// the same bytes; each is named by the chunk id and its own digest, so an
/// object is never rewritten in place (rotation writes new headers beside the
/// old ones; a copy never meets another ciphertext under the same name).
public struct ChunkReference: Codable, Equatable, Hashable, Sendable {
    public var id: String
    public var plainBytes: Int64
    public var header: ObjectDigest
    public var payload: ObjectDigest

    enum CodingKeys: String, CodingKey {
        case id, header, payload
        case plainBytes = "plain_bytes"
    }

    public init(id: String, plainBytes: Int64, header: ObjectDigest, payload: ObjectDigest) {
        self.id = id
        self.plainBytes = plainBytes
        self.header = header
        self.payload = payload
    }

    /// `chunks/ENV/ab/ID-DIGEST16.age-header`, repository-relative.
    public func headerKey(environment: String) -> String { BundleLayout.chunkKey(environment: environment, id: id, digest: header.sha256, suffix: BundleLayout.headerSuffix) }

    /// `chunks/ENV/ab/ID-DIGEST16.age-payload`, repository-relative.
    public func payloadKey(environment: String) -> String { BundleLayout.chunkKey(environment: environment, id: id, digest: payload.sha256, suffix: BundleLayout.payloadSuffix) }

    /// Bytes of its two objects.
    public var storedBytes: Int64 { header.bytes + payload.bytes }

    /// True for 64 lower-case hex digits (also guards the paths built from ids).
    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// One sealed unit of an artifact to read: the whole artifact of format v1,
/// or one chunk of format v2. Keys are repository-relative.
public struct ArtifactPiece: Sendable, Equatable {
    /// For messages: `app`, or `app: chunk 3 of 12 (1f2e3d4c...)`.
    public var label: String
    public var headerKey: String
    public var payloadKey: String
    public var header: ObjectDigest
    public var payload: ObjectDigest
    public var plainBytes: Int64
    /// The chunk this piece is; nil in format v1.
    public var chunk: ChunkReference?

    public var storedBytes: Int64 { header.bytes + payload.bytes }
}

extension ArtifactEntry {
    /// What to fetch and open, in order, to get the artifact back.
    public func pieces(environment: String, bundleID: String) -> [ArtifactPiece] {
        if let chunks {
            return chunks.enumerated().map { index, chunk in
                ArtifactPiece(
                    label: "\(name): chunk \(index + 1) of \(chunks.count) (\(chunk.id.prefix(12)))", headerKey: chunk.headerKey(environment: environment),
                    payloadKey: chunk.payloadKey(environment: environment), header: chunk.header, payload: chunk.payload, plainBytes: chunk.plainBytes,
                    chunk: chunk)
            }
        }
        guard let header, let payload else { return [] }
        let prefix = BundleLayout.bundlePrefix(environment: environment, id: bundleID)
        return [
            ArtifactPiece(
                label: name, headerKey: "\(prefix)/\(headerPath)", payloadKey: "\(prefix)/\(payloadPath)", header: header, payload: payload,
                plainBytes: plainBytes, chunk: nil)
        ]
    }
}
