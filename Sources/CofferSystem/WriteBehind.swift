import Dispatch

/// Lends `body` a sink whose bytes are gathered into blocks of `blockSize` and
/// handed to `sink` on another thread, while `body` produces the next block.
/// Two buffers, so memory stays constant; both are wiped afterwards because they
/// may have held plaintext. A write error surfaces on a later write or at the end.
@discardableResult
public func withWriteBehind<R>(
    _ sink: ByteSink, blockSize: Int = 1 << 20, _ body: (@escaping ByteSink) throws -> R
) throws -> R {
    try withoutActuallyEscaping(sink) { sink in
        let writer = BackgroundWriter(sink, blockSize: blockSize)
        // Whatever happens, no write may still be running when `sink` goes out of scope.
        defer { writer.detach() }
        let result = try body { try writer.write($0) }
        try writer.flush()
        return result
    }
}

/// One write at a time on a background queue, fed from two alternating buffers.
private final class BackgroundWriter: @unchecked Sendable {
    // @unchecked Sendable: the worker touches only `sink`, `inFlight` and `result`,
    // and only between `submit` and the `done` signal; the caller waits for that
    // signal before reusing the buffer or reading `result`.
    private var sink: ByteSink?
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var filling = 0
    private var filled = 0
    private var inFlight = UnsafeRawBufferPointer(start: nil, count: 0)
    private var result: Result<Void, any Error> = .success(())
    private var running = false
    private let done = DispatchSemaphore(value: 0)

    init(_ sink: @escaping ByteSink, blockSize: Int) {
        self.sink = sink
        buffers = [
            .allocate(byteCount: blockSize, alignment: 64),
            .allocate(byteCount: blockSize, alignment: 64),
        ]
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            let buffer = buffers[filling]
            let take = min(rest.count, buffer.count - filled)
            (buffer.baseAddress! + filled).copyMemory(from: rest.baseAddress!, byteCount: take)
            filled += take
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if filled == buffer.count { try submit() }
        }
    }

    func flush() throws {
        if filled > 0 { try submit() }
        try waitForWrite()
    }

    private func submit() throws {
        try waitForWrite()
        inFlight = UnsafeRawBufferPointer(rebasing: buffers[filling].prefix(filled))
        running = true
        DispatchQueue.global(qos: .userInitiated).async {
            if let sink = self.sink { self.result = Result { try sink(self.inFlight) } }
            self.done.signal()
        }
        filling = 1 - filling
        filled = 0
    }

    private func waitForWrite() throws {
        guard running else { return }
        done.wait()
        running = false
        try result.get()
    }

    func detach() {
        if running {
            done.wait()
            running = false
        }
        sink = nil
        for buffer in buffers {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.deallocate()
        }
    }
}
