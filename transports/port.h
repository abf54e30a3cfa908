/* Opening a port the way every caller must: the transport's own open, then
 * what the common options ask of any port (the receive filter of bpffile=
 * or bpf=). The launcher and hot-plug use this, never transport->open
 * directly.
 */
#ifndef NF_PORT_H
#define NF_PORT_H

#include <stddef.h>

#include "filter.h"
#include "transport.h"

/* Opens cfg's transport and attaches its filter, if any. Returns 0 and
 * *out, or -errno with one line naming the device and the cause in err
 * (nothing is left open then). Main thread. */
int nf_port_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen);

/* Replaces the port's receive filter (bpfflash, or at open). The transport's
 * set_filter when it has one (it may combine the program with its own
 * filter), else SO_ATTACH_FILTER on rx_fd, which must be a socket. Returns
 * 0 or -errno with the reason in err. Any thread: the kernel swaps filters
 * atomically under traffic. */
int nf_port_set_filter(struct nf_port *port, const struct bf_prog *prog, char *err,
		       size_t errlen);

#endif
