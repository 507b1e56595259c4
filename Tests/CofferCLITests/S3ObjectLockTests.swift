import Foundation
import Testing

@Suite("S3 Object Lock: immutable bundles against a real SeaweedFS", .serialized)
struct S3ObjectLockTests {
    @Test("compliance: every bundle object and journal event is locked, deletes are refused, prune keeps what is locked and removes every version of the rest, rotate and audit")
    func compliance() throws {
        try withBucketProject({ try $0.makeBucket(lock: true) }) { ws, aws, bucket in
            try ws.pinFormatOne()
            let server = aws.server
            // A bundle from before object_lock was set: the bucket locks nothing by itself.
            let unlocked = try snapshotID(ws, server)
            try ws.appendConfig("object_lock = \"compliance\"\nlock_days = 2")  // [s3] is the config's last section
            let started = Date()
            let locked = try snapshotID(ws, server)
            let newest = try snapshotID(ws, server)

            // Every object of the locked bundle, and its journal event, carry COMPLIANCE for lock_days.
            let objects = try aws.versions(bucket, prefix: "repo/bundles/development/\(locked)/").map(\.key)
            #expect(Set(objects.map { $0.split(separator: "/").last.map(String.init) ?? "" }).isSuperset(of: ["manifest.json", "manifest.json.minisig"]))
            #expect(objects.contains { $0.hasSuffix(".age-payload") } && objects.contains { $0.hasSuffix(".age-header") })
            for key in objects {
                let lock = try aws.lock(bucket, key)
                #expect(lock.mode == "COMPLIANCE", "\(key)")
                let until = try #require(lock.until, "\(key) has no retain-until")
                #expect(abs(until.timeIntervalSince(started) - 2 * 86_400) < 300, "\(key) is locked until \(until)")
            }
            let journal = try aws.versions(bucket, prefix: "repo/journal/development/").map(\.key).filter { $0.hasSuffix(".json") }
            #expect(journal.count == 3)
            #expect(try aws.lock(bucket, try #require(journal.sorted().last)).mode == "COMPLIANCE")
            #expect(try aws.lock(bucket, "repo/coffer.json").mode == nil, "the descriptor stays replaceable")

            // What an attacker with the write credentials tries: refused, bypass or not.
            let manifest = try #require(try aws.versions(bucket, prefix: "repo/bundles/development/\(locked)/manifest.json").first)
            for bypass in [false, true] {
                let delete = bypass
                    ? try aws.run("s3api", "delete-object", "--bucket", bucket, "--key", manifest.key, "--version-id", manifest.id, "--bypass-governance-retention")
                    : try aws.run("s3api", "delete-object", "--bucket", bucket, "--key", manifest.key, "--version-id", manifest.id)
                #expect(delete.status != 0 && delete.stderr.contains("AccessDenied"), "\(delete.stderr)")
            }

            // status reports what the bucket keeps.
            let status = try ws.coffer("status", "--json", environment: server.credentials)
            let statusJSON = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let lockJSON = try #require(statusJSON["object_lock"] as? [String: Any], "\(status.stdout)")
            #expect(lockJSON["bucket_enabled"] as? Bool == true && lockJSON["versioning"] as? String == "Enabled")
            #expect(lockJSON["mode"] as? String == "compliance" && lockJSON["lock_days"] as? Int == 2)
            #expect(try ws.coffer("status", environment: server.credentials).stdout.contains("object lock: enabled on the bucket; versioning Enabled; new objects locked compliance for 2 days"))

            // audit names the bundle whose objects carry no lock.
            let audit = try ws.coffer("audit", environment: server.credentials)
            #expect(audit.status != 0)
            #expect(audit.stdout.contains(unlocked) && audit.stdout.contains("has no Object Lock retention"), "\(audit.stdout)")
            #expect(!audit.stdout.contains("FAIL \(locked)") && !audit.stdout.contains("FAIL \(newest)"), "\(audit.stdout)")

            // A day and a half on: the unlocked bundle goes, every version of it; the locked one is kept and named.
            let dryRun = try pruneDecisions(try ws.coffer("prune", "--dry-run", "--json", environment: later(server, days: 1.5)))
            #expect(dryRun[unlocked]?["keep"] as? Bool == false)
            #expect(dryRun[locked]?["keep"] as? Bool == true && dryRun[locked]?["locked_until"] is String)
            let prune = try ws.coffer("prune", "--json", environment: later(server, days: 1.5))
            #expect(prune.status == 0, "\(prune.stderr)")
            let decisions = try pruneDecisions(prune)
            #expect((decisions[locked]?["reason"] as? String)?.contains("S3 Object Lock holds it until") == true, "\(prune.stdout)")
            #expect(try aws.versions(bucket, prefix: "repo/bundles/development/\(unlocked)/").isEmpty, "every version and marker of a pruned bundle goes")

            // Three days on, Coffer's clock says the lock has passed but the server's does not: refused, kept, the run goes on.
            let refused = try ws.coffer("prune", "--json", environment: later(server, days: 3))
            #expect(refused.status == 0, "\(refused.stderr)")
            #expect(try pruneDecisions(refused)[locked]?["delete_refused"] is String, "\(refused.stdout)")
            #expect(refused.stderr.contains("the server refused to delete 1 bundle(s) (\(locked))"), "\(refused.stderr)")
            #expect(try ws.coffer("verify", locked, environment: server.credentials).status == 0)

            // keys rotate on a locked bucket: new headers and manifest versions, nothing deleted, every bundle still opens.
            let rotate = try ws.coffer("keys", "rotate", "--json", environment: server.credentials)
            #expect(rotate.status == 0, "\(rotate.stderr)")
            let rotateJSON = try #require(try JSONSerialization.jsonObject(with: Data(rotate.stdout.utf8)) as? [String: Any])
            #expect(((rotateJSON["left_behind"] as? [String]) ?? []).contains { $0.hasSuffix(".age-header") }, "\(rotate.stdout)")
            let manifestKey = "repo/bundles/development/\(locked)/manifest.json"
            #expect(try aws.versions(bucket, prefix: manifestKey).filter { $0.key == manifestKey && !$0.marker }.count == 2, "the first manifest version stays")
            for id in [locked, newest] {
                let verify = try ws.coffer("verify", id, "--deep", environment: server.credentials)
                #expect(verify.status == 0, "\(verify.stderr)")
            }
            let after = try ws.coffer("audit", environment: server.credentials)
            #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
        }
    }

