/* Hot-plug of transports into running devices (see attach.h), and the
 * null transport that stands in while a device has none. */
#include "attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "log.h"
#include "stats.h"

/* ---- the null transport ---- */

static int none_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	(void)port, (void)pkts, (void)max;
	return 0;
}

static int none_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	(void)port, (void)pkts, (void)n;
	return -ENETDOWN;
}

static void none_close(struct nf_port *port)
{
	(void)port; /* embedded in its device */
}

const struct nf_transport nf_transport_none = {
    .name = "none",
    .summary = "no transport (a hot-plug spare, or detached)",
    .close = none_close,
    .rx_batch = none_rx_batch,
    .tx_batch = none_tx_batch,
};

/* ---- attach / detach ---- */

static const char *ifname_of(const struct nf_devcfg *cfg)
{
	const struct nf_optval *v = nf_devcfg_topt(cfg, "ifname");
	return v ? v->str : "";
}

/* Names the features in mask, comma-separated, into buf. */
static void feature_list(uint64_t mask, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned bit = 0; bit < 64 && n < len; bit++) {
		if (!((mask >> bit) & 1))
			continue;
		const char *name = nf_feature_name(bit);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", name ? name : "?");
	}
}

/* Whether cfg and port make the device the guest negotiated against.
 * Returns 0 or -EINVAL with the mismatch in msg. Lock held. */
static int attach_check(const struct nf_dev *dev, const struct nf_devcfg *cfg,
			const struct nf_port *port, char *msg, size_t len)
{
	uint64_t want = dev->vu.features, have = dev_offered_features(cfg, port);
	char names[256];

	if (have != want) {
		uint64_t diff = have ^ want;
		feature_list(diff & want, names, sizeof(names));
		if (diff & want)
			snprintf(
			    msg, len,
			    "vec%u: the guest negotiated %s when it booted, which %s with these "
			    "options does not offer (gro=%d, mrg=%d here; the guest's offloads "
			    "are fixed until it reboots)",
			    cfg->index, names, cfg->transport->name, cfg->gro, cfg->mrg);
		else {
			feature_list(diff, names, sizeof(names));
			snprintf(msg, len,
				 "vec%u: %s with these options would offer %s, which the guest did "
				 "not negotiate when it booted (gro=%d, mrg=%d here)",
				 cfg->index, cfg->transport->name, names, cfg->gro, cfg->mrg);
		}
		return -EINVAL;
	}
	if (cfg->mtu != dev->vu.config.mtu) {
		snprintf(msg, len, "vec%u: mtu: the guest has %u from its boot, not %u", cfg->index,
			 dev->vu.config.mtu, cfg->mtu);
		return -EINVAL;
	}
	if (cfg->mac_set && memcmp(cfg->mac, dev->vu.config.mac, 6) != 0) {
		const uint8_t *m = dev->vu.config.mac;
		snprintf(msg, len,
			 "vec%u: mac: the guest has %02x:%02x:%02x:%02x:%02x:%02x from its boot",
			 cfg->index, m[0], m[1], m[2], m[3], m[4], m[5]);
		return -EINVAL;
	}
	if (cfg->depth > dev->depth_max) {
		snprintf(msg, len,
			 "vec%u: depth: at most %u on this device (its buffers were sized "
			 "at start), got %u",
			 cfg->index, dev->depth_max, cfg->depth);
		return -EINVAL;
	}
	return 0;
}

int nf_engine_attach(struct nf_engine *eng, struct nf_devcfg *cfg, struct nf_port *port, char *msg,
		     size_t len)
{
	struct nf_dev *dev = engine_dev(eng, cfg->index);
	int rc;

	if (!dev) {
		snprintf(msg, len,
			 "vec%u: no such device (the guest's NICs are fixed at boot: "
			 "start uml-nf with --spare-nics)",
			 cfg->index);
		rc = -ENODEV;
		goto err_close;
	}
	rc = dev_port_watch(dev, port);
	if (rc < 0) {
		snprintf(msg, len, "vec%u: epoll: %s", cfg->index, strerror(-rc));
		goto err_close;
	}
	pthread_mutex_lock(&dev->vu.lock);
	if (!dev->detached) {
		snprintf(msg, len, "vec%u: has a transport (%s%s%s): remove it first", cfg->index,
			 dev->port->transport->name, *ifname_of(dev->cfg) ? " " : "",
			 ifname_of(dev->cfg));
		rc = -EBUSY;
		goto err_unlock;
	}
	rc = attach_check(dev, cfg, port, msg, len);
	if (rc < 0)
		goto err_unlock;
	dev->port = port;
	dev->cfg = cfg;
	dev->cfg_owned = cfg;
	dev->depth = cfg->depth;
	dev->detached = false;
	dev->port_down = false;
	dev->tx_blocked = false;
	dev->rx_mask = dev->tx_mask = 0; /* what dev_port_watch registered */
	dev->rx_readable = true;
	dev->rx_starved = false;
	dev->kicked[VNET_Q_TX] = true;
	dev_update_port_interest(dev);
	dev->vu.config.status |= VIRTIO_NET_S_LINK_UP;
	int crc = vu_dev_config_changed(&dev->vu);
	pthread_mutex_unlock(&dev->vu.lock);
	dev_wake(dev);
	if (crc < 0)
		nf_warn("vec%u: could not tell the guest its link is up: %s", cfg->index,
			strerror(-crc));
	snprintf(msg, len, "vec%u: attached %s%s%s, link up", cfg->index, cfg->transport->name,
		 *ifname_of(cfg) ? " " : "", ifname_of(cfg));
	nf_info("%s", msg);
	return 0;

err_unlock:
	pthread_mutex_unlock(&dev->vu.lock);
	dev_port_unwatch(dev, port);
err_close:
	port->transport->close(port);
	return rc;
}

