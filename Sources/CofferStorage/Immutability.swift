/// Storage that refuses deletes on its own (S3 Object Lock) is what keeps a
/// backup alive after its host is taken over; these are the facts Coffer asks
/// the server for before it deletes anything, and that status and audit show.

/// What the storage protects against deletion, as the server reports it
/// (`coffer status`): S3 Object Lock and versioning.
public struct BucketProtection: Sendable, Equatable {
    /// Object Lock is enabled on the bucket (it can only be enabled when the bucket is created, or by the provider).
    public var objectLockEnabled: Bool
    /// `Enabled`, `Suspended`, or nil when versioning was never turned on.
    public var versioning: String?
    /// The bucket's default retention, when it has one ("COMPLIANCE 30 days").
    public var defaultRetention: String?
    /// Set when the server does not implement the Object Lock API (GCS, older servers).
    public var unsupported: String?

    public init(objectLockEnabled: Bool, versioning: String?, defaultRetention: String? = nil, unsupported: String? = nil) {
        self.objectLockEnabled = objectLockEnabled
        self.versioning = versioning
        self.defaultRetention = defaultRetention
        self.unsupported = unsupported
    }

    public var versioned: Bool { versioning != nil }
}

/// One object's retention as the server reports it (`coffer audit`, `prune`).
public struct ObjectRetention: Sendable, Equatable {
    /// `COMPLIANCE` or `GOVERNANCE`; nil: the object carries no retention.
    public var mode: String?
    /// Seconds since 1970.
    public var retainUntil: Int64?
    public var legalHold: Bool

    public init(mode: String?, retainUntil: Int64?, legalHold: Bool) {
        self.mode = mode
        self.retainUntil = retainUntil
        self.legalHold = legalHold
    }

    /// Until when the server refuses to delete it (nil: it does not).
    public func lockedUntil(now: Int64) -> Int64? {
        if legalHold { return .max }
        guard mode != nil, let retainUntil, retainUntil > now else { return nil }
        return retainUntil
    }
}
