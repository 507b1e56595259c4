import ArgumentParser
import CofferCore
import CofferCrypto
import CofferFormat
import CofferSources
import CofferStorage
import CofferSystem
import Foundation

/// Runs a command body, turning every error into one clear line on standard
/// error and the documented exit status. No error text carries a secret.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CleanExit {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        let (category, message) = classify(error)
        LogTail.shared.append("coffer: error: \(message)")
        FileHandle.standardError.write(Data("coffer: error: \(message)\n".utf8))
        throw ExitCode(category.rawValue)
    }
}

/// The exit status category and the line to print for an error (see `CofferError.classify`).
func classify(_ error: any Error) -> (CofferError.Category, String) { CofferError.classify(error) }

/// Writes one JSON value (keys sorted) on standard output.
func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Human output on standard output.
func say(_ line: String) {
    LogTail.shared.append(line)
    print(line)
}

/// The current time (or `COFFER_NOW`) in RFC 3339, UTC.
func timestampNow() -> String {
    if let fixed = ProcessInfo.processInfo.environment["COFFER_NOW"] { return fixed }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: Date())
}
