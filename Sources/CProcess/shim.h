// prctl(2) is variadic, which Swift cannot call: one fixed-argument wrapper per use.
#include <sys/prctl.h>
// renameat2(2) and RENAME_EXCHANGE are not exported by Swift's Glibc module: the system call, wrapped once.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int coffer_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
static inline int coffer_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

/// Swaps two names atomically (both must exist, on one file system; they may be of different types).
/// Returns 0, or -1 with errno set (EINVAL where the file system cannot exchange).
static inline int coffer_rename_exchange(const char *first, const char *second) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, first, AT_FDCWD, second, 1 << 1 /* RENAME_EXCHANGE, linux/fs.h */);
}

/// Flushes every dirty file and folder of the file system holding `fd` (syncfs(2), also not exported):
/// one call instead of an fsync per restored file.
static inline int coffer_syncfs(int fd) { return (int)syscall(SYS_syncfs, fd); }

// posix_spawn_file_actions_addchdir_np (glibc 2.29) is declared only under
// _GNU_SOURCE, which Swift's Glibc module is not built with: declared here.
#include <spawn.h>
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict actions, const char *__restrict path);
static inline int coffer_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): a child gets no
// descriptor of Coffer's beyond 0-2 (a throwaway server outliving a killed
// Coffer must not hold its parent's pipes open).
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
static inline int coffer_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
