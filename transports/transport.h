/* Host transports: where the guest's packets go on the host side.
 *
 * Each transport is one folder implementing one const struct nf_transport,
 * listed in the registry (registry.c), which is also what the option parser
 * and --help read. A transport extends struct nf_port by embedding it:
 *
 *     struct raw_port { struct nf_port base; ... };
 *
 * Threads: open/close run on the main thread before/after the datapath runs,
 * or, for a hot-plug (datapath/attach.h), on the control socket thread while
 * the datapath serves other devices: open before the port is attached,
 * close once it was detached (the datapath no longer touches it). Either
 * way after uml-nf dropped its privileges: sockets that need one come from
 * privsock.h. rx_batch/tx_batch run on the datapath thread only, never
 * block, and move whole batches (one syscall per batch where the host
 * allows it).
 */
#ifndef NF_TRANSPORT_H
#define NF_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "options.h"

struct bf_prog;

/* Capability flags of an open port. */
#define NF_CAP_VNET_HDR 0x1u /* frames carry a 10-byte virtio_net_hdr in front */
#define NF_CAP_GSO 0x2u      /* and that header may describe GSO frames */
/* No virtio-net header on the host side (tunnels), but the engine offers the
 * guest checksum offload both ways and TSO (guest -> host always, host ->
 * guest with gro=1) and does the work in software: on transmit it completes
 * partial checksums and segments GSO frames before tx_batch sees them (the
 * transport only ever gets plain Ethernet frames, up to depth +
 * NF_SOFT_TX_EXTRA of them per call); on receive it verifies TCP checksums
 * and coalesces segments (GRO) when gro=1. Implemented once in datapath/. */
#define NF_CAP_SOFT_OFFLOAD 0x4u

/* With NF_CAP_VNET_HDR: the header is written by a peer we do not trust (a
 * socket's other end, not the host kernel). The engine checks each one
 * against its frame as it checks the guest's (offload.h, ofl_hdr_check)
 * before anything uses it; frames with a bad one are dropped and counted
 * (rx_bad_hdr). The checks work on copies; a guest that changes a header
 * after its frame arrived in its buffers only spoils its own frame. */
#define NF_CAP_PEER_HDR 0x8u

/* Extra frames per tx_batch call for NF_CAP_SOFT_OFFLOAD ports (the
 * segments of the guest's GSO frames). */
#define NF_SOFT_TX_EXTRA 512u
/* Most iovecs one nf_pkt has (a transport that adds its own header needs
 * one more per message). */
#define NF_PKT_IOV_MAX 66u

/* One packet of a batch. The iovecs point into guest buffers (borrowed for
 * the duration of the call). With NF_CAP_VNET_HDR the first 10 bytes of the
 * scatter list are the legacy virtio_net_hdr. */
struct nf_pkt {
	struct iovec *iov;
	unsigned iovcnt;
	uint32_t len;  /* rx: bytes written, header included */
	uint32_t flags;
};

#define NF_PKT_TRUNC 0x1u /* rx: frame was larger than the buffers */
#define NF_PKT_DROP 0x2u  /* rx: the transport refused the frame (a bad header,
			   * counted by the transport): never delivered */

struct nf_port {
	const struct nf_transport *transport;
	const struct nf_devcfg *cfg; /* borrowed, outlives the port */
	int rx_fd;   /* readable when rx_batch has work (epoll, level) */
	int tx_fd;   /* writable when tx_batch can make progress again */
	unsigned caps;
	unsigned mtu;      /* 0, or the MTU the guest is told instead of cfg->mtu
			    * (a tunnel's path MTU minus its encapsulation) */
	uint64_t tx_drops; /* frames the host refused (counted, then skipped) */
};

struct nf_transport {
	const char *name;    /* matched exactly against transport= */
	const char *summary; /* one line for --help */
	const struct nf_optdesc *opts; /* transport options */
	unsigned nopts;

	/* Opens the host side. Returns 0 and *out, or -errno with a message
	 * naming the device and the cause in err. Main thread (or the control
	 * socket thread for a hot-plug). */
	int (*open)(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen);

	/* Closes and frees the port. Main thread, datapath stopped (or the
	 * control socket thread, the port detached). */
	void (*close)(struct nf_port *port);

	/* Receives up to max frames into pkts[i].iov, sets pkts[i].len and
	 * flags. Returns the number received, 0 if none is waiting, -errno on
	 * a hard error (-ENETDOWN: the host side is gone, see reattach).
	 * Datapath thread; never blocks. */
	int (*rx_batch)(struct nf_port *port, struct nf_pkt *pkts, unsigned max);

	/* Sends n frames. Returns how many were consumed (sent or dropped by
	 * the host), fewer when the host pushes back (wait for tx_fd writable),
	 * -errno on a hard error (-ENETDOWN as for rx_batch). Datapath thread;
	 * never blocks. */
	int (*tx_batch)(struct nf_port *port, struct nf_pkt *pkts, unsigned n);

	/* Optional: installs prog as the port's receive filter (bpffile=,
	 * bpf=, bpfflash), for a transport whose receive path already has a
	 * filter of its own to keep, or whose rx_fd is not where frames are
	 * received. Without it the filter goes on rx_fd with SO_ATTACH_FILTER.
	 * Returns 0 or -errno (-EOPNOTSUPP: no filter possible). Any thread. */
	int (*set_filter)(struct nf_port *port, const struct bf_prog *prog);

	/* Optional: re-attaches the host side after rx_batch or tx_batch
	 * returned -ENETDOWN (the host interface went away, e.g. deleted and
	 * about to be re-created). Returns 0 once attached again, with the
	 * same rx_fd/tx_fd; -EAGAIN while the host side is still missing;
	 * another -errno for a failure (retried all the same). Datapath
	 * thread, about twice a second while the port is down; never blocks.
	 * Without it a port that reported -ENETDOWN stays down. */
	int (*reattach)(struct nf_port *port);

	/* Optional: frames the host dropped before we could read them (e.g.
	 * a full socket buffer), since the port was opened. Any thread but
	 * the datapath's, with the device lock held (stats reports, the exit
	 * line), so never twice at once; may run while the datapath uses the
	 * port. */
	uint64_t (*rx_host_drops)(struct nf_port *port);

	/* Optional: appends the transport's own counters as " key=value"
	 * pairs (drops by reason) to buf. Returns the length written. Any
	 * thread (racy reads, as for the engine's counters). */
	int (*format_stats)(struct nf_port *port, char *buf, size_t len);

	/* Optional: checks the options together (what one option's table
	 * entry cannot say: pairs that go together, address families).
	 * Called by nf_opt_parse once every option parsed; pure (no
	 * syscalls, no resolution). Returns 0 or -EINVAL with a one-line
	 * message naming device and option in err. */
	int (*check)(const struct nf_devcfg *cfg, char *err, size_t errlen);
};

/* The registry: every transport uml-nf knows, in --help order. */
extern const struct nf_transport *const nf_transports[];
extern const unsigned nf_ntransports;

/* Exact-name lookup; NULL if unknown. */
const struct nf_transport *nf_transport_find(const char *name);

#endif
