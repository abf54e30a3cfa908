#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "iov.h"
#include "offload.h"
#include "log.h"
#include "util.h"
#include "vhost_user.h"
#include "virtq.h"

#define MAX_DEVS 64
/* Per-slot receive staging (see "Receive paths"): the largest GSO frame plus
 * its transport header and VLAN tags. */
#define SPILL_BYTES (65536u + 256u)
#define MRG_MAX_BUFS 256u
/* Software GSO output: a 64 KB frame at the smallest MSS the guest's MTU
 * allows, each segment repeating up to ~200 bytes of headers. */
#define MAX_SEGS 256u
/* Software GRO switches on after a direct batch with this many full-sized
 * non-GSO frames, and off after this many staged batches without a merge. */
#define GRO_TRIGGER 8u
#define GRO_MIN_FRAME 1000u
#define GRO_IDLE_BATCHES 16u
/* nf_pkt.flags bit of the engine's own: coalesced into an earlier frame. */
#define PKT_ABSORBED 0x100u
#define SEGBUF_BYTES (SPILL_BYTES + MAX_SEGS * 256u)

/* Batches per device per loop turn before looking at other devices again. */
#define BATCH_BUDGET 8
#define ETH_MIN_FRAME 14

enum src_kind { SRC_WAKE, SRC_KICK, SRC_PORT_RX, SRC_PORT_TX, SRC_LISTEN, SRC_CONN };

/* What an epoll event points at. */
struct ep_src {
	enum src_kind kind;
	struct nf_dev *dev;
	unsigned q;
};

struct nf_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped; /* host -> guest */
	uint64_t tx_packets, tx_bytes, tx_dropped; /* guest -> host */
	uint64_t ctrl_cmds, calls, recalls;
	uint64_t rx_waits; /* times delivery waited for the guest to post buffers */
	uint64_t rx_segmented; /* GSO frames segmented in software for the guest */
	uint64_t rx_coalesced; /* frames merged by software GRO */
};

struct nf_dev {
	struct vu_dev vu;
	struct nf_engine *eng;
	const struct nf_devcfg *cfg;
	struct nf_port *port;
	struct ep_src src_kick[VNET_NQUEUES], src_rx, src_tx, src_listen, src_conn;
	atomic_bool changed;          /* set by the control thread */
	/* datapath-thread state */
	bool kicked[VNET_NQUEUES];
	bool rx_readable;             /* transport may have frames */
	bool rx_starved;              /* no guest buffers: not watching rx_fd */
	bool tx_blocked;              /* transport pushed back: watching tx_fd */
	uint32_t rx_mask, tx_mask;    /* registered epoll masks */
	unsigned depth;
	struct vq_chain *chains;
	struct nf_pkt *pkts;
	unsigned *pkt_chain;          /* pkts[i] came from chains[pkt_chain[i]] */
	/* Call watchdog: when to look again whether the guest acted on our
	 * last call to each queue (0: nothing outstanding), and the backoff. */
	long long recall_at[VNET_NQUEUES];
	unsigned recall_ms[VNET_NQUEUES];
	struct iovec *iovs;
	uint8_t *spill;               /* depth x SPILL_BYTES */
	struct vq_chain xfirst, xchain; /* mergeable: first and current buffer */
	struct vring_used_elem mrg[MRG_MAX_BUFS]; /* buffers of the frame being copied */
	unsigned held_from, held_to;  /* staged frames still to hand to the guest */
	/* software segmentation (see rx_segment) */
	uint8_t *linear;              /* one gathered frame */
	uint8_t *segbuf;              /* its segments */
	struct ofl_seg segs[MAX_SEGS];
	unsigned nsegs, seg_next;     /* staged path: segments pending */
	bool gro_staged;              /* software GRO on (staged receive) */
	unsigned gro_idle;            /* staged batches in a row without a merge */
	struct nf_stats st;
};

struct nf_engine {
	unsigned ndevs;
	struct nf_dev *devs[MAX_DEVS];
	int dp_epfd, ctl_epfd;
	int wake_fd;     /* datapath wakeups (ring changes, stop) */
	int ctl_wake_fd; /* control thread stop: its own, so neither eats the other's */
	struct ep_src src_wake, src_ctl_wake;
	atomic_bool stop;
	bool running;
	pthread_t dp_thread, ctl_thread;
	int ctl_cpu, dp_cpu;
};

#define PKT_IOV_MAX (VQ_MAX_IOV + 2) /* + header split + spill */

static struct nf_dev *to_dev(struct vu_dev *vu)
{
	return nf_container_of(vu, struct nf_dev, vu);
}

/* ---- hooks from the vhost-user core (control thread, dev lock held) ---- */

