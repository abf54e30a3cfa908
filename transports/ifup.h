/* ifup=PROG: a host program run as `PROG IFNAME` once a device's host side
 * is open (UML's option of the same name, for the tap, hybrid and raw
 * transports: it typically adds the interface to a bridge or gives it an
 * address).
 *
 * The option lives in each of those transports' tables (NF_OPTDESC_IFUP),
 * not among the common options, so the parser refuses it where UML ignores
 * it.
 */
#ifndef NF_IFUP_H
#define NF_IFUP_H

#include <stddef.h>

#include "options.h"

/* Seconds PROG may run before it is killed and the device refused. */
#define NF_IFUP_TIMEOUT_S 30

#define NF_OPTDESC_IFUP                                                                       \
	{ "ifup", NF_OPT_STRING, 0, 4096, false,                                              \
	  "host program run as PROG IFNAME once the host side is open; must exit 0", NULL }

/* Runs cfg's ifup= program (looked up in PATH) with ifname as its one
 * argument, stdin /dev/null, stdout and stderr inherited, default signal
 * dispositions and an empty signal mask, and waits for it, at most
 * NF_IFUP_TIMEOUT_S seconds (then it is killed). Returns 0 when no ifup= was
 * given or PROG exited with status 0; otherwise -errno (-ECHILD: it failed
 * or was killed, -ETIMEDOUT) with a one-line message naming the device and
 * the option in err. Main thread (it blocks). */
int nf_ifup_run(const struct nf_devcfg *cfg, const char *ifname, char *err, size_t errlen);

#endif
