/* raw: one AF_PACKET socket bound to a host interface (typically one end of a
 * veth pair), used for both directions.
 *
 * - Always opened with PACKET_VNET_HDR, so checksum state and GSO metadata
 *   cross in both directions in the 10-byte virtio_net_hdr; whether GSO frames
 *   are allowed to reach the guest is decided by the engine from gro=.
 * - PACKET_IGNORE_OUTGOING keeps our own transmissions from being looped back
 *   to us (stock UML relies on a BPF source-MAC filter, or receives its own
 *   frames).
 * - No PACKET_QDISC_BYPASS: the direct path drops a GSO frame outright when
 *   the interface cannot segment it (TSO off) instead of segmenting it in
 *   software as the normal transmit path does; veth's default noqueue
 *   qdisc costs next to nothing anyway.
 * - The socket is created with protocol 0 and only bound to ETH_P_ALL on the
 *   one interface, so it never queues frames from other interfaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ethtool.h"
#include "ifup.h"
#include "log.h"
#include "privsock.h"
#include "ring_mmap.h"
#include "ring_xdp.h"
#include "transport.h"
#include "util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define RAW_SOCKBUF (4 << 20)
#define RAW_RING_SNDBUF (32 << 20)
/* Guest frames: at most a 64 KiB IP packet behind two VLAN tags with TSO
 * (gro=1), an MTU-sized one without. Transmit slots for them. */
#define RAW_TX_GSO_FRAME (65535u + 14u + 8u)
#define RAW_RING_TX_SLOTS 256u
#define RAW_RING_TX_GSO_SLOTS 128u

struct raw_port {
	struct nf_port base;
	int fd;
	unsigned ifindex;
	char ifname[IF_NAMESIZE];
	bool vec;           /* vector I/O (recvmmsg/sendmmsg) or one per call */
	unsigned nmsgs;
	struct mmsghdr *msgs;
	uint64_t drops;     /* PACKET_STATISTICS tp_drops, accumulated */
	struct rm_ring *ring; /* ring=mmap, else NULL (recvmmsg/sendmmsg) */
	struct rx_xdp *xdp;   /* ring=xdp/xdpskb, else NULL */
	int xdp_set;          /* ring=xdp: epoll set of the XDP and packet sockets (rx_fd) */
};

static const struct nf_optdesc raw_opts[] = {
	{ "ifname", NF_OPT_IFNAME, 0, 0, true, "host interface to attach to (e.g. a veth end)",
	  NULL },
	{ "ring", NF_OPT_STRING, 0, 16, false,
	  "host socket I/O: socket (recvmmsg/sendmmsg; default with gro=1), mmap (PACKET_MMAP "
	  "TPACKET_V3 rx block ring: no receive syscall, one wakeup per block, up to 1 ms "
	  "more latency; tx by sendmmsg; default with gro=0), mmaptx (and a tx ring), xdp (AF_XDP receive, native XDP program; "
	  "GSO frames and tx by the packet socket) or xdpskb (the same in generic mode)",
	  NULL },
	NF_OPTDESC_IFUP,
};

static struct raw_port *to_raw(struct nf_port *p)
{
	return nf_container_of(p, struct raw_port, base);
}

/* Says how the host interface's offloads meet the guest's gro= setting.
 * Nothing here can corrupt traffic: with virtio-net headers on the socket
 * the host kernel finishes checksums and segments what its interface cannot,
 * and GSO frames for a guest without TSO are segmented by the engine. */
static void report_offloads(const struct nf_devcfg *cfg, const char *ifname)
{
	struct nf_if_offloads o;
	int rc = nf_ethtool_offloads(ifname, &o);
	if (rc < 0) {
		nf_dbg("vec%u: cannot read %s offloads (%s)", cfg->index, ifname, strerror(-rc));
		return;
	}
	nf_dbg("vec%u: %s offloads: rx-gro %d, rx-lro %d, tso %d, gso %d, tx-csum %d, rx-csum %d",
	       cfg->index, ifname, o.rx_gro, o.rx_lro, o.tx_tso, o.tx_gso, o.tx_csum, o.rx_csum);
	if (!cfg->gro && (o.rx_gro || o.rx_lro))
		nf_info("vec%u: %s coalesces received frames (GRO/LRO) but gro=0: uml-nf "
			"segments them again in software for the guest; gro=1 avoids that work",
			cfg->index, ifname);
	if (cfg->gro && !o.tx_tso)
		nf_info("vec%u: gro=1 but %s has TCP segmentation offload off: the host kernel "
			"segments the guest's large frames in software", cfg->index, ifname);
}

