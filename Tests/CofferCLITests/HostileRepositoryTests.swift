import Foundation
import Testing

/// A coffer run that was given a deadline.
private struct TimedRun {
    let result: CommandResult
    let seconds: Double
    /// False when the deadline passed and the process was killed.
    let finished: Bool
    var output: String { result.stdout + result.stderr }
}

extension Workspace {
    /// Runs `coffer --config ... ARGS`, killing it (SIGKILL) when it has not ended after `limit` seconds.
    fileprivate func coffer(within limit: Double, _ arguments: [String], environment: [String: String] = [:]) throws -> TimedRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cofferBinary)
        process.arguments = ["--config", config] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let scratch = root + "/.run-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
        defer { for suffix in [".out", ".err"] { try? FileManager.default.removeItem(atPath: scratch + suffix) } }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: scratch + ".out")
        process.standardError = FileHandle(forWritingAtPath: scratch + ".err")
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        let start = Date()
        try process.run()
        let finished = ended.wait(timeout: .now() + limit) == .success
        if !finished {
            kill(process.processIdentifier, SIGKILL)
            ended.wait()
        }
        let seconds = Date().timeIntervalSince(start)
        let out = (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? ""
        return TimedRun(result: CommandResult(status: process.terminationStatus, stdout: out, stderr: err), seconds: seconds, finished: finished)
    }

    /// The single bundle's folder, relative to the workspace.
    fileprivate func onlyBundle() throws -> String {
        let ids = try FileManager.default.contentsOfDirectory(atPath: path("backups/bundles/development")).filter { !$0.hasPrefix(".") }
        return "backups/bundles/development/" + (try #require(ids.count == 1 ? ids.first : nil, "expected one bundle, found \(ids)"))
    }
}

/// An object of a local repository, by the role it plays.
enum RepositoryRole: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case manifest, signature, header, payload, descriptor, journalEvent

    /// Where it is, relative to the workspace (one bundle, one journal event).
    func relativePath(bundle: String) -> String {
        switch self {
        case .manifest: "\(bundle)/manifest.json"
        case .signature: "\(bundle)/manifest.json.minisig"
        case .header: "\(bundle)/artifacts/app.sqlite.gz.age-header"
        case .payload: "\(bundle)/artifacts/app.sqlite.gz.age-payload"
        case .descriptor: "backups/coffer.json"
        case .journalEvent: "backups/journal/development/000000000001.json"
        }
    }

    var testDescription: String { rawValue }
}

/// What stands in for the object: things that block a reader or never end.
enum HostileFile: String, CaseIterable, Sendable {
    case fifo, linkToDevZero, deviceNode

    /// How the messages name it.
    var phrase: String {
        switch self {
        case .fifo: "is a FIFO"
        case .linkToDevZero: "is a symbolic link"
        case .deviceNode: "is a character device"
        }
    }

    func make(at path: String) throws {
        switch self {
        case .fifo: #expect(mkfifo(path, 0o644) == 0)
        case .linkToDevZero: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        // The device /dev/zero is (character, 1, 5): Linux's makedev(1, 5), a macro Swift does not see. Only root may make one.
        case .deviceNode: #expect(mknod(path, S_IFCHR | 0o644, dev_t(1 << 8 | 5)) == 0, "mknod needs root")
        }
    }
}

/// The commands a monitoring probe or an operator runs.
enum ProbeCommand: String, CaseIterable, Sendable {
    case status, list, verifyDeep, restoreDryRun, restore, audit, pruneDryRun

    var arguments: [String] {
        switch self {
        case .status: ["status"]
        case .list: ["list"]
        case .verifyDeep: ["verify", "latest", "--deep"]
        case .restoreDryRun: ["restore", "latest", "--yes", "--dry-run"]
        case .restore: ["restore", "latest", "--yes"]
        case .audit: ["audit"]
        case .pruneDryRun: ["prune", "--dry-run"]
        }
    }
}

/// What a command must do when `role` is hostile.
enum ProbeOutcome: Equatable {
    /// Fails with this exit status and names the object and what it is.
    case refused(Int32)
    /// `list`: exit 0, the bundle left out and counted on standard error.
    case leftOut
    /// Exit 0, and the output names the object and what it is (restore's journal warning).
    case reported
    /// `status`: exit 1 (warn), and the warning names the object and what it is.
    case warned
    /// Does not read that object: exit 0.
    case unaffected
}