static void hook_kick_watch(struct vu_dev *vu, unsigned q, int fd)
{
	struct nf_dev *dev = to_dev(vu);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &dev->src_kick[q] };
	if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		nf_err("%s: cannot watch kick fd: %s", vu->name, strerror(errno));
}

static void hook_kick_unwatch(struct vu_dev *vu, unsigned q, int fd)
{
	(void)q;
	epoll_ctl(to_dev(vu)->eng->dp_epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void wake_fd(int fd)
{
	uint64_t one = 1;
	(void)!write(fd, &one, sizeof(one));
}

static void wake(struct nf_engine *eng)
{
	wake_fd(eng->wake_fd);
}

static void stop_threads(struct nf_engine *eng)
{
	atomic_store(&eng->stop, true);
	wake_fd(eng->wake_fd);
	wake_fd(eng->ctl_wake_fd);
}

static void hook_changed(struct vu_dev *vu)
{
	struct nf_dev *dev = to_dev(vu);
	atomic_store(&dev->changed, true);
	wake(dev->eng);
}

static const struct vu_dev_ops hooks = {
	.kick_watch = hook_kick_watch,
	.kick_unwatch = hook_kick_unwatch,
	.changed = hook_changed,
};

/* ---- transport fd interest (datapath thread) ---- */

static void set_mask(struct nf_dev *dev, int fd, struct ep_src *src, uint32_t *cur, uint32_t want)
{
	if (*cur == want)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = src };
	if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		nf_err("%s: epoll: %s", dev->vu.name, strerror(errno));
	*cur = want;
}

/* Watch the transport for input only while the guest has buffers to fill,
 * and for output space only while it pushes back: a full host socket then
 * simply waits instead of spinning the datapath. */
static void update_port_interest(struct nf_dev *dev)
{
	bool rx = dev->vu.vrings[VNET_Q_RX].ready && !dev->rx_starved;
	uint32_t in = rx ? EPOLLIN : 0, out = dev->tx_blocked ? EPOLLOUT : 0;
	struct nf_port *p = dev->port;

	if (p->rx_fd == p->tx_fd) {
		set_mask(dev, p->rx_fd, &dev->src_rx, &dev->rx_mask, in | out);
	} else {
		set_mask(dev, p->rx_fd, &dev->src_rx, &dev->rx_mask, in);
		set_mask(dev, p->tx_fd, &dev->src_tx, &dev->tx_mask, out);
	}
}

/* The UML guest sometimes sits on a call for tens of milliseconds (seen as
 * ping outliers of exactly one ping interval: it recovered only with the next
 * event). Spurious calls are harmless, so after each call we look again a
 * little later and repeat the call, with backoff, while the guest's
 * used_event still says it is waiting for elements we already published. */
#define RECALL_FIRST_MS 2
#define RECALL_MAX_MS 64

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void call_guest(struct nf_dev *dev, unsigned q)
{
	struct vu_vring *vr = &dev->vu.vrings[q];
	vq_flush(&vr->vq);
	if (vq_should_call(&vr->vq)) {
		vu_vring_call(vr);
		dev->st.calls++;
		dev->recall_ms[q] = RECALL_FIRST_MS;
		dev->recall_at[q] = now_ms() + RECALL_FIRST_MS;
	}
}

/* Runs the call watchdog of one device; returns the earliest pending
 * deadline (0: none). Lock held. */
static long long recall_check(struct nf_dev *dev, long long now)
{
	long long next = 0;
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &dev->vu.vrings[q];
		if (!dev->recall_at[q])
			continue;
		if (!vr->ready) {
			dev->recall_at[q] = 0;
			continue;
		}
		if (now >= dev->recall_at[q]) {
			if (!vq_call_outstanding(&vr->vq)) {
				dev->recall_at[q] = 0;
				continue;
			}
			/* Keep going (at most every RECALL_MAX_MS) for as long
			 * as the guest says it waits: a lost tx completion call
			 * otherwise stalls its transmit queue for good. */
			vu_vring_call(vr);
			dev->st.recalls++;
			if (dev->recall_ms[q] < RECALL_MAX_MS)
				dev->recall_ms[q] *= 2;
			dev->recall_at[q] = now + dev->recall_ms[q];
		}
		if (!next || dev->recall_at[q] < next)
			next = dev->recall_at[q];
	}
	return next;
}

/* ---- guest -> host ---- */

/* Points pkt at the frame of a tx chain: the guest's 12-byte header becomes
 * the transport's 10-byte one (num_buffers dropped) or disappears. Returns
 * false for a chain that cannot be a frame. */
