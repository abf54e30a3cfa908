/* Guest -> host: tx chains become transport batches; and the control queue. */
#include <errno.h>
#include <string.h>

#include "capring.h"
#include "dev.h"
#include "iov.h"
#include "log.h"


/* Guest frames are Ethernet frames of at most a 64 KiB IP packet behind
 * two VLAN tags; anything longer is not a frame (and lengths that large are
 * how chains built to wrap counters would show). */
#define TX_FRAME_MAX (65535u + 14u + 8u)
/* Smallest TCP segment size accepted in a GSO frame: Linux's own floor
 * (tcp_min_snd_mss). A gso_size of 1 would have the host cut a 64 KiB frame
 * into 65000 segments. */
#define TX_MIN_MSS 48u
/* Bytes of a GSO frame copied out to check its headers (Ethernet, two VLAN
 * tags, IPv6 or IPv4 with options, TCP with options fit). */
#define TX_HDR_PEEK 256u

enum tx_verdict { TX_OK, TX_BAD_FRAME, TX_BAD_HDR };

/* Checks the guest's virtio-net header against what was negotiated and
 * against the frame it describes, and rewrites *h into the header the host
 * gets. The host kernel has checks of its own; we do not rely on them: the
 * guest may ask only for what it was offered. Nothing here reads guest
 * memory twice: h is a copy, and the headers of a GSO frame are copied out
 * before they are parsed. */
static enum tx_verdict tx_check_hdr(const struct nf_dev *dev, const struct vq_chain *c,
				    struct virtio_net_hdr_v1 *h, uint32_t frame)
{
	const struct vu_dev *vu = &dev->vu;
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;

	/* DATA_VALID (and RSC_INFO) belong to the receive direction. */
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return TX_BAD_HDR;
	if (!(dev->port->caps & NF_CAP_VNET_HDR)) {
		/* Never offered without vnet headers: a partial checksum
		 * would reach the wire unfinished. */
		return gso == VIRTIO_NET_HDR_GSO_NONE && !ecn && !csum ? TX_OK : TX_BAD_HDR;
	}
	if (csum && (!vu_has(vu, VIRTIO_NET_F_CSUM) ||
		     (uint32_t)h->csum_start + h->csum_offset + 2 > frame))
		return TX_BAD_HDR;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (ecn)
			return TX_BAD_HDR;
		/* The host works out the linear part itself (at least up to
		 * the checksum field); a guest's hint is not needed. */
		h->gso_size = 0;
		h->hdr_len = 0;
		return TX_OK;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!vu_has(vu, VIRTIO_NET_F_HOST_TSO4))
			return TX_BAD_HDR;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!vu_has(vu, VIRTIO_NET_F_HOST_TSO6))
			return TX_BAD_HDR;
		break;
	default: /* UDP fragmentation and segmentation: never offered */
		return TX_BAD_HDR;
	}
	if ((ecn && !vu_has(vu, VIRTIO_NET_F_HOST_ECN)) || !csum || h->gso_size < TX_MIN_MSS)
		return TX_BAD_HDR;

	/* A TCP GSO frame must be one: headers of the IP version its type
	 * says, IP length covering the whole frame, the partial checksum on
	 * the TCP checksum field, and payload to segment. */
	uint8_t hdrs[TX_HDR_PEEK];
	struct ofl_l34 l;
	size_t have = iov_read(c->iov, c->nout, VNET_HDR_LEN, hdrs, sizeof(hdrs));
	if (ofl_parse_tcp_headers(hdrs, have, frame, &l) < 0 ||
	    l.ipv6 != (gso == VIRTIO_NET_HDR_GSO_TCPV6) || l.ip_end != frame ||
	    h->csum_start != l.l4_off || h->csum_offset != 16 || frame <= l.payload_off)
		return TX_BAD_HDR;
	h->hdr_len = l.payload_off;
	return TX_OK;
}

/* Points pkt at the frame of a tx chain, behind our own copy of its checked
 * header (the transport's 10-byte one, num_buffers dropped) when the port
 * takes vnet headers. i: the packet's slot in the batch. */
static enum tx_verdict tx_pkt_from_chain(struct nf_dev *dev, struct vq_chain *c, unsigned i,
					 struct nf_pkt *pkt)
{
	struct virtio_net_hdr_v1 h;
	unsigned n = 0;

	if (c->out_len < VNET_HDR_LEN + ETH_MIN_FRAME || c->out_len - VNET_HDR_LEN > TX_FRAME_MAX)
		return TX_BAD_FRAME;
	uint32_t frame = c->out_len - VNET_HDR_LEN;
	iov_read(c->iov, c->nout, 0, &h, sizeof(h));
	enum tx_verdict v = tx_check_hdr(dev, c, &h, frame);
	if (v != TX_OK)
		return v;
	if (dev->port->caps & NF_CAP_VNET_HDR) {
		memcpy(&dev->tx_hdrs[i], &h, sizeof(dev->tx_hdrs[i]));
		pkt->iov[n++] = (struct iovec){ &dev->tx_hdrs[i], VNET_HDR_LEN_LEGACY };
	}
	n = iov_slice(c->iov, c->nout, VNET_HDR_LEN, SIZE_MAX, pkt->iov, n, PKT_IOV_MAX);
	pkt->iovcnt = n;
	pkt->len = frame;
	return TX_OK;
}

