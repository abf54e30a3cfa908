/* The socket side shared by the datagram tunnel transports (gre, l2tpv3):
 * one unconnected socket bound to src, every batch sent to dst with
 * sendmmsg and received with recvmmsg, our header a separate iovec in front
 * of the frame both ways (never copied into or out of the frame).
 *
 * A tunnel port has NF_CAP_SOFT_OFFLOAD: the engine finishes checksums and
 * segments before tx_batch, and coalesces after rx_batch, so the datagrams
 * are plain Ethernet frames behind our header.
 */
#ifndef NF_TUNNEL_H
#define NF_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "encap.h"
#include "transport.h"

/* How a transport wants its socket. Strings are borrowed. */
struct tun_params {
	const char *name;    /* "gre", "l2tpv3": for messages */
	const char *src, *dst;
	const char *srcport, *dstport; /* UDP only, else NULL */
	bool v6;
	bool udp;            /* SOCK_DGRAM UDP, else SOCK_RAW of protocol */
	int protocol;        /* IP protocol of the raw socket */
};

/* Opens the socket (resolving src and dst, binding src), works out the
 * guest MTU (cfg's mtu=, or the path MTU to dst minus the encapsulation,
 * at most 1500) and returns the port (*out) with e's header settings
 * (copied; encap_init done here). Returns 0, or -errno with a one-line
 * message naming the device and option in err. Main thread. */
int tun_open(const struct nf_devcfg *cfg, const struct tun_params *tp, const struct encap *e,
	     struct nf_port **out, char *err, size_t errlen);

/* The rest of the ops tables of gre and l2tpv3 (see transport.h). */
void tun_close(struct nf_port *port);
/* Receive filters are refused: a socket filter on a tunnel socket would see
 * the outer datagram, not the Ethernet frame a bpffile=/bpf= is written for. */
struct bf_prog;
int tun_set_filter(struct nf_port *port, const struct bf_prog *prog);
int tun_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max);
int tun_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n);
int tun_format_stats(struct nf_port *port, char *buf, size_t len);

/* Shared option checks for the transports' check ops: src and dst of the
 * right address family when they are literal addresses ("v6 with IPv4
 * addresses"). Returns 0 or -EINVAL with the message in err. */
int tun_check_addrs(const struct nf_devcfg *cfg, char *err, size_t errlen);

/* A 32-bit option (key, session) as written: -2147483648..4294967295, as
 * UML's signed parse reads it (so -1 and 0xffffffff are the same). */
static inline uint32_t tun_u32(long long v)
{
	return (uint32_t)v;
}

#endif
