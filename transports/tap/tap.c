/* tap: a TUN/TAP device in tap mode; both directions on its fd.
 *
 * Stock UML moves one frame per readv/writev on a tap. Here a batch of
 * reads or writes is one io_uring submission (tapio.h), with readv/writev
 * when io_uring is unavailable or vec=0. Frames carry the 10-byte
 * virtio-net header both ways (NF_CAP_VNET_HDR | NF_CAP_GSO), so checksum
 * state and TSO frames cross as they are; which GSO frames the tap may hand
 * us follows gro= (tapdev.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ifup.h"
#include "log.h"
#include "tapdev.h"
#include "tapio.h"
#include "transport.h"
#include "util.h"

struct tap_port {
	struct nf_port base;
	struct tap_dev dev;
	struct tap_io io;
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
	rc = nf_ifup_run(cfg, tp->dev.ifname, err, errlen);
	if (rc < 0)
		goto err_deinit_io;
	tp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = tp->dev.fd,
		.tx_fd = tp->dev.fd,
		.caps = NF_CAP_VNET_HDR | NF_CAP_GSO,
	};
	nf_info("vec%u: tap %s (%s%s), %s%s%s", cfg->index, tp->dev.ifname,
		tp->dev.created ? "created, removed at exit" : "existing, left in place",
		tp->dev.multi_queue ? ", one queue of a multi-queue tap" : "",
		tap_io_mode(&tp->io), why[0] ? ": " : "", why);
	*out = &tp->base;
	return 0;

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
	tap_io_deinit(&tp->io); /* first: the ring may hold the tap fd */
	tap_dev_close(&tp->dev);
	free(tp);
}

static int tap_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	return tap_io_read(&to_tap(port)->io, pkts, max);
}

static int tap_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	return tap_io_write(&to_tap(port)->io, pkts, n, &port->tx_drops);
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
	.rx_host_drops = tap_rx_host_drops,
};
