/* ring=mmap: PACKET_MMAP receive (TPACKET_V3 blocks) and transmit rings on
 * the raw transport's packet socket. See ring_mmap.h for the layout. */
#include "ring_mmap.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iov.h"

/* A receive block holds at least one frame of the largest kind the host
 * hands us (BIG TCP GSO frames of 256 KiB, see RX_FRAME_MAX in dev.h), and
 * thousands of small ones. */
#define RM_RX_BLOCK (1u << 20)
#define RM_RX_BLOCKS 16u
#define RM_RX_FRAME 2048u /* nominal: V3 packs frames of any size */
/* A block that has frames is retired (and the socket woken) after at most
 * this long, however few frames it holds: the latency a lone frame pays
 * while the datapath sleeps on the socket. */
#define RM_BLOCK_TOV_MS 1u
#define RM_PAGE 4096u
/* Where a transmit frame starts in its slot (tpacket_snd without
 * PACKET_TX_HAS_OFF: the header, without the sockaddr_ll it leaves room
 * for). */
#define RM_TX_OFF ((unsigned)TPACKET_ALIGN(sizeof(struct tpacket3_hdr)))
#define RM_VNET 10u
/* Frames up to this long leave the tx ring as one linear copy. */
#define RM_TX_LINEAR_MAX 4096u

struct rm_ring {
	struct rm_geom g;
	uint8_t *map;
	size_t map_len;
	uint8_t *rx, *tx;
	/* receive: the block being read and where in it */
	unsigned blk, left, off;
	/* transmit: the next slot to fill */
	unsigned head;
};

static unsigned align_up(unsigned v, unsigned a)
{
	return (v + a - 1) / a * a;
}

int rm_geom_for(unsigned tx_frame, unsigned tx_slots, struct rm_geom *g)
{
	if (tx_frame < 14 || tx_frame > (1u << 20) || tx_slots == 0 || tx_slots > 4096)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->rx_block_size = RM_RX_BLOCK;
	g->rx_block_nr = RM_RX_BLOCKS;
	g->rx_frame_size = RM_RX_FRAME;
	g->tx_frame_size = align_up(RM_TX_OFF + RM_VNET + tx_frame, TPACKET_ALIGNMENT);
	/* Small slots share 64 KiB blocks; 64 KiB GSO slots come 15 to a
	 * MiB. A block is a power-of-two number of pages. */
	unsigned bs = 64u << 10;
	while (bs < g->tx_frame_size * 8u && bs < RM_RX_BLOCK)
		bs <<= 1;
	if (bs < g->tx_frame_size)
		return -EINVAL;
	g->tx_block_size = bs;
	unsigned per = bs / g->tx_frame_size;
	g->tx_block_nr = (tx_slots + per - 1) / per;
	g->tx_frame_nr = g->tx_block_nr * per;
	return 0;
}

static int set_ring(int fd, int opt, unsigned bs, unsigned bn, unsigned fs, unsigned tov)
{
	struct tpacket_req3 req = {
		.tp_block_size = bs,
		.tp_block_nr = bn,
		.tp_frame_size = fs,
		.tp_frame_nr = bn * (bs / fs),
		.tp_retire_blk_tov = tov,
	};
	return setsockopt(fd, SOL_PACKET, opt, &req, sizeof(req)) < 0 ? -errno : 0;
}

bool rm_has_tx(const struct rm_ring *r)
{
	return r->g.tx_frame_nr != 0;
}

