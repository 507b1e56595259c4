// prctl(2) is variadic, which Swift cannot call: one fixed-argument wrapper per use.
#include <sys/prctl.h>

static inline int coffer_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
static inline int coffer_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
