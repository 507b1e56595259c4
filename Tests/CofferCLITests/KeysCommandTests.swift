import Foundation
import Testing

@Suite("coffer keys")
struct KeysCommandTests {
    @Test("keys init writes the four files, 0600 for secrets; age and minisign accept them")
    func initialize() throws {
        try Workspace.with(keys: false) { ws in
            let result = try ws.coffer("keys", "init", "--json")
            #expect(result.status == 0, "\(result.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let recipient = try #require(json["recipient"] as? String)
            #expect(recipient.hasPrefix("age1"))
            #expect(try ws.mode("keys/development.age") == 0o600)
            #expect(try ws.mode("keys/signing.key") == 0o600)
            #expect(try ws.mode("keys/development.age.pub") == 0o644)

            try ws.write("plain", Array("hello".utf8))
            #expect(try ws.run("age", ["-r", recipient, "-o", "plain.age", "plain"]).status == 0)
            let opened = try ws.run("age", ["-d", "-i", "keys/development.age", "plain.age"])
            #expect(opened.stdout == "hello", "\(opened.stderr)")
            #expect(try ws.run("minisign", ["-S", "-s", "keys/signing.key", "-m", "plain"]).status == 0)
            #expect(try ws.run("minisign", ["-Vm", "plain", "-p", "keys/signing.pub"]).status == 0)
        }
    }

    @Test("keys init refuses to overwrite (exit 6) and leaves the keys as they were")
    func refuseOverwrite() throws {
        try Workspace.with { ws in
            let before = try ws.read("keys/development.age")
            let again = try ws.coffer("keys", "init")
            #expect(again.status == 6)
            #expect(again.stderr.contains("already exists"))
            #expect(try ws.read("keys/development.age") == before)
        }
    }

    @Test("keys init --env adds an environment; keys list shows ids and problems")
    func listing() throws {
        try Workspace.with { ws in
            #expect(try ws.coffer("keys", "init", "--env", "staging").status == 0)
            let list = try ws.coffer("keys", "list", "--json")
            #expect(list.status == 0, "\(list.stderr)")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            #expect(entries.count == 7)
            #expect(entries.contains { $0["kind"] as? String == "chunk-key" })
            #expect(Set(entries.compactMap { $0["environment"] as? String }) == ["development", "staging"])

            #expect(chmod(ws.path("keys/staging.age"), 0o644) == 0)
            let human = try ws.coffer("keys", "list")
            #expect(human.stdout.contains("PROBLEM") && human.stdout.contains("chmod 600"))
            #expect(try ws.coffer("keys", "init", "--env", "Bad Name").status == 64)
        }
    }

    @Test("--password-env encrypts the signing key; signing then needs the password")
    func encryptedSigningKey() throws {
        try Workspace.with(keys: false) { ws in
            let env = ["SIGNING_PW": "correct horse"]
            #expect(try ws.coffer("keys", "init", "--password-env", "SIGNING_PW", environment: env).status == 0)
            let keyText = String(decoding: try ws.read("keys/signing.key"), as: UTF8.self)
            #expect(!keyText.contains("correct horse"))
            try ws.write("doc", Array("d".utf8))
            let withoutPassword = try ws.coffer("file", "sign", "doc")
            #expect(withoutPassword.status == 4)
            #expect(!ws.exists("doc.minisig"))
            let signed = try ws.coffer("file", "sign", "doc", "--password-env", "SIGNING_PW", environment: env)
            #expect(signed.status == 0, "\(signed.stderr)")
            #expect(try ws.run("minisign", ["-Vm", "doc", "-p", "keys/signing.pub"]).status == 0)
            let wrong = try ws.coffer("file", "sign", "doc", "--force", "--password-env", "SIGNING_PW", environment: ["SIGNING_PW": "nope"])
            #expect(wrong.status == 4)
            #expect(wrong.stderr.contains("wrong password"))
        }
    }

    @Test("a broken or missing config exits 3 naming the problem")
    func configErrors() throws {
        try Workspace.with(keys: false) { ws in
            try "environment = \"prod\"\n".write(toFile: ws.config, atomically: true, encoding: .utf8)
            let bad = try ws.coffer("keys", "list")
            #expect(bad.status == 3)
            #expect(bad.stderr.contains("environment"))
            let missing = try ws.run(cofferBinary, ["--config", ws.path("nope.toml"), "keys", "list"])
            #expect(missing.status == 3)
            #expect(missing.stderr.contains("--config"))
        }
    }
}