func expectedOutcome(_ role: RepositoryRole, _ command: ProbeCommand) -> ProbeOutcome {
    switch (role, command) {
    case (.descriptor, .status): .refused(2)
    case (.descriptor, _): .refused(5)
    case (.manifest, .status), (.signature, .status): .refused(2)
    case (.manifest, .list), (.signature, .list): .leftOut
    // Prune keeps what it cannot verify, and with no bundle it can verify deletes nothing and fails.
    case (.manifest, _), (.signature, _): .refused(5)
    // Status, list and a dry-run restore read manifests only.
    case (.header, .status), (.header, .list), (.header, .restoreDryRun): .unaffected
    case (.payload, .status), (.payload, .list), (.payload, .restoreDryRun): .unaffected
    case (.header, _), (.payload, _): .refused(5)
    // Only audit reads the journal; a restore appends to it and says the event could not be written.
    case (.journalEvent, .audit): .refused(5)
    case (.journalEvent, .restore): .reported
    // Status compares the journal with this machine's high-water mark: it cannot, and warns.
    case (.journalEvent, .status): .warned
    case (.journalEvent, _): .unaffected
    }
}

@Suite("a hostile local repository: FIFOs, devices, planted ids, oversized objects")
struct HostileRepositoryTests {
    /// A workspace with one bundle of `app.db`, whose content then changed (so a restore would change it back).
    private func withBundle(_ body: (Workspace, String) throws -> Void) throws {
        try Workspace.withSQLiteApp { ws in
            try ws.pinFormatOne()
            let snapshot = try ws.coffer("snapshot")
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(try ws.run("sqlite3", ["app.db", "INSERT INTO t VALUES (4)"]).status == 0)
            try body(ws, try ws.onlyBundle())
        }
    }

    /// Puts each kind of `hostiles` in place of the object of `role` and runs every probe command.
    private func probe(_ role: RepositoryRole, with hostiles: [HostileFile]) throws {
        try withBundle { ws, bundle in
            let object = ws.path(role.relativePath(bundle: bundle))
            let name = lastComponent(object)
            try FileManager.default.moveItem(atPath: object, toPath: ws.path("aside"))
            for hostile in hostiles {
                try hostile.make(at: object)
                for command in ProbeCommand.allCases {
                    let target = try ws.read("app.db")
                    let files = try ws.files()
                    let run = try ws.coffer(within: 10, command.arguments)
                    let what = "\(command.arguments.joined(separator: " ")) with \(hostile) as \(role): exit \(run.result.status) after \(String(format: "%.1f", run.seconds)) s\n\(run.output)"
                    #expect(run.finished, "did not answer within 10 s: \(what)")
                    guard run.finished else { continue }
                    switch expectedOutcome(role, command) {
                    case .refused(let status):
                        #expect(run.result.status == status, "\(what)")
                        #expect(run.output.contains(name) && run.output.contains(hostile.phrase), "the message must name the object and what it is: \(what)")
                        #expect(try ws.read("app.db") == target, "the target changed: \(what)")
                        #expect(try ws.files() == files, "files appeared or went: \(what)")
                    case .leftOut:
                        #expect(run.result.status == 0, "\(what)")
                        #expect(run.result.stderr.contains("1 bundle(s) left out"), "\(what)")
                    case .reported:
                        #expect(run.result.status == 0, "\(what)")
                        #expect(run.output.contains(name) && run.output.contains(hostile.phrase), "\(what)")
                    case .warned:
                        #expect(run.result.status == 1, "\(what)")
                        #expect(run.output.contains(name) && run.output.contains(hostile.phrase), "\(what)")
                    case .unaffected:
                        #expect(run.result.status == 0, "\(what)")
                    }
                }
                try FileManager.default.removeItem(atPath: object)
            }
            // Put back, the repository is whole again.
            try FileManager.default.moveItem(atPath: ws.path("aside"), toPath: object)
            let audit = try ws.coffer(within: 10, ["audit"])
            #expect(audit.result.status == 0, "\(audit.output)")
        }
    }