static int raw_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	const char *ifname = nf_devcfg_topt(cfg, "ifname")->str;
	int one = 1, fd = -1, rc;
	struct raw_port *rp = NULL;

	const struct nf_optval *ring = nf_devcfg_topt(cfg, "ring");
	bool use_ring = false, tx_ring = false, use_xdp = false, xdp_skb = false;
	const char *ring_name = ring ? ring->str : "socket";
	if (!ring) {
		/* Default: the rx block ring where it measured faster, i.e.
		 * small-frame forwarding with gro=0 (NDR 1.46-1.57x of recvmmsg
		 * side by side); with gro=1 the ring's block timeout costs
		 * single-stream TCP too much (0.33-0.47x), so recvmmsg stays. */
		use_ring = !cfg->gro && cfg->vec;
		ring_name = use_ring ? "mmap" : "socket";
	} else if (strcmp(ring->str, "mmap") == 0) {
		use_ring = true;
	} else if (strcmp(ring->str, "mmaptx") == 0) {
		use_ring = tx_ring = true;
	} else if (strcmp(ring->str, "xdp") == 0 || strcmp(ring->str, "xdpskb") == 0) {
		use_xdp = true;
		xdp_skb = ring->str[3] == 's';
	} else if (strcmp(ring->str, "socket") != 0) {
		snprintf(err, errlen,
			 "vec%u: ring: expected socket, mmap, mmaptx, xdp or xdpskb, got \"%s\"",
			 cfg->index, ring->str);
		return -EINVAL;
	}
	if (use_xdp && (cfg->bpffile || cfg->bpf_expr || cfg->bpfflash)) {
		snprintf(err, errlen, "vec%u: ring: receive filters (bpffile=, bpf=, bpfflash=) run on "
			 "the packet socket and would not see the frames XDP takes: not with ring=%s",
			 cfg->index, ring_name);
		return -EINVAL;
	}
	if ((use_ring || use_xdp) && !cfg->vec) {
		snprintf(err, errlen, "vec%u: ring: ring=mmap moves whole batches; it cannot be "
			 "combined with vec=0", cfg->index);
		return -EINVAL;
	}

	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		snprintf(err, errlen, "vec%u: ifname: no interface \"%s\" in this network namespace",
			 cfg->index, ifname);
		return -ENODEV;
	}
	/* Directly, or through the socket broker once uml-nf has dropped its
	 * privileges (a hot-plug); with 4 MiB buffers either way where
	 * CAP_NET_ADMIN allows. */
	fd = nf_packet_socket(RAW_SOCKBUF);
	if (fd < 0) {
		rc = fd;
		snprintf(err, errlen, "vec%u: raw: cannot open a packet socket: %s%s", cfg->index,
			 strerror(-rc), rc == -EPERM ? " (needs CAP_NET_RAW)" : "");
		return rc;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: raw: PACKET_VNET_HDR: %s", cfg->index, strerror(errno));
		goto err_close;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: raw: PACKET_IGNORE_OUTGOING: %s (host kernel too old?)",
			 cfg->index, strerror(errno));
		goto err_close;
	}
	/* With the tx ring the socket buffer must not run out before the ring
	 * does: the ring's writability is all epoll reports. The FORCE variant
	 * ignores wmem_max but needs CAP_NET_ADMIN. */
	if (tx_ring) {
		int sz = RAW_RING_SNDBUF;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}

	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)ifindex,
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: raw: bind to %s: %s", cfg->index, ifname, strerror(errno));
		goto err_close;
	}

	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
		nf_warn("vec%u: interface %s is down; no traffic until it is up", cfg->index, ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && (unsigned)ifr.ifr_mtu < cfg->mtu)
		nf_warn("vec%u: mtu=%u but %s has MTU %d; larger frames will be dropped by the host",
			cfg->index, cfg->mtu, ifname, ifr.ifr_mtu);

	report_offloads(cfg, ifname);

	rp = calloc(1, sizeof(*rp));
	if (!rp)
		goto err_nomem;
	rp->xdp_set = -1;
	rp->nmsgs = cfg->depth;
	rp->msgs = calloc(rp->nmsgs, sizeof(*rp->msgs));
	if (!rp->msgs)
		goto err_nomem;
	if (use_ring) {
		char dev[16];
		snprintf(dev, sizeof(dev), "vec%u", cfg->index);
		/* No qdisc bypass while the guest may send GSO frames: the
		 * direct path drops what the interface cannot segment. */
		rc = rm_open(fd, dev, tx_ring, cfg->gro ? RAW_TX_GSO_FRAME : cfg->mtu + 14u + 8u,
			     cfg->gro ? RAW_RING_TX_GSO_SLOTS : RAW_RING_TX_SLOTS, !cfg->gro,
			     &rp->ring, err, errlen);
		if (rc < 0)
			goto err_free;
		nf_info("vec%u: ring=%s on %s (TPACKET_V3 rx blocks, %s%s)", cfg->index, ring_name,
			ifname, tx_ring ? "tx ring" : "tx by sendmmsg",
			cfg->gro ? "" : ", qdisc bypass");
	}
	if (use_xdp) {
		char dev[16];
		snprintf(dev, sizeof(dev), "vec%u", cfg->index);
		rc = rx_xdp_open(ifname, ifindex, dev, xdp_skb, &rp->xdp, err, errlen);
		if (rc < 0)
			goto err_free;
		/* The engine watches one receive descriptor: a set of both. */
		rp->xdp_set = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		if (rp->xdp_set < 0 || epoll_ctl(rp->xdp_set, EPOLL_CTL_ADD, rx_xdp_fd(rp->xdp), &ev) < 0 ||
		    epoll_ctl(rp->xdp_set, EPOLL_CTL_ADD, fd, &ev) < 0) {
			rc = -errno;
			snprintf(err, errlen, "vec%u: ring: epoll: %s", cfg->index, strerror(errno));
			goto err_free;
		}
		nf_info("vec%u: ring=%s on %s (AF_XDP receive, copy mode, %s XDP program; larger "
			"frames and transmit by the packet socket)", cfg->index, ring_name, ifname,
			xdp_skb ? "generic" : "native");
	}
	rc = nf_ifup_run(cfg, ifname, err, errlen);
	if (rc < 0)
		goto err_free;
	rp->fd = fd;
	rp->ifindex = ifindex;
	snprintf(rp->ifname, sizeof(rp->ifname), "%s", ifname);
	rp->vec = cfg->vec;
	rp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = rp->xdp ? rp->xdp_set : fd,
		.tx_fd = fd,
		.caps = NF_CAP_VNET_HDR | NF_CAP_GSO,
	};
	*out = &rp->base;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "vec%u: out of memory", cfg->index);