    @Test("format 2 on a compliance bucket: chunks are locked when written, and each new bundle extends the lock of the chunks it reuses")
    func chunkedCompliance() throws {
        try withBucketProject({ try $0.makeBucket(lock: true) }, s3Extra: "object_lock = \"compliance\"\nlock_days = 2") { ws, aws, bucket in
            let server = aws.server
            let first = try snapshotID(ws, server)
            let chunks = try aws.versions(bucket, prefix: "repo/chunks/development/").map(\.key)
            #expect(chunks.contains { $0.hasSuffix(".age-payload") } && chunks.contains { $0.hasSuffix(".age-header") }, "\(chunks)")
            var before: [String: Date] = [:]
            for key in chunks {
                let lock = try aws.lock(bucket, key)
                #expect(lock.mode == "COMPLIANCE", "\(key)")
                before[key] = try #require(lock.until)
            }
            Thread.sleep(forTimeInterval: 2.5)
            let second = try snapshotID(ws, server)
            // The second bundle wrote nothing new (nothing changed) and holds every chunk the first does, longer.
            #expect(try aws.versions(bucket, prefix: "repo/chunks/development/").map(\.key).sorted() == chunks.sorted())
            for key in chunks {
                let until = try #require(try aws.lock(bucket, key).until)
                #expect(until.timeIntervalSince(before[key]!) >= 2, "\(key): \(before[key]!) -> \(until)")
            }
            let audit = try ws.coffer("audit", environment: server.credentials)
            #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")
            // A day and a half on, retention (1 day) lets the first bundle go, but the server still locks it; its chunks are the second's too.
            let later = ["COFFER_NOW": rfc3339(Date().addingTimeInterval(36 * 3600))].merging(server.credentials) { $1 }
            let pruned = try jsonObject(try ws.coffer("prune", "--json", environment: later))
            let firstDecision = (pruned["bundles"] as? [[String: Any]])?.first { $0["id"] as? String == first }
            #expect(firstDecision?["keep"] as? Bool == true && firstDecision?["locked_until"] is String, "\(pruned)")
            #expect((pruned["chunks"] as? [String: Any])?["deleted"] as? Int == 0, "\(pruned)")
            #expect(try ws.coffer("verify", second, "--deep", environment: server.credentials).status == 0)
        }
    }

