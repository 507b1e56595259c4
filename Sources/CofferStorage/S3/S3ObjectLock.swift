import CofferCompression
import CofferCrypto

/// `[s3] object_lock`: every object of a bundle and every journal event is
/// written with a retention the server enforces, so that whoever holds the
/// write credentials (ransomware on the backup host) cannot delete or
/// overwrite a backup before `seconds` have passed.
public struct S3ObjectLock: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Nobody, not even the bucket's root account, can shorten or remove the retention.
        case compliance
        /// A user granted `s3:BypassGovernanceRetention` can; Coffer never does.
        case governance
    }

    public var mode: Mode
    /// How long each written object stays locked.
    public var seconds: Int64

    public init(mode: Mode, seconds: Int64) {
        self.mode = mode
        self.seconds = seconds
    }

    /// The keys that are locked: bundles and the journal (the record that explains
    /// every deletion). Lock leases, probes and the descriptor must stay deletable or replaceable.
    static func covers(_ key: String) -> Bool {
        key.hasPrefix("bundles/") || key.hasPrefix("journal/") || key.hasPrefix("chunks/")
    }

    /// The headers of a locked write made at `now`.
    func headers(now: UTCTime) -> [(String, String)] {
        [
            ("x-amz-object-lock-mode", mode.rawValue.uppercased()),
            ("x-amz-object-lock-retain-until-date", UTCTime(seconds: now.seconds + seconds).iso8601),
        ]
    }

    /// `x-amz-checksum-crc32` of a body: S3 refuses an Object Lock write (and
    /// the parts of a locked multipart upload) without a checksum of the body.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> String {
        Base64.encode(CRC32.bigEndianBytes(bytes), .padded)
    }
}
