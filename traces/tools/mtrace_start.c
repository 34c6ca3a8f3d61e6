/* Preload shim: start glibc's mtrace() as soon as the program is loaded.
 *
 * mtrace() itself lives in libc_malloc_debug.so (glibc >= 2.34), which must be preloaded too;
 * it writes to the file named by $MALLOC_TRACE. See traces/README.md for the commands.
 */
#include <mcheck.h>

__attribute__((constructor)) static void replay_mtrace_start(void) { mtrace(); }
