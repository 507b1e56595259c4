import Foundation

/// Runs the configured pre/post restore commands (`/bin/sh -c`), such as
/// stopping and starting the application. Their output goes to the terminal.
public enum Hooks {
    public static func run(_ command: String, name: String, environment: [String: String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw CofferError(.failure, "the \(name) hook could not start: \(error.localizedDescription)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CofferError(.failure, "the \(name) hook failed with exit status \(process.terminationStatus)")
        }
    }
}
