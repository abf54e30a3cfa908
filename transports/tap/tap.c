/* tap: a TUN/TAP device in tap mode; both directions on its fd.
 *
 * Stock UML moves one frame per readv/writev on a tap. Here a batch of
 * reads or writes is one io_uring submission (tapio.h), with readv/writev
 * when io_uring is unavailable or vec=0. Frames carry the 10-byte
 * virtio-net header both ways (NF_CAP_VNET_HDR | NF_CAP_GSO), so checksum
 * state and TSO frames cross as they are; which GSO frames the tap may hand
 * us follows gro= (tapdev.c).
 *
 * The engine watches an event set (portio.h), not the tap fd itself: a tap
 * deleted under us makes its fd report EPOLLERR for good, which would keep
 * waking the datapath. Then the port reports -ENETDOWN, leaves the fd out of
 * the set, and tap_reattach attaches it again once a tap of that name exists
 * (a persistent tap re-created by its owner).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ifup.h"
#include "log.h"
#include "portio.h"
#include "tapdev.h"
#include "tapio.h"
#include "transport.h"
#include "util.h"

struct tap_port {
	struct nf_port base;
	struct tap_dev dev;
	struct tap_io io;
	struct nf_evset es; /* rx_fd: the set holding the tap fd; tx_fd: its gate */
};

static const struct nf_optdesc tap_opts[] = {
	{ "ifname", NF_OPT_IFNAME, 0, 0, false,
	  "tap to attach to; created (and removed at exit) if absent or not existing", NULL },
	NF_OPTDESC_IFUP,
};

static struct tap_port *to_tap(struct nf_port *p)
{
	return nf_container_of(p, struct tap_port, base);
}

static int tap_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	struct tap_port *tp = calloc(1, sizeof(*tp));
	char why[160];
	int rc;

	rc = tap_dev_refuse_filters(cfg, "tap", err, errlen);
	if (rc < 0)
		goto err_free;
	if (!tp) {
		snprintf(err, errlen, "vec%u: out of memory", cfg->index);
		return -ENOMEM;
	}
	rc = tap_dev_open(cfg, "tap", &tp->dev, err, errlen);
	if (rc < 0)
		goto err_free;
	rc = tap_io_init(&tp->io, tp->dev.fd, cfg->depth, cfg->vec, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: out of memory", cfg->index);
		goto err_close_dev;
	}
	rc = nf_evset_open(&tp->es);
	if (rc == 0) {
		rc = nf_evset_add(&tp->es, tp->dev.fd, EPOLLIN, 0);
		if (rc < 0)
			nf_evset_close(&tp->es);
	}
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: tap: event set: %s", cfg->index, strerror(-rc));
		goto err_deinit_io;
	}
	rc = nf_ifup_run(cfg, tp->dev.ifname, err, errlen);
	if (rc < 0)
		goto err_close_es;
	tp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = tp->es.epfd,
		.tx_fd = tp->es.gate,
		.caps = NF_CAP_VNET_HDR | NF_CAP_GSO,
	};
	nf_info("vec%u: tap %s (%s%s), %s%s%s", cfg->index, tp->dev.ifname,
		tp->dev.created ? "created, removed at exit" : "existing, left in place",
		tp->dev.multi_queue ? ", one queue of a multi-queue tap" : "",
		tap_io_mode(&tp->io), why[0] ? ": " : "", why);
	*out = &tp->base;
	return 0;

err_close_es:
	nf_evset_close(&tp->es);
err_deinit_io:
	tap_io_deinit(&tp->io);
err_close_dev:
	tap_dev_close(&tp->dev);
err_free:
	free(tp);
	return rc;
}

static void tap_close(struct nf_port *port)
{
	struct tap_port *tp = to_tap(port);
	nf_evset_close(&tp->es);
	tap_io_deinit(&tp->io); /* first: the ring may hold the tap fd */
	tap_dev_close(&tp->dev);
	free(tp);
}

/* The tap is gone: out of the set (its EPOLLERR would not stop), port down
 * until tap_reattach. */
static int tap_gone(struct tap_port *tp)
{
	nf_evset_del(&tp->es, tp->dev.fd);
	nf_evset_open_gate(&tp->es);
	return -ENETDOWN;
}

static int tap_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct tap_port *tp = to_tap(port);

	if (tp->es.shut) {
		/* Transmit waits for room (the set woke us for EPOLLOUT). */
		struct pollfd pfd = { tp->dev.fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
			nf_evset_mod(&tp->es, tp->dev.fd, EPOLLIN, 0);
			nf_evset_open_gate(&tp->es);
		}
	}
	int n = tap_io_read(&tp->io, pkts, max);
	return n == -EBADFD ? tap_gone(tp) : n;
}

static int tap_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct tap_port *tp = to_tap(port);
	int sent = tap_io_write(&tp->io, pkts, n, &port->tx_drops);

	if (sent == -EBADFD)
		return tap_gone(tp);
	if (sent >= 0 && (unsigned)sent < n && !tp->es.shut) {
		/* A tap's socket buffer is unlimited by default, so this is
		 * rare: wait for room through the set, gate shut. */
		nf_evset_mod(&tp->es, tp->dev.fd, EPOLLIN | EPOLLOUT, 0);
		nf_evset_shut(&tp->es);
	}
	return sent;
}

static int tap_reattach(struct nf_port *port)
{
	struct tap_port *tp = to_tap(port);
	int rc = tap_dev_reattach(port->cfg, "tap", &tp->dev);
	if (rc < 0)
		return rc;
	rc = nf_evset_add(&tp->es, tp->dev.fd, EPOLLIN, 0);
	return rc == -EEXIST ? 0 : rc;
}

/* Receive filters are refused at open (tap_dev_refuse_filters); a later
 * request (bpfflash) must not reach the packet socket's own filter either. */
static int tap_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	(void)port;
	(void)prog;
	return -EOPNOTSUPP;
}

static uint64_t tap_rx_host_drops(struct nf_port *port)
{
	return tap_dev_drops(&to_tap(port)->dev);
}

const struct nf_transport nf_transport_tap = {
	.name = "tap",
	.summary = "TUN/TAP device in tap mode, batched through io_uring, with virtio-net headers",
	.opts = tap_opts,
	.nopts = NF_ARRAY_SIZE(tap_opts),
	.open = tap_open,
	.close = tap_close,
	.rx_batch = tap_rx_batch,
	.tx_batch = tap_tx_batch,
	.set_filter = tap_set_filter,
	.reattach = tap_reattach,
	.rx_host_drops = tap_rx_host_drops,
};