static bool tx_pkt_from_chain(struct nf_dev *dev, struct vq_chain *c, struct nf_pkt *pkt)
{
	unsigned n = 0;
	if (c->out_len < VNET_HDR_LEN + ETH_MIN_FRAME)
		return false;
	if (dev->port->caps & NF_CAP_VNET_HDR) {
		n = iov_slice(c->iov, c->nout, 0, VNET_HDR_LEN_LEGACY, pkt->iov, 0, PKT_IOV_MAX);
	} else {
		struct virtio_net_hdr_v1 h;
		iov_read(c->iov, c->nout, 0, &h, sizeof(h));
		/* Not offered without vnet headers; a guest that does it anyway
		 * would put bad checksums on the wire. */
		if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE || (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
			return false;
	}
	n = iov_slice(c->iov, c->nout, VNET_HDR_LEN, SIZE_MAX, pkt->iov, n, PKT_IOV_MAX);
	pkt->iovcnt = n;
	pkt->len = c->out_len - VNET_HDR_LEN;
	return true;
}

/* Returns true if the queue still has work (budget exhausted). */
static bool do_tx(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_TX].vq;

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
			if (tx_pkt_from_chain(dev, &dev->chains[i], pkt))
				dev->pkt_chain[m++] = i;
		}
		int sent = m ? dev->port->transport->tx_batch(dev->port, dev->pkts, m) : 0;
		if (sent < 0) {
			nf_err("%s: transmit failed: %s", dev->vu.name, strerror(-sent));
			sent = (int)m; /* drop the batch rather than spin on it */
			dev->st.tx_dropped += m;
		}
		/* Chains up to the first unsent frame are done (malformed ones
		 * are returned empty); the rest go back to the ring. */
		unsigned done = (unsigned)sent < m ? dev->pkt_chain[sent] : n;
		unsigned k = 0;
		for (unsigned i = 0; i < done; i++) {
			if (k < (unsigned)sent && dev->pkt_chain[k] == i) {
				dev->st.tx_packets++;
				dev->st.tx_bytes += dev->pkts[k].len;
				k++;
			} else {
				dev->st.tx_dropped++;
			}
			vq_push(q, dev->chains[i].head, 0);
		}
		vq_unpop(q, n - done);
		call_guest(dev, VNET_Q_TX);
		if (done < n) {
			dev->tx_blocked = true;
			update_port_interest(dev);
			return false;
		}
	}
	return true;
}

/* ---- host -> guest ---- */

/* What to do with a received frame, given the features the guest acked. */
enum rx_verdict {
	RX_PASS,    /* give it as it is */
	RX_SEGMENT, /* a TCP GSO frame the guest cannot take: segment it here */
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
	default:
		return RX_DROP; /* UDP fragmentation offload: not offered */
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !vu_has(vu, VIRTIO_NET_F_GUEST_ECN))
		tso = false;
	/* Segments get checksums computed here unless the guest takes
	 * partial ones, so a GSO frame never needs GUEST_CSUM. */
	return tso && csum_ok ? RX_PASS : RX_SEGMENT;
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

/* Reads the transport's header (if any) in front of a received frame and
 * decides what the guest gets. */
static enum rx_verdict rx_frame_check(struct nf_dev *dev, const struct nf_pkt *pkt,
				      const uint8_t *hdr_src, struct virtio_net_hdr_v1 *h,
				      uint32_t *frame)
{
	*frame = pkt->len;
	memset(h, 0, sizeof(*h));
	if (dev->port->caps & NF_CAP_VNET_HDR) {
		memcpy(h, hdr_src, VNET_HDR_LEN_LEGACY);
		*frame = pkt->len >= VNET_HDR_LEN_LEGACY ? pkt->len - VNET_HDR_LEN_LEGACY : 0;
	}
	if ((pkt->flags & NF_PKT_TRUNC) || *frame < ETH_MIN_FRAME)
		return RX_DROP;
	return rx_classify(&dev->vu, h);
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
	int n = ofl_gso_segment(frame, len, h, mode, dev->segbuf, SEGBUF_BYTES, dev->segs,
				MAX_SEGS);
	if (n <= 0) {
		dev->st.rx_dropped++;
		return 0;
	}
	dev->st.rx_segmented++;
	return n;
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
			return RX_NO_BUFFERS;
		}
		const struct iovec *in = c->iov + c->nout;
		uint32_t w = 0;
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
	dev->st.rx_packets++;
	dev->st.rx_bytes += frame;
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
	dev->st.rx_packets++;
	dev->st.rx_bytes += frame;
	return true;
}

/* Staged paths: gives one contiguous frame to the guest, in mergeable
 * buffers or in one chain. */
