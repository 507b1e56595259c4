import Foundation
import Testing

@Suite("coffer file")
struct FileCommandTests {
    @Test("encrypt then decrypt with the config's keys; age opens the output too")
    func roundTrip() throws {
        try Workspace.with { ws in
            let data = randomBytes(200_000)
            try ws.write("data.bin", data)
            #expect(try ws.coffer("file", "encrypt", "data.bin").status == 0)
            #expect(ws.exists("data.bin.age"))
            let byAge = try ws.run("sh", ["-c", "age -d -i keys/development.age data.bin.age | cmp - data.bin"])
            #expect(byAge.status == 0, "\(byAge.stderr)")
            let decrypted = try ws.coffer("file", "decrypt", "data.bin.age", "-o", "back.bin")
            #expect(decrypted.status == 0, "\(decrypted.stderr)")
            #expect(try ws.read("back.bin") == data)
            #expect(try ws.mode("back.bin") == 0o600)
        }
    }

    @Test("--split writes header and payload; cat header payload | age -d works; decrypt finds the header")
    func split() throws {
        try Workspace.with { ws in
            try ws.write("db", randomBytes(70_000))
            #expect(try ws.coffer("file", "encrypt", "--split", "db").status == 0)
            let joined = try ws.run("sh", ["-c", "cat db.age-header db.age-payload | age -d -i keys/development.age | cmp - db"])
            #expect(joined.status == 0, "\(joined.stderr)")
            #expect(try ws.coffer("file", "decrypt", "db.age-payload", "-o", "db.out").status == 0)
            #expect(try ws.read("db.out") == (try ws.read("db")))
        }
    }

    @Test("tampered, truncated or foreign input fails with the right status and leaves no output")
    func badInput() throws {
        try Workspace.with { ws in
            try ws.write("data", randomBytes(100_000))
            #expect(try ws.coffer("file", "encrypt", "data").status == 0)
            var flipped = try ws.read("data.age")
            flipped[flipped.count - 100] ^= 0x40
            try ws.write("flipped.age", flipped)
            try ws.write("truncated.age", Array(try ws.read("data.age").dropLast(20)))
            let before = try ws.files()

            for name in ["flipped.age", "truncated.age"] {
                let result = try ws.coffer("file", "decrypt", name, "-o", "out")
                #expect(result.status == 5, "\(name): \(result.stderr)")
                #expect(result.stderr.contains("coffer: error: age payload"))
            }
            #expect(try ws.files() == before, "a failed decryption left files behind")

            #expect(try ws.run("age-keygen", ["-o", "other.key"]).status == 0)
            let foreign = try ws.coffer("file", "decrypt", "data.age", "-o", "out", "-i", "other.key")
            #expect(foreign.status == 4)
            #expect(foreign.stderr.contains("wrong key"))
            #expect(!ws.exists("out"))
        }
    }

    @Test("a world-readable identity is refused with the chmod that fixes it")
    func openIdentity() throws {
        try Workspace.with { ws in
            try ws.write("data", Array("x".utf8))
            #expect(try ws.coffer("file", "encrypt", "data").status == 0)
            #expect(chmod(ws.path("keys/development.age"), 0o644) == 0)
            let result = try ws.coffer("file", "decrypt", "data.age", "-o", "out")
            #expect(result.status == 4)
            #expect(result.stderr.contains("chmod 600"))
            #expect(!result.stderr.contains("AGE-SECRET-KEY"))
            #expect(!ws.exists("out"))
        }
    }

    @Test("passphrase encryption from an environment variable; the wrong one exits 4")
    func passphrase() throws {
        try Workspace.with(keys: false) { ws in
            try ws.write("notes", Array("by passphrase".utf8))
            let env = ["PASS": "a long passphrase", "WRONG": "not it"]
            #expect(try ws.coffer("file", "encrypt", "notes", "--passphrase-env", "PASS", environment: env).status == 0)
            #expect(try ws.coffer("file", "decrypt", "notes.age", "-o", "out", "--passphrase-env", "PASS", environment: env).status == 0)
            #expect(try ws.read("out") == Array("by passphrase".utf8))
            let wrong = try ws.coffer("file", "decrypt", "notes.age", "-o", "out2", "--passphrase-env", "WRONG", environment: env)
            #expect(wrong.status == 4)
            #expect(!ws.exists("out2"))
            #expect(try ws.coffer("file", "encrypt", "notes", "-p", "-r", "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj").status == 64)
        }
    }

    @Test("output into a FIFO is written through, never renamed over")
    func fifoOutput() throws {
        try Workspace.with { ws in
            let data = randomBytes(150_000)
            try ws.write("data", data)
            #expect(try ws.coffer("file", "encrypt", "data").status == 0)
            #expect(try ws.run("mkfifo", ["pipe"]).status == 0)
            let result = try ws.run("sh", ["-c", "cat pipe > received & \"\(cofferBinary)\" --config coffer.toml file decrypt data.age -o pipe; status=$?; wait; exit $status"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try ws.read("received") == data)
            #expect(try ws.run("test", ["-p", "pipe"]).status == 0, "the FIFO was replaced by a regular file")
        }
    }

    @Test("an existing output is not replaced without --force")
    func noClobber() throws {
        try Workspace.with { ws in
            try ws.write("data", Array("x".utf8))
            try ws.write("data.age", Array("precious".utf8))
            let result = try ws.coffer("file", "encrypt", "data")
            #expect(result.status == 6)
            #expect(try ws.read("data.age") == Array("precious".utf8))
            #expect(try ws.coffer("file", "encrypt", "data", "--force").status == 0)
        }
    }

    @Test("sign and verify; minisign agrees; an edited trusted comment or another key fails with 5")
    func signatures() throws {
        try Workspace.with { ws in
            try ws.write("manifest.json", Array("{}".utf8))
            let signed = try ws.coffer("file", "sign", "manifest.json", "-t", "bundle 42")
            #expect(signed.status == 0, "\(signed.stderr)")
            #expect(try ws.run("minisign", ["-Vm", "manifest.json", "-p", "keys/signing.pub"]).status == 0)
            let verified = try ws.coffer("file", "verify", "manifest.json", "--json")
            #expect(verified.status == 0)
            #expect(verified.stdout.contains("bundle 42"))

            let original = String(decoding: try ws.read("manifest.json.minisig"), as: UTF8.self)
            try ws.write("manifest.json.minisig", Array(original.replacingOccurrences(of: "bundle 42", with: "bundle 43").utf8))
            let edited = try ws.coffer("file", "verify", "manifest.json")
            #expect(edited.status == 5)
            #expect(edited.stderr.contains("trusted comment"))

            #expect(try ws.run("minisign", ["-G", "-W", "-p", "other.pub", "-s", "other.key"]).status == 0)
            #expect(try ws.run("minisign", ["-S", "-s", "other.key", "-m", "manifest.json"]).status == 0)
            let foreign = try ws.coffer("file", "verify", "manifest.json")
            #expect(foreign.status == 5)
            #expect(foreign.stderr.contains("key id"))
        }
    }

    @Test("every command has help")
    func help() throws {
        try Workspace.with(keys: false) { ws in
            for command in [["--help"], ["keys", "init", "--help"], ["keys", "list", "--help"], ["file", "encrypt", "--help"],
                            ["file", "decrypt", "--help"], ["file", "sign", "--help"], ["file", "verify", "--help"]] {
                let result = try ws.run(cofferBinary, command)
                #expect(result.status == 0)
                #expect(result.stdout.contains("USAGE"))
            }
        }
    }
}
