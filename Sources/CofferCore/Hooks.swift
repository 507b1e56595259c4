import Foundation

/// Runs the configured pre/post restore commands (`/bin/sh -c`, in the config
/// file's folder), such as stopping and starting the application. Their output
/// goes to standard error.
public enum Hooks {
    public static func run(_ command: String, name: String, in directory: String, environment: [String: String]) throws {
        let process = Process()
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment.isEmpty ? nil : environment
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
