/* Guard against a guest that shrinks its memory file under us.
 *
 * Guest RAM is a file the frontend shares with us (SET_MEM_TABLE) and keeps
 * its own descriptor of. If it truncates the file after we mapped it, our
 * next touch of a page past the new end raises SIGBUS, which would kill
 * uml-nf and every appliance device with it. UML's memory file is a plain
 * temporary file (no memfd seals to check), so instead of preventing the
 * shrink we survive it:
 *
 *   - every guest mapping is registered here with a per-device flag;
 *   - a SIGBUS inside a registered mapping replaces that whole mapping with
 *     anonymous zero pages (mmap MAP_FIXED, async-signal-safe), sets the
 *     flag and returns, so the faulting access completes on harmless memory;
 *   - the owner sees the flag (mg_faulted) and marks the device broken.
 *
 * A SIGBUS anywhere else is a real crash: the default action is restored and
 * the signal raised again.
 *
 * The table is lock-free for the handler: slots are claimed and released with
 * atomics by the threads that map and unmap (under the owning device's lock).
 */
#ifndef NF_MEMGUARD_H
#define NF_MEMGUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Installs the SIGBUS handler (once per process; later calls do nothing).
 * Returns 0 or -errno. */
int mg_install(void);

/* Registers [addr, addr + len) as guest memory whose faults set *flag.
 * Returns 0, or -ENOSPC when the table is full (the mapping then stays
 * unguarded: a shrink kills the process, as without the guard). */
int mg_add(void *addr, size_t len, atomic_bool *flag);

/* Forgets the mapping starting at addr (before it is unmapped). */
void mg_remove(void *addr);

/* Number of faults survived since start (for tests and statistics). */
unsigned long mg_faults(void);

#endif