    @Test("governance: objects carry GOVERNANCE and deletes are refused, prune keeps the bundle; an admin who bypasses governance can delete, and Coffer then names the damage")
    func governance() throws {
        try withBucketProject({ try $0.makeBucket(lock: true) }, s3Extra: "object_lock = \"governance\"\nlock_days = 2") { ws, aws, bucket in
            try ws.pinFormatOne()
            let server = aws.server
            let first = try snapshotID(ws, server)
            _ = try snapshotID(ws, server)
            let objects = try aws.versions(bucket, prefix: "repo/bundles/development/\(first)/")
            #expect(!objects.isEmpty)
            for object in objects { #expect(try aws.lock(bucket, object.key).mode == "GOVERNANCE", "\(object.key)") }
            let payload = try #require(objects.first { $0.key.hasSuffix(".age-payload") })
            let delete = try aws.run("s3api", "delete-object", "--bucket", bucket, "--key", payload.key, "--version-id", payload.id)
            #expect(delete.status != 0 && delete.stderr.contains("AccessDenied"), "\(delete.stderr)")
            let prune = try ws.coffer("prune", "--json", environment: later(server, days: 1.5))
            #expect(prune.status == 0, "\(prune.stderr)")
            #expect(try pruneDecisions(prune)[first]?["locked_until"] is String, "\(prune.stdout)")
            #expect(try ws.coffer("verify", first, "--deep", environment: server.credentials).status == 0)

            // Governance yields to a credential allowed to bypass it (this one is an admin): why
            // compliance is the mode against a stolen key. The damage does not go unnoticed.
            let bypass = try aws.run(
                "s3api", "delete-object", "--bucket", bucket, "--key", payload.key, "--version-id", payload.id, "--bypass-governance-retention")
            #expect(bypass.status == 0, "\(bypass.stderr)")
            let verify = try ws.coffer("verify", first, environment: server.credentials)
            #expect(verify.status != 0 && (verify.stdout + verify.stderr).contains("app"), "\(verify.stdout)\(verify.stderr)")
            let audit = try ws.coffer("audit", environment: server.credentials)
            #expect(audit.status != 0 && audit.stdout.contains("FAIL \(first)"), "\(audit.stdout)")
        }
    }

    @Test("object_lock on a bucket without Object Lock: the snapshot is refused (exit 3) before anything is written, status warns")
    func bucketWithoutLock() throws {
        try withBucketProject({ try $0.makeBucket() }, s3Extra: "object_lock = \"compliance\"") { ws, aws, bucket in
            let snapshot = try ws.coffer("snapshot", environment: aws.server.credentials)
            #expect(snapshot.status == 3, "\(snapshot.stdout)\(snapshot.stderr)")
            #expect(snapshot.stderr.contains("cannot keep locks") && snapshot.stderr.contains("--object-lock-enabled-for-bucket"), "\(snapshot.stderr)")
            #expect(try aws.versions(bucket, prefix: "repo/bundles/").isEmpty, "a refused snapshot leaves nothing")
            #expect(try aws.run("s3api", "list-multipart-uploads", "--bucket", bucket).stdout.contains("UploadId") == false)
            let status = try ws.coffer("status", environment: aws.server.credentials)
            #expect(status.status != 0 && status.stdout.contains("cannot keep locks"), "\(status.stdout)")
        }
    }

    @Test("bad settings: a lock shorter than retention, an unknown mode, lock_days without object_lock (exit 3, naming the key)")
    func badSettings() throws {
        let cases = [
            ("object_lock = \"compliance\"\nlock_days = 3", "lock_days", "shorter than the 7 days"),
            ("object_lock = \"forever\"", "object_lock", "must be \"compliance\" or \"governance\""),
            ("lock_days = 30", "lock_days", "object_lock is not"),
        ]
        for (settings, key, message) in cases {
            try withS3Project { ws, server, _ in
                try ws.appendConfig(settings)  // [s3] is the config's last section
                let result = try ws.coffer("snapshot", environment: server.credentials)
                #expect(result.status == 3, "\(settings): \(result.stderr)")
                #expect(result.stderr.contains("[s3] \(key)") && result.stderr.contains(message), "\(result.stderr)")
            }
        }
    }

    @Test("a credential that may write but not delete: snapshots and journal events go through, prune and rotate keep going and report")
    func writeOnlyCredential() throws {
        try withBucketProject({ aws in
            let bucket = try aws.makeBucket()
            try aws.denyDeletes(bucket)
            return bucket
        }) { ws, aws, bucket in
            let server = aws.server
            let first = try snapshotID(ws, server)
            let second = try snapshotID(ws, server)
            #expect(try aws.versions(bucket, prefix: "repo/journal/development/").filter { $0.key.hasSuffix(".json") }.count == 2)
            let status = try ws.coffer("status", "--json", environment: server.credentials)
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            #expect(status.stdout.contains("\"writable\" : true") || status.stdout.contains("\"writable\":true"), "\(status.stdout)")

            let prune = try ws.coffer("prune", "--json", environment: later(server, days: 3))
            #expect(prune.status == 0, "\(prune.stderr)")
            let decisions = try pruneDecisions(prune)
            #expect((decisions[first]?["delete_refused"] as? String)?.contains("refused to delete") == true, "\(prune.stdout)")
            #expect(decisions[second]?["keep"] as? Bool == true)
            #expect(try ws.coffer("list", environment: server.credentials).stdout.contains(first))
            #expect(try ws.coffer("verify", first, environment: server.credentials).status == 0, "a refused delete leaves the bundle whole")

            let rotate = try ws.coffer("keys", "rotate", environment: server.credentials)
            #expect(rotate.status == 0, "\(rotate.stderr)")
            #expect(rotate.stderr.contains("replaced object(s) stay in the repository"), "\(rotate.stderr)")
            #expect(try ws.coffer("verify", second, "--deep", environment: server.credentials).status == 0)
        }
    }

    @Test("a versioned bucket: prune removes every version of a bundle, not just adds delete markers")
    func versionedBucket() throws {
        try withBucketProject({ try $0.makeBucket(versioned: true) }) { ws, aws, bucket in
            let server = aws.server
            let first = try snapshotID(ws, server)
            _ = try snapshotID(ws, server)
            #expect(!(try aws.versions(bucket, prefix: "repo/bundles/development/\(first)/")).isEmpty)
            let prune = try ws.coffer("prune", "--json", environment: later(server, days: 3))
            #expect(prune.status == 0, "\(prune.stderr)")
            #expect(try pruneDecisions(prune)[first]?["keep"] as? Bool == false, "\(prune.stdout)")
            #expect(try aws.versions(bucket, prefix: "repo/bundles/development/\(first)/").isEmpty)
        }
    }
}
