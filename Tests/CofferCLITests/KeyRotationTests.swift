import Foundation
import Testing

/// A workspace with two bundles of a small SQLite database.
private func withTwoBundles(formatOne: Bool = false, _ body: (Workspace, [String]) throws -> Void) throws {
    try Workspace.withSQLiteApp { ws in
        if formatOne { try ws.pinFormatOne() }
        var ids: [String] = []
        for _ in 0..<2 {
            let snapshot = try ws.coffer("snapshot")
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            ids.append(try #require(snapshot.stdout.split(separator: "\n").last.map(String.init)))
        }
        try body(ws, ids)
    }
}

/// SHA-256 of every file under the repository's bundles, by path.
private func tree(_ ws: Workspace) throws -> [String: String] {
    let out = try ws.run("sh", ["-c", "cd backups && find bundles -type f | sort | xargs sha256sum"]).stdout
    return Dictionary(uniqueKeysWithValues: out.split(separator: "\n").map { line in
        let parts = line.split(separator: " ", maxSplits: 1)
        return (String(parts[1].trimmingCharacters(in: .whitespaces)), String(parts[0]))
    })
}

private func openByHand(_ ws: Workspace, _ id: String, identity: String) throws -> CommandResult {
    let folder = "backups/bundles/development/\(id)/artifacts"
    return try ws.run("bash", ["-o", "pipefail", "-c", "cat \(folder)/app*.age-header \(folder)/app*.age-payload | age -d -i \(identity) | gunzip | head -c 15"])
}

@Suite("coffer keys rotate")
struct KeyRotationTests {
    @Test("every bundle is rewrapped for a new identity: payloads untouched, only headers and manifests move, old key retired")
    func rotation() throws {
        try withTwoBundles(formatOne: true) { ws, ids in
            try FileManager.default.copyItem(atPath: ws.path("keys/development.age"), toPath: ws.path("old.age"))
            let before = try tree(ws)
            let rotate = try ws.coffer("keys", "rotate", "--json")
            #expect(rotate.status == 0, "\(rotate.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(rotate.stdout.utf8)) as? [String: Any])
            #expect(report["rotated"] as? [String] == ids)
            let moved = try #require(report["bytes_moved"] as? Int)
            #expect(moved > 0 && moved < ids.count * (1 << 20), "bytes moved: \(moved)")

            let after = try tree(ws)
            for (path, digest) in before where path.hasSuffix("-payload") { #expect(after[path] == digest, "payload \(path) changed") }
            #expect(Set(after.keys.filter { $0.hasSuffix("-header") }).isDisjoint(with: before.keys.filter { $0.hasSuffix("-header") }))
            #expect(try String(contentsOfFile: ws.path("keys/development.age.pub"), encoding: .utf8).contains(report["recipient"] as! String))
            #expect(!ws.exists("keys/development.age.next"))
            #expect(try ws.mode("keys/development.age") & 0o077 == 0)

            for id in ids { #expect(try ws.coffer("verify", id, "--deep").status == 0) }
            #expect(try ws.run("sqlite3", ["app.db", "DELETE FROM t"]).status == 0)
            #expect(try ws.coffer("restore", "latest", "--yes").status == 0)
            #expect(try ws.run("sqlite3", ["app.db", "SELECT count(*) FROM t"]).stdout == "3\n")
            #expect(try openByHand(ws, ids[0], identity: "keys/development.age").stdout == "SQLite format 3")

            #expect(try ws.coffer("keys", "list").stdout.contains("retired: "), "keys list shows the retired identity")
            let retire = try ws.coffer("keys", "rotate", "--retire")
            #expect(retire.status == 0, "\(retire.stderr)")
            #expect(try openByHand(ws, ids[0], identity: "old.age").status != 0, "the old identity still opens a rotated bundle")
            #expect(try openByHand(ws, ids[0], identity: "keys/development.age").stdout == "SQLite format 3")
            #expect(try ws.coffer("journal").stdout.contains("rotate"))
            // A new snapshot goes to the new key only, and chains to the rotated one.
            #expect(try ws.coffer("snapshot").status == 0)
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
        }
    }

    @Test("an identity that cannot open every bundle: refused before anything changes")
    func wrongIdentity() throws {
        try withTwoBundles { ws, _ in
            let before = try tree(ws)
            let realKey = try ws.read("keys/development.age")
            #expect(try ws.run("sh", ["-c", "age-keygen -o foreign.age 2>/dev/null && cp foreign.age keys/development.age && chmod 600 keys/development.age"]).status == 0)
            let pub = try ws.read("keys/development.age.pub")
            let refused = try ws.coffer("keys", "rotate")
            #expect(refused.status == 4)
            #expect(refused.stderr.contains("cannot open") && refused.stderr.contains("nothing was changed"))
            #expect(try tree(ws) == before)
            #expect(try ws.read("keys/development.age.pub") == pub)
            #expect(!ws.exists("keys/development.age.next"))
            try ws.write("keys/development.age", realKey)
        }
    }

    @Test("killed at several points: every bundle still verifies and restores, and running it again finishes with the same new key", arguments: [
        "rotate-after-pending-manifest", "rotate-after-signature", "rotate-after-bundle-1",
    ])
    func killedAndResumed(fault: String) throws {
        try withTwoBundles { ws, ids in
            let crashed = try ws.coffer("keys", "rotate", environment: ["COFFER_FAULT": fault])
            #expect(crashed.status != 0)
            let pending = try String(contentsOfFile: ws.path("keys/development.age.next"), encoding: .utf8)
            for id in ids {
                let verify = try ws.coffer("verify", id, "--deep")
                #expect(verify.status == 0, "\(fault): \(id) \(verify.stdout)\(verify.stderr)")
            }
            if fault == "rotate-after-bundle-1" {
                let early = try ws.coffer("keys", "rotate", "--retire")
                #expect(early.status == 6)
                #expect(early.stdout.contains(ids[1]))
            }
            let resumed = try ws.coffer("keys", "rotate", "--json")
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
            #expect(pending.contains(report["recipient"] as! String), "the resumed run made another key")
            for id in ids { #expect(try ws.coffer("verify", id, "--deep").status == 0) }
            #expect(try tree(ws).keys.filter { $0.contains("rotating") || $0.hasSuffix("-header") && !$0.contains(".k") }.isEmpty)
            #expect(try ws.coffer("keys", "rotate", "--retire").status == 0)
            #expect(try ws.coffer("restore", ids[0], "--yes").status == 0)
        }
    }

    @Test("signing key: the retired key stays trusted for what it signed in its window, not after; a leaked key is dropped and everything re-signed")
    func signingKey() throws {
        try withTwoBundles { ws, ids in
            try FileManager.default.copyItem(atPath: ws.path("keys/signing.key"), toPath: ws.path("old.key"))
            try FileManager.default.copyItem(atPath: ws.path("keys/signing.pub"), toPath: ws.path("old.pub"))
            let planned = try ws.coffer("keys", "rotate", "--signing", "--json")
            #expect(planned.status == 0, "\(planned.stderr)")
            // A bundle made long after the rotation; the commands that must see it run at that time too
            // (a bundle dated in the future of the clock is ignored).
            let future = ["COFFER_NOW": "2099-01-01T00:00:00Z"]
            let later = try #require(try ws.coffer("snapshot", environment: future).stdout.split(separator: "\n").last.map(String.init))
            for id in ids + [later] { #expect(try ws.coffer("verify", id, environment: future).status == 0, "\(id) signed in its signer's window") }
            #expect(try ws.coffer("audit", environment: future).status == 0)

            // The old key signing something dated after its window: refused.
            let folder = "backups/bundles/development/\(later)"
            #expect(try ws.run("minisign", ["-S", "-s", "old.key", "-m", "\(folder)/manifest.json", "-x", "\(folder)/manifest.json.minisig"]).status == 0)
            let outside = try ws.coffer("verify", later, environment: future)
            #expect(outside.status == 5)
            #expect(outside.stderr.contains("outside the window"))
            // And a key that was never trusted.
            #expect(try ws.run("sh", ["-c", "minisign -G -W -p x.pub -s x.key >/dev/null && minisign -S -s x.key -m \(folder)/manifest.json -x \(folder)/manifest.json.minisig >/dev/null"]).status == 0)
            #expect(try ws.coffer("verify", later, environment: future).stderr.contains("not a trusted signing key"))
            // Put a good signature back: the leaked rotation must read every bundle.
            #expect(try ws.run("minisign", ["-S", "-s", "keys/signing.key", "-m", "\(folder)/manifest.json", "-x", "\(folder)/manifest.json.minisig"]).status == 0)
            #expect(try ws.coffer("verify", later, environment: future).status == 0)

            let leakedPublic = try String(contentsOfFile: ws.path("keys/signing.pub"), encoding: .utf8).split(separator: "\n")[1]
            let leaked = try ws.coffer("keys", "rotate", "--signing", "--leaked", "--json", environment: future)
            #expect(leaked.status == 0, "\(leaked.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(leaked.stdout.utf8)) as? [String: Any])
            #expect((report["resigned"] as? [String])?.count == 3)
            let trusted = try String(contentsOfFile: ws.path("keys/trusted-signers"), encoding: .utf8)
            #expect(!trusted.contains(leakedPublic), "the leaked key is still trusted")
            #expect(try ws.coffer("keys", "list").stdout.contains("trusted from the start until further notice"))
            for id in ids + [later] {
                #expect(try ws.coffer("verify", id, environment: future).status == 0)
                #expect(try ws.run("minisign", ["-Vm", "backups/bundles/development/\(id)/manifest.json", "-p", "keys/signing.pub"]).status == 0)
            }
            #expect(try ws.coffer("journal").status == 0)
            #expect(try ws.coffer("audit", environment: ["COFFER_NOW": "2099-01-01T00:00:00Z"]).status == 0)
        }
    }

    @Test("--reencrypt: fresh file keys, so an old header and the old identity no longer open the new payload")
    func reencrypt() throws {
        try withTwoBundles(formatOne: true) { ws, ids in
            try FileManager.default.copyItem(atPath: ws.path("keys/development.age"), toPath: ws.path("old.age"))
            let folder = "backups/bundles/development/\(ids[0])/artifacts"
            try FileManager.default.copyItem(atPath: ws.path("\(folder)/app.sqlite.gz.age-header"), toPath: ws.path("old-header"))
            let before = try tree(ws)
            let rotate = try ws.coffer("keys", "rotate", "--reencrypt", "--json")
            #expect(rotate.status == 0, "\(rotate.stderr)")
            let after = try tree(ws)
            let payloads = after.filter { $0.key.hasSuffix("-payload") }
            #expect(payloads.count == 2)
            #expect(Set(payloads.values).isDisjoint(with: Set(before.values)), "a payload was not re-encrypted")
            for id in ids { #expect(try ws.coffer("verify", id, "--deep").status == 0) }
            #expect(try openByHand(ws, ids[0], identity: "keys/development.age").stdout == "SQLite format 3")
            let stale = try ws.run(
                "bash", ["-o", "pipefail", "-c", "cat old-header \(folder)/*.age-payload | age -d -i old.age > /dev/null"])
            #expect(stale.status != 0, "the old file key still opens the re-encrypted payload")
            #expect(try ws.coffer("keys", "rotate", "--retire").status == 0)
        }
    }
}
