/* Dropping privileges once uml-nf no longer needs them.
 *
 * uml-nf needs privileges only to set up: CAP_NET_RAW for packet sockets,
 * CAP_NET_ADMIN for taps, raised socket buffers and interface settings,
 * CAP_SYS_ADMIN for the guest's PID namespace. Whether they come from root
 * or from file capabilities (setcap cap_net_raw,cap_net_admin+ep) on the
 * binary, they are dropped -- permitted, effective, inheritable and ambient
 * sets emptied, no_new_privs set, the bounding set emptied where we may --
 * before the datapath threads start, so no thread that touches guest memory
 * ever holds one.
 *
 * Capabilities are per thread: call this on the main thread before any
 * other thread exists.
 */
#ifndef NF_PRIVS_H
#define NF_PRIVS_H

#include <stdint.h>

/* Drops every capability except those in keep (bit N = capability N, e.g.
 * 1ull << CAP_NET_RAW), which stay permitted but not effective. Returns 0
 * or -errno. */
int pv_drop(uint64_t keep);

/* Makes the permitted capabilities in caps effective (pv_raise) or none
 * effective (pv_lower), for the calling thread. Returns 0 or -errno. */
int pv_raise(uint64_t caps);
int pv_lower(void);

/* The calling thread's effective and permitted sets (from capget). Returns
 * 0 or -errno. */
int pv_current(uint64_t *effective, uint64_t *permitted);

#endif
