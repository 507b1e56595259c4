import CofferSystem
import Foundation
import Testing

@testable import CofferStorage

/// A repository folder under a fresh temporary folder, removed afterwards.
private func withRepository(_ body: (LocalStorage, String) throws -> Void) throws {
    let root = NSTemporaryDirectory() + "coffer-local-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: root + "/repo/bundles/development/20261128T120000Z-0badcafe", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    try body(LocalStorage(root: root + "/repo"), root)
}

/// Runs `body` on another thread and fails the test if it does not return within `seconds`.
private func withinSeconds<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, any Error>?
    Thread {
        result = Result { try body() }
        done.signal()
    }.start()
    // A hung open() would keep the thread forever; the test fails instead of hanging with it.
    try #require(done.wait(timeout: .now() + seconds) == .success, "did not return within \(seconds) s")
    return try #require(result).get()
}

private let bundle = "bundles/development/20261128T120000Z-0badcafe"

@Suite("local storage reads only regular files, and only what it was asked for")
struct LocalStorageTests {
    @Test("a FIFO, a link to /dev/zero and a folder in place of an object are refused at once, as invalid")
    func notRegularFiles() throws {
        try withRepository { storage, _ in
            let repo = storage.root
            #expect(mkfifo(repo + "/\(bundle)/manifest.json", 0o644) == 0)
            try FileManager.default.createSymbolicLink(atPath: repo + "/\(bundle)/manifest.json.minisig", withDestinationPath: "/dev/zero")
            try FileManager.default.createDirectory(atPath: repo + "/coffer.json", withIntermediateDirectories: false)
            for (key, phrase) in [("\(bundle)/manifest.json", "a FIFO (named pipe)"), ("\(bundle)/manifest.json.minisig", "a symbolic link"), ("coffer.json", "a directory")] {
                let small = try withinSeconds(5) { Result { try storage.readSmall(key, limit: 1 << 16) } }
                #expect(throws: StorageError.self) { try small.get() }
                if case .failure(let error as StorageError) = small {
                    #expect(error.kind == .invalid && error.message.contains("is \(phrase), not a regular file"), "\(error)")
                }
                let streamed = try withinSeconds(5) { Result { try storage.read(key, range: 0..<100) { _ in } } }
                if case .failure(let error as StorageError) = streamed { #expect(error.kind == .invalid, "\(error)") } else { Issue.record("\(key) was read") }
                // Present for listings and sizes (so it is reported, not taken for absent).
                #expect(try storage.size(of: key) != nil)
            }
            #expect(try storage.readSmall("\(bundle)/absent", limit: 10) == nil)
            #expect { try storage.read("\(bundle)/absent", range: nil) { _ in } } throws: { ($0 as? StorageError)?.kind == .notFound }
        }
    }

    @Test("a small read refuses a file over its limit without reading it; a ranged read stops at the range")
    func bounded() throws {
        try withRepository { storage, _ in
            let path = storage.root + "/\(bundle)/manifest.json"
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(truncate(path, 1 << 40) == 0)  // sparse: a terabyte that is never read
            let started = Date()
            #expect { try storage.readSmall("\(bundle)/manifest.json", limit: 64 << 20) } throws: { error in
                (error as? StorageError)?.kind == .invalid && (error as? StorageError)?.message.contains("is 1099511627776 bytes, more than the 67108864 expected") == true
            }
            var count = 0
            try storage.read("\(bundle)/manifest.json", range: 0..<4097) { count += $0.count }
            #expect(count == 4097)
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    @Test("a repository path that is a file is a configuration error naming it, not an empty repository")
    func rootIsAFile() throws {
        try withRepository { (_: LocalStorage, folder: String) throws in
            let file = folder + "/file"
            #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
            let storage = LocalStorage(root: file)
            let calls: [() throws -> Void] = [{ _ = try storage.children(of: "bundles/development") }, { _ = try storage.readSmall("coffer.json", limit: 10) }]
            for call in calls {
                #expect { try call() } throws: { error in
                    (error as? StorageError)?.kind == .config && (error as? StorageError)?.message.contains("the repository \(file) is a regular file, not a folder") == true
                }
            }
            // Not there at all is still just an empty repository.
            #expect(try LocalStorage(root: folder + "/none").children(of: "bundles/development") == [])
        }
    }

    @Test("a folder of empty folders holds no object; any file in it does")
    func containsObjects() throws {
        try withRepository { storage, _ in
            try FileManager.default.createDirectory(atPath: storage.root + "/\(bundle)/artifacts", withIntermediateDirectories: true)
            #expect(try !storage.containsObjects(under: bundle))
            #expect(try !storage.containsObjects(under: "bundles/development/absent"))
            #expect(mkfifo(storage.root + "/\(bundle)/artifacts/x", 0o644) == 0)
            #expect(try storage.containsObjects(under: bundle))
        }
    }
}
