import Foundation
import Testing

@Suite("coffer restore edits a dotenv file")
struct EnvEditCommandTests {
    @Test("restore puts back the one changed variable; every other byte and the mode 0644 stay, and rollback brings back the file as it was")
    func restoreEditsInPlace() throws {
        try Workspace.with { ws in
            try """
                environment = "development"
                repository = "backups"
                keys = "keys"

                [env]
                include = ["JWT_SECRET_KEY"]
                file = "app.env"
                """.write(toFile: ws.config, atomically: true, encoding: .utf8)
            func envFile(jwt: String) -> [UInt8] {
                Array("# settings\r\nMY-VAR=1\nexport\tX=1\nSINGLE='one\ntwo'\nA=\"x\" y\nno equals\nSMTP_PASSWORD=p".utf8)
                    + [0xE9, 0xFF] + Array("ss\nJWT_SECRET_KEY=\"\(jwt)\"\r\nLAST=1".utf8)
            }
            let original = envFile(jwt: "s3cr3t-value")
            try ws.write("app.env", original)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: ws.path("app.env"))

            let snapshot = try ws.coffer("snapshot")
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(snapshot.stderr.contains("lines 2 (invalid variable name), 6 (text after the closing quote), 7 (expected NAME=value) are not NAME=value"), "\(snapshot.stderr)")

            try ws.write("app.env", envFile(jwt: "rotated"))
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: ws.path("app.env"))
            let restored = try ws.coffer("restore", "latest", "--yes")
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try ws.read("app.env") == original)
            #expect(try ws.mode("app.env") == 0o644)
            #expect(!(restored.stdout + restored.stderr).contains("s3cr3t"))

            // Rollback puts the very file back (its inode, so its bytes and mode).
            let id = try #require(restored.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
            #expect(try ws.coffer("rollback", id).status == 0)
            #expect(try ws.read("app.env") == envFile(jwt: "rotated"))
            #expect(try ws.mode("app.env") == 0o644)
        }
    }
}