int nf_engine_detach(struct nf_engine *eng, unsigned index, char *msg, size_t len)
{
	struct nf_dev *dev = engine_dev(eng, index);
	char what[64];

	if (!dev) {
		snprintf(msg, len, "vec%u: no such device", index);
		return -ENODEV;
	}
	pthread_mutex_lock(&dev->vu.lock);
	if (dev->detached) {
		pthread_mutex_unlock(&dev->vu.lock);
		snprintf(msg, len, "vec%u: no transport attached", index);
		return -ENODEV;
	}
	if (dev->capture) {
		pthread_mutex_unlock(&dev->vu.lock);
		snprintf(msg, len, "vec%u: busy: a capture is attached (stop it first)", index);
		return -EBUSY;
	}
	struct nf_port *old = dev->port;
	struct nf_devcfg *old_cfg = dev->cfg_owned;
	snprintf(what, sizeof(what), "%s%s%s", old->transport->name,
		 *ifname_of(dev->cfg) ? " " : "", ifname_of(dev->cfg));
	/* The device keeps what the guest negotiated against: the old
	 * port's capabilities and the options, minus the transport's own. */
	dev->idle_cfg = *dev->cfg;
	dev->idle_cfg.transport = &nf_transport_none;
	dev->idle_cfg.spec = NULL; /* and what points into it */
	dev->idle_cfg.bpffile = dev->idle_cfg.bpf_expr = NULL;
	memset(dev->idle_cfg.topt, 0, sizeof(dev->idle_cfg.topt));
	dev->null_port = (struct nf_port){.transport = &nf_transport_none,
					  .cfg = &dev->idle_cfg,
					  .rx_fd = -1,
					  .tx_fd = -1,
					  .caps = old->caps};
	dev->port = &dev->null_port;
	dev->cfg = &dev->idle_cfg;
	dev->cfg_owned = NULL;
	dev->detached = true;
	dev->port_down = true;
	dev->tx_blocked = false;
	dev->rx_mask = dev->tx_mask = 0;
	/* Frames staged for the guest came from the old port: dropped. The
	 * guest's buffers we hold (the stash) stay for the next transport. */
	dev->st.rx_dropped += dev->held_to - dev->held_from;
	dev->held_from = dev->held_to = 0;
	dev->nsegs = 0;
	dev->vu.config.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	int crc = vu_dev_config_changed(&dev->vu);
	uint64_t rxp = dev->st.rx_packets, txp = dev->st.tx_packets;
	pthread_mutex_unlock(&dev->vu.lock);

	dev_port_unwatch(dev, old);
	old->transport->close(old);
	if (old_cfg) {
		nf_devcfg_release(old_cfg);
		free(old_cfg);
	}
	if (crc < 0)
		nf_warn("vec%u: could not tell the guest its link is down: %s", index,
			strerror(-crc));
	snprintf(msg, len, "vec%u: detached %s, link down (counters kept: rx %llu, tx %llu frames)",
		 index, what, (unsigned long long)rxp, (unsigned long long)txp);
	nf_info("%s", msg);
	return 0;
}

int nf_engine_fixed_opts(struct nf_engine *eng, unsigned index, char *buf, size_t len)
{
	struct nf_dev *dev = engine_dev(eng, index);
	if (!dev)
		return -ENODEV;
	pthread_mutex_lock(&dev->vu.lock);
	snprintf(buf, len, "gro=%d,mrg=%d,mtu=%u", dev->cfg->gro, dev->cfg->mrg,
		 dev->vu.config.mtu);
	pthread_mutex_unlock(&dev->vu.lock);
	return 0;
}

int nf_engine_spec(struct nf_engine *eng, unsigned index, char *buf, size_t len)
{
	struct nf_dev *dev = engine_dev(eng, index);
	if (!dev)
		return -ENODEV;
	/* Rebuilt from the parsed options (the parser splits its copy of the
	 * text in place). */
	pthread_mutex_lock(&dev->vu.lock);
	const struct nf_devcfg *c = dev->cfg;
	size_t n = 0;
	buf[0] = '\0';
#define PUT(...)                                                                                   \
	do {                                                                                       \
		if (n < len)                                                                       \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);                      \
	} while (0)
	if (!dev->detached) {
		const struct nf_transport *t = c->transport;
		PUT("transport=%s", t->name);
		for (unsigned i = 0; i < t->nopts && i < NF_MAX_TOPTS; i++)
			if (c->topt[i].set)
				PUT(",%s=%s", t->opts[i].name, c->topt[i].str);
		PUT(",depth=%u,gro=%d,mtu=%u,mrg=%d", c->depth, c->gro, c->mtu, c->mrg);
		if (!c->vec)
			PUT(",vec=0");
		if (c->coalesce_us)
			PUT(",coalesce=%u", c->coalesce_us);
		if (c->bpfflash)
			PUT(",bpfflash=1");
		if (c->bpffile)
			PUT(",bpffile=%s", c->bpffile);
		if (c->bpf_expr)
			PUT(",bpf=%s", c->bpf_expr); /* takes the rest: last */
	}
#undef PUT
	pthread_mutex_unlock(&dev->vu.lock);
	return 0;
}
