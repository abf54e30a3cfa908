#include "virtq.h"

#include <errno.h>
#include <string.h>

/* The event index fields live just past each ring:
 * used_event after avail->ring[num] (written by the guest),
 * avail_event after used->ring[num] (written by us). */
static inline volatile uint16_t *used_event(struct vq *q)
{
	return &q->avail->ring[q->num];
}

static inline volatile uint16_t *avail_event(struct vq *q)
{
	return (volatile uint16_t *)&q->used->ring[q->num];
}

static inline uint16_t load_acquire16(uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void vq_setup(struct vq *q, const struct guestmem *mem, uint16_t num,
	      struct vring_desc *desc, struct vring_avail *avail,
	      struct vring_used *used, bool event_idx, uint16_t base)
{
	memset(q, 0, sizeof(*q));
	q->num = num;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->mem = mem;
	q->event_idx = event_idx;
	q->last_avail = base;
	q->used_idx = __atomic_load_n(&used->idx, __ATOMIC_RELAXED);
	q->signalled_used = q->used_idx;
}

void vq_set_broken(struct vq *q, const char *reason)
{
	if (!q->broken)
		q->broken = reason;
}

unsigned vq_pending(struct vq *q)
{
	if (q->broken)
		return 0;
	uint16_t n = (uint16_t)(load_acquire16(&q->avail->idx) - q->last_avail);
	if (n > q->num) {
		vq_set_broken(q, "avail index moved further than the ring size");
		return 0;
	}
	return n;
}

/* Adds one descriptor's buffer to the chain after checking it against the
 * memory map and the readable-before-writable rule. The descriptor was copied
 * out of guest memory first, so the guest cannot change it under us. */
static int chain_add(struct vq *q, struct vq_chain *c, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (d->len == 0)
		return 0; /* legal and harmless: nothing to transfer */
	if (!writable && c->nin) {
		vq_set_broken(q, "readable descriptor after a writable one");
		return -EIO;
	}
	if (c->nout + c->nin >= VQ_MAX_IOV) {
		vq_set_broken(q, "descriptor chain has too many buffers");
		return -EIO;
	}
	void *p = gm_gpa(q->mem, d->addr, d->len);
	if (!p) {
		vq_set_broken(q, "descriptor buffer outside guest memory");
		return -EIO;
	}
	/* Totals are 32-bit: 64 descriptors of up to 4 GiB each (aliasing the
	 * same guest memory is legal) could wrap them to a small number. */
	if ((uint64_t)c->in_len + c->out_len + d->len > VQ_MAX_CHAIN_BYTES) {
		vq_set_broken(q, "descriptor chain longer than any buffer could be");
		return -EIO;
	}
	c->iov[c->nout + c->nin] = (struct iovec){ p, d->len };
	if (writable) {
		c->nin++;
		c->in_len += d->len;
	} else {
		c->nout++;
		c->out_len += d->len;
	}
	return 0;
}

static int chain_walk(struct vq *q, uint16_t head, struct vq_chain *c);

int vq_pop(struct vq *q, struct vq_chain *c)
{
	unsigned pending = vq_pending(q);
	if (q->broken)
		return -EIO;
	if (!pending)
		return 0;

	uint16_t head = q->avail->ring[q->last_avail % q->num];
	if (head >= q->num) {
		vq_set_broken(q, "avail ring entry out of range");
		return -EIO;
	}
	if (chain_walk(q, head, c) < 0)
		return -EIO;
	q->last_avail++;
	return 1;
}

int vq_chain_reload(struct vq *q, struct vq_chain *c)
{
	if (q->broken)
		return -EIO;
	if (c->head >= q->num) {
		vq_set_broken(q, "reloaded chain head out of range");
		return -EIO;
	}
	return chain_walk(q, c->head, c);
}

/* Walks the descriptor chain starting at head into *c. */
static int chain_walk(struct vq *q, uint16_t head, struct vq_chain *c)
{
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;

	const struct vring_desc *table = q->desc;
	unsigned table_len = q->num, idx = head, seen = 0;
	bool indirect = false;
	for (;;) {
		struct vring_desc d;
		memcpy(&d, &table[idx], sizeof(d));
		if (++seen > table_len) {
			vq_set_broken(q, "descriptor chain loops");
			return -EIO;
		}
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* An indirect table replaces the rest of the chain; it
			 * may not be nested nor followed by more descriptors. */
			if (indirect || (d.flags & VRING_DESC_F_NEXT)) {
				vq_set_broken(q, "misplaced indirect descriptor");
				return -EIO;
			}
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VRING_MAX_SIZE) {
				vq_set_broken(q, "bad indirect table length");
				return -EIO;
			}
			table = gm_gpa(q->mem, d.addr, d.len);
			if (!table) {
				vq_set_broken(q, "indirect table outside guest memory");
				return -EIO;
			}
			table_len = d.len / sizeof(struct vring_desc);
			idx = 0;
			seen = 0;
			indirect = true;
			continue;
		}
		if (chain_add(q, c, &d) < 0)
			return -EIO;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= table_len) {
			vq_set_broken(q, "descriptor next index out of range");
			return -EIO;
		}
	}
	return 0;
}

void vq_unpop(struct vq *q, unsigned n)
{
	q->last_avail = (uint16_t)(q->last_avail - n);
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	if (q->broken)
		return;
	struct vring_used_elem *e = &q->used->ring[q->used_idx % q->num];
	e->id = head;
	e->len = len;
	q->used_idx++;
}

void vq_flush(struct vq *q)
{
	if (q->broken)
		return;
	/* Elements must be visible before the index that covers them. */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_call(struct vq *q)
{
	if (q->broken)
		return false;
	/* Our used index store must be ordered before reading the guest's
	 * suppression state, or we could miss a wakeup it asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = q->signalled_used, now = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (old == now && valid)
		return false;
	if (!q->event_idx)
		return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	/* Call when used_event lies in [old, now): the guest wanted to hear
	 * once the used index passed used_event. */
	uint16_t event = *used_event(q);
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

bool vq_call_outstanding(struct vq *q)
{
	if (q->broken || !q->event_idx)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t event = *used_event(q);
	/* event in [used_idx - 0x8000, used_idx): the guest waits for an
	 * index we have already reached. */
	return (uint16_t)(q->used_idx - 1 - event) < 0x8000;
}

unsigned vq_event_gap(struct vq *q)
{
	if (q->broken || !q->event_idx)
		return q->num; /* no way to tell: assume the worst */
	uint16_t avail = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t gap = (uint16_t)(avail - *used_event(q));
	/* A used_event ahead of the avail index (or further behind than the
	 * ring is long) is the guest's own business: report no pressure only
	 * for a plausible gap, and "full" for nonsense. */
	return gap <= q->num ? gap : q->num;
}

bool vq_kick_enable_after(struct vq *q, unsigned seen)
{
	if (q->broken)
		return false;
	if (q->event_idx)
		*avail_event(q) = (uint16_t)(q->last_avail + seen);
	else
		__atomic_store_n(&q->used->flags, 0, __ATOMIC_RELAXED);
	/* Publish the request before looking again, so a buffer added right
	 * now either shows up below or produces a kick. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_pending(q) > seen;
}

bool vq_kick_enable(struct vq *q)
{
	return vq_kick_enable_after(q, 0);
}

void vq_kick_disable(struct vq *q)
{
	if (q->broken || q->event_idx)
		return; /* with event idx a stale avail_event already suppresses kicks */
	__atomic_store_n(&q->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}
