import Dispatch

/// Reads bytes into a buffer and returns how many; 0 means end of input.
public typealias ByteSource = (UnsafeMutableRawBufferPointer) throws -> Int

/// A consumer of output bytes. The buffer is only valid during the call.
public typealias ByteSink = (UnsafeRawBufferPointer) throws -> Void

/// Calls `body` with each block that `read` yields, reading the next block on
/// another thread while `body` works on the current one. Two buffers of
/// `blockSize`, so memory stays constant; both are wiped afterwards because they
/// may have held plaintext.
public func forEachBlock(read: ByteSource, blockSize: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let buffers = [
        UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64),
        UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64),
    ]
    defer {
        for buffer in buffers {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.deallocate()
        }
    }
    try withoutActuallyEscaping(read) { read in
        let reader = BackgroundReader(read)
        // Whatever happens, no read may still be running when `read` goes out of scope.
        defer { reader.detach() }
        reader.start(into: buffers[0])
        var current = 0
        while true {
            let count = try reader.wait()
            if count == 0 { return }
            reader.start(into: buffers[1 - current])
            try body(UnsafeRawBufferPointer(rebasing: buffers[current].prefix(count)))
            current = 1 - current
        }
    }
}

/// One read at a time on a background queue.
private final class BackgroundReader: @unchecked Sendable {
    // @unchecked Sendable: `read`, `target` and `result` are touched by one thread
    // at a time. The caller sets them before `start` dispatches, the worker uses
    // them until it signals `done`, and the caller reads `result` only after `wait`.
    private var read: ByteSource?
    private var target = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var result: Result<Int, any Error> = .success(0)
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    init(_ read: @escaping ByteSource) {
        self.read = read
    }

    func start(into buffer: UnsafeMutableRawBufferPointer) {
        target = buffer
        running = true
        DispatchQueue.global(qos: .userInitiated).async {
            if let read = self.read {
                self.result = Result { try read(self.target) }
            }
            self.done.signal()
        }
    }

    func wait() throws -> Int {
        guard running else { return 0 }
        done.wait()
        running = false
        return try result.get()
    }

    /// Waits for a read in flight and drops the borrowed closure.
    func detach() {
        if running {
            done.wait()
            running = false
        }
        read = nil
    }
}
