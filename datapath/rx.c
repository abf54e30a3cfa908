/* Host -> guest: transport batches become used rx buffers, with software
 * segmentation and coalescing where the two sides' offloads differ. */
#include <errno.h>
#include <string.h>

#include "capring.h"
#include "dev.h"
#include "iov.h"
#include "log.h"


/* What to do with a received frame, given the features the guest acked. */
enum rx_verdict {
	RX_PASS,    /* give it as it is */
	RX_SEGMENT, /* a TCP GSO frame the guest cannot take: segment it here */
	RX_SPLIT,   /* a GSO frame the guest takes, but too large as one: cut it */
	RX_DROP,
};

static enum rx_verdict rx_classify(const struct vu_dev *vu, const struct virtio_net_hdr_v1 *h)
{
	bool csum_ok = !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
		       vu_has(vu, VIRTIO_NET_F_GUEST_CSUM);
	bool tso;

	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return csum_ok ? RX_PASS : RX_DROP;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		tso = vu_has(vu, VIRTIO_NET_F_GUEST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		tso = vu_has(vu, VIRTIO_NET_F_GUEST_TSO6);
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		/* A host socket's UDP_SEGMENT send (e.g. a tunnel endpoint on
		 * this host): never offered to the guest, segmented here. */
		return RX_SEGMENT;
	default:
		return RX_DROP; /* UDP fragmentation offload: not offered */
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !vu_has(vu, VIRTIO_NET_F_GUEST_ECN))
		tso = false;
	/* Segments get checksums computed here unless the guest takes
	 * partial ones, so a GSO frame never needs GUEST_CSUM. */
	return tso && csum_ok ? RX_PASS : RX_SEGMENT;
}

