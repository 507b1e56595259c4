import CofferSystem
import NIOCore

/// One object being uploaded from a stream of blocks. A stream that fits in
/// one block is one PUT; a longer one becomes a multipart upload whose parts go
/// up while the producer makes the next block. On failure `abort` removes the
/// multipart upload, so no part is left behind on the server.
final class S3ObjectUpload {
    private let client: S3Client
    private let key: String
    private let partSize: Int
    /// Locked writes (`[s3] object_lock`) carry a CRC-32 of every part, as S3 demands.
    private let locked: Bool
    private var uploadID: String?
    private var parts: [(etag: String, checksum: String?)] = []
    private var uploadedBytes: Int64 = 0
    private var finished = false

    init(client: S3Client, key: String, partSize: Int) {
        self.client = client
        self.key = key
        self.partSize = partSize
        locked = client.objectLock != nil && S3ObjectLock.covers(key)
    }

    /// Uploads what `produce` pushes, parts going up while the next is produced;
    /// on failure nothing is left on the server.
    static func upload(client: S3Client, key: String, partSize: Int, _ produce: (ByteSink) throws -> Void) throws {
        let upload = S3ObjectUpload(client: client, key: key, partSize: partSize)
        do {
            try withWriteBehind({ try upload.append($0) }, blockSize: partSize) { sink in try produce(sink) }
            try upload.finish()
        } catch {
            upload.abort()
            throw error
        }
    }

    /// Takes the next block: every block but the last is exactly `partSize` bytes.
    func append(_ block: UnsafeRawBufferPointer) throws {
        let body = ByteBuffer(bytes: block)
        if uploadID == nil && block.count < partSize {
            _ = try client.send(.PUT, key: key, headers: try client.lockHeaders(for: key, body: block), body: body, signPayload: false)
            finished = true
            return
        }
        let id = try uploadID ?? start()
        let checksum = locked ? S3ObjectLock.checksum(block) : nil
        let response = try client.send(
            .PUT, key: key, query: [("partNumber", String(parts.count + 1)), ("uploadId", id)],
            headers: checksum.map { [("x-amz-checksum-crc32", $0)] } ?? [], body: body, signPayload: false)
        guard let etag = response.header("ETag") else {
            throw StorageError(.io, "the S3 server accepted part \(parts.count + 1) of \(key) without an ETag")
        }
        parts.append((etag, checksum))
        uploadedBytes += Int64(block.count)
    }

    /// Completes the upload (an empty stream becomes an empty object).
    func finish() throws {
        guard !finished else { return }
        guard let id = uploadID else {
            let empty: [UInt8] = []
            _ = try client.send(.PUT, key: key, headers: try empty.withUnsafeBytes { try client.lockHeaders(for: key, body: $0) }, body: ByteBuffer())
            finished = true
            return
        }
        var document = "<CompleteMultipartUpload>"
        for (index, part) in parts.enumerated() {
            let checksum = part.checksum.map { "<ChecksumCRC32>\($0)</ChecksumCRC32>" } ?? ""
            document += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(part.etag)</ETag>\(checksum)</Part>"
        }
        document += "</CompleteMultipartUpload>"
        let response: S3Response
        do {
            response = try client.send(.POST, key: key, query: [("uploadId", id)], body: ByteBuffer(string: document))
        } catch let error as StorageError where error.kind == .notFound {
            // A retry after a lost answer: the upload is gone because it was completed.
            let head = try client.send(.HEAD, key: key, accept: [200, 404])
            guard head.status == 200, head.header("Content-Length").flatMap({ Int64($0) }) == uploadedBytes else { throw error }
            finished = true
            return
        }
        // S3 may answer 200 and still report an error in the body.
        if S3XML(response.body).value("Code") != nil {
            throw client.error(for: S3Response(status: 500, headers: response.headers, body: response.body), what: "completing \(key)")
        }
        finished = true
    }

    /// Drops an unfinished multipart upload; best effort (the next prune retries).
    func abort() {
        guard !finished, let id = uploadID else { return }
        _ = try? client.send(.DELETE, key: key, query: [("uploadId", id)], accept: [200, 204, 404])
        uploadID = nil
    }

    private func start() throws -> String {
        // The retention is set when the upload starts; the parts then say which checksum they carry.
        let lock = locked ? try client.lockHeaders(for: key, body: nil) + [("x-amz-checksum-algorithm", "CRC32")] : []
        let response = try client.send(.POST, key: key, query: [("uploads", "")], headers: lock)
        guard let id = S3XML(response.body).value("UploadId"), !id.isEmpty else {
            throw StorageError(.io, "the S3 server did not start a multipart upload for \(key)")
        }
        uploadID = id
        return id
    }
}
