/* hybrid: transmit through a tap's fd, receive from an AF_PACKET socket
 * bound to the same tap (UML's "hybrid" transport: a tap, read with
 * recvmmsg batches).
 *
 * - The tap is opened exactly as transport=tap opens it (tapdev.h), with
 *   the same 10-byte virtio-net header and offloads; the packet socket
 *   carries the same header (PACKET_VNET_HDR), so both directions are framed
 *   alike. A host whose packet sockets cannot carry the header is refused:
 *   the tap side needs it and frames would otherwise be mis-framed.
 * - The packet socket sees both directions of the tap: what the host sends
 *   toward the guest (outgoing on the tap) and what we write into it, which
 *   the host receives from the tap (host, broadcast, multicast or
 *   otherhost). A classic BPF filter keeps only PACKET_OUTGOING. Stock UML
 *   drops frames whose source MAC is the guest's instead; that lets through
 *   every frame the guest sends with another source address -- a bridge or
 *   router guest forwarding other hosts' frames, or one whose MAC was changed
 *   after ifup -- so they come straight back to it (a guest bridging two
 *   hybrid ports loops broadcasts forever), and it would drop a host frame
 *   that happens to carry the guest's MAC. The direction is what matters,
 *   and the kernel tells it.
 * - Frames toward the guest also queue on the tap fd itself, which nobody
 *   else reads: stock UML lets that queue fill (txqueuelen frames, up to
 *   64 KiB each, pinned) and the tap then drops every later frame, counted as
 *   tap transmit drops. Here each receive batch also discards as many queued
 *   frames from the tap fd (one batched read each, only the header copied),
 *   so the queue stays near empty and the tap's counters stay true. (A drop-
 *   all filter on the tap, TUNATTACHFILTER, would be cheaper but applies to
 *   every queue of the tap and stays on a persistent tap if uml-nf dies.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ifup.h"
#include "log.h"
#include "tapdev.h"
#include "tapio.h"
#include "transport.h"
#include "util.h"

#define HYBRID_SOCKBUF (4 << 20)

struct hybrid_port {
	struct nf_port base;
	struct tap_dev dev;
	struct tap_io io;   /* transmit, and draining the tap's own queue */
	int sock;           /* receive: packet socket on the tap */
	bool vec;           /* recvmmsg, or one recvmsg per frame */
	unsigned nmsgs;
	struct mmsghdr *msgs;
	uint64_t drops;     /* PACKET_STATISTICS tp_drops, accumulated */
	uint64_t drained;   /* frames discarded from the tap fd's queue */
};

static const struct nf_optdesc hybrid_opts[] = {
	{ "ifname", NF_OPT_IFNAME, 0, 0, false,
	  "tap to attach to; created (and removed at exit) if absent or not existing", NULL },
	NF_OPTDESC_IFUP,
};

static struct hybrid_port *to_hybrid(struct nf_port *p)
{
	return nf_container_of(p, struct hybrid_port, base);
}

/* Accept (whole) only frames leaving the tap toward the guest. */
static const struct sock_filter outgoing_only[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static void set_bufsize(int fd, int opt_force, int opt, int size)
{
	/* The FORCE variants ignore rmem_max but need CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/* The receive socket: filter and header first, bound last, so it never
 * queues a frame that has not been through both. */
static int open_sock(const struct nf_devcfg *cfg, const struct tap_dev *td, char *err,
		     size_t errlen)
{
	struct sock_fprog prog = { NF_ARRAY_SIZE(outgoing_only), (struct sock_filter *)outgoing_only };
	int one = 1, rc;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: hybrid: cannot open a packet socket: %s%s", cfg->index,
			 strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_RAW; transport=tap does not)" : "");
		return rc;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: hybrid: SO_ATTACH_FILTER on the packet socket: %s",
			 cfg->index, strerror(errno));
		goto err_close;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(err, errlen,
			 "vec%u: hybrid: the packet socket on %s cannot carry virtio-net headers "
			 "(PACKET_VNET_HDR: %s); refused, as the tap side needs them", cfg->index,
			 td->ifname, strerror(errno));
		goto err_close;
	}
	set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, HYBRID_SOCKBUF);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)td->ifindex,
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: hybrid: bind to %s: %s", cfg->index, td->ifname,
			 strerror(errno));
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return rc;
}

