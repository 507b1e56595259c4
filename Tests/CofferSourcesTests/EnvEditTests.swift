import CofferFormat
import CofferSystem
import Foundation
import Testing

@testable import CofferSources

/// Text or raw bytes, so a test can spell out a file that is not UTF-8.
private protocol BytePart { var partBytes: [UInt8] { get } }
extension String: BytePart { fileprivate var partBytes: [UInt8] { Array(utf8) } }
extension Array: BytePart where Element == UInt8 { fileprivate var partBytes: [UInt8] { self } }

private func bytes(_ parts: any BytePart...) -> [UInt8] { parts.flatMap(\.partBytes) }

/// Bytes that are not UTF-8 on their own.
private let eAcuteLatin1: [UInt8] = [0xE9]
private let byteFF: [UInt8] = [0xFF]

/// A current file with every line shape Coffer must keep: CRLF lines, comments,
/// names it refuses, `export<TAB>`, a multi-line single-quoted value, text after
/// a closing quote, a line without `=`, a value that is not UTF-8, a multi-line
/// double-quoted value whose inner line looks like an assignment, a restored
/// name twice, a critical variable the bundle lacks, an unterminated quote (last,
/// so no later quote closes it) and no final newline.
private let currentFile = bytes(
    "# app settings\n",
    "JWT_SECRET_KEY=\"old-jwt\"\r\n",
    "MY-VAR=1\r\n",
    "export\tX=1\n",
    "SINGLE='line one\nline two'\n",
    "A=\"x\" y\n",
    "no equals sign here\n",
    "LATIN=caf", eAcuteLatin1, " # unrelated, not UTF-8\n",
    "MULTI=\"first\nJWT_SECRET_KEY=inside\nlast\"\n",
    "\n",
    "export DATABASE_URL = 'postgres://old' # primary\n",
    "APP_LOCAL=\"only here\"\n",
    "JWT_SECRET_KEY=dup\n",
    "BROKEN=\"never closed\n",
    "TAIL=end")

/// A restored value with every byte that needs care: not UTF-8, `"`, `\`, newline, CR.
private let awkwardValue: [UInt8] = [0xFF, UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, UInt8(ascii: "z")]

private let bundle: [(name: String, value: [UInt8])] = [
    ("APP_MODE", bytes("prod")), ("DATABASE_URL", bytes("postgres://new")), ("JWT_SECRET_KEY", awkwardValue),
]