static enum rx_result rx_emit(struct nf_dev *dev, struct vq *q, struct virtio_net_hdr_v1 h,
			      const uint8_t *data, uint32_t frame)
{
	if (vu_has(&dev->vu, VIRTIO_NET_F_MRG_RXBUF))
		return rx_copy_mrg_frame(dev, q, h, data, frame);
	if (vq_pop(q, &dev->xchain) != 1)
		return RX_NO_BUFFERS;
	if (!rx_put_chain(dev, q, &dev->xchain, &h, data, frame)) {
		dev->st.rx_dropped++; /* a chain too small for it: returned empty */
		vq_push(q, dev->xchain.head, 0);
	}
	return RX_DONE;
}

/* Staged frame i (resumable: a frame segmented here remembers how many of
 * its segments were delivered). */
static enum rx_result rx_staged_one(struct nf_dev *dev, struct vq *q, unsigned i)
{
	const struct nf_pkt *pkt = &dev->pkts[i];
	const uint8_t *src = rx_slot(dev, i);
	const uint8_t *data = src + ((dev->port->caps & NF_CAP_VNET_HDR) ? VNET_HDR_LEN_LEGACY : 0);
	struct virtio_net_hdr_v1 h;
	uint32_t frame;

	if (pkt->flags & PKT_ABSORBED)
		return RX_DONE; /* coalesced into an earlier frame */
	switch (rx_frame_check(dev, pkt, src, &h, &frame)) {
	case RX_DROP:
		dev->st.rx_dropped++; /* no guest buffer spent on it */
		return RX_DONE;
	case RX_PASS:
		return rx_emit(dev, q, h, data, frame);
	case RX_SEGMENT:
		break;
	}
	if (!dev->nsegs) {
		dev->seg_next = 0;
		dev->nsegs = (unsigned)rx_segment(dev, data, frame, &h);
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
 * merged: the result is a NEEDS_CSUM frame. Returns the frames absorbed. */
static unsigned rx_gro_batch(struct nf_dev *dev, unsigned n)
{
	struct ofl_gro g;
	unsigned absorbed = 0;
	int open = -1;

	for (unsigned j = 0; j <= n; j++) {
		bool eligible = false;
		const uint8_t *data = NULL;
		uint32_t len = 0;
		if (j < n) {
			struct nf_pkt *pkt = &dev->pkts[j];
			const uint8_t *src = rx_slot(dev, j);
			struct virtio_net_hdr_v1 h;
			data = src + VNET_HDR_LEN_LEGACY;
			eligible = rx_frame_check(dev, pkt, src, &h, &len) == RX_PASS &&
				   h.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
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
			uint8_t *slot = rx_slot(dev, (unsigned)open);
			memcpy(slot, &mh, VNET_HDR_LEN_LEGACY);
			memcpy(slot + VNET_HDR_LEN_LEGACY, dev->linear, mlen);
			dev->pkts[open].len = (uint32_t)(VNET_HDR_LEN_LEGACY + mlen);
			dev->st.rx_coalesced += g.segs;
		}
		open = -1;
		if (eligible && ofl_gro_start(&g, dev->linear, SPILL_BYTES - VNET_HDR_LEN_LEGACY, data,
					      len) == 0)
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
		call_guest(dev, VNET_Q_RX);
	if (done || q->broken) {
		dev->held_from = dev->held_to = 0;
		return done;
	}
	dev->st.rx_waits++;
	/* What the guest has posted is not enough: wait for more. */
	if (vq_kick_enable_after(q, vq_pending(q)))
		return false; /* more arrived meanwhile: the caller loops */
	dev->rx_starved = true;
	update_port_interest(dev);
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
	update_port_interest(dev);
	return false;
}

/* True when coalescing can pay: the guest takes TSO frames with partial
 * checksums and the transport tells checksum state (vnet headers). */
static bool rx_gro_possible(struct nf_dev *dev)
{
	return (dev->port->caps & NF_CAP_VNET_HDR) && vu_has(&dev->vu, VIRTIO_NET_F_GUEST_CSUM) &&
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
		for (unsigned i = 0; i < dev->depth; i++) {
			struct nf_pkt *pkt = &dev->pkts[i];
			pkt->iov = &dev->iovs[i * PKT_IOV_MAX];
			pkt->iov[0] = (struct iovec){ rx_slot(dev, i), SPILL_BYTES };
			pkt->iovcnt = 1;
		}
		int got = dev->port->transport->rx_batch(dev->port, dev->pkts, dev->depth);
		if (got < 0) {
			nf_err("%s: receive failed: %s", dev->vu.name, strerror(-got));
			got = 0;
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

/* Direct path, frame i received in place into chain i (the part that did
 * not fit in spill slot i). A GSO frame the guest cannot take is gathered,
 * segmented, and its segments go to chain i and chains popped after the
 * batch; without enough chains the remaining segments are dropped (TCP
 * recovers) rather than stalling the ring. */
static unsigned rx_deliver_direct(struct nf_dev *dev, struct vq *q, unsigned i)
{
	struct vq_chain *c = &dev->chains[i];
	const struct iovec *in = c->iov + c->nout;
	uint8_t hdr[VNET_HDR_LEN_LEGACY];
	struct virtio_net_hdr_v1 h;
	uint32_t frame, cap = c->in_len - VNET_HDR_LEN;

	iov_read(in, c->nin, 0, hdr, sizeof(hdr));
	enum rx_verdict v = rx_frame_check(dev, &dev->pkts[i], hdr, &h, &frame);
	if (v == RX_PASS && frame <= cap) {
		h.num_buffers = 1;
		iov_write(in, c->nin, 0, &h, VNET_HDR_LEN);
		vq_push(q, c->head, VNET_HDR_LEN + frame);
		dev->st.rx_packets++;
		dev->st.rx_bytes += frame;
		/* A full-sized frame that coalescing could have merged. */
		return h.gso_type == VIRTIO_NET_HDR_GSO_NONE && frame >= GRO_MIN_FRAME &&
		       (h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID));
	}
	int nsegs = 0;
	if (v == RX_SEGMENT) {
		/* Gather: the chain holds the first cap bytes, the spill the rest. */
		iov_read(in, c->nin, VNET_HDR_LEN, dev->linear, frame < cap ? frame : cap);
		if (frame > cap)
			memcpy(dev->linear + cap, rx_slot(dev, i), frame - cap);
		nsegs = rx_segment(dev, dev->linear, frame, &h);
	} else {
		dev->st.rx_dropped++;
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

static bool do_rx_direct(struct nf_dev *dev, struct vq *q)
{
	bool vnet = dev->port->caps & NF_CAP_VNET_HDR;

	for (unsigned b = 0; b < BATCH_BUDGET; b++) {
		unsigned n = 0;
		while (n < dev->depth && vq_pop(q, &dev->chains[n]) == 1)
			n++;
		if (q->broken)
			return false;
		if (n == 0) {
			if (rx_have_buffers(dev, q))
				continue;
			return false;
		}
		for (unsigned i = 0; i < n; i++) {
			struct vq_chain *c = &dev->chains[i];
			struct nf_pkt *pkt = &dev->pkts[i];
			const struct iovec *in = c->iov + c->nout;
			unsigned cnt = 0;
			if (c->in_len < VNET_HDR_LEN + ETH_MIN_FRAME) {
				vq_set_broken(q, "receive buffer too small for a frame");
				return false;
			}
			pkt->iov = &dev->iovs[i * PKT_IOV_MAX];
			if (vnet)
				cnt = iov_slice(in, c->nin, 0, VNET_HDR_LEN_LEGACY, pkt->iov, 0,
						PKT_IOV_MAX);
			cnt = iov_slice(in, c->nin, VNET_HDR_LEN, SIZE_MAX, pkt->iov, cnt,
					PKT_IOV_MAX - 1);
			pkt->iov[cnt++] = (struct iovec){ rx_slot(dev, i), SPILL_BYTES };
			pkt->iovcnt = cnt;
		}
		int got = dev->port->transport->rx_batch(dev->port, dev->pkts, n);
		if (got < 0) {
			nf_err("%s: receive failed: %s", dev->vu.name, strerror(-got));
			got = 0;
		}
		/* Unused chains go back first: chains for segments are popped
		 * after them. */
		vq_unpop(q, n - (unsigned)got);
		unsigned small = 0;
		for (int i = 0; i < got; i++)
			small += rx_deliver_direct(dev, q, (unsigned)i);
		if (small >= GRO_TRIGGER && rx_gro_possible(dev)) {
			dev->gro_staged = true;
			dev->gro_idle = 0;
		}
		if (got)
			call_guest(dev, VNET_Q_RX);
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
static bool do_rx(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_RX].vq;
	if (vu_has(&dev->vu, VIRTIO_NET_F_MRG_RXBUF) || dev->gro_staged || dev->held_to)
		return do_rx_staged(dev, q);
	return do_rx_direct(dev, q);
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

static void do_ctrl(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_CTRL].vq;
	struct vq_chain *c = &dev->chains[0];
	bool any = false;

	while (vq_pop(q, c) == 1) {
		uint8_t hdr[2] = { 0xff, 0xff }, ack = VIRTIO_NET_ERR;
		if (iov_read(c->iov, c->nout, 0, hdr, 2) == 2)
			ack = ctrl_command(hdr[0], hdr[1]);
		uint32_t len = (uint32_t)iov_write(c->iov + c->nout, c->nin, 0, &ack, 1);
		vq_push(q, c->head, len);
		dev->st.ctrl_cmds++;
		any = true;
	}
	vq_kick_enable(q);
	if (any)
		call_guest(dev, VNET_Q_CTRL);
	dev->kicked[VNET_Q_CTRL] = false;
}

/* ---- datapath thread ---- */

static void drain_kick(struct nf_dev *dev, unsigned q)
{
	uint64_t v;
	int fd = dev->vu.vrings[q].kick_fd;
	if (fd >= 0)
		(void)!read(fd, &v, sizeof(v));
	dev->kicked[q] = true;
	if (q == VNET_Q_RX && dev->rx_starved) {
		dev->rx_starved = false;
		dev->rx_readable = true;
		update_port_interest(dev);
	}
}

/* Picks up ring state changes made by the control thread. Lock held. */
static void refresh(struct nf_dev *dev)
{
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		dev->kicked[q] = true; /* look at every ring once */
	dev->rx_starved = false;
	dev->rx_readable = true;
	if (!dev->vu.vrings[VNET_Q_TX].ready)
		dev->tx_blocked = false;
	if (!dev->vu.vrings[VNET_Q_RX].ready) {
		/* Staged frames wait for buffers of a ring that is gone. */
		dev->st.rx_dropped += dev->held_to - dev->held_from;
		dev->held_from = dev->held_to = 0;
		dev->nsegs = 0;
	}
	update_port_interest(dev);
}

/* Serves one device; returns true if it has more work right now. Lock held. */
static bool serve(struct nf_dev *dev)
{
	struct vu_vring *vr = dev->vu.vrings;
	bool busy = false;

	if (dev->vu.broken)
		return false;
	if (dev->kicked[VNET_Q_CTRL] && vr[VNET_Q_CTRL].ready)
		do_ctrl(dev);
	if (dev->kicked[VNET_Q_TX] && vr[VNET_Q_TX].ready && !dev->tx_blocked)
		busy |= do_tx(dev);
	if (dev->rx_readable && vr[VNET_Q_RX].ready && !dev->rx_starved)
		busy |= do_rx(dev);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		if (vr[q].ready && vr[q].vq.broken) {
			vu_dev_set_broken(&dev->vu, vr[q].vq.broken);
			update_port_interest(dev);
			return false;
		}
	return busy;
}

static void pin_self(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc)
		nf_warn("cannot pin thread to CPU %d: %s", cpu, strerror(rc));
}

static void *datapath_main(void *arg)
{
	struct nf_engine *eng = arg;
	struct epoll_event evs[64];
	bool busy = false;

	long long deadline = 0;

	pin_self(eng->dp_cpu);
	while (!atomic_load(&eng->stop)) {
		int timeout = -1;
		if (busy)
			timeout = 0;
		else if (deadline)
			timeout = (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0);
		int n = epoll_wait(eng->dp_epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			nf_err("datapath: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct ep_src *src = evs[i].data.ptr;
			struct nf_dev *dev = src->dev;
			switch (src->kind) {
			case SRC_WAKE: {
				uint64_t v;
				(void)!read(eng->wake_fd, &v, sizeof(v));
				for (unsigned d = 0; d < eng->ndevs; d++) {
					struct nf_dev *dv = eng->devs[d];
					if (!atomic_exchange(&dv->changed, false))
						continue;
					pthread_mutex_lock(&dv->vu.lock);
					refresh(dv);
					pthread_mutex_unlock(&dv->vu.lock);
				}
				break;
			}
			case SRC_KICK:
				pthread_mutex_lock(&dev->vu.lock);
				drain_kick(dev, src->q);
				pthread_mutex_unlock(&dev->vu.lock);
				break;
			case SRC_PORT_RX:
			case SRC_PORT_TX:
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					dev->rx_readable = true;
				if (evs[i].events & EPOLLOUT) {
					pthread_mutex_lock(&dev->vu.lock);
					dev->tx_blocked = false;
					dev->kicked[VNET_Q_TX] = true;
					update_port_interest(dev);
					pthread_mutex_unlock(&dev->vu.lock);
				}
				break;
			default:
				break;
			}
		}
		busy = false;
		deadline = 0;
		long long now = now_ms();
		for (unsigned d = 0; d < eng->ndevs; d++) {
			struct nf_dev *dev = eng->devs[d];
			pthread_mutex_lock(&dev->vu.lock);
			busy |= serve(dev);
			long long next = recall_check(dev, now);
			pthread_mutex_unlock(&dev->vu.lock);
			if (next && (!deadline || next < deadline))
				deadline = next;
		}
	}
	return NULL;
}

/* ---- control thread ---- */

static void *control_main(void *arg)
{
	struct nf_engine *eng = arg;
	struct epoll_event evs[16];

	pin_self(eng->ctl_cpu);
	while (!atomic_load(&eng->stop)) {
		int n = epoll_wait(eng->ctl_epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR) {
			nf_err("control: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct ep_src *src = evs[i].data.ptr;
			struct nf_dev *dev = src->dev;
			if (src->kind == SRC_LISTEN) {
				if (vu_dev_accept(&dev->vu) == 0 && dev->vu.conn_fd >= 0) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.ptr = &dev->src_conn };
					epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, dev->vu.conn_fd, &ev);
				}
			} else if (src->kind == SRC_CONN) {
				int fd = dev->vu.conn_fd;
				if (fd >= 0 && vu_dev_handle(&dev->vu) < 0)
					epoll_ctl(eng->ctl_epfd, EPOLL_CTL_DEL, fd, NULL);
			}
		}
	}
	return NULL;
}

/* ---- lifecycle ---- */

int nf_engine_create(struct nf_engine **out)
{
	struct nf_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	eng->dp_epfd = eng->ctl_epfd = eng->wake_fd = eng->ctl_wake_fd = -1;
	eng->dp_epfd = epoll_create1(EPOLL_CLOEXEC);
	eng->ctl_epfd = epoll_create1(EPOLL_CLOEXEC);
	eng->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eng->ctl_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eng->src_wake.kind = SRC_WAKE;
	eng->src_ctl_wake.kind = SRC_WAKE;
	if (eng->dp_epfd < 0 || eng->ctl_epfd < 0 || eng->wake_fd < 0 || eng->ctl_wake_fd < 0)
		goto err;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &eng->src_wake };
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &eng->src_ctl_wake };
	if (epoll_ctl(eng->dp_epfd, EPOLL_CTL_ADD, eng->wake_fd, &ev) < 0 ||
	    epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, eng->ctl_wake_fd, &cev) < 0)
		goto err;
	*out = eng;
	return 0;
err:;
	int rc = -errno;
	nf_engine_destroy(eng);
	return rc;
}

/* Offered virtio features follow the options and what the port can carry. */
static uint64_t offered_features(const struct nf_devcfg *cfg, const struct nf_port *port)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
		     (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_NET_F_MAC) |
		     (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MTU) |
		     (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX);
	/* Mergeable buffers only on request: a 64 KB GSO frame then arrives
	 * in dozens of small buffers, which the guest cannot transmit again
	 * as one TSO frame (more than MAX_SKB_FRAGS) and segments in software
	 * when it forwards: measured ~27k TCP retransmits per 5 s against ~45
	 * with one big buffer chain per frame. */
	if (cfg->mrg)
		f |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (port->caps & NF_CAP_VNET_HDR)
		f |= (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
	if (cfg->gro && (port->caps & NF_CAP_GSO))
		f |= (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
		     (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
		     (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN);
	return f;
}

static void dev_free(struct nf_dev *dev)
{
	free(dev->chains);
	free(dev->pkts);
	free(dev->pkt_chain);
	free(dev->iovs);
	free(dev->spill);
	free(dev->linear);
	free(dev->segbuf);
	free(dev);
}

int nf_engine_add(struct nf_engine *eng, const struct nf_devcfg *cfg, struct nf_port *port,
		  const char *sock_path, const uint8_t mac[6], char *err, size_t errlen)
{
	struct nf_dev *dev = NULL;
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "vec%u", cfg->index);
	if (eng->ndevs >= MAX_DEVS || eng->running) {
		rc = -EBUSY;
		snprintf(err, errlen, "%s: too many devices", name);
		goto err_close_port;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		goto err_nomem;
	dev->depth = cfg->depth;
	dev->chains = calloc(dev->depth, sizeof(*dev->chains));
	dev->pkts = calloc(dev->depth, sizeof(*dev->pkts));
	dev->pkt_chain = calloc(dev->depth, sizeof(*dev->pkt_chain));
	dev->iovs = calloc((size_t)dev->depth * PKT_IOV_MAX, sizeof(*dev->iovs));
	dev->spill = malloc((size_t)dev->depth * SPILL_BYTES);
	dev->linear = malloc(SPILL_BYTES);
	dev->segbuf = malloc(SEGBUF_BYTES);
	if (!dev->chains || !dev->pkts || !dev->pkt_chain || !dev->iovs || !dev->spill ||
	    !dev->linear || !dev->segbuf)
		goto err_nomem;
	dev->eng = eng;
	dev->cfg = cfg;
	dev->port = port;
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		dev->src_kick[q] = (struct ep_src){ SRC_KICK, dev, q };
	dev->src_rx = (struct ep_src){ SRC_PORT_RX, dev, 0 };
	dev->src_tx = (struct ep_src){ SRC_PORT_TX, dev, 0 };
	dev->src_listen = (struct ep_src){ SRC_LISTEN, dev, 0 };
	dev->src_conn = (struct ep_src){ SRC_CONN, dev, 0 };

	struct virtio_net_config config = {
		.status = VIRTIO_NET_S_LINK_UP,
		.max_virtqueue_pairs = 1,
		.mtu = (uint16_t)cfg->mtu,
	};
	memcpy(config.mac, mac, 6);
	rc = vu_dev_init(&dev->vu, name, sock_path, &hooks, offered_features(cfg, port), &config);
	if (rc < 0) {
		snprintf(err, errlen, "%s: vhost-user socket %s: %s", name, sock_path, strerror(-rc));
		goto err_free;
	}
	struct epoll_event ev = { .events = 0, .data.ptr = &dev->src_rx };
	rc = epoll_ctl(eng->dp_epfd, EPOLL_CTL_ADD, port->rx_fd, &ev);
	if (rc == 0 && port->tx_fd != port->rx_fd) {
		ev.data.ptr = &dev->src_tx;
		rc = epoll_ctl(eng->dp_epfd, EPOLL_CTL_ADD, port->tx_fd, &ev);
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &dev->src_listen };
	if (rc == 0)
		rc = epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, dev->vu.listen_fd, &ev);
	if (rc < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: epoll: %s", name, strerror(errno));
		epoll_ctl(eng->dp_epfd, EPOLL_CTL_DEL, port->rx_fd, NULL);
		epoll_ctl(eng->dp_epfd, EPOLL_CTL_DEL, port->tx_fd, NULL);
		vu_dev_deinit(&dev->vu);
		goto err_free;
	}
	eng->devs[eng->ndevs++] = dev;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: out of memory", name);
err_free:
	if (dev)
		dev_free(dev);
err_close_port:
	port->transport->close(port);
	return rc;
}

int nf_engine_start(struct nf_engine *eng, int control_cpu, int datapath_cpu)
{
	int rc;
	eng->ctl_cpu = control_cpu;
	eng->dp_cpu = datapath_cpu;
	rc = pthread_create(&eng->ctl_thread, NULL, control_main, eng);
	if (rc)
		return -rc;
	rc = pthread_create(&eng->dp_thread, NULL, datapath_main, eng);
	if (rc) {
		stop_threads(eng);
		pthread_join(eng->ctl_thread, NULL);
		return -rc;
	}
	pthread_setname_np(eng->ctl_thread, "nf-control");
	pthread_setname_np(eng->dp_thread, "nf-datapath");
	eng->running = true;
	return 0;
}

void nf_engine_stop(struct nf_engine *eng)
{
	if (!eng->running)
		return;
	stop_threads(eng);
	pthread_join(eng->dp_thread, NULL);
	pthread_join(eng->ctl_thread, NULL);
	eng->running = false;
}

void nf_engine_print_stats(struct nf_engine *eng, FILE *out)
{
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		const struct nf_stats *s = &dev->st;
		fprintf(out,
			"uml-nf: stats dev=%s rx_packets=%llu rx_bytes=%llu rx_dropped=%llu "
			"tx_packets=%llu tx_bytes=%llu tx_dropped=%llu host_tx_errors=%llu "
			"ctrl_cmds=%llu calls=%llu recalls=%llu rx_waits=%llu rx_segmented=%llu rx_coalesced=%llu host_rx_drops=%lld "
			"features=0x%llx%s%s\n",
			dev->vu.name, (unsigned long long)s->rx_packets,
			(unsigned long long)s->rx_bytes, (unsigned long long)s->rx_dropped,
			(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
			(unsigned long long)s->tx_dropped,
			(unsigned long long)dev->port->tx_drops, (unsigned long long)s->ctrl_cmds,
			(unsigned long long)s->calls, (unsigned long long)s->recalls,
			(unsigned long long)s->rx_waits, (unsigned long long)s->rx_segmented,
			(unsigned long long)s->rx_coalesced,
			dev->port->transport->rx_host_drops
				? (long long)dev->port->transport->rx_host_drops(dev->port)
				: -1LL,
			(unsigned long long)dev->vu.acked,
			dev->vu.broken ? " broken=" : "", dev->vu.broken ? dev->vu.broken : "");
	}
}

void nf_engine_destroy(struct nf_engine *eng)
{
	if (!eng)
		return;
	nf_engine_stop(eng);
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		vu_dev_deinit(&dev->vu);
		dev->port->transport->close(dev->port);
		dev_free(dev);
	}
	if (eng->dp_epfd >= 0)
		close(eng->dp_epfd);
	if (eng->ctl_epfd >= 0)
		close(eng->ctl_epfd);
	if (eng->wake_fd >= 0)
		close(eng->wake_fd);
	if (eng->ctl_wake_fd >= 0)
		close(eng->ctl_wake_fd);
	free(eng);
}