int rm_open(int fd, const char *dev, bool tx_ring, unsigned tx_frame, unsigned tx_slots,
	    bool bypass, struct rm_ring **out, char *err, size_t errlen)
{
	int v3 = TPACKET_V3, one = 1, rc;
	const char *what;
	struct rm_ring *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "%s: ring: out of memory", dev);
		return -ENOMEM;
	}
	rc = rm_geom_for(tx_frame, tx_slots, &r->g);
	if (rc < 0) {
		what = "frame size";
		goto err;
	}
	/* A/B switch for bench runs: receive blocks of KB KiB, N of them. */
	const char *kb = getenv("UMLNF_RING_BLOCK_KB"), *nb = getenv("UMLNF_RING_BLOCKS");
	if (kb && *kb)
		r->g.rx_block_size = (unsigned)strtoul(kb, NULL, 10) << 10;
	if (nb && *nb)
		r->g.rx_block_nr = (unsigned)strtoul(nb, NULL, 10);
	what = "PACKET_VERSION TPACKET_V3";
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3)) < 0)
		goto err_errno;
	/* A frame the kernel cannot send (bad virtio-net header) is skipped
	 * and its slot freed, instead of stopping the ring. */
	what = "PACKET_LOSS";
	if (setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0)
		goto err_errno;
	what = "PACKET_QDISC_BYPASS";
	if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		goto err_errno;
	what = "PACKET_RX_RING";
	rc = set_ring(fd, PACKET_RX_RING, r->g.rx_block_size, r->g.rx_block_nr, r->g.rx_frame_size,
		      RM_BLOCK_TOV_MS);
	if (rc < 0)
		goto err;
	if (!tx_ring)
		r->g.tx_block_nr = r->g.tx_frame_nr = 0;
	what = "PACKET_TX_RING";
	if (tx_ring && (rc = set_ring(fd, PACKET_TX_RING, r->g.tx_block_size, r->g.tx_block_nr,
				      r->g.tx_frame_size, 0)) < 0)
		goto err;
	size_t rx_len = (size_t)r->g.rx_block_size * r->g.rx_block_nr;
	size_t tx_len = (size_t)r->g.tx_block_size * r->g.tx_block_nr;
	r->map_len = rx_len + tx_len;
	what = "mmap";
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		goto err_errno;
	}
	r->rx = r->map;
	r->tx = r->map + rx_len;
	*out = r;
	return 0;

err_errno:
	rc = -errno;
err:
	snprintf(err, errlen, "%s: ring: mmap rings refused by the host kernel (%s: %s)", dev, what,
		 strerror(-rc));
	free(r);
	return rc;
}

void rm_close(struct rm_ring *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->map_len);
	free(r);
}

static struct tpacket_block_desc *rx_block(struct rm_ring *r, unsigned i)
{
	return (struct tpacket_block_desc *)(r->rx + (size_t)i * r->g.rx_block_size);
}

