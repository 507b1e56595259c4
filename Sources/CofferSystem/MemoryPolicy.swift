import CMalloc

/// How the process's allocator treats large buffers.
public enum MemoryPolicy {
    /// Serves every allocation of 5 MiB or more with its own mapping and gives
    /// it back on free, and keeps at most two arenas. glibc otherwise raises
    /// its mmap threshold after the first large free, and the multi-megabyte
    /// buffers that pipeline threads pass around then pile up in per-thread
    /// arenas: the peak RSS grows with the number of threads instead of
    /// staying at the buffers actually in use. Below 5 MiB (a format 2 chunk
    /// and its sealed forms, at most 4 MiB) buffers are reused from the two
    /// arenas: a fresh mapping per chunk cost a restore a third of its time in
    /// page faults (measured for issue 18).
    public static func returnLargeBuffersToTheSystem() {
        _ = mallopt(M_MMAP_THRESHOLD, 5 << 20)
        _ = mallopt(M_ARENA_MAX, 2)
    }
}
