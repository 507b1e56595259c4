/// Object versions and their retention, asked of the server: on a versioned
/// bucket a delete removes versions one by one, and on a locked one `prune`
/// asks before it deletes whether the server would allow it.
extension S3Storage {
    struct ObjectVersion {
        var key: String
        var id: String
        /// A delete marker (it hides the object, frees nothing, and is never locked).
        var deleteMarker: Bool
    }

    /// Every version and delete marker under `prefix` (repository-relative keys), via ListObjectVersions.
    func objectVersions(under prefix: String) throws -> [ObjectVersion] {
        var versions: [ObjectVersion] = []
        var marker: (key: String, version: String)? = nil
        repeat {
            var query = [("versions", ""), ("prefix", client.location.objectKey(prefix)), ("max-keys", String(listPageSize))]
            if let marker { query += [("key-marker", marker.key), ("version-id-marker", marker.version)] }
            let page = S3XML(try client.send(.GET, key: nil, query: query).body)
            for (element, isMarker) in [("Version", false), ("DeleteMarker", true)] {
                for entry in page.elements(element) {
                    guard let key = entry.value("Key"), let id = entry.value("VersionId") else { continue }
                    versions.append(ObjectVersion(key: client.location.relativeKey(key), id: id, deleteMarker: isMarker))
                }
            }
            marker = nil
            if page.value("IsTruncated") == "true", let key = page.value("NextKeyMarker") {
                marker = (key, page.value("NextVersionIdMarker") ?? "")
            }
        } while marker != nil
        return versions
    }

    public func lockedUntil(bundleAt prefix: String, now: Int64) throws -> Int64? {
        guard try client.protection().objectLockEnabled else { return nil }
        var until: Int64? = nil
        for version in try objectVersions(under: prefix + "/") where !version.deleteMarker {
            if let locked = try retention(of: version.key, version: version.id)?.lockedUntil(now: now) { until = max(until ?? locked, locked) }
        }
        return until
    }

    public func retention(of key: String) throws -> ObjectRetention? {
        guard try client.protection().objectLockEnabled else { return nil }
        return try retention(of: key, version: nil)
    }

    /// The retention headers of one HEAD; nil when the object (version) is gone.
    private func retention(of key: String, version: String?) throws -> ObjectRetention? {
        let response = try client.send(.HEAD, key: key, query: version.map { [("versionId", $0)] } ?? [], accept: [200, 404])
        guard response.status == 200 else { return nil }
        return ObjectRetention(
            mode: response.header("x-amz-object-lock-mode").flatMap { $0.isEmpty ? nil : $0 },
            retainUntil: response.header("x-amz-object-lock-retain-until-date").flatMap(UTCTime.parseISO8601)?.seconds,
            legalHold: response.header("x-amz-object-lock-legal-hold") == "ON")
    }
}
