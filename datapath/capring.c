#include "capring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_ALIGN 8u

static uint32_t rec_bytes(uint32_t caplen)
{
	return (uint32_t)((sizeof(struct cap_rec) + caplen + REC_ALIGN - 1) & ~(REC_ALIGN - 1));
}

int cap_ring_init(struct cap_ring *r, uint32_t size)
{
	memset(r, 0, sizeof(*r));
	if (size < CAP_RING_MIN || size > CAP_RING_MAX || (size & (size - 1)))
		return -EINVAL;
	r->buf = malloc(size);
	if (!r->buf)
		return -ENOMEM;
	r->size = size;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->missed, 0);
	r->seen_tail = r->seen_head = 0;
	return 0;
}

void cap_ring_deinit(struct cap_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

uint32_t cap_ring_max_caplen(const struct cap_ring *r)
{
	/* Half the ring, so a record always fits once the ring drains, even
	 * behind a skipped end. */
	return r->size / 2 - (uint32_t)sizeof(struct cap_rec);
}

struct cap_rec *cap_ring_reserve(struct cap_ring *r, uint32_t caplen)
{
	if (caplen > cap_ring_max_caplen(r))
		return NULL;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t need = rec_bytes(caplen);
	uint32_t pos = (uint32_t)(head & (r->size - 1));
	uint32_t to_end = r->size - pos;
	uint64_t skip = need > to_end ? to_end : 0;

	if (head - r->seen_tail + skip + need > r->size) {
		/* Looks full: has the consumer moved on since? */
		r->seen_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->seen_tail + skip + need > r->size)
			return NULL;
	}
	if (skip) {
		/* The end marker sits past head: the consumer only reads it
		 * once head moves beyond it, at commit. */
		uint32_t zero = 0;
		memcpy(r->buf + pos, &zero, sizeof(zero));
		pos = 0;
	}
	struct cap_rec *rec = (struct cap_rec *)(void *)(r->buf + pos);
	rec->size = need;
	rec->caplen = caplen;
	r->res_head = head + skip + need;
	return rec;
}

void cap_ring_commit(struct cap_ring *r)
{
	atomic_store_explicit(&r->head, r->res_head, memory_order_release);
}

const struct cap_rec *cap_ring_peek(struct cap_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if ((int64_t)(r->seen_head - tail) <= 0) /* all we knew of is consumed */
		r->seen_head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t head = r->seen_head;

	while (tail != head) {
		uint32_t pos = (uint32_t)(tail & (r->size - 1));
		const struct cap_rec *rec = (const struct cap_rec *)(const void *)(r->buf + pos);
		uint32_t size;
		memcpy(&size, r->buf + pos, sizeof(size));
		if (size != 0)
			return rec;
		/* The end of the buffer was skipped: go on at offset 0. */
		tail += r->size - pos;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	return NULL;
}

void cap_ring_pop(struct cap_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t pos = (uint32_t)(tail & (r->size - 1));
	uint32_t size;
	memcpy(&size, r->buf + pos, sizeof(size));
	atomic_store_explicit(&r->tail, tail + size, memory_order_release);
}