    @Test(
        "a FIFO or a link to /dev/zero in place of any object: status, list, verify --deep, restore, audit and prune --dry-run answer within 10 s and name it",
        arguments: RepositoryRole.allCases)
    func fifoAndDevZero(role: RepositoryRole) throws {
        try probe(role, with: [.fifo, .linkToDevZero])
    }

    @Test("a device node (/dev/zero's numbers) in place of any object is refused the same way", .enabled(if: getuid() == 0, "mknod needs root"))
    func deviceNode() throws {
        for role in RepositoryRole.allCases { try probe(role, with: [.deviceNode]) }
    }

    @Test("a FIFO as the newest manifest does not stop the next snapshot; status then names the old bundle as unreadable")
    func snapshotPastFIFO() throws {
        try withBundle { ws, bundle in
            let manifest = ws.path("\(bundle)/manifest.json")
            try FileManager.default.removeItem(atPath: manifest)
            #expect(mkfifo(manifest, 0o644) == 0)
            let snapshot = try ws.coffer(within: 10, ["snapshot"])
            #expect(snapshot.finished && snapshot.result.status == 0, "\(snapshot.output)")
            #expect(snapshot.result.stderr.contains("its manifest cannot be read"), "\(snapshot.result.stderr)")
            let id = try #require(snapshot.result.stdout.split(separator: "\n").last.map(String.init))
            #expect(try ws.coffer(within: 10, ["verify", "latest", "--deep"]).result.stdout.contains(id))
            let status = try ws.coffer(within: 10, ["status"])
            #expect(status.result.status == 1 && status.result.stdout.contains("its manifest cannot be read"), "\(status.output)")
        }
    }

    @Test("objects longer than the manifest says (8 GiB appended, sparse) are read no further than the listed size + 1 byte")
    func appendedBytes() throws {
        try withBundle { ws, bundle in
            let payload = ws.path(RepositoryRole.payload.relativePath(bundle: bundle))
            #expect(truncate(payload, 8 << 30) == 0)
            let target = try ws.read("app.db")
            for arguments in [["verify", "latest"], ["verify", "latest", "--deep"], ["restore", "latest", "--yes"], ["audit"], ["export", "latest", "-o", "out.tar"]] {
                let run = try ws.coffer(within: 10, arguments)
                let what = "\(arguments.joined(separator: " ")): exit \(run.result.status) after \(String(format: "%.1f", run.seconds)) s\n\(run.output)"
                #expect(run.finished, "did not answer within 10 s: \(what)")
                #expect(run.result.status == 5, "\(what)")
                #expect(run.output.contains("is longer than the") && run.output.contains("bytes the manifest lists"), "\(what)")
            }
            #expect(try ws.read("app.db") == target)
            #expect(!ws.exists("out.tar"))
            let prune = try ws.coffer(within: 10, ["prune", "--dry-run"])
            #expect(prune.finished && prune.output.contains("payload object is longer than the"), "\(prune.output)")
            #expect(try ws.coffer(within: 10, ["status"]).result.status == 0, "status reads manifests only")

            // A header with bytes appended is refused without being read.
            #expect(truncate(payload, off_t(try manifestSize(ws, bundle, "payload"))) == 0)
            let header = ws.path(RepositoryRole.header.relativePath(bundle: bundle))
            #expect(truncate(header, 8 << 30) == 0)
            let verify = try ws.coffer(within: 10, ["verify", "latest"])
            #expect(verify.finished && verify.result.status == 5, "\(verify.output)")
            #expect(verify.output.contains("app.sqlite.gz.age-header is 8589934592 bytes, more than the"), "\(verify.output)")
        }
    }

