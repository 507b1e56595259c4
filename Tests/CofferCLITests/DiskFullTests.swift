import Foundation
import Testing

@Suite("a local repository that fills up")
struct DiskFullTests {
    @Test("the disk fills during a snapshot: a clear error, the earlier bundle intact, no partial bundle left")
    func diskFullMidSnapshot() throws {
        try Workspace.withSQLiteApp(sql: "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO t SELECT zeroblob(1000) FROM n;") { ws in
            // First bundle of a very compressible database, so the space check expects the next one to be tiny.
            let first = try ws.coffer("snapshot")
            #expect(first.status == 0, "\(first.stderr)")
            // Then 2 MB of random bytes: the bundle needs far more than the estimate, and more than the 1.5 MiB disk.
            #expect(try ws.run("sqlite3", ["app.db", "UPDATE t SET x = randomblob(1000)"]).status == 0)
            try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "repository = \"backups\"", with: "repository = \"small-disk\"")
                .write(toFile: ws.path("full.toml"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: ws.path("small-disk"), withIntermediateDirectories: true)
            // A 1.5 MiB tmpfs in a private mount namespace (user namespace when not root): a real ENOSPC.
            let script = """
                set -e
                mount -t tmpfs -o size=1536k tmpfs small-disk
                cp -R backups/. small-disk/
                set +e
                "$COFFER" --config full.toml snapshot > out.txt 2> err.txt
                echo "status=$?"
                ls -A small-disk/bundles/development
                "$COFFER" --config full.toml verify latest > /dev/null 2>&1 && echo "verify=ok"
                """
            let unshare = try ws.run("unshare", (getuid() == 0 ? ["-m"] : ["-rm"]) + ["sh", "-c", script], environment: ["COFFER": cofferBinary])
            #expect(unshare.status == 0, "\(unshare.stderr)")
            let lines = unshare.stdout.split(separator: "\n").map(String.init)
            let firstID = try #require(first.stdout.split(separator: "\n").last.map(String.init))
            #expect(lines.first == "status=1", "\(unshare.stdout)")
            #expect(Array(lines.dropFirst()) == [firstID, "verify=ok"], "only the earlier bundle, whole: \(unshare.stdout)")
            let stderr = try String(contentsOfFile: ws.path("err.txt"), encoding: .utf8)
            #expect(stderr.contains("No space left on device"), "\(stderr)")
        }
    }
}
