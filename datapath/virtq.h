/* Split virtqueue, backend side: pop descriptor chains the guest made
 * available, return them through the used ring, and decide when either side
 * must be notified (VIRTIO_F_EVENT_IDX or the flag-based fallback).
 *
 * Pure logic over guest memory already mapped into our address space: no
 * syscalls, no locking. One thread at a time per queue.
 *
 * Batch use (fill N, flush once, notify once):
 *
 *     while (n < max && vq_pop(q, &c[n]) == 1) n++;
 *     ... I/O ...
 *     for (i = 0; i < done; i++) vq_push(q, c[i].head, len[i]);
 *     vq_unpop(q, n - done);          // hand back what was not used
 *     vq_flush(q);
 *     if (vq_should_call(q)) signal the guest;
 *
 * Everything read from the guest (indices, descriptors, addresses, lengths)
 * is checked; a violation marks the queue broken with a reason, and every
 * later call is a no-op returning an error.
 */
#ifndef NF_VIRTQ_H
#define NF_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"
#include "wire.h"

/* Most buffers one chain may have. virtio_net's "big" receive chains use 19;
 * a chain with more is treated as a protocol violation. */
#define VQ_MAX_IOV 64

/* Most bytes one chain may describe in all; more is a protocol violation
 * (a network frame is at most 64 KiB; this also keeps 32-bit totals from
 * wrapping). */
#define VQ_MAX_CHAIN_BYTES (16u << 20)

/* One popped chain: readable (driver-to-device) buffers first, then writable. */
struct vq_chain {
	uint16_t head;      /* id to return in the used ring */
	uint16_t nout;      /* readable iovecs: iov[0 .. nout) */
	uint16_t nin;       /* writable iovecs: iov[nout .. nout+nin) */
	uint32_t out_len;   /* total readable bytes */
	uint32_t in_len;    /* total writable bytes */
	struct iovec iov[VQ_MAX_IOV];
};

struct vq {
	/* configuration */
	uint16_t num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct guestmem *mem; /* borrowed */
	bool event_idx;
	/* running state */
	uint16_t last_avail;     /* next avail slot to consume */
	uint16_t used_idx;       /* next used slot to fill (published on flush) */
	uint16_t signalled_used; /* used index at our last call */
	bool signalled_valid;
	const char *broken;      /* reason, or NULL while healthy */
};

/* Prepares q for use. Ring pointers must already have been translated and
 * bounds-checked for num entries (see vq_ring_bytes). base is the first avail
 * index to consume (SET_VRING_BASE); the used index is taken from the ring. */
void vq_setup(struct vq *q, const struct guestmem *mem, uint16_t num,
	      struct vring_desc *desc, struct vring_avail *avail,
	      struct vring_used *used, bool event_idx, uint16_t base);

/* Pops one chain into *c. Returns 1 when a chain was popped, 0 when the ring
 * is empty, -EIO when the queue is (or just became) broken. */
int vq_pop(struct vq *q, struct vq_chain *c);

/* Walks c's chain again from c->head, through q's current memory map (after
 * the guest replaced its memory table, chains popped before point into the
 * old mapping). Returns 0, or -EIO when the queue is or becomes broken. */
int vq_chain_reload(struct vq *q, struct vq_chain *c);

/* Returns the last n popped chains to the ring, newest first (they will be
 * popped again, in order). n must not exceed what was popped since the last
 * flush. */
void vq_unpop(struct vq *q, unsigned n);

/* Queues a used element (not visible to the guest until vq_flush). */
void vq_push(struct vq *q, uint16_t head, uint32_t len);

/* Publishes all pushed elements with one store of the used index. */
void vq_flush(struct vq *q);

/* True when the guest asked to be notified about the elements flushed since
 * the last call; records that it has been. */
bool vq_should_call(struct vq *q);

/* True when the guest still asks for a notification about used elements we
 * have already published (its used_event lies behind our used index): after
 * a call, that means the call has not been acted on yet. EVENT_IDX only. */
bool vq_call_outstanding(struct vq *q);

/* Number of chains the guest has made available and we have not popped. */
unsigned vq_pending(struct vq *q);

/* How far the guest's used_event lies behind its avail index: a lower bound
 * on a quarter of the buffers it has in flight when it asked to be called
 * (a guest that re-arms "delayed" puts used_event 3/4 of the way to its
 * avail index). The ring size without event_idx. Used to tell a guest that can wait for
 * its transmit completions from one that is running out of ring. */
unsigned vq_event_gap(struct vq *q);

/* Asks the guest to kick us when it adds buffers, then re-checks: returns
 * true if buffers arrived meanwhile (keep working instead of sleeping). */
bool vq_kick_enable(struct vq *q);

/* Like vq_kick_enable, but for a consumer that needs more than the seen
 * chains already available: asks for a kick once the guest adds beyond them
 * and returns true if it already has. */
bool vq_kick_enable_after(struct vq *q, unsigned seen);

/* Tells the guest kicks are not needed (we are polling this queue). */
void vq_kick_disable(struct vq *q);

/* Marks the queue broken (first reason wins). */
void vq_set_broken(struct vq *q, const char *reason);

/* Bytes of guest memory each ring part needs for num entries. */
static inline uint64_t vq_desc_bytes(uint16_t num) { return 16ull * num; }
static inline uint64_t vq_avail_bytes(uint16_t num) { return VRING_AVAIL_BYTES(num); }
static inline uint64_t vq_used_bytes(uint16_t num) { return VRING_USED_BYTES(num); }

#endif