err_free:
	if (rp) {
		rm_close(rp->ring);
		rx_xdp_close(rp->xdp);
		if (rp->xdp_set >= 0)
			close(rp->xdp_set);
		free(rp->msgs);
	}
	free(rp);
err_close:
	close(fd);
	return rc;
}

static void raw_close(struct nf_port *port)
{
	struct raw_port *rp = to_raw(port);
	rm_close(rp->ring);
	rx_xdp_close(rp->xdp);
	if (rp->xdp_set >= 0)
		close(rp->xdp_set);
	close(rp->fd);
	free(rp->msgs);
	free(rp);
}

/* The interface went away (deleted: the socket reports ENETDOWN once and
 * is left bound to nothing; sends then fail with ENXIO) or down: the engine
 * takes the port down and calls raw_reattach until it is back. */
static int raw_err(int e)
{
	return e == ENETDOWN || e == ENXIO || e == ENODEV ? -ENETDOWN : -e;
}

/* Binds the socket again, to the interface that now has our name (a deleted
 * and re-created veth has a new index). */
static int raw_reattach(struct nf_port *port)
{
	struct raw_port *rp = to_raw(port);
	unsigned ifindex = if_nametoindex(rp->ifname);
	if (!ifindex)
		return -EAGAIN;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)ifindex,
	};
	if (bind(rp->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", rp->ifname);
	if (ioctl(rp->fd, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return -EAGAIN; /* bound; traffic once it is up (retried until then) */
	if (ifindex != rp->ifindex)
		nf_info("vec%u: %s is back (interface index %u, was %u)", port->cfg->index,
			rp->ifname, ifindex, rp->ifindex);
	rp->ifindex = ifindex;
	return 0;
}

static int raw_rx_socket(struct raw_port *rp, struct nf_pkt *pkts, unsigned max);

static int raw_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct raw_port *rp = to_raw(port);

	if (rp->ring)
		return rm_rx(rp->ring, pkts, max);
	if (rp->xdp) {
		/* The XDP socket first; what XDP passed on (GSO frames) waits
		 * in the packet socket once the XDP ring is drained. */
		int n = rx_xdp_rx(rp->xdp, pkts, max);
		if ((unsigned)n == max)
			return n;
		int m = raw_rx_socket(rp, pkts + n, max - (unsigned)n);
		return m < 0 ? (n ? n : m) : n + m;
	}
	return raw_rx_socket(rp, pkts, max);
}

static int raw_rx_socket(struct raw_port *rp, struct nf_pkt *pkts, unsigned max)
{
	int n;

	if (max > rp->nmsgs)
		max = rp->nmsgs;
	for (unsigned i = 0; i < max; i++) {
		rp->msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = pkts[i].iov,
			.msg_iovlen = pkts[i].iovcnt,
		};
	}
	if (rp->vec) {
		n = recvmmsg(rp->fd, rp->msgs, max, MSG_DONTWAIT, NULL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : raw_err(errno);
	} else {
		/* vec=0: one recvmsg per packet, as UML does with readv. */
		for (n = 0; n < (int)max; n++) {
			ssize_t r = recvmsg(rp->fd, &rp->msgs[n].msg_hdr, MSG_DONTWAIT);
			if (r < 0) {
				if (n == 0 && errno != EAGAIN && errno != EINTR)
					return raw_err(errno);
				break;
			}
			rp->msgs[n].msg_len = (unsigned)r;
		}
	}
	for (int i = 0; i < n; i++) {
		pkts[i].len = rp->msgs[i].msg_len;
		pkts[i].flags = (rp->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? NF_PKT_TRUNC : 0;
	}
	return n;
}

static int raw_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct raw_port *rp = to_raw(port);
	unsigned sent = 0;

	if (rp->ring && rm_has_tx(rp->ring)) {
		int r = rm_tx(rp->ring, rp->fd, pkts, n, &port->tx_drops);
		return r < 0 ? raw_err(-r) : r;
	}
	if (n > rp->nmsgs)
		n = rp->nmsgs;
	for (unsigned i = 0; i < n; i++)
		rp->msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = pkts[i].iov,
			.msg_iovlen = pkts[i].iovcnt,
		};
	while (sent < n) {
		int r;
		if (rp->vec) {
			r = sendmmsg(rp->fd, rp->msgs + sent, n - sent, MSG_DONTWAIT);
		} else {
			ssize_t w = sendmsg(rp->fd, &rp->msgs[sent].msg_hdr, MSG_DONTWAIT);
			r = w < 0 ? -1 : 1;
		}
		if (r > 0) {
			sent += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break; /* socket buffer full: wait for tx_fd to be writable */
		if (raw_err(errno) == -ENETDOWN)
			return sent ? (int)sent : -ENETDOWN; /* the interface is gone */
		/* Anything else is about this one frame (bad header from the
		 * guest, too big for the link, device queue dropped it):
		 * count it and carry on with the rest. */
		port->tx_drops++;
		sent++;
	}
	return (int)sent;
}

static uint64_t raw_rx_host_drops(struct nf_port *port)
{
	struct raw_port *rp = to_raw(port);
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* The kernel resets these counters on every read. */
	if (getsockopt(rp->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		rp->drops += st.tp_drops;
	return rp->drops + (rp->xdp ? rx_xdp_drops(rp->xdp) : 0);
}

const struct nf_transport nf_transport_raw = {
	.name = "raw",
	.summary = "AF_PACKET socket on a host interface, batched, with virtio-net headers",
	.opts = raw_opts,
	.nopts = NF_ARRAY_SIZE(raw_opts),
	.open = raw_open,
	.close = raw_close,
	.rx_batch = raw_rx_batch,
	.tx_batch = raw_tx_batch,
	.rx_host_drops = raw_rx_host_drops,
	.reattach = raw_reattach,
};
