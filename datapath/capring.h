/* The capture ring: a bounded single-producer single-consumer ring of
 * variable-length frame records, between the datapath thread (producer:
 * copies frames in while a capture is attached) and the control socket
 * thread (consumer: sends them to the capture client).
 *
 *   buf, size bytes (a power of two), records 8-byte aligned:
 *
 *   +---------+-----------+---------+-----------+-- ... --+------+
 *   | cap_rec | data, pad | cap_rec | data, pad |         | wrap |
 *   +---------+-----------+---------+-----------+-- ... --+------+
 *   ^ tail & mask (consumer)        ^ head & mask (producer)
 *
 * head and tail are free-running byte counts; head - tail bytes are in use.
 * A record never wraps around the end: when it does not fit in what is left
 * there, the rest is skipped (a record whose size field reads 0 marks it)
 * and the record starts at offset 0.
 *
 * The producer never waits: when the ring has no room, the frame is not
 * stored and counted in missed. Ordering: the producer writes a record,
 * then publishes it with a release store of head; the consumer reads head
 * with acquire, the record, then frees it with a release store of tail,
 * which the producer reads with acquire before reusing the space. On x86
 * all of these are plain loads and stores.
 */
#ifndef NF_CAPRING_H
#define NF_CAPRING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Frame directions (bits, so a capture can ask for both). */
#define CAP_DIR_RX 0x1u /* host -> guest */
#define CAP_DIR_TX 0x2u /* guest -> host */

struct cap_rec {
	uint32_t size;	  /* bytes of this record, header included, multiple of 8 */
	uint32_t wirelen; /* the frame's length */
	uint32_t caplen;  /* bytes stored (<= wirelen, <= the snap length) */
	uint8_t dir;	  /* CAP_DIR_RX or CAP_DIR_TX */
	uint8_t pad[3];
	uint64_t ts_ns; /* CLOCK_REALTIME */
	uint8_t data[];
};
_Static_assert(sizeof(struct cap_rec) == 24, "capture record header");

/* Producer and consumer each write their own cache line (the padding keeps
 * them apart without asking the allocator for alignment), and each keeps
 * the last value it read of the other's index, reading it again only when
 * that one says the ring is full (producer) or empty (consumer): frames
 * then cost no cache line traffic between the two threads. */
struct cap_ring {
	uint8_t *buf;
	uint32_t size; /* power of two */
	uint8_t pad0[64];
	_Atomic uint64_t head;	 /* written by the producer only */
	_Atomic uint64_t missed; /* frames not stored for want of room (producer) */
	uint64_t res_head;	 /* producer: head after the reserved record */
	uint64_t seen_tail;	 /* producer: tail as last read */
	uint8_t pad1[64];
	_Atomic uint64_t tail; /* written by the consumer only */
	uint64_t seen_head;    /* consumer: head as last read */
	uint8_t pad2[64];
};

/* Smallest and largest ring sizes; a record takes at most half the ring. */
#define CAP_RING_MIN 4096u
#define CAP_RING_MAX (64u << 20)

/* Allocates a ring of size bytes (a power of two within the limits).
 * Returns 0 or -EINVAL / -ENOMEM. */
int cap_ring_init(struct cap_ring *r, uint32_t size);
void cap_ring_deinit(struct cap_ring *r);

/* Largest caplen a record can have in this ring. */
uint32_t cap_ring_max_caplen(const struct cap_ring *r);

/* Producer: room for a record of caplen data bytes. Returns the record to
 * fill (size and caplen already set), or NULL when the ring has no room
 * for it (nothing changes; the caller counts it with cap_ring_miss). The
 * record is invisible to the consumer until cap_ring_commit; a reserved
 * record that is not committed is simply forgotten. */
struct cap_rec *cap_ring_reserve(struct cap_ring *r, uint32_t caplen);

/* Producer: publishes the record last reserved. */
void cap_ring_commit(struct cap_ring *r);

/* Producer: counts a frame that found no room. */
static inline void cap_ring_miss(struct cap_ring *r)
{
	/* Single writer: a load and a store, no read-modify-write. */
	atomic_store_explicit(&r->missed,
			      atomic_load_explicit(&r->missed, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Consumer: the oldest record, or NULL when the ring is empty. It stays
 * valid until cap_ring_pop. */
const struct cap_rec *cap_ring_peek(struct cap_ring *r);

/* Consumer: frees the record cap_ring_peek returned. */
void cap_ring_pop(struct cap_ring *r);

/* Frames missed so far (any thread). */
static inline uint64_t cap_ring_missed(const struct cap_ring *r)
{
	return atomic_load_explicit(&r->missed, memory_order_relaxed);
}

#endif
