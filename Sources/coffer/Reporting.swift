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

func classify(_ error: any Error) -> (CofferError.Category, String) {
    switch error {
    case let error as CofferError:
        return (error.category, error.message)
    case let error as KeyFileError:
        return (error.kind == .exists ? .refused : .key, error.description)
    case let error as AgeError:
        switch error.kind {
        case .noMatch, .key: return (.key, error.description)
        case .header, .headerMAC, .payload, .armor: return (.integrity, error.description)
        }
    case let error as MinisignError:
        switch error.kind {
        case .wrongPassword: return (.key, error.description)
        default: return (.integrity, error.description)
        }
    case let error as FormatError:
        return (.integrity, error.message)
    case let error as Tar.Failure:
        return (.integrity, error.description)
    case let error as SourceError:
        return (.failure, error.description)
    case let error as RestoreFailure:
        return (.failure, error.message)
    case let error as StorageError:
        switch error.kind {
        case .denied, .config: return (.config, error.message)
        case .exists: return (.refused, error.message)
        case .notFound, .io: return (.failure, error.message)
        case .invalid: return (.integrity, error.message)
        }
    case let error as SystemError:
        return (.failure, error.description)
    default:
        return (.failure, "\(error)")
    }
}

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
