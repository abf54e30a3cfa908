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
/* The smallest gso_size taken: OFL_MIN_MSS (offload.h). */
/* TX_HDR_PEEK (dev.h): bytes of a GSO frame copied out to check its headers
 * (Ethernet, two VLAN tags, IPv6 or IPv4 with options, TCP with options fit). */

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

	if (!(dev->port->caps & (NF_CAP_VNET_HDR | NF_CAP_SOFT_OFFLOAD))) {
		/* Never offered without vnet headers: a partial checksum
		 * would reach the wire unfinished. */
		return h->flags == 0 && h->gso_type == VIRTIO_NET_HDR_GSO_NONE ? TX_OK : TX_BAD_HDR;
	}
	/* Only what was offered... */
	if ((csum && !vu_has(vu, VIRTIO_NET_F_CSUM)) ||
	    (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !vu_has(vu, VIRTIO_NET_F_HOST_TSO4)) ||
	    (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !vu_has(vu, VIRTIO_NET_F_HOST_TSO6)) ||
	    (ecn && gso != VIRTIO_NET_HDR_GSO_NONE && !vu_has(vu, VIRTIO_NET_F_HOST_ECN)))
		return TX_BAD_HDR;
	/* ...and what the frame really is (DATA_VALID and RSC_INFO belong to
	 * the receive direction; a TCP GSO frame must be one). The headers
	 * are parsed from a copy. */
	uint8_t hdrs[TX_HDR_PEEK];
	size_t have = 0;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6)
		have = iov_read(c->iov, c->nout, VNET_HDR_LEN, hdrs, sizeof(hdrs));
	return ofl_hdr_check(h, hdrs, have, frame) == 0 ? TX_OK : TX_BAD_HDR;
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

/* ---- software offloads (NF_CAP_SOFT_OFFLOAD) ----
 *
 * The port takes plain frames only, but the guest was offered checksum
 * offload and TSO: both are finished here, without copying the payload.
 * Each outgoing frame is a scatter list over the guest's buffers with our
 * own bytes stitched in:
 *
 *   partial checksum:  [frame up to the field][2 bytes: the sum][rest of frame]
 *   GSO segment i:     [headers of segment i, ours][payload slice i of the frame]
 *
 * The sums are computed from guest memory that the host reads again when
 * it sends; a guest that changes its buffers meanwhile only spoils its own
 * packets. The headers of a GSO frame are copied once more and checked
 * again (ofl_gso_plan), so what is rewritten is what was checked.
 *
 * A chain may give more frames than a batch has room for, and the host may
 * take only part of a batch: the segments already sent of the first chain
 * not finished are remembered (tx_skip_head/tx_skip) and skipped when that
 * chain comes round again (unpopped chains come back in the same order). */

/* Slot j's header buffer. */
static uint8_t *tx_seg_hdr(struct nf_dev *dev, unsigned j)
{
	return dev->tx_seghdrs + (size_t)j * TX_HDR_PEEK;
}

/* Frames of chain c (already checked by tx_pkt_from_chain's rules) into
 * pkts[first..first+room), starting at segment *skip (set to 0 when the
 * chain has no such segment: not the one we left off). Returns the number of
 * frames the chain has in all (segments, or 1), or 0 for a malformed one;
 * *made gets how many were written (fewer than the total - skip when room
 * ran out). */