/* Counts a frame handed to the guest with header h. */
static inline void rx_count(struct nf_dev *dev, const struct virtio_net_hdr_v1 *h, uint32_t frame)
{
	dev->st.rx_packets++;
	dev->st.rx_bytes += frame;
	dev->st.rx_gso += h->gso_type != VIRTIO_NET_HDR_GSO_NONE;
	dev->st.rx_csum += (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
}

/* What a transport rx_batch call returned (got >= 0 frames, lengths
 * checked): the batch size histogram, and the capture when one is attached
 * (one predictable branch otherwise). */
static inline void rx_batch_done(struct nf_dev *dev, int got)
{
	nf_hist_add(dev->st.rx_batch_hist, (unsigned)got);
	if (dev->capture)
		cap_batch(dev, CAP_DIR_RX, dev->rx_pkts, (unsigned)got);
}

/* Receive paths.
 *
 * Without mergeable buffers (the guest posts one big or small chain per
 * frame) frames are received straight into the guest's chains, one chain a
 * frame, zero copy. A frame larger than its chain cannot be delivered; the
 * spill slot after the chain keeps the socket from truncating it silently.
 *
 * With mergeable buffers (small single buffers, several per large frame)
 * frames are received into per-slot staging and copied into exactly as many
 * buffers as each needs: reserving 64 KB of guest buffers per slot up front
 * would starve the ring, and a frame held while the guest refills must not
 * pin guest buffers (virtio_net only refills once enough have come back).
 */
enum rx_result { RX_DONE, RX_NO_BUFFERS };

static uint8_t *rx_slot(struct nf_dev *dev, unsigned i)
{
	return dev->spill + (size_t)i * SPILL_BYTES;
}

/* True when staged frames sit behind a 10-byte header in their slot: the
 * transport's own, or for soft-offload ports one the engine writes (all
 * zero: nothing known about the checksum), so that the staged paths and
 * software GRO see one layout. */
static bool rx_slot_hdr(const struct nf_dev *dev)
{
	return dev->port->caps & (NF_CAP_VNET_HDR | NF_CAP_SOFT_OFFLOAD);
}

/* Reads the header in front of a received frame (hdr_src; NULL: none) and
 * decides what the guest gets. */
static enum rx_verdict rx_frame_check(struct nf_dev *dev, const struct nf_pkt *pkt,
				      const uint8_t *hdr_src, struct virtio_net_hdr_v1 *h,
				      uint32_t *frame)
{
	(void)dev;
	*frame = pkt->len;
	memset(h, 0, sizeof(*h));
	if (hdr_src) {
		memcpy(h, hdr_src, VNET_HDR_LEN_LEGACY);
		*frame = pkt->len >= VNET_HDR_LEN_LEGACY ? pkt->len - VNET_HDR_LEN_LEGACY : 0;
	}
	if (pkt->flags & NF_PKT_DROP)
		return RX_DROP; /* counted by the transport, by reason */
	if ((pkt->flags & NF_PKT_TRUNC) || *frame < ETH_MIN_FRAME)
		return RX_DROP;
	enum rx_verdict v = rx_classify(&dev->vu, h);
	if (v == RX_PASS && *frame > GUEST_GSO_MAX && h->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		v = RX_SPLIT; /* BIG TCP: no virtio-net guest takes it whole */
	return v;
}

/* A frame that does not fit where it has to go: dropped and counted, with
 * one log line per device so a host-side setting that causes it is found. */
static void rx_oversize(struct nf_dev *dev, uint32_t frame)
{
	dev->st.rx_dropped++;
	if (dev->st.rx_oversize++ == 0)
		nf_warn("%s: dropped a %u-byte frame from the host: larger than the guest's "
			"receive buffers or the %u bytes uml-nf takes (BIG TCP? keep "
			"gso_max_size/gro_max_size and their ipv4 twins at most 262144 on the host "
			"interface and its peer); counted as rx_oversize",
			dev->vu.name, frame, LINEAR_BYTES);
}

/* Marks frames the transport says are longer than the room it was given as
 * truncated (a socket reports the full length with MSG_TRUNC): nothing after
 * this trusts a length the buffers cannot hold. */
static void rx_check_lengths(struct nf_pkt *pkts, int n)
{
	for (int i = 0; i < n; i++) {
		size_t room = 0;
		for (unsigned k = 0; k < pkts[i].iovcnt; k++)
			room += pkts[i].iov[k].iov_len;
		if (pkts[i].len > room)
			pkts[i].flags |= NF_PKT_TRUNC;
	}
}

/* Headers written by an untrusted peer (NF_CAP_PEER_HDR) are checked like
 * a guest's before anything here reads them. hdr: a copy of the 10-byte
 * header (hdr_len rewritten when good); peek: a copy of the frame's first
 * have bytes. A bad one is counted, with one warning per device (the usual
 * cause: only one end adds headers); the caller drops the frame. */
static bool rx_peer_hdr_ok(struct nf_dev *dev, uint8_t *hdr, const uint8_t *peek, size_t have,
			   uint32_t frame)
{
	struct virtio_net_hdr_v1 h;
	memset(&h, 0, sizeof(h));
	memcpy(&h, hdr, VNET_HDR_LEN_LEGACY);
	if (ofl_hdr_check(&h, peek, have, frame) == 0) {
		memcpy(hdr, &h, VNET_HDR_LEN_LEGACY);
		return true;
	}
	if (dev->st.rx_bad_hdr++ == 0)
		nf_warn("%s: dropped a %u-byte frame whose virtio-net header from the peer is not "
			"valid (flags 0x%x, gso_type 0x%x): does the peer add one? (both ends need "
			"the same setting); counted as rx_bad_hdr",
			dev->vu.name, frame, h.flags, h.gso_type);
	return false;
}

/* The staged batch's frames with a peer's header: bad ones marked dropped. */
static void rx_check_peer_hdrs(struct nf_dev *dev, int n)
{
	for (int i = 0; i < n; i++) {
		struct nf_pkt *pkt = &dev->rx_pkts[i];
		uint8_t *src = rx_slot(dev, (unsigned)i);
		if ((pkt->flags & (NF_PKT_DROP | NF_PKT_TRUNC)) || pkt->len < VNET_HDR_LEN_LEGACY)
			continue; /* dropped anyway */
		uint32_t frame = pkt->len - VNET_HDR_LEN_LEGACY;
		if (!rx_peer_hdr_ok(dev, src, src + VNET_HDR_LEN_LEGACY, frame, frame))
			pkt->flags |= NF_PKT_DROP;
	}
}

/* Counts a frame rx_frame_check refused. */
static void rx_drop(struct nf_dev *dev, const struct nf_pkt *pkt)
{
	if (pkt->flags & NF_PKT_TRUNC)
		rx_oversize(dev, pkt->len);
	else
		dev->st.rx_dropped++;
}

/* Software segmentation of a contiguous GSO frame into dev->segbuf; the
 * segments carry partial checksums when the guest accepts them. Returns the
 * number of segments, or 0 (counted as a drop) when the frame is not
 * something we can segment. */
static int rx_segment(struct nf_dev *dev, const uint8_t *frame, uint32_t len,
		      const struct virtio_net_hdr_v1 *h)
{
	enum ofl_csum_mode mode = vu_has(&dev->vu, VIRTIO_NET_F_GUEST_CSUM) ? OFL_CSUM_PARTIAL
									    : OFL_CSUM_FULL;
	bool udp = (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP_L4;
	int n = (udp ? ofl_udp_segment : ofl_gso_segment)(frame, len, h, mode, dev->segbuf,
							  SEGBUF_BYTES, dev->segs, MAX_SEGS);
	if (n <= 0) {
		dev->st.rx_dropped++;
		return 0;
	}
	dev->st.rx_segmented++;
	return n;
}

/* Cuts a GSO frame into GSO frames of at most room bytes (and 64 KiB of IP
 * packet) into dev->segbuf, for a guest that takes TSO. Returns the number
 * of pieces, or 0 (counted as a drop). */
static int rx_split(struct nf_dev *dev, const uint8_t *frame, uint32_t len,
		    const struct virtio_net_hdr_v1 *h, uint32_t room)
{
	int n = ofl_gso_split(frame, len, h, room < GUEST_GSO_MAX ? room : GUEST_GSO_MAX,
			      dev->segbuf, SEGBUF_BYTES, dev->segs, MAX_SEGS);
	if (n <= 0) {
		dev->st.rx_dropped++;
		return 0;
	}
	dev->st.rx_split++;
	return n;
}

/* The pieces of a frame that must be cut, for a guest buffer of room
 * bytes: GSO pieces where the guest takes them, segments otherwise. */
static int rx_cut(struct nf_dev *dev, enum rx_verdict v, const uint8_t *frame, uint32_t len,
		  const struct virtio_net_hdr_v1 *h, uint32_t room)
{
	return v == RX_SPLIT ? rx_split(dev, frame, len, h, room) : rx_segment(dev, frame, len, h);
}

/* Mergeable path: copies one contiguous frame with its header into as many
 * buffers as it needs. */
static enum rx_result rx_copy_mrg_frame(struct nf_dev *dev, struct vq *q,
					struct virtio_net_hdr_v1 h, const uint8_t *data,
					uint32_t frame)
{
	uint32_t total = VNET_HDR_LEN + frame, off = 0;
	unsigned nb = 0;
	while (off < total) {
		struct vq_chain *c = nb ? &dev->xchain : &dev->xfirst;
		if (nb == MRG_MAX_BUFS || vq_pop(q, c) != 1) {
			vq_unpop(q, nb);
			if (nb == MRG_MAX_BUFS) { /* buffers this small can never hold it */
				dev->st.rx_dropped++;
				return RX_DONE;
			}
			dev->rx_seen = nb; /* all the guest had posted: not enough */
			return RX_NO_BUFFERS;
		}
		const struct iovec *in = c->iov + c->nout;
		uint32_t w = 0;
		if (nb == 0 && c->in_len < VNET_HDR_LEN) {
			/* The header, num_buffers included, must sit in the
			 * first buffer (virtio 1.x: each mergeable buffer holds
			 * at least the header). */
			vq_unpop(q, 1);
			vq_set_broken(q, "mergeable receive buffer smaller than the header");
			return RX_NO_BUFFERS;
		}
		if (off < VNET_HDR_LEN) /* the header goes first; num_buffers is fixed below */
			w = (uint32_t)iov_write(in, c->nin, 0, (const uint8_t *)&h + off,
						VNET_HDR_LEN - off);
		w += (uint32_t)iov_write(in, c->nin, w, data + (off + w - VNET_HDR_LEN),
					 total - off - w);
		if (w == 0) {
			vq_set_broken(q, "receive buffer without writable space");
			return RX_NO_BUFFERS;
		}
		dev->mrg[nb++] = (struct vring_used_elem){ c->head, w };
		off += w;
	}
	h.num_buffers = (uint16_t)nb;
	iov_write(dev->xfirst.iov + dev->xfirst.nout, dev->xfirst.nin, 0, &h, VNET_HDR_LEN);
	for (unsigned k = 0; k < nb; k++)
		vq_push(q, dev->mrg[k].id, dev->mrg[k].len);
	rx_count(dev, &h, frame);
	return RX_DONE;
}

/* Writes a contiguous frame with its header into one chain and queues it. */
static bool rx_put_chain(struct nf_dev *dev, struct vq *q, struct vq_chain *c,
			 struct virtio_net_hdr_v1 *h, const uint8_t *data, uint32_t frame)
{
	const struct iovec *in = c->iov + c->nout;
	if (c->in_len < VNET_HDR_LEN + frame)
		return false;
	h->num_buffers = 1;
	iov_write(in, c->nin, 0, h, VNET_HDR_LEN);
	iov_write(in, c->nin, VNET_HDR_LEN, data, frame);
	vq_push(q, c->head, VNET_HDR_LEN + frame);
	rx_count(dev, h, frame);
	return true;
}

/* Staged paths: gives one contiguous frame to the guest, in mergeable
 * buffers or in one chain. */
static enum rx_result rx_emit(struct nf_dev *dev, struct vq *q, struct virtio_net_hdr_v1 h,
			      const uint8_t *data, uint32_t frame)
{
	if (vu_has(&dev->vu, VIRTIO_NET_F_MRG_RXBUF))
		return rx_copy_mrg_frame(dev, q, h, data, frame);
	/* Chains the direct path stashed are used first. */
	struct vq_chain *c = &dev->xchain;
	if (dev->nstash) {
		c = &dev->rx_chains[dev->order[--dev->nstash]];
	} else if (vq_pop(q, c) != 1) {
		dev->rx_seen = 0;
		return RX_NO_BUFFERS;
	}
	if (!rx_put_chain(dev, q, c, &h, data, frame)) {
		dev->st.rx_dropped++; /* a chain too small for it: returned empty */
		vq_push(q, c->head, 0);
	}
	return RX_DONE;
}

/* Staged frame i (resumable: a frame segmented here remembers how many of
 * its segments were delivered). */
static enum rx_result rx_staged_one(struct nf_dev *dev, struct vq *q, unsigned i)
{
	const struct nf_pkt *pkt = &dev->rx_pkts[i];
	const uint8_t *src = rx_slot(dev, i);
	const uint8_t *data = src + (rx_slot_hdr(dev) ? VNET_HDR_LEN_LEGACY : 0);
	struct virtio_net_hdr_v1 h;
	uint32_t frame;

	if (pkt->flags & PKT_ABSORBED)
		return RX_DONE; /* coalesced into an earlier frame */
	enum rx_verdict v = rx_frame_check(dev, pkt, rx_slot_hdr(dev) ? src : NULL, &h, &frame);
	switch (v) {
	case RX_DROP:
		rx_drop(dev, pkt); /* no guest buffer spent on it */
		return RX_DONE;
	case RX_PASS:
		return rx_emit(dev, q, h, data, frame);
	case RX_SEGMENT:
	case RX_SPLIT:
		break;
	}
	if (!dev->nsegs) {
		dev->seg_next = 0;
		dev->nsegs = (unsigned)rx_cut(dev, v, data, frame, &h, GUEST_GSO_MAX);
	}
	while (dev->seg_next < dev->nsegs) {
		const struct ofl_seg *sg = &dev->segs[dev->seg_next];
		if (rx_emit(dev, q, sg->hdr, dev->segbuf + sg->off, sg->len) == RX_NO_BUFFERS)
			return RX_NO_BUFFERS; /* resume at seg_next */
		dev->seg_next++;
	}
	dev->nsegs = 0;
	return RX_DONE;
}

/* Software GRO over a staged batch: runs of in-order TCP segments of one
 * flow become one GSO frame, rewritten in place into the slot of the run's
 * first frame; the others are marked absorbed. Only frames whose checksum
 * the host vouched for (DATA_VALID) or will leave partial (NEEDS_CSUM) are
 * merged: the result is a NEEDS_CSUM frame. A soft-offload port vouches for
 * nothing, so its TCP frames are verified here first; those found good are
 * marked DATA_VALID in their (engine-written) slot header, merged or not,
 * and the guest does not sum them again. Returns the frames absorbed. */
static unsigned rx_gro_batch(struct nf_dev *dev, unsigned n)
{
	struct ofl_gro g;
	unsigned absorbed = 0;
	int open = -1;
	bool soft = dev->port->caps & NF_CAP_SOFT_OFFLOAD;

	for (unsigned j = 0; j <= n; j++) {
		bool eligible = false;
		const uint8_t *data = NULL;
		uint32_t len = 0;
		if (j < n) {
			struct nf_pkt *pkt = &dev->rx_pkts[j];
			const uint8_t *src = rx_slot(dev, j);
			struct virtio_net_hdr_v1 h;
			data = src + VNET_HDR_LEN_LEGACY;
			eligible = rx_frame_check(dev, pkt, src, &h, &len) == RX_PASS &&
				   h.gso_type == VIRTIO_NET_HDR_GSO_NONE;
			if (eligible && soft && !h.flags && ofl_tcp_csum_verify(data, len) == 0) {
				h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
				rx_slot(dev, j)[0] = h.flags;
			}
			eligible = eligible &&
				   (h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID));
			if (open >= 0 && eligible && ofl_gro_append(&g, data, len) == 1) {
				pkt->flags |= PKT_ABSORBED;
				absorbed++;
				continue;
			}
		}
		if (open >= 0 && g.segs > 1) {
			struct virtio_net_hdr_v1 mh;
			size_t mlen = ofl_gro_finish(&g, &mh);
			memcpy(rx_slot(dev, (unsigned)open), &mh, VNET_HDR_LEN_LEGACY);
			dev->rx_pkts[open].len = (uint32_t)(VNET_HDR_LEN_LEGACY + mlen);
			dev->st.rx_coalesced += g.segs;
		}
		open = -1;
		/* The merge grows in place in the first frame's slot: the
		 * others' payloads are appended behind it (each copied once),
		 * never the first frame copied out and the merge copied back.
		 * Its IP length caps it far below the slot. */
		if (eligible && ofl_gro_start(&g, (uint8_t *)data,
					      SPILL_BYTES - VNET_HDR_LEN_LEGACY, data, len) == 0)
			open = (int)j;
	}
	return absorbed;
}

/* Delivers staged frames held_from..held_to. When the guest runs out of
 * buffers the rest stays staged and we wait for its next kick. Returns true
 * when all were delivered. Lock held. */
static bool rx_deliver_held(struct nf_dev *dev, struct vq *q)
{
	unsigned start = dev->held_from;
	bool done = true;

	while (dev->held_from < dev->held_to) {
		if (rx_staged_one(dev, q, dev->held_from) == RX_NO_BUFFERS) {
			done = false;
			break;
		}
		dev->held_from++;
	}
	if (dev->held_from != start)
		dev_call_guest(dev, VNET_Q_RX);
	if (done || q->broken) {
		dev->held_from = dev->held_to = 0;
		return done;
	}
	dev->st.rx_waits++;
	/* What the guest had posted when we tried (rx_seen buffers) was not
	 * enough: wait for more than that. Counting what is posted now
	 * instead would miss buffers added since the attempt, and wait for
	 * a kick that never comes. */
	if (vq_kick_enable_after(q, dev->rx_seen))
		return false; /* more arrived meanwhile: the caller loops */
	dev->rx_starved = true;
	dev_update_port_interest(dev);
	return false;
}

/* Returns false (and sleeps on the guest's kick) when it has no buffers. */
static bool rx_have_buffers(struct nf_dev *dev, struct vq *q)
{
	if (vq_pending(q) || vq_kick_enable(q))
		return true;
	/* Out of guest buffers: stop watching the transport until the guest
	 * posts more (its kick wakes us); the host socket queues meanwhile. */
	dev->rx_starved = true;
	dev_update_port_interest(dev);
	return false;
}

/* True when coalescing can pay: the guest takes TSO frames with partial
 * checksums and the transport tells checksum state (vnet headers) or the
 * engine checks it (soft offload). */
static bool rx_gro_possible(struct nf_dev *dev)
{
	return rx_slot_hdr(dev) && vu_has(&dev->vu, VIRTIO_NET_F_GUEST_CSUM) &&
	       vu_has(&dev->vu, VIRTIO_NET_F_GUEST_TSO4) && vu_has(&dev->vu, VIRTIO_NET_F_GUEST_TSO6);
}

static bool do_rx_staged(struct nf_dev *dev, struct vq *q)
{
	for (unsigned b = 0; b < BATCH_BUDGET; b++) {
		if (dev->held_to && !rx_deliver_held(dev, q)) {
			if (dev->rx_starved || q->broken)
				return false;
			continue;
		}
		if (!rx_have_buffers(dev, q))
			return false;
		/* A soft-offload port's frames go behind a header of ours. */
		size_t hroom = dev->port->caps & NF_CAP_SOFT_OFFLOAD ? VNET_HDR_LEN_LEGACY : 0;
		for (unsigned i = 0; i < dev->depth; i++) {
			struct nf_pkt *pkt = &dev->rx_pkts[i];
			pkt->iov = &dev->rx_iovs[i * PKT_IOV_MAX];
			pkt->iov[0] = (struct iovec){ rx_slot(dev, i) + hroom, SPILL_BYTES - hroom };
			pkt->iovcnt = 1;
		}
		int got = dev->port->transport->rx_batch(dev->port, dev->rx_pkts, dev->depth);
		if (got < 0) {
			dev_port_error(dev, "receive", got);
			dev->rx_readable = false; /* epoll says when to try again */
			return false;
		}
		if ((unsigned)got > dev->depth)
			got = (int)dev->depth;
		rx_check_lengths(dev->rx_pkts, got);
		rx_batch_done(dev, got);
		if (dev->port->caps & NF_CAP_PEER_HDR)
			rx_check_peer_hdrs(dev, got);
		for (int i = 0; hroom && i < got; i++) {
			memset(rx_slot(dev, (unsigned)i), 0, hroom);
			dev->rx_pkts[i].len += (uint32_t)hroom;
		}
		if (got > 1 && rx_gro_possible(dev)) {
			/* Stay staged while coalescing finds work; go back to
			 * zero-copy receive after batches where it did not. */
			if (rx_gro_batch(dev, (unsigned)got))
				dev->gro_idle = 0;
			else if (++dev->gro_idle >= GRO_IDLE_BATCHES)
				dev->gro_staged = false;
		}
		dev->held_from = 0;
		dev->held_to = (unsigned)got;
		if (!rx_deliver_held(dev, q)) {
			if (dev->rx_starved || q->broken)
				return false;
			continue;
		}
		if ((unsigned)got < dev->depth) {
			dev->rx_readable = false; /* drained; epoll tells us when more come */
			return false;
		}
	}
	return true;
}

/* rx_deliver_direct's result bits. */
#define RXD_SMALL 0x1u /* a full-sized frame that coalescing could have merged */
#define RXD_KEEP 0x2u  /* the chain was not used (a frame the transport refused) */

/* rx_peer_hdr_ok for frame i of the direct path, from copies: the frame's
 * first bytes are in chain c, and past its end in spill slot i. */
static bool rx_direct_peer_ok(struct nf_dev *dev, unsigned i, const struct vq_chain *c,
			      uint8_t *hdr)
{
	const struct nf_pkt *pkt = &dev->rx_pkts[i];
	uint8_t peek[TX_HDR_PEEK];
	if ((pkt->flags & NF_PKT_TRUNC) || pkt->len < VNET_HDR_LEN_LEGACY)
		return true; /* dropped anyway */
	uint32_t frame = pkt->len - VNET_HDR_LEN_LEGACY;
	size_t want = frame < sizeof(peek) ? frame : sizeof(peek);
	size_t have = iov_read(c->iov + c->nout, c->nin, VNET_HDR_LEN, peek, want);
	if (have < want) {
		memcpy(peek + have, rx_slot(dev, i), want - have);
		have = want;
	}
	return rx_peer_hdr_ok(dev, hdr, peek, have, frame);
}

/* Direct path, frame i received in place into chain i (the part that did
 * not fit in spill slot i). A GSO frame the guest cannot take is gathered,
 * segmented, and its segments go to chain i and chains popped after the
 * batch; without enough chains the remaining segments are dropped (TCP
 * recovers) rather than stalling the ring. A frame the transport refused
 * (NF_PKT_DROP) leaves its chain unused, for the next batch. */
static unsigned rx_deliver_direct(struct nf_dev *dev, struct vq *q, unsigned i,
				  struct vq_chain *c)
{
	const struct iovec *in = c->iov + c->nout;
	uint8_t hdr[VNET_HDR_LEN_LEGACY];
	struct virtio_net_hdr_v1 h;
	uint32_t frame, cap = c->in_len - VNET_HDR_LEN;
	bool vnet = dev->port->caps & NF_CAP_VNET_HDR;

	if (dev->rx_pkts[i].flags & NF_PKT_DROP) {
		dev->st.rx_dropped++;
		return RXD_KEEP;
	}
	if (vnet)
		iov_read(in, c->nin, 0, hdr, sizeof(hdr));
	if (vnet && (dev->port->caps & NF_CAP_PEER_HDR) && !rx_direct_peer_ok(dev, i, c, hdr)) {
		dev->st.rx_dropped++;
		return RXD_KEEP;
	}
	enum rx_verdict v = rx_frame_check(dev, &dev->rx_pkts[i], vnet ? hdr : NULL, &h, &frame);
	if (v == RX_PASS && frame > cap && h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		v = RX_SPLIT; /* a GSO frame larger than the guest's chain */
	if (v == RX_PASS && frame <= cap) {
		h.num_buffers = 1;
		iov_write(in, c->nin, 0, &h, VNET_HDR_LEN);
		vq_push(q, c->head, VNET_HDR_LEN + frame);
		rx_count(dev, &h, frame);
		/* A full-sized frame that coalescing could have merged (a soft
		 * port's checksums are checked when it merges). */
		return h.gso_type == VIRTIO_NET_HDR_GSO_NONE && frame >= GRO_MIN_FRAME &&
		       ((h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) ||
			(dev->port->caps & NF_CAP_SOFT_OFFLOAD)) ? RXD_SMALL : 0;
	}
	int nsegs = 0;
	bool cut = v == RX_SEGMENT || v == RX_SPLIT;
	if (cut && frame > LINEAR_BYTES) {
		/* Larger than anything we can segment (BIG TCP: gso_max_size or
		 * gro_max_size above 64 KiB on the host side): the gather below
		 * must never write past dev->linear. */
		rx_oversize(dev, frame);
	} else if (cut) {
		/* Gather into our own buffer first: the part in the guest's
		 * chain can change under us, the copy cannot. The chain holds
		 * the first cap bytes, the spill slot the rest (at most
		 * SPILL_BYTES, checked when the batch came in). */
		uint32_t head = frame < cap ? frame : cap;
		iov_read(in, c->nin, VNET_HDR_LEN, dev->linear, head);
		if (frame > head)
			memcpy(dev->linear + head, rx_slot(dev, i), frame - head);
		nsegs = rx_cut(dev, v, dev->linear, frame, &h, cap);
	} else {
		if (v == RX_PASS)
			rx_oversize(dev, frame); /* larger than the guest's chain */
		else
			rx_drop(dev, &dev->rx_pkts[i]);
	}
	if (nsegs == 0) {
		/* A zero-length buffer: virtio_net counts a length error and
		 * recycles it. */
		vq_push(q, c->head, 0);
		return 0;
	}
	for (int k = 0; k < nsegs; k++) {
		struct ofl_seg *sg = &dev->segs[k];
		struct vq_chain *dst = c;
		if (k > 0) {
			dst = &dev->xchain;
			if (vq_pop(q, dst) != 1) {
				dev->st.rx_dropped += (uint64_t)(nsegs - k);
				return 0;
			}
		}
		if (!rx_put_chain(dev, q, dst, &sg->hdr, dev->segbuf + sg->off, sg->len)) {
			dev->st.rx_dropped++;
			vq_push(q, dst->head, 0);
		}
	}
	return 0;
}

/* Tops the stash of popped chains up to depth. Chains are kept popped
 * between batches: popping and translating 64 chains of 19 buffers to
 * receive one frame, then handing 63 back, cost more than the frame. */
static unsigned rx_stash_fill(struct nf_dev *dev, struct vq *q)
{
	while (dev->nstash < dev->depth) {
		struct vq_chain *c = &dev->rx_chains[dev->order[dev->nstash]];
		if (vq_pop(q, c) != 1)
			break;
		if (c->in_len < VNET_HDR_LEN + ETH_MIN_FRAME) {
			vq_set_broken(q, "receive buffer too small for a frame");
			break;
		}
		dev->nstash++;
	}
	return dev->nstash;
}

static bool do_rx_direct(struct nf_dev *dev, struct vq *q)
{
	bool vnet = dev->port->caps & NF_CAP_VNET_HDR;

	for (unsigned b = 0; b < BATCH_BUDGET; b++) {
		unsigned n = rx_stash_fill(dev, q);
		if (q->broken)
			return false;
		if (n == 0) {
			if (rx_have_buffers(dev, q))
				continue;
			return false;
		}
		for (unsigned i = 0; i < n; i++) {
			struct vq_chain *c = &dev->rx_chains[dev->order[i]];
			struct nf_pkt *pkt = &dev->rx_pkts[i];
			const struct iovec *in = c->iov + c->nout;
			unsigned cnt = 0;
			pkt->iov = &dev->rx_iovs[i * PKT_IOV_MAX];
			if (vnet)
				cnt = iov_slice(in, c->nin, 0, VNET_HDR_LEN_LEGACY, pkt->iov, 0,
						PKT_IOV_MAX);
			cnt = iov_slice(in, c->nin, VNET_HDR_LEN, SIZE_MAX, pkt->iov, cnt,
					PKT_IOV_MAX - 1);
			pkt->iov[cnt++] = (struct iovec){ rx_slot(dev, i), SPILL_BYTES };
			pkt->iovcnt = cnt;
		}
		int got = dev->port->transport->rx_batch(dev->port, dev->rx_pkts, n);
		if (got < 0) {
			dev_port_error(dev, "receive", got);
			dev->rx_readable = false; /* epoll says when to try again */
			return false;
		}
		if ((unsigned)got > n)
			got = (int)n; /* a transport bug must not walk off the batch */
		rx_check_lengths(dev->rx_pkts, got);
		rx_batch_done(dev, got);
		unsigned small = 0, nused = 0, nkept = 0;
		unsigned used[got > 0 ? got : 1], kept[got > 0 ? got : 1];
		for (int i = 0; i < got; i++) {
			unsigned r = rx_deliver_direct(dev, q, (unsigned)i,
						       &dev->rx_chains[dev->order[i]]);
			small += r & RXD_SMALL;
			if (r & RXD_KEEP)
				kept[nkept++] = dev->order[i];
			else
				used[nused++] = dev->order[i];
		}
		/* Chains kept stay stashed, in front; the chains used move
		 * behind the ones still stashed. */
		memmove(dev->order + nkept, dev->order + got, (n - (unsigned)got) * sizeof(unsigned));
		memcpy(dev->order, kept, (size_t)nkept * sizeof(unsigned));
		memcpy(dev->order + nkept + (n - (unsigned)got), used, (size_t)nused * sizeof(unsigned));
		dev->nstash = n - nused;
		if (small >= GRO_TRIGGER && rx_gro_possible(dev)) {
			dev->gro_staged = true;
			dev->gro_idle = 0;
		}
		if (nused)
			dev_call_guest(dev, VNET_Q_RX);
		if ((unsigned)got < n) {
			dev->rx_readable = false; /* drained; epoll tells us when more come */
			return false;
		}
	}
	return true;
}

/* Receive is zero copy into the guest's chains by default; it is staged
 * (copied) with mergeable buffers, and while software GRO finds runs of
 * small TCP segments to coalesce (switched on from the direct path when a
 * batch is full of them, off again after idle batches). */
bool rx_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_RX].vq;
	if (dev->rx_gen != dev->vu.vrings[VNET_Q_RX].gen) {
		/* The ring was (re)mapped: stashed chains point into the old
		 * mapping. Staged frames are ours and stay. */
		dev->nstash = 0;
		dev->rx_gen = dev->vu.vrings[VNET_Q_RX].gen;
	}
	if (vu_has(&dev->vu, VIRTIO_NET_F_MRG_RXBUF) || dev->gro_staged || dev->held_to)
		return do_rx_staged(dev, q);
	return do_rx_direct(dev, q);
}

void rx_reset(struct nf_dev *dev)
{
	dev->nstash = 0; /* they belonged to the old ring */
	dev->st.rx_dropped += dev->held_to - dev->held_from;
	dev->held_from = dev->held_to = 0;
	dev->nsegs = 0;
}