/* Gives the block being read back to the kernel and moves to the next. */
static void rx_release(struct rm_ring *r)
{
	__atomic_store_n(&rx_block(r, r->blk)->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
	r->blk = (r->blk + 1) % r->g.rx_block_nr;
	r->left = 0;
}

int rm_rx(struct rm_ring *r, struct nf_pkt *pkts, unsigned max)
{
	const unsigned bs = r->g.rx_block_size;
	unsigned got = 0;

	while (got < max) {
		struct tpacket_block_desc *bd = rx_block(r, r->blk);
		if (!r->left) {
			uint32_t st = __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
			if (!(st & TP_STATUS_USER))
				break;
			r->left = bd->hdr.bh1.num_pkts;
			r->off = bd->hdr.bh1.offset_to_first_pkt;
			if (!r->left) {
				rx_release(r);
				continue;
			}
		}
		/* The kernel wrote all of this; a frame that would reach past
		 * its block all the same ends the block rather than our
		 * reads. */
		if (r->off < sizeof(*bd) || r->off > bs - sizeof(struct tpacket3_hdr)) {
			rx_release(r);
			continue;
		}
		const struct tpacket3_hdr *h = (const void *)((uint8_t *)bd + r->off);
		uint32_t mac = r->off + h->tp_mac, snap = h->tp_snaplen;
		if (h->tp_mac < sizeof(*h) + RM_VNET || mac > bs || snap > bs - mac) {
			rx_release(r);
			continue;
		}
		struct nf_pkt *p = &pkts[got++];
		size_t room = 0;
		for (unsigned k = 0; k < p->iovcnt; k++)
			room += p->iov[k].iov_len;
		size_t want = RM_VNET + (size_t)snap;
		iov_write(p->iov, p->iovcnt, 0, (uint8_t *)bd + mac - RM_VNET,
			  want < room ? want : room);
		p->len = RM_VNET + (h->tp_len > snap ? h->tp_len : snap);
		p->flags = (h->tp_len > snap || want > room) ? NF_PKT_TRUNC : 0;
		if (--r->left == 0)
			rx_release(r);
		else if (h->tp_next_offset == 0)
			rx_release(r); /* frames said to follow, but nowhere */
		else
			r->off += h->tp_next_offset;
	}
	return (int)got;
}

static struct tpacket3_hdr *tx_slot(struct rm_ring *r, unsigned i)
{
	unsigned per = r->g.tx_block_size / r->g.tx_frame_size;
	return (struct tpacket3_hdr *)(r->tx + (size_t)(i / per) * r->g.tx_block_size +
				       (size_t)(i % per) * r->g.tx_frame_size);
}

int rm_tx(struct rm_ring *r, int fd, struct nf_pkt *pkts, unsigned n, uint64_t *oversize)
{
	const unsigned cap = r->g.tx_frame_size - RM_TX_OFF, nr = r->g.tx_frame_nr;
	unsigned first = r->head, queued = 0, done = 0, nover = 0;
	/* the packet index of each queued frame, to undo what the kernel did
	 * not take; and of each oversized one, counted once consumed */
	unsigned idx[n ? n : 1], over[n ? n : 1];

	for (; done < n; done++) {
		struct nf_pkt *p = &pkts[done];
		size_t len = 0;
		for (unsigned k = 0; k < p->iovcnt; k++)
			len += p->iov[k].iov_len;
		if (len > cap || len < RM_VNET) {
			over[nover++] = done; /* consumed, never sent */
			continue;
		}
		struct tpacket3_hdr *h = tx_slot(r, r->head);
		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE)
			break; /* ring full: the rest waits for the socket to be writable */
		uint8_t *data = (uint8_t *)h + RM_TX_OFF;
		iov_read(p->iov, p->iovcnt, 0, data, len);
		/* virtio_net_hdr: flags, gso_type, then le16 hdr_len. A frame
		 * that is not GSO goes out as one linear copy (see the header
		 * comment); the kernel checks hdr_len against the length. */
		if (data[1] == 0 && len - RM_VNET <= RM_TX_LINEAR_MAX) {
			uint16_t hl = (uint16_t)(len - RM_VNET);
			memcpy(data + 2, &hl, 2);
		}
		h->tp_len = (uint32_t)len;
		h->tp_snaplen = (uint32_t)len;
		h->tp_next_offset = 0;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		idx[queued++] = done;
		r->head = (r->head + 1) % nr;
	}
	unsigned ret = done;
	int e = 0;
	if (!queued)
		goto out;
	if (send(fd, NULL, 0, MSG_DONTWAIT) < 0)
		e = errno;
	/* Frames the kernel did not take (socket buffer full, interface gone)
	 * are still SEND_REQUEST: take them back, and report the batch
	 * consumed only up to the first of them, so the engine keeps the
	 * rest for later instead of a ring nobody flushes. send() has
	 * returned: the kernel touches no SEND_REQUEST slot now. */
	for (unsigned q = 0; q < queued; q++) {
		unsigned s = (first + q) % nr;
		struct tpacket3_hdr *h = tx_slot(r, s);
		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_SEND_REQUEST)
			continue;
		for (unsigned t = q; t < queued; t++)
			__atomic_store_n(&tx_slot(r, (first + t) % nr)->tp_status, TP_STATUS_AVAILABLE,
					 __ATOMIC_RELEASE);
		r->head = s;
		ret = idx[q];
		if (q == 0 && e && e != EAGAIN && e != ENOBUFS && e != EINTR)
			return -e;
		break;
	}
out:
	for (unsigned k = 0; k < nover && over[k] < ret; k++)
		(*oversize)++;
	return (int)ret;
}