static unsigned tx_soft_pkts(struct nf_dev *dev, struct vq_chain *c, unsigned first,
			     unsigned room, unsigned *skip, unsigned *made, enum tx_verdict *v)
{
	struct virtio_net_hdr_v1 h;
	*made = 0;
	*v = TX_BAD_FRAME;
	if (c->out_len < VNET_HDR_LEN + ETH_MIN_FRAME || c->out_len - VNET_HDR_LEN > TX_FRAME_MAX)
		return 0;
	uint32_t frame = c->out_len - VNET_HDR_LEN;
	iov_read(c->iov, c->nout, 0, &h, sizeof(h));
	*v = tx_check_hdr(dev, c, &h, frame);
	if (*v != TX_OK || room == 0)
		return 0;

	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		struct nf_pkt *pkt = &dev->pkts[first];
		pkt->iov = &dev->iovs[first * PKT_IOV_MAX];
		pkt->len = frame;
		*skip = 0;
		if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
			pkt->iovcnt = iov_slice(c->iov, c->nout, VNET_HDR_LEN, SIZE_MAX, pkt->iov, 0,
						PKT_IOV_MAX);
			*made = 1;
			return 1;
		}
		/* The field holds the pseudo-header seed, part of the sum.
		 * UDP sends a computed 0 as 0xffff (0 means "no checksum");
		 * for TCP both mean the same. */
		size_t field = (size_t)h.csum_start + h.csum_offset;
		uint16_t csum = (uint16_t)~ofl_csum_fold(ofl_csum_iov(c->iov, c->nout,
								     VNET_HDR_LEN + h.csum_start,
								     frame - h.csum_start));
		if (csum == 0)
			csum = 0xffff;
		uint8_t *b = tx_seg_hdr(dev, first);
		b[0] = (uint8_t)(csum >> 8);
		b[1] = (uint8_t)csum;
		unsigned cnt = iov_slice(c->iov, c->nout, VNET_HDR_LEN, field, pkt->iov, 0,
					 PKT_IOV_MAX);
		pkt->iov[cnt++] = (struct iovec){ b, 2 };
		pkt->iovcnt = iov_slice(c->iov, c->nout, VNET_HDR_LEN + field + 2, SIZE_MAX,
					pkt->iov, cnt, PKT_IOV_MAX);
		*made = 1;
		return 1;
	}

	uint8_t hdrs[TX_HDR_PEEK];
	struct ofl_gso_plan p;
	size_t have = iov_read(c->iov, c->nout, VNET_HDR_LEN, hdrs, sizeof(hdrs));
	if (ofl_gso_plan(hdrs, have, frame, &h, &p) < 0) {
		*v = TX_BAD_HDR; /* changed under us since the check */
		return 0;
	}
	unsigned hlen = p.l.payload_off;
	if (*skip >= p.nseg)
		*skip = 0;
	for (unsigned i = *skip; i < p.nseg && *made < room; i++) {
		unsigned j = first + *made;
		struct nf_pkt *pkt = &dev->pkts[j];
		size_t at = VNET_HDR_LEN + hlen + (size_t)i * p.mss;
		uint32_t chunk = ofl_gso_seg_len(&p, i);
		uint8_t *b = tx_seg_hdr(dev, j);
		ofl_gso_seg_headers(&p, hdrs, i, ofl_csum_iov(c->iov, c->nout, at, chunk), b);
		pkt->iov = &dev->iovs[j * PKT_IOV_MAX];
		pkt->iov[0] = (struct iovec){ b, hlen };
		pkt->iovcnt = iov_slice(c->iov, c->nout, at, chunk, pkt->iov, 1, PKT_IOV_MAX);
		pkt->len = hlen + chunk;
		dev->pkt_seg[j] = i;
		(*made)++;
	}
	return p.nseg;
}

/* One batch for a soft-offload port: pops chains while their frames fit,
 * sends, returns chains done and puts the rest back. Returns false when the
 * ring is empty or the host pushed back; true to go on. */