@Suite("env restore edits the dotenv file")
struct EnvEditTests {
    @Test("the scanner splits a file into spans that cover every byte once")
    func scan() {
        let spans = Dotenv.scan(currentFile)
        #expect(spans.flatMap { currentFile[$0.bytes] } == currentFile)
        let kinds = spans.map { span -> String in
            switch span.kind {
            case .assignment(let name, _): name
            case .blank: "-"
            case .unreadable(let reason): "?\(reason)"
            }
        }
        #expect(kinds == [
            "-", "JWT_SECRET_KEY", "?invalid variable name", "X", "SINGLE", "?text after the closing quote",
            "?expected NAME=value", "LATIN", "MULTI", "-", "DATABASE_URL", "APP_LOCAL", "JWT_SECRET_KEY",
            "?unterminated double quote", "TAIL",
        ])
    }

    @Test("reading is tolerant: values are bytes, odd lines are reported by number")
    func read() {
        let (variables, unreadable) = Dotenv.read(currentFile)
        let values = Dictionary(variables.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        #expect(values["X"] == bytes("1"))
        #expect(values["SINGLE"] == bytes("line one\nline two"))
        #expect(values["LATIN"] == bytes("caf", eAcuteLatin1))
        #expect(values["MULTI"] == bytes("first\nJWT_SECRET_KEY=inside\nlast"))
        #expect(values["DATABASE_URL"] == bytes("postgres://old"))
        #expect(values["JWT_SECRET_KEY"] == bytes("dup"), "a later duplicate wins")
        #expect(values["TAIL"] == bytes("end"))
        #expect(unreadable.map(\.line) == [3, 7, 8, 17])
        #expect(throws: Dotenv.ParseError.self) { try Dotenv.parse(currentFile) }
    }

    @Test("awkward values round-trip through render and parse")
    func roundTrip() throws {
        let variables: [(name: String, value: [UInt8])] = [
            ("AWKWARD", awkwardValue), ("CRLF", bytes("a\r\nb")), ("EMPTY", []), ("SPACES", bytes("  x  ")),
            ("MARKS", bytes("#'$`\t=")), ("HIGH", (0x80...0xFF).map { UInt8($0) }),
        ]
        let parsed = try Dotenv.parse(Dotenv.render(variables))
        #expect(parsed.map(\.name) == variables.map(\.name).sorted())
        for variable in variables { #expect(parsed.first { $0.name == variable.name }?.value == variable.value) }
        // And through an edit of a file that already holds them.
        let edited = Dotenv.edit(bytes("AWKWARD=old\nKEEP=1\n"), setting: variables)
        #expect(try Dotenv.parse(edited).filter { $0.name != "KEEP" }.map(\.value) == variables.map(\.value))
    }

    @Test("stage changes only the restored values; everything else stays byte for byte, mode kept")
    func stage() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/app.env"
        try FileSystem.writeFile(target, bytes: currentFile, permissions: 0o664)
        let source = EnvSource(include: ["JWT_SECRET_KEY", "DATABASE_URL"], pattern: "^APP_", file: nil, restoreTo: target, environment: [:])
        let report = try source.stage(restoreID: "r1", entry: anyEntry) { sink in
            try Dotenv.render(bundle).withUnsafeBytes { try sink($0) }
        }
        let renderedJWT: [UInt8] = bytes("\"", byteFF, "\\\"\\\\\\n\\rz\"")
        let expected = bytes(
            "# app settings\n",
            "JWT_SECRET_KEY=", renderedJWT, "\r\n",
            "MY-VAR=1\r\n",
            "export\tX=1\n",
            "SINGLE='line one\nline two'\n",
            "A=\"x\" y\n",
            "no equals sign here\n",
            "LATIN=caf", eAcuteLatin1, " # unrelated, not UTF-8\n",
            "MULTI=\"first\nJWT_SECRET_KEY=inside\nlast\"\n",
            "\n",
            "export DATABASE_URL = \"postgres://new\" # primary\n",
            "APP_LOCAL=\"only here\"\n",
            "BROKEN=\"never closed\n",
            "TAIL=end\n",
            "APP_MODE=\"prod\"\n")
        let staging = SideFiles(target: target).staging("r1")
        #expect(try FileSystem.readFile(staging) == expected)
        #expect(try FileSystem.status(of: staging)?.permissions == 0o664, "the umask must not narrow the current mode")
        #expect(try FileSystem.readFile(target) == currentFile, "staging must not touch the file")
        #expect(report.stats == ["variables": .int(3)])
        #expect(report.notes == ["env: 1 critical variable of \(target) not in the bundle was left as it is"])
        #expect(!report.notes.joined().contains("APP_LOCAL") && !report.notes.joined().contains("only here"))
    }

    @Test("a CRLF file gets CRLF lines appended, after a line end when it had none")
    func crlfAppend() throws {
        let edited = Dotenv.edit(bytes("A=1\r\nB=2"), setting: [("B", bytes("new")), ("C", bytes("c"))])
        #expect(edited == bytes("A=1\r\nB=\"new\"\r\nC=\"c\"\r\n"))
    }

    @Test("without a current file the staged file is the rendered bundle, mode 0600")
    func newFile() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/app.env"
        let source = EnvSource(include: ["JWT_SECRET_KEY"], pattern: nil, file: nil, restoreTo: target, environment: [:])
        let report = try source.stage(restoreID: "r1", entry: anyEntry) { sink in
            try Dotenv.render(bundle).withUnsafeBytes { try sink($0) }
        }
        let staging = SideFiles(target: target).staging("r1")
        #expect(try FileSystem.readFile(staging) == Dotenv.render(bundle))
        #expect(try FileSystem.status(of: staging)?.permissions == 0o600)
        #expect(report.notes.isEmpty)
    }

    @Test("the staged file keeps the current file's owner and group", .enabled(if: geteuid() == 0, "fchown to another user needs root"))
    func owner() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/app.env"
        try FileSystem.writeFile(target, bytes: bytes("JWT_SECRET_KEY=old\n"), permissions: 0o640)
        try FileManager.default.setAttributes([.ownerAccountID: 4321, .groupOwnerAccountID: 4322], ofItemAtPath: target)
        let source = EnvSource(include: ["JWT_SECRET_KEY"], pattern: nil, file: nil, restoreTo: target, environment: [:])
        let report = try source.stage(restoreID: "r1", entry: anyEntry) { sink in
            try Dotenv.render(bundle).withUnsafeBytes { try sink($0) }
        }
        let staged = try #require(try FileSystem.status(of: SideFiles(target: target).staging("r1")))
        #expect((staged.owner, staged.group, staged.permissions) == (4321, 4322, 0o640))
        #expect(report.notes.isEmpty)
    }

    @Test("a snapshot of a dotenv file with odd lines and non-UTF-8 values works and names only line numbers")
    func snapshotTolerant() throws {
        let dir = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/app.env"
        try FileSystem.writeFile(file, bytes: currentFile)
        let source = EnvSource(include: ["LATIN", "JWT_SECRET_KEY"], pattern: nil, file: file, restoreTo: nil, environment: [:])
        var text: [UInt8] = []
        let facts = try source.snapshot(workDirectory: dir) { text += $0 }
        let saved = try EnvSource.inspect(text).variables
        #expect(saved.map(\.name) == ["JWT_SECRET_KEY", "LATIN"])
        #expect(saved.map(\.value) == [bytes("dup"), bytes("caf", eAcuteLatin1)])
        #expect(facts.notes.count == 1)
        #expect(facts.notes.first?.contains("3 (invalid variable name), 7 (text after the closing quote), 8 (expected NAME=value), 17 (unterminated double quote)") == true)
        #expect(!facts.notes.joined().contains("never closed"))
    }
}
