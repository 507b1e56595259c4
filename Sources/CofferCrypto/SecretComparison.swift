/// Compares secrets that arrive from outside, such as a bearer token, in time
/// that depends on neither where they differ nor how long the right one is:
/// both sides are hashed first, then the digests compared in constant time.
public enum SecretComparison {
    public static func matches(_ given: some Sequence<UInt8>, _ expected: some Sequence<UInt8>) -> Bool {
        constantTimeEquals(SHA256.hash(Array(given)), SHA256.hash(Array(expected)))
    }
}
