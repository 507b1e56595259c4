import CMalloc

/// How the process's allocator treats large buffers.
public enum MemoryPolicy {
    /// Serves every allocation of 1 MiB or more with its own mapping and gives
    /// it back on free. glibc otherwise raises its mmap threshold after the
    /// first large free, and the multi-megabyte buffers that pipeline threads
    /// pass around then pile up in per-thread arenas: the peak RSS grows with
    /// the number of threads instead of staying at the buffers actually in use.
    public static func returnLargeBuffersToTheSystem() {
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
    }
}
