/* Device reports for uml-nf stats: a copy under the device lock, formatted
 * after it (see stats.h). */
#include "stats.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "dev.h"
#include "util.h"

static const char *const feature_names[64] = {
    [VIRTIO_NET_F_CSUM] = "csum",
    [VIRTIO_NET_F_GUEST_CSUM] = "guest_csum",
    [2] = "ctrl_guest_offloads",
    [VIRTIO_NET_F_MTU] = "mtu",
    [VIRTIO_NET_F_MAC] = "mac",
    [VIRTIO_NET_F_GUEST_TSO4] = "guest_tso4",
    [VIRTIO_NET_F_GUEST_TSO6] = "guest_tso6",
    [VIRTIO_NET_F_GUEST_ECN] = "guest_ecn",
    [VIRTIO_NET_F_GUEST_UFO] = "guest_ufo",
    [VIRTIO_NET_F_HOST_TSO4] = "host_tso4",
    [VIRTIO_NET_F_HOST_TSO6] = "host_tso6",
    [VIRTIO_NET_F_HOST_ECN] = "host_ecn",
    [VIRTIO_NET_F_HOST_UFO] = "host_ufo",
    [VIRTIO_NET_F_MRG_RXBUF] = "mrg_rxbuf",
    [VIRTIO_NET_F_STATUS] = "status",
    [VIRTIO_NET_F_CTRL_VQ] = "ctrl_vq",
    [VIRTIO_NET_F_CTRL_RX] = "ctrl_rx",
    [VIRTIO_F_INDIRECT_DESC] = "indirect_desc",
    [VIRTIO_F_EVENT_IDX] = "event_idx",
    [30] = "protocol_features",
    [VIRTIO_F_VERSION_1] = "version_1",
};

const char *nf_feature_name(unsigned bit)
{
	return bit < NF_ARRAY_SIZE(feature_names) ? feature_names[bit] : NULL;
}

/* What a report shows, copied under the device lock. */
struct dev_copy {
	struct nf_stats st;
	const char *transport;
	char ifname[32];
	unsigned depth, mtu;
	bool gro, port_down, detached, connected, ready, capture;
	const char *broken;
	uint64_t acked, host_tx_errors;
	long long host_rx_drops; /* -1: the transport cannot tell */
	uint16_t status;
	uint8_t mac[6];
};

static void dev_copy(struct nf_dev *dev, struct dev_copy *c)
{
	pthread_mutex_lock(&dev->vu.lock);
	memcpy(&c->st, &dev->st, sizeof(c->st));
	const struct nf_port *p = dev->port;
	const struct nf_optval *ifn = nf_devcfg_topt(dev->cfg, "ifname");
	c->transport = p->transport->name;
	snprintf(c->ifname, sizeof(c->ifname), "%s", ifn ? ifn->str : "");
	c->depth = dev->depth;
	c->mtu = dev->vu.config.mtu;
	c->gro = dev->cfg->gro;
	c->port_down = dev->port_down;
	c->detached = dev->detached;
	c->connected = dev->vu.conn_fd >= 0;
	c->ready = dev->vu.vrings[VNET_Q_RX].ready && dev->vu.vrings[VNET_Q_TX].ready;
	c->capture = dev->capture != NULL;
	c->broken = dev->vu.broken; /* reasons are string literals */
	c->acked = dev->vu.acked;
	c->status = dev->vu.config.status;
	memcpy(c->mac, dev->vu.config.mac, 6);
	c->host_tx_errors = p->tx_drops;
	/* A getsockopt for the raw transport: under the lock because the port
	 * may only be touched while it is attached. */
	c->host_rx_drops =
	    p->transport->rx_host_drops ? (long long)p->transport->rx_host_drops(dev->port) : -1;
	pthread_mutex_unlock(&dev->vu.lock);
}

int nf_engine_report(struct nf_engine *eng, unsigned index, const struct nf_report_sink *sink,
		     void *ctx)
{
	struct nf_dev *dev = engine_dev(eng, index);
	struct dev_copy c;
	char buf[64 * 24];

	if (!dev)
		return -ENODEV;
	dev_copy(dev, &c);
	const struct nf_stats *s = &c.st;

	sink->str(ctx, "dev", dev->vu.name);
	sink->str(ctx, "transport", c.transport);
	if (c.ifname[0])
		sink->str(ctx, "ifname", c.ifname);
	/* link: the host side (none: no transport attached); guest: the
	 * frontend's state; guest_link: what the guest is told. */
	sink->str(ctx, "link", c.detached ? "none" : c.port_down ? "down" : "up");
	sink->str(ctx, "guest",
		  c.broken	? "broken"
		  : c.ready	? "running"
		  : c.connected ? "connected"
				: "absent");
	if (c.broken)
		sink->str(ctx, "broken", c.broken);
	sink->str(ctx, "guest_link", (c.status & VIRTIO_NET_S_LINK_UP) ? "up" : "down");
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", c.mac[0], c.mac[1], c.mac[2],
		 c.mac[3], c.mac[4], c.mac[5]);
	sink->str(ctx, "mac", buf);
	sink->num(ctx, "mtu", c.mtu);
	sink->num(ctx, "depth", c.depth);
	sink->num(ctx, "gro", c.gro);
	sink->str(ctx, "capture", c.capture ? "attached" : "none");

	static const struct {
		const char *key;
		size_t off;
	} nums[] = {
#define N(f) {#f, offsetof(struct nf_stats, f)}
	    N(rx_packets), N(rx_bytes),	    N(rx_dropped), N(rx_oversize),  N(tx_packets),
	    N(tx_bytes),   N(tx_dropped),   N(tx_bad_hdr), N(rx_bad_hdr), N(tx_bad_frame), N(tx_host_down),
	    N(port_downs), N(rx_segmented), N(rx_split),   N(rx_coalesced), N(rx_gso),
	    N(rx_csum),	   N(tx_gso),	    N(tx_csum),	   N(kicks),	    N(calls),
	    N(recalls),	   N(call_errors),  N(rx_waits),   N(ctrl_cmds),
#undef N
	};
	for (size_t i = 0; i < NF_ARRAY_SIZE(nums); i++) {
		uint64_t v;
		memcpy(&v, (const char *)s + nums[i].off, sizeof(v));
		sink->num(ctx, nums[i].key, v);
	}
	sink->num(ctx, "host_tx_errors", c.host_tx_errors);
	if (c.host_rx_drops >= 0)
		sink->num(ctx, "host_rx_drops", (uint64_t)c.host_rx_drops);
	sink->hist(ctx, "rx_batch_hist", s->rx_batch_hist);
	sink->hist(ctx, "tx_batch_hist", s->tx_batch_hist);

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)c.acked);
	sink->str(ctx, "features", buf);
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!((c.acked >> bit) & 1))
			continue;
		const char *name = nf_feature_name(bit);
		char unk[16];
		if (!name) {
			snprintf(unk, sizeof(unk), "bit%u", bit);
			name = unk;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", name);
		if (n >= sizeof(buf))
			break;
	}
	sink->str(ctx, "feature_names", buf);
	return 0;
}
