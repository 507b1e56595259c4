/// libsodium takes (pointer, length) pairs and reads nothing when the length is
/// zero, but Swift may give an empty buffer no address; these give one anyway.
private nonisolated(unsafe) let placeholderByte: UnsafeMutablePointer<UInt8> = {
    // Never written and never freed: a valid address for zero-length arguments.
    let byte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    byte.initialize(to: 0)
    return byte
}()

extension UnsafeRawBufferPointer {
    var cBytes: UnsafePointer<UInt8> {
        baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(placeholderByte)
    }
}

extension UnsafeMutableRawBufferPointer {
    var cBytes: UnsafeMutablePointer<UInt8> {
        baseAddress?.assumingMemoryBound(to: UInt8.self) ?? placeholderByte
    }
}
