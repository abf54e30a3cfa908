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
 * - The engine watches an event set (portio.h) holding the packet socket,
 *   not the tap fd, whose EPOLLERR would not stop once the tap is deleted.
 *   A tap set down (the socket reports ENETDOWN and stops receiving) or
 *   deleted takes the port down; hybrid_reattach brings it back once a tap
 *   of that name is up again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ifup.h"
#include "filter.h"
#include "log.h"
#include "portio.h"
#include "tapdev.h"
#include "tapio.h"
#include "privsock.h"
#include "transport.h"
#include "util.h"

#define HYBRID_SOCKBUF (4 << 20)

struct hybrid_port {
	struct nf_port base;
	struct tap_dev dev;
	struct tap_io io;   /* transmit, and draining the tap's own queue */
	int sock;           /* receive: packet socket on the tap */
	struct nf_evset es; /* rx_fd: the set (sock, and tap fd while shut); tx_fd: gate */
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

static int bind_sock(int fd, unsigned ifindex)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)ifindex,
	};
	return bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ? -errno : 0;
}

/* The receive socket: filter and header first, bound last, so it never
 * queues a frame that has not been through both. */
static int open_sock(const struct nf_devcfg *cfg, const struct tap_dev *td, char *err,
		     size_t errlen)
{
	struct sock_fprog prog = { NF_ARRAY_SIZE(outgoing_only), (struct sock_filter *)outgoing_only };
	int one = 1, rc;
	/* Through the socket broker after the privilege drop (hot-plug). */
	int fd = nf_packet_socket(0);
	if (fd < 0) {
		rc = fd;
		snprintf(err, errlen, "vec%u: hybrid: cannot open a packet socket: %s%s", cfg->index,
			 strerror(-rc),
			 rc == -EPERM ? " (needs CAP_NET_RAW; transport=tap does not)" : "");
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
	rc = bind_sock(fd, td->ifindex);
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: hybrid: bind to %s: %s", cfg->index, td->ifname,
			 strerror(-rc));
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
	rc = nf_evset_open(&hp->es);
	if (rc == 0) {
		rc = nf_evset_add(&hp->es, hp->sock, EPOLLIN, 0);
		if (rc < 0)
			nf_evset_close(&hp->es);
	}
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: hybrid: event set: %s", cfg->index, strerror(-rc));
		goto err_deinit_io;
	}
	rc = nf_ifup_run(cfg, hp->dev.ifname, err, errlen);
	if (rc < 0)
		goto err_close_es;
	hp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = hp->es.epfd,
		.tx_fd = hp->es.gate,
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
err_close_es:
	nf_evset_close(&hp->es);
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
	nf_evset_close(&hp->es);
	close(hp->sock);
	tap_io_deinit(&hp->io);
	tap_dev_close(&hp->dev);
	free(hp->msgs);
	free(hp);
}

/* True when the tap fd is attached to the tap the socket is bound to, and
 * that tap is up. */
static bool tap_up(struct hybrid_port *hp)
{
	struct ifreq ifr = { 0 };
	if (ioctl(hp->dev.fd, TUNGETIFF, &ifr) < 0 || if_nametoindex(hp->dev.ifname) != hp->dev.ifindex)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", hp->dev.ifname);
	return ioctl(hp->sock, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
}

/* The tap went down or away: the set keeps only the socket, port down until
 * hybrid_reattach. */
static int hybrid_gone(struct hybrid_port *hp)
{
	if (hp->es.shut) {
		nf_evset_del(&hp->es, hp->dev.fd);
		nf_evset_open_gate(&hp->es);
	}
	return -ENETDOWN;
}

static int hybrid_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct hybrid_port *hp = to_hybrid(port);
	bool empty;

	if (hp->es.shut) {
		/* Transmit waits for room on the tap (the set woke us). */
		struct pollfd pfd = { hp->dev.fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
			nf_evset_del(&hp->es, hp->dev.fd);
			nf_evset_open_gate(&hp->es);
		}
	}
	if (max > hp->nmsgs)
		max = hp->nmsgs;
	int n = nf_msg_rx(hp->sock, hp->msgs, pkts, max, hp->vec, &empty);
	if (n == -ENETDOWN || n == -ENXIO || n == -ENODEV)
		/* The tap went down or was deleted. The socket reports that
		 * once, when a receive next finds its queue empty, which may be
		 * after the tap came back up (the kernel then hooks the socket
		 * in again by itself): only a tap still down or gone is. */
		return tap_up(hp) ? 0 : hybrid_gone(hp);
	/* Each frame received here was also queued on the tap fd. */
	if (n > 0)
		hp->drained += tap_io_drain(&hp->io, (unsigned)n);
	return n;
}

static int hybrid_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct hybrid_port *hp = to_hybrid(port);
	int sent = tap_io_write(&hp->io, pkts, n, &port->tx_drops);

	if (sent == -EBADFD)
		return hybrid_gone(hp);
	if (sent >= 0 && (unsigned)sent < n && !hp->es.shut &&
	    nf_evset_add(&hp->es, hp->dev.fd, EPOLLOUT, 1) == 0)
		nf_evset_shut(&hp->es); /* rare: wait for room through the set */
	return sent;
}

/* The tap again (tapdev.c), then the socket bound to it: a re-created tap
 * has a new index, and a tap that was only down needs the socket's hook
 * back. */
static int hybrid_reattach(struct nf_port *port)
{
	struct hybrid_port *hp = to_hybrid(port);
	int rc = tap_dev_reattach(port->cfg, "hybrid", &hp->dev);
	if (rc < 0)
		return rc;
	unsigned ifindex = if_nametoindex(hp->dev.ifname);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", hp->dev.ifname);
	if (!ifindex || ioctl(hp->sock, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return -EAGAIN; /* still down: bound now, the socket would hear nothing */
	rc = bind_sock(hp->sock, ifindex);
	if (rc < 0)
		return rc;
	hp->dev.ifindex = ifindex;
	return 0;
}

/* A receive filter (bpffile=, bpf=, bpfflash) runs behind the direction
 * check, which must stay: the packet socket also sees what we write to the
 * tap.
 *
 *   0: A = packet type
 *   1: if A == PACKET_OUTGOING goto 3 else goto 2
 *   2: return 0
 *   3: the user's program (its jumps are relative, so it moves unchanged)
 */
static int hybrid_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	struct hybrid_port *hp = to_hybrid(port);
	if (prog->len > BF_MAX_INSNS - 3)
		return -E2BIG;
	struct sock_filter *all = malloc((prog->len + 3) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	all[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
	all[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 1, 0);
	all[2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	memcpy(all + 3, prog->insns, prog->len * sizeof(*all));
	struct bf_prog composed = { all, prog->len + 3 };
	int rc = bf_attach(hp->sock, &composed);
	free(all);
	return rc;
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
	.reattach = hybrid_reattach,
	.rx_host_drops = hybrid_rx_host_drops,
};