static bool tx_soft_batch(struct nf_dev *dev, struct vq *q, bool *empty)
{
	unsigned n = 0, m = 0, slots = dev->tx_slots;
	int partial = -1;       /* chain whose frames did not all fit */
	unsigned partial_next = 0;

	*empty = false;
	while (n < dev->depth && m < slots && vq_pop(q, &dev->chains[n]) == 1) {
		struct vq_chain *c = &dev->chains[n];
		unsigned skip = 0, made;
		enum tx_verdict v;
		if (n == 0 && dev->tx_skip && c->head == dev->tx_skip_head)
			skip = dev->tx_skip;
		dev->tx_skip = 0;
		unsigned total = tx_soft_pkts(dev, c, m, slots - m, &skip, &made, &v);
		if (total == 0) {
			if (v == TX_BAD_HDR)
				dev->st.tx_bad_hdr++;
			else
				dev->st.tx_bad_frame++;
			n++;
			continue;
		}
		if (skip + made < total) {
			if (m > 0) { /* does not fit: next batch */
				vq_unpop(q, 1);
				break;
			}
			partial = (int)n; /* alone larger than a batch */
			partial_next = skip + made;
		}
		if (total > 1)
			dev->st.tx_segmented++;
		for (unsigned k = 0; k < made; k++) {
			dev->pkt_chain[m + k] = n;
			if (total == 1)
				dev->pkt_seg[m + k] = 0;
		}
		m += made;
		n++;
		if (partial >= 0)
			break;
	}
	if (q->broken)
		return false;
	if (n == 0) {
		*empty = true;
		return false;
	}
	vq_kick_disable(q);

	int sent = 0;
	if (m && dev->port_down) {
		dev->st.tx_host_down += m;
		sent = -ENETDOWN;
	} else if (m) {
		sent = dev->port->transport->tx_batch(dev->port, dev->pkts, m);
		if (sent < 0)
			dev_port_error(dev, "transmit", sent);
	}
	if (sent < 0) {
		sent = 0;
		m = 0;
		partial = -1;
	}
	if ((unsigned)sent > m)
		sent = (int)m;
	/* The first chain not wholly sent, and how many of its frames went. */
	unsigned done = n;
	if ((unsigned)sent < m) {
		done = dev->pkt_chain[sent];
		dev->tx_skip = dev->pkt_seg[sent];
	} else if (partial >= 0) {
		done = (unsigned)partial;
		dev->tx_skip = partial_next;
	}
	if (done < n && dev->tx_skip)
		dev->tx_skip_head = dev->chains[done].head;
	unsigned k = 0;
	for (unsigned i = 0; i < done; i++) {
		bool any = false;
		for (; k < m && dev->pkt_chain[k] == i; k++) {
			any = true;
			dev->st.tx_packets++;
			dev->st.tx_bytes += dev->pkts[k].len;
		}
		if (!any)
			dev->st.tx_dropped++; /* malformed, or nowhere to send it */
		vq_push(q, dev->chains[i].head, 0);
	}
	vq_unpop(q, n - done);
	dev_call_guest(dev, VNET_Q_TX);
	if (done < n && (unsigned)sent < m) {
		dev->tx_blocked = true;
		dev_update_port_interest(dev);
		return false;
	}
	return true;
}

/* Returns true if the queue still has work (budget exhausted). */
bool tx_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_TX].vq;
	bool vnet = dev->port->caps & NF_CAP_VNET_HDR;

	if (dev->port->caps & NF_CAP_SOFT_OFFLOAD) {
		for (unsigned b = 0; b < BATCH_BUDGET; b++) {
			bool empty;
			if (tx_soft_batch(dev, q, &empty))
				continue;
			if (empty && vq_kick_enable(q))
				continue;
			if (empty)
				dev->kicked[VNET_Q_TX] = false;
			return false;
		}
		return true;
	}
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
	if (any && dev->vu.ctrl_only) {
		/* Halting: the answer is published, but no call goes to a
		 * guest tearing its devices down (it polls this ring). */
		vq_flush(q);
		if (dev->st.ctrl_halt_cmds == 0)
			nf_info("%s: answered a control command of the halting guest", dev->vu.name);
		dev->st.ctrl_halt_cmds++;
	} else if (any) {
		dev_call_guest(dev, VNET_Q_CTRL);
	}
	dev->kicked[VNET_Q_CTRL] = more;
	return more; /* more is waiting: next turn */
}