static int hybrid_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err,
		       size_t errlen)
{
	struct hybrid_port *hp = calloc(1, sizeof(*hp));
	char why[160];
	int rc;

	rc = tap_dev_refuse_filters(cfg, "hybrid", err, errlen);
	if (rc < 0)
		goto err_free;
	if (!hp)
		goto err_nomem;
	hp->sock = -1;
	hp->nmsgs = cfg->depth;
	hp->msgs = calloc(hp->nmsgs, sizeof(*hp->msgs));
	if (!hp->msgs)
		goto err_nomem;
	hp->vec = cfg->vec;
	rc = tap_dev_open(cfg, "hybrid", &hp->dev, err, errlen);
	if (rc < 0)
		goto err_free;
	rc = open_sock(cfg, &hp->dev, err, errlen);
	if (rc < 0)
		goto err_close_dev;
	hp->sock = rc;
	rc = tap_io_init(&hp->io, hp->dev.fd, cfg->depth, cfg->vec, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: out of memory", cfg->index);
		goto err_close_sock;
	}
	rc = nf_ifup_run(cfg, hp->dev.ifname, err, errlen);
	if (rc < 0)
		goto err_deinit_io;
	hp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = hp->sock,
		.tx_fd = hp->dev.fd,
		.caps = NF_CAP_VNET_HDR | NF_CAP_GSO,
	};
	nf_info("vec%u: hybrid on tap %s (%s%s), receive %s on a packet socket, transmit %s%s%s",
		cfg->index, hp->dev.ifname,
		hp->dev.created ? "created, removed at exit" : "existing, left in place",
		hp->dev.multi_queue ? ", one queue of a multi-queue tap" : "",
		hp->vec ? "recvmmsg" : "recvmsg", tap_io_mode(&hp->io), why[0] ? ": " : "", why);
	*out = &hp->base;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "vec%u: out of memory", cfg->index);
	goto err_free;
err_deinit_io:
	tap_io_deinit(&hp->io);
err_close_sock:
	close(hp->sock);
err_close_dev:
	tap_dev_close(&hp->dev);
err_free:
	if (hp)
		free(hp->msgs);
	free(hp);
	return rc;
}

static void hybrid_close(struct nf_port *port)
{
	struct hybrid_port *hp = to_hybrid(port);
	nf_dbg("vec%u: hybrid: %llu frames discarded from the queue of tap %s", port->cfg->index,
	       (unsigned long long)hp->drained, hp->dev.ifname);
	close(hp->sock);
	tap_io_deinit(&hp->io);
	tap_dev_close(&hp->dev);
	free(hp->msgs);
	free(hp);
}

static int hybrid_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct hybrid_port *hp = to_hybrid(port);
	int n;

	if (max > hp->nmsgs)
		max = hp->nmsgs;
	for (unsigned i = 0; i < max; i++)
		hp->msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = pkts[i].iov,
			.msg_iovlen = pkts[i].iovcnt,
		};
	if (hp->vec) {
		n = recvmmsg(hp->sock, hp->msgs, max, MSG_DONTWAIT, NULL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	} else {
		for (n = 0; n < (int)max; n++) {
			ssize_t r = recvmsg(hp->sock, &hp->msgs[n].msg_hdr, MSG_DONTWAIT);
			if (r < 0) {
				if (n == 0 && errno != EAGAIN && errno != EINTR)
					return -errno;
				break;
			}
			hp->msgs[n].msg_len = (unsigned)r;
		}
	}
	for (int i = 0; i < n; i++) {
		pkts[i].len = hp->msgs[i].msg_len;
		pkts[i].flags = (hp->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? NF_PKT_TRUNC : 0;
	}
	/* Each frame received here was also queued on the tap fd. */
	if (n > 0)
		hp->drained += tap_io_drain(&hp->io, (unsigned)n);
	return n;
}

static int hybrid_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	return tap_io_write(&to_hybrid(port)->io, pkts, n, &port->tx_drops);
}

/* Receive filters are refused at open (tap_dev_refuse_filters); a later
 * request (bpfflash) must not reach the packet socket's own filter either. */
static int hybrid_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	(void)port;
	(void)prog;
	return -EOPNOTSUPP;
}

static uint64_t hybrid_rx_host_drops(struct nf_port *port)
{
	struct hybrid_port *hp = to_hybrid(port);
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* The kernel resets these counters on every read. */
	if (getsockopt(hp->sock, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		hp->drops += st.tp_drops;
	return hp->drops;
}

const struct nf_transport nf_transport_hybrid = {
	.name = "hybrid",
	.summary = "transmit through a tap, receive from a packet socket on it (recvmmsg), "
		   "with virtio-net headers",
	.opts = hybrid_opts,
	.nopts = NF_ARRAY_SIZE(hybrid_opts),
	.open = hybrid_open,
	.close = hybrid_close,
	.rx_batch = hybrid_rx_batch,
	.tx_batch = hybrid_tx_batch,
	.set_filter = hybrid_set_filter,
	.rx_host_drops = hybrid_rx_host_drops,
};
