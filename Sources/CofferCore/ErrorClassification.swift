import CofferCrypto
import CofferFormat
import CofferSources
import CofferStorage
import CofferSystem

extension CofferError {
    /// Which exit status an error from any layer means, and the one line to
    /// show for it (errors never carry secrets): the CLI's exit status, and the
    /// verdict of checks that keep going after an error (a drill, the deploy gate).
    public static func classify(_ error: any Error) -> (Category, String) {
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
}
