import CofferSystem
import Foundation
import Testing

@testable import CofferCrypto

/// Folder of this test target's fixtures (found from the source path, so tests
/// run from a clean clone without resource bundling).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A fresh temporary folder, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = NSTemporaryDirectory() + "coffer-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// The result of running a real program.
struct ProcessResult {
    let status: Int32
    let stdout: [UInt8]
    let stderr: String
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program found on PATH with `stdin` as input. Fails the test with a
/// clear message when the program is missing (make deps installs it).
func run(_ program: String, _ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil) throws -> ProcessResult {
    guard let executable = findExecutable(program) else {
        Issue.record("\(program) is not installed; run `make deps`")
        throw CancellationError()
    }
    let scratch = NSTemporaryDirectory() + "coffer-run-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: scratch + ".in", contents: Data(stdin))
    _ = FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: scratch + ".in")
        try? FileManager.default.removeItem(atPath: scratch + ".err")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe()
    process.standardInput = FileHandle(forReadingAtPath: scratch + ".in")
    process.standardOutput = output
    process.standardError = FileHandle(forWritingAtPath: scratch + ".err")
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errData = FileManager.default.contents(atPath: scratch + ".err") ?? Data()
    return ProcessResult(status: process.terminationStatus, stdout: [UInt8](outData), stderr: String(decoding: errData, as: UTF8.self))
}

func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in path.split(separator: ":") {
        let candidate = "\(folder)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func fromHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        out.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return out
}

func secure(_ text: String) -> SecureBytes {
    var bytes = Array(text.utf8)
    return SecureBytes(wiping: &bytes)
}

func readBytes(_ path: String) throws -> [UInt8] { try FileSystem.readFile(path, limit: 1 << 30) }

func writeBytes(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