/* Returns true if the queue still has work (budget exhausted). */
bool tx_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_TX].vq;
	bool vnet = dev->port->caps & NF_CAP_VNET_HDR;

	for (unsigned b = 0; b < BATCH_BUDGET; b++) {
		unsigned n = 0, m = 0;
		while (n < dev->depth && vq_pop(q, &dev->chains[n]) == 1)
			n++;
		if (q->broken)
			return false;
		if (n == 0) {
			if (vq_kick_enable(q))
				continue;
			dev->kicked[VNET_Q_TX] = false;
			return false;
		}
		vq_kick_disable(q);
		for (unsigned i = 0; i < n; i++) {
			struct nf_pkt *pkt = &dev->pkts[m];
			pkt->iov = &dev->iovs[m * PKT_IOV_MAX];
			switch (tx_pkt_from_chain(dev, &dev->chains[i], m, pkt)) {
			case TX_OK:
				dev->pkt_chain[m++] = i;
				break;
			case TX_BAD_HDR:
				dev->st.tx_bad_hdr++; /* counted in tx_dropped below */
				break;
			case TX_BAD_FRAME:
				dev->st.tx_bad_frame++;
				break;
			}
		}
		int sent = 0;
		if (m && dev->port_down) {
			dev->st.tx_host_down += m; /* nowhere to send them */
			sent = -ENETDOWN;
		} else if (m) {
			sent = dev->port->transport->tx_batch(dev->port, dev->pkts, m);
			if (sent < 0)
				dev_port_error(dev, "transmit", sent);
			nf_hist_add(dev->st.tx_batch_hist, sent > 0 ? (unsigned)sent : 0);
			if (dev->capture && sent > 0)
				cap_batch(dev, CAP_DIR_TX, dev->pkts, (unsigned)sent);
		}
		if (sent < 0) {
			/* Drop the batch rather than spin on it; counted as
			 * drops below (k stays 0). */
			sent = 0;
			m = 0;
		}
		/* Chains up to the first unsent frame are done (malformed ones
		 * are returned empty); the rest go back to the ring. */
		unsigned done = (unsigned)sent < m ? dev->pkt_chain[sent] : n;
		unsigned k = 0;
		for (unsigned i = 0; i < done; i++) {
			if (k < (unsigned)sent && dev->pkt_chain[k] == i) {
				dev->st.tx_packets++;
				dev->st.tx_bytes += dev->pkts[k].len;
				if (vnet) { /* the header the host got (checked) */
					const struct virtio_net_hdr_v1 *h = &dev->tx_hdrs[k];
					dev->st.tx_gso += h->gso_type != VIRTIO_NET_HDR_GSO_NONE;
					dev->st.tx_csum += (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
				}
				k++;
			} else {
				dev->st.tx_dropped++;
			}
			vq_push(q, dev->chains[i].head, 0);
		}
		vq_unpop(q, n - done);
		dev_call_guest(dev, VNET_Q_TX);
		if (done < n) {
			dev->tx_blocked = true;
			dev_update_port_interest(dev);
			return false;
		}
	}
	return true;
}

/* ---- control queue ---- */

/* The guest busy-waits for each control command with RTNL held, so answer
 * everything at once. Filtering requests are acknowledged: the transport
 * already hands every frame it sees to the guest. */
static uint8_t ctrl_command(uint8_t cls, uint8_t cmd)
{
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		return cmd <= 5 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		return cmd <= 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_VLAN:
		return cmd <= 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		return cmd == 0 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	default:
		return VIRTIO_NET_ERR;
	}
}

bool ctrl_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_CTRL].vq;
	struct vq_chain *c = &dev->chains[0];
	unsigned budget = q->num; /* a ring's worth per turn: a guest that
				   * refills as fast as we answer must not keep
				   * the datapath here */
	bool any = false;

	while (budget && vq_pop(q, c) == 1) {
		budget--;
		uint8_t hdr[2] = { 0xff, 0xff }, ack = VIRTIO_NET_ERR;
		if (iov_read(c->iov, c->nout, 0, hdr, 2) == 2)
			ack = ctrl_command(hdr[0], hdr[1]);
		uint32_t len = (uint32_t)iov_write(c->iov + c->nout, c->nin, 0, &ack, 1);
		vq_push(q, c->head, len);
		dev->st.ctrl_cmds++;
		any = true;
	}
	/* Ask for the next kick before answering: the guest posts its next
	 * command the moment it sees this answer. */
	bool more = !budget || vq_kick_enable(q);
	if (any)
		dev_call_guest(dev, VNET_Q_CTRL);
	dev->kicked[VNET_Q_CTRL] = more;
	return more; /* more is waiting: next turn */
}