    @Test("a planted future bundle id: the next snapshot still takes its id from the clock; verify, restore and export find it; status warns about the planted one")
    func plantedID() throws {
        try Workspace.withSQLiteApp { ws in
            let now = ["COFFER_NOW": "2026-11-28T06:45:12Z"]
            let first = try ws.coffer("snapshot", environment: now)
            #expect(first.status == 0, "\(first.stderr)")
            let planted = "backups/bundles/development/99991231T235959Z-ffffffff"
            try FileManager.default.createDirectory(atPath: ws.path(planted), withIntermediateDirectories: true)
            try ws.write("\(planted)/manifest.json", Array("{\"junk\": true}\n".utf8))
            // Within the same second as the first bundle, and after it.
            let second = try ws.coffer("snapshot", environment: now)
            #expect(second.status == 0, "\(second.stderr)")
            let id = try #require(second.stdout.split(separator: "\n").last.map(String.init))
            #expect(id.hasPrefix("20261128T064512Z-"), "the id must come from the clock: \(id)")
            #expect(try #require(first.stdout.split(separator: "\n").last.map(String.init)) < id)

            let verify = try ws.coffer("verify", id, environment: now)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            let latest = try ws.coffer("verify", "latest", environment: now)
            #expect(latest.status == 0 && latest.stdout.contains(id), "\(latest.stdout)\(latest.stderr)")
            #expect(try ws.run("sqlite3", ["app.db", "DELETE FROM t"]).status == 0)
            let restore = try ws.coffer("restore", "latest", "--yes", environment: now)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try ws.run("sqlite3", ["app.db", "SELECT count(*) FROM t"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
            let export = try ws.coffer("export", id, "-o", "bundle.tar", environment: now)
            #expect(export.status == 0, "\(export.stderr)")

            let status = try ws.coffer("status", environment: now)
            #expect(status.status == 1, "\(status.stdout)")
            #expect(status.stdout.contains("99991231T235959Z-ffffffff is ignored: dated 9999-12-31T23:59:59Z, in the future"), "\(status.stdout)")
            #expect(status.stdout.contains("newest \(id)"), "\(status.stdout)")
            let list = try ws.coffer("list", environment: now)
            #expect(list.status == 0 && !list.stdout.contains("99991231") && list.stdout.contains(id))
            #expect(list.stderr.contains("1 bundle(s) left out"))
            let prune = try ws.coffer("prune", "--dry-run", environment: now)
            #expect(prune.status == 0 && !prune.stdout.contains("99991231"), "\(prune.stdout)")
            let audit = try ws.coffer("audit", environment: now)
            #expect(audit.status == 5 && audit.stdout.contains("99991231T235959Z-ffffffff"), "\(audit.stdout)")

            // An id that is no time at all is ignored and named too; with the junk gone, all is well.
            try FileManager.default.moveItem(atPath: ws.path(planted), toPath: ws.path("backups/bundles/development/20261399T999999Z-00000000"))
            let invalid = try ws.coffer("status", environment: now)
            #expect(invalid.status == 1 && invalid.stdout.contains("20261399T999999Z-00000000 is ignored: not a bundle id"), "\(invalid.stdout)")
            try FileManager.default.removeItem(atPath: ws.path("backups/bundles/development/20261399T999999Z-00000000"))
            let later = ["COFFER_NOW": "2026-11-28T07:00:00Z"]
            let third = try ws.coffer("snapshot", environment: later)
            #expect(third.stdout.split(separator: "\n").last?.hasPrefix("20261128T070000Z-") == true, "\(third.stdout)")
            #expect(try ws.coffer("status", environment: later).status == 0)
        }
    }

    @Test("a bundle dated a few minutes ahead (clock skew) still counts; one beyond the skew does not")
    func clockSkew() throws {
        try Workspace.withSQLiteApp { ws in
            let ahead = try ws.coffer("snapshot", environment: ["COFFER_NOW": "2026-11-28T06:49:00Z"])
            let id = try #require(ahead.stdout.split(separator: "\n").last.map(String.init))
            let skewed = try ws.coffer("list", environment: ["COFFER_NOW": "2026-11-28T06:45:00Z"])
            #expect(skewed.stdout.contains(id), "4 minutes ahead is inside the allowed skew: \(skewed.stdout)")
            let beyond = try ws.coffer("list", environment: ["COFFER_NOW": "2026-11-28T06:43:00Z"])
            #expect(!beyond.stdout.contains(id) && beyond.stderr.contains("1 bundle(s) left out"), "6 minutes ahead is not: \(beyond.stdout)")
        }
    }

    @Test("list skips a manifest that is a folder or larger than 64 MiB, counts it on standard error, and status names it")
    func unreadableManifests() throws {
        try Workspace.withSQLiteApp { ws in
            #expect(try ws.coffer("snapshot", environment: ["COFFER_NOW": "2026-11-28T06:00:00Z"]).status == 0)
            let second = try ws.coffer("snapshot", environment: ["COFFER_NOW": "2026-11-28T07:00:00Z"])
            let newest = try #require(second.stdout.split(separator: "\n").last.map(String.init))
            let older = try #require(try FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/development")).sorted().first)
            let now = ["COFFER_NOW": "2026-11-28T07:00:00Z"]
            let manifest = ws.path("backups/bundles/development/\(older)/manifest.json")
            try FileManager.default.moveItem(atPath: manifest, toPath: ws.path("aside"))

            try FileManager.default.createDirectory(atPath: manifest, withIntermediateDirectories: false)
            let folder = try ws.coffer("list", environment: now)
            #expect(folder.status == 0, "\(folder.stderr)")
            #expect(folder.stdout.contains(newest) && !folder.stdout.contains(older))
            #expect(folder.stderr.contains("1 bundle(s) left out"), "\(folder.stderr)")
            let status = try ws.coffer("status", environment: now)
            #expect(status.status == 1, "\(status.stdout)")
            #expect(status.stdout.contains("bundle \(older) is ignored, its manifest cannot be read") && status.stdout.contains("is a directory"), "\(status.stdout)")
            try FileManager.default.removeItem(atPath: manifest)

            #expect(FileManager.default.createFile(atPath: manifest, contents: nil))
            #expect(truncate(manifest, (64 << 20) + 1) == 0)
            let large = try ws.coffer("list", "--json", environment: now)
            #expect(large.status == 0, "\(large.stderr)")
            let ids = (try JSONSerialization.jsonObject(with: Data(large.stdout.utf8)) as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == [newest])
            #expect(large.stderr.contains("1 bundle(s) left out"), "\(large.stderr)")
            let statusLarge = try ws.coffer("status", environment: now)
            #expect(statusLarge.stdout.contains("bundle \(older) is ignored, its manifest cannot be read") && statusLarge.stdout.contains("67108865 bytes"), "\(statusLarge.stdout)")
        }
    }

    @Test("a repository path that is a file: list, status and snapshot say so (exit 3 for list and snapshot), naming the path")
    func repositoryIsAFile() throws {
        try Workspace.withSQLiteApp { ws in
            try ws.write("backups", Array("not a folder\n".utf8))
            let list = try ws.coffer("list")
            #expect(list.status == 3, "\(list.stdout)\(list.stderr)")
            #expect(list.stderr.contains("the repository \(ws.path("backups")) is a regular file, not a folder"), "\(list.stderr)")
            #expect(!list.stdout.contains("no bundles yet"))
            let snapshot = try ws.coffer("snapshot")
            #expect(snapshot.status == 3 && snapshot.stderr.contains("is a regular file, not a folder"), "\(snapshot.stderr)")
            let status = try ws.coffer("status")
            #expect(status.status == 2 && status.stdout.contains("is a regular file, not a folder"), "\(status.stdout)")
            #expect(try ws.read("backups") == Array("not a folder\n".utf8))
        }
    }

    @Test("a manifest whose signature does not verify is named once: 'the signature of the manifest does not verify'")
    func signatureMessage() throws {
        try withBundle { ws, bundle in
            let manifest = "\(bundle)/manifest.json"
            var bytes = try ws.read(manifest)
            bytes[bytes.count / 2] ^= 0x01
            try ws.write(manifest, bytes)
            let verify = try ws.coffer("verify", "latest")
            #expect(verify.status == 5)
            #expect(verify.stderr.contains("the signature of the manifest does not verify"), "\(verify.stderr)")
            #expect(!verify.stderr.contains("the the"), "\(verify.stderr)")
        }
    }
}

/// The last path component, as messages show it.
private func lastComponent(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

/// The size the manifest lists for the app artifact's `object` ("header" or "payload").
private func manifestSize(_ ws: Workspace, _ bundle: String, _ object: String) throws -> Int {
    let manifest = try JSONSerialization.jsonObject(with: Data(try ws.read("\(bundle)/manifest.json"))) as? [String: Any]
    let artifact = try #require((manifest?["artifacts"] as? [[String: Any]])?.first)
    return try #require((artifact[object] as? [String: Any])?["bytes"] as? Int, "no \(object).bytes in \(artifact.keys)")
}
