import CSodium

/// libsodium's one-time initialisation. Every entry point that calls libsodium
/// first touches `Sodium.ready`, which runs `sodium_init` exactly once.
enum Sodium {
    static let ready: Void = {
        precondition(sodium_init() >= 0, "libsodium could not be initialised")
    }()
}
