/* Split virtqueue backend logic (datapath/virtq.c) against a fake guest: a
 * page-aligned buffer registered as guest memory at GPA (uva == gpa) holding
 * rings laid out like virtio_uml's, and a tiny test-side "driver" that
 * writes descriptor chains and publishes them.
 *
 *   GPA + 0x0000  desc table  (16 * num)
 *   GPA + 16*num  avail ring  (flags, idx, ring[num], used_event)
 *   GPA + 0x1000  used ring   (flags, idx, {id,len}[num], avail_event)
 *   GPA + 0x2000  indirect tables
 *   GPA + 0x4000  data buffers
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestmem.h"
#include "virtq.h"

#define GPA 0x10000ull
#define MEM_SIZE 0x10000ull
#define NUM 8
#define INDIRECT_AT (GPA + 0x2000)
#define DATA_AT (GPA + 0x4000)

struct drv {
	uint8_t *mem;
	struct guestmem gm;
	struct vq q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t num;
	uint16_t next_desc; /* next free descriptor slot (round robin) */
	uint16_t avail_idx; /* driver's private copy of avail->idx */
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static void *host(struct drv *d, uint64_t gpa)
{
	return d->mem + (gpa - GPA);
}

static uint16_t *used_event(struct drv *d)
{
	return &d->avail->ring[d->num];
}

static uint16_t *avail_event(struct drv *d)
{
	return (uint16_t *)&d->used->ring[d->num];
}

/* Lays the rings out and sets the queue up at index start (both sides).
 * Called again by a test, it starts over in the same memory. */
static void drv_init(struct drv *d, uint16_t num, bool event_idx, uint16_t start)
{
	uint8_t *mem = d->mem;
	memset(d, 0, sizeof(*d));
	d->mem = mem ? mem : aligned_alloc(4096, MEM_SIZE);
	assert_non_null(d->mem);
	memset(d->mem, 0, MEM_SIZE);
	gm_init(&d->gm);
	assert_int_equal(gm_add(&d->gm, GPA, MEM_SIZE, GPA, d->mem), 0);
	d->num = num;
	d->desc = host(d, GPA);
	d->avail = host(d, GPA + 16ull * num);
	d->used = host(d, (GPA + 16ull * num + VRING_AVAIL_BYTES(num) + 4095) & ~4095ull);
	d->avail->idx = start;
	d->used->idx = start;
	d->avail_idx = start;
	vq_setup(&d->q, &d->gm, num, d->desc, d->avail, d->used, event_idx, start);
}

static int drv_setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	drv_init(d, NUM, true, 0);
	*state = d;
	return 0;
}

static int drv_teardown(void **state)
{
	struct drv *d = *state;
	free(d->mem);
	free(d);
	return 0;
}

/* Puts head in the next avail slot and bumps avail->idx. */
static void drv_publish(struct drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

/* Writes bufs as a linked chain of descriptors and publishes it. */
static uint16_t drv_add(struct drv *d, const struct buf *bufs, unsigned n)
{
	uint16_t head = d->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t at = d->next_desc;
		d->next_desc = (uint16_t)((d->next_desc + 1) % d->num);
		d->desc[at] = (struct vring_desc){
			.addr = bufs[i].gpa,
			.len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = d->next_desc,
		};
	}
	drv_publish(d, head);
	return head;
}

/* Writes bufs as an indirect table at table_gpa, referenced by one
 * descriptor, and publishes it. */
static uint16_t drv_add_indirect(struct drv *d, uint64_t table_gpa, const struct buf *bufs,
				 unsigned n)
{
	struct vring_desc *t = host(d, table_gpa);
	for (unsigned i = 0; i < n; i++)
		t[i] = (struct vring_desc){
			.addr = bufs[i].gpa,
			.len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(i + 1),
		};
	uint16_t head = d->next_desc;
	d->next_desc = (uint16_t)((d->next_desc + 1) % d->num);
	d->desc[head] = (struct vring_desc){ table_gpa, (uint32_t)(16 * n), VRING_DESC_F_INDIRECT,
					     0 };
	drv_publish(d, head);
	return head;
}

static struct buf rd(uint64_t off, uint32_t len)
{
	return (struct buf){ DATA_AT + off, len, false };
}

static struct buf wr(uint64_t off, uint32_t len)
{
	return (struct buf){ DATA_AT + off, len, true };
}

/* ---- chains ------------------------------------------------------------------- */

static void test_empty(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	assert_int_equal(vq_pending(&d->q), 0);
	assert_int_equal(vq_pop(&d->q, &c), 0);
	assert_null(d->q.broken);
	assert_int_equal(d->q.last_avail, 0);
}

static void test_single(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	const struct buf b[] = { rd(0x100, 60) };

	memcpy(host(d, DATA_AT + 0x100), "hello guest", 12);
	uint16_t head = drv_add(d, b, 1);
	assert_int_equal(vq_pending(&d->q), 1);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, head);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 0);
	assert_int_equal(c.out_len, 60);
	assert_int_equal(c.in_len, 0);
	assert_ptr_equal(c.iov[0].iov_base, host(d, DATA_AT + 0x100));
	assert_int_equal(c.iov[0].iov_len, 60);
	assert_string_equal(c.iov[0].iov_base, "hello guest");
	assert_int_equal(vq_pending(&d->q), 0);
	assert_int_equal(vq_pop(&d->q, &c), 0);
}

static void test_multi(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	const struct buf b[] = { rd(0, 12), rd(0x200, 1500), wr(0x1000, 100), wr(0x2000, 2048) };

	drv_add(d, (struct buf[]){ rd(0x3000, 1) }, 1); /* head 0 */
	uint16_t head = drv_add(d, b, 4);               /* descriptors 1..4 */
	assert_int_equal(head, 1);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, 0);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, 1);
	assert_int_equal(c.nout, 2);
	assert_int_equal(c.nin, 2);
	assert_int_equal(c.out_len, 12 + 1500);
	assert_int_equal(c.in_len, 100 + 2048);
	for (unsigned i = 0; i < 4; i++) {
		assert_ptr_equal(c.iov[i].iov_base, host(d, b[i].gpa));
		assert_int_equal(c.iov[i].iov_len, b[i].len);
	}
	assert_int_equal(vq_pop(&d->q, &c), 0);
}

/* A chain may use every descriptor of the table (that is not a loop), and
 * zero-length descriptors carry nothing. */
static void test_full_length_chain(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	struct buf b[NUM];

	for (unsigned i = 0; i < NUM; i++)
		b[i] = i < 3 ? rd(i * 0x100, 10) : wr(i * 0x100, i == 5 ? 0 : 20);
	drv_add(d, b, NUM);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_null(d->q.broken);
	assert_int_equal(c.nout, 3);
	assert_int_equal(c.nin, NUM - 3 - 1);
	assert_int_equal(c.out_len, 30);
	assert_int_equal(c.in_len, 20 * (NUM - 3 - 1));
}

static void test_indirect(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	const struct buf b[] = { rd(0, 12), rd(0x100, 64), wr(0x800, 1536) };

	uint16_t head = drv_add_indirect(d, INDIRECT_AT, b, 3);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, head);
	assert_int_equal(c.nout, 2);
	assert_int_equal(c.nin, 1);
	assert_int_equal(c.out_len, 76);
	assert_int_equal(c.in_len, 1536);
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(c.iov[i].iov_base, host(d, b[i].gpa));
}

static void test_wraparound(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	drv_init(d, NUM, true, 65534); /* restarts the fixture's queue */
	uint16_t heads[5];
	for (unsigned i = 0; i < 5; i++)
		heads[i] = drv_add(d, (struct buf[]){ rd(i * 0x100, 10 + i) }, 1);
	assert_int_equal(d->avail->idx, 3); /* 65534 + 5 wrapped */
	assert_int_equal(vq_pending(&d->q), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(vq_pop(&d->q, &c), 1);
		assert_int_equal(c.head, heads[i]);
		assert_int_equal(c.out_len, 10 + i);
		vq_push(&d->q, c.head, 100 + i);
	}
	assert_int_equal(vq_pop(&d->q, &c), 0);
	assert_int_equal(d->q.last_avail, 3);
	assert_int_equal(d->used->idx, 65534); /* nothing published before the flush */
	vq_flush(&d->q);
	assert_int_equal(d->used->idx, 3);
	for (unsigned i = 0; i < 5; i++) {
		uint16_t slot = (uint16_t)(65534 + i) % NUM;
		assert_int_equal(d->used->ring[slot].id, heads[i]);
		assert_int_equal(d->used->ring[slot].len, 100 + i);
	}
}

static void test_unpop(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	uint16_t heads[3];

	for (unsigned i = 0; i < 3; i++)
		heads[i] = drv_add(d, (struct buf[]){ rd(i * 0x100, 10) }, 1);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&d->q, &c), 1);
	vq_unpop(&d->q, 2);
	assert_int_equal(vq_pending(&d->q), 2);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, heads[1]);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.head, heads[2]);
	assert_int_equal(vq_pop(&d->q, &c), 0);
}

static void test_push_flush(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	drv_add(d, (struct buf[]){ wr(0, 1536) }, 1);
	drv_add(d, (struct buf[]){ wr(0x1000, 1536) }, 1);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	uint16_t h0 = c.head;
	assert_int_equal(vq_pop(&d->q, &c), 1);
	uint16_t h1 = c.head;
	/* Completion order need not be submission order. */
	vq_push(&d->q, h1, 64);
	vq_push(&d->q, h0, 1514);
	assert_int_equal(d->used->idx, 0);
	vq_flush(&d->q);
	assert_int_equal(d->used->idx, 2);
	assert_int_equal(d->used->ring[0].id, h1);
	assert_int_equal(d->used->ring[0].len, 64);
	assert_int_equal(d->used->ring[1].id, h0);
	assert_int_equal(d->used->ring[1].len, 1514);
	/* A flush with nothing pushed changes nothing. */
	vq_flush(&d->q);
	assert_int_equal(d->used->idx, 2);
}

/* ---- notifications ------------------------------------------------------------- */

static void push_n(struct drv *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vq_push(&d->q, 0, 0);
	vq_flush(&d->q);
}

static void test_should_call_event_idx(void **state)
{
	struct drv *d = *state;

	/* used_event = 1: "tell me once the used index passes 1". */
	*used_event(d) = 1;
	push_n(d, 1); /* 0 -> 1: first call always goes out (no previous call) */
	assert_true(vq_should_call(&d->q));
	assert_false(vq_should_call(&d->q)); /* never twice for the same index */
	push_n(d, 1); /* 1 -> 2 crosses 1 */
	assert_true(vq_should_call(&d->q));
	assert_false(vq_should_call(&d->q));

	*used_event(d) = 3;
	push_n(d, 1); /* 2 -> 3: event 3 not crossed */
	assert_false(vq_should_call(&d->q));
	push_n(d, 1); /* 3 -> 4: crosses 3 */
	assert_true(vq_should_call(&d->q));
	push_n(d, 1); /* 4 -> 5: event stays at 3, already past */
	assert_false(vq_should_call(&d->q));

	/* A batch crossing the event in its middle calls once. */
	*used_event(d) = 6;
	push_n(d, 4); /* 5 -> 9 */
	assert_true(vq_should_call(&d->q));
	assert_false(vq_should_call(&d->q));

	/* Event far ahead: no call. */
	*used_event(d) = 100;
	push_n(d, 3);
	assert_false(vq_should_call(&d->q));

	/* The NO_INTERRUPT flag is ignored under EVENT_IDX. */
	d->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event(d) = 12;
	push_n(d, 1); /* 12 -> 13 */
	assert_true(vq_should_call(&d->q));
}

static void test_call_outstanding(void **state)
{
	struct drv *d = *state;

	push_n(d, 3); /* used index 3 */
	/* The guest re-armed at our index: it has seen everything. */
	*used_event(d) = 3;
	assert_false(vq_call_outstanding(&d->q));
	/* Re-armed further ahead (delayed callbacks): nothing owed. */
	*used_event(d) = 10;
	assert_false(vq_call_outstanding(&d->q));
	/* Still waiting for index 1 or 2, which we published: outstanding. */
	*used_event(d) = 1;
	assert_true(vq_call_outstanding(&d->q));
	*used_event(d) = 2;
	assert_true(vq_call_outstanding(&d->q));
	/* Across the u16 wrap. */
	push_n(d, 65535 - 3 + 2); /* used index 1 */
	*used_event(d) = 65535;
	assert_true(vq_call_outstanding(&d->q));
	*used_event(d) = 1;
	assert_false(vq_call_outstanding(&d->q));
}

/* The event gap tells how much ring the guest had in flight when it armed. */
static void test_event_gap(void **state)
{
	struct drv *d = *state;

	d->avail->idx = 6;
	*used_event(d) = 6; /* armed with nothing in flight */
	assert_int_equal(vq_event_gap(&d->q), 0);
	*used_event(d) = 4; /* delayed arming: 3/4 of 8 in flight */
	assert_int_equal(vq_event_gap(&d->q), 2);
	/* Across the u16 wrap. */
	d->avail->idx = 1;
	*used_event(d) = 65534;
	assert_int_equal(vq_event_gap(&d->q), 3);
	/* used_event ahead of avail is nonsense: reported as a full ring, so
	 * the caller calls at once. */
	*used_event(d) = 5;
	assert_int_equal(vq_event_gap(&d->q), NUM);
	/* Without event_idx there is no gap to read: assume a full ring. */
	*used_event(d) = 1;
	d->q.event_idx = false;
	assert_int_equal(vq_event_gap(&d->q), NUM);
}

static void test_call_outstanding_needs_event_idx(void **state)
{
	struct drv *d = *state;
	d->q.event_idx = false;
	push_n(d, 3);
	*used_event(d) = 0;
	assert_false(vq_call_outstanding(&d->q));
}

static void test_should_call_event_idx_wrap(void **state)
{
	struct drv *d = *state;

	drv_init(d, NUM, true, 65533);
	assert_true(vq_should_call(&d->q)); /* first: establishes the baseline */
	*used_event(d) = 65535;
	push_n(d, 2); /* 65533 -> 65535 */
	assert_false(vq_should_call(&d->q));
	push_n(d, 2); /* 65535 -> 1 crosses 65535 across the wrap */
	assert_true(vq_should_call(&d->q));
	assert_int_equal(d->used->idx, 1);
}

static void test_kick_event_idx(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	*avail_event(d) = 0xdead;
	assert_false(vq_kick_enable(&d->q)); /* nothing pending */
	assert_int_equal(*avail_event(d), 0);

	drv_add(d, (struct buf[]){ rd(0, 10) }, 1);
	drv_add(d, (struct buf[]){ rd(0x100, 10) }, 1);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_true(vq_kick_enable(&d->q)); /* one still pending */
	assert_int_equal(*avail_event(d), 1);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_false(vq_kick_enable(&d->q));
	assert_int_equal(*avail_event(d), 2);

	/* Under EVENT_IDX the used flags are never the mechanism. */
	vq_kick_disable(&d->q);
	assert_int_equal(d->used->flags, 0);
	assert_int_equal(*avail_event(d), 2);
}

static void test_flags_mode(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	drv_init(d, NUM, false, 0);

	/* Calls follow avail->flags. */
	d->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	push_n(d, 1);
	assert_false(vq_should_call(&d->q));
	d->avail->flags = 0;
	push_n(d, 1);
	assert_true(vq_should_call(&d->q));
	assert_false(vq_should_call(&d->q)); /* nothing new since */
	*used_event(d) = 500;                /* ignored without EVENT_IDX */
	push_n(d, 1);
	assert_true(vq_should_call(&d->q));

	/* Kicks follow used->flags; avail_event is not ours to write. */
	*avail_event(d) = 0x5555;
	vq_kick_disable(&d->q);
	assert_int_equal(d->used->flags, VRING_USED_F_NO_NOTIFY);
	assert_false(vq_kick_enable(&d->q));
	assert_int_equal(d->used->flags, 0);
	assert_int_equal(*avail_event(d), 0x5555);
	drv_add(d, (struct buf[]){ rd(0, 10) }, 1);
	vq_kick_disable(&d->q);
	assert_true(vq_kick_enable(&d->q));
	assert_int_equal(vq_pop(&d->q, &c), 1);
}

/* ---- a guest breaking the rules -------------------------------------------------- */

/* After a violation: broken with a reason, and every later call is a no-op. */
static void assert_broken_for_good(struct drv *d)
{
	struct vq_chain c;
	uint16_t used_idx = d->used->idx, last = d->q.last_avail;

	assert_non_null(d->q.broken);
	const char *reason = d->q.broken;
	assert_int_equal(vq_pop(&d->q, &c), -EIO);
	assert_int_equal(vq_pending(&d->q), 0);
	vq_push(&d->q, 0, 1);
	vq_flush(&d->q);
	assert_int_equal(d->used->idx, used_idx);
	assert_int_equal(d->used->ring[used_idx % d->num].len, 0);
	assert_false(vq_should_call(&d->q));
	assert_false(vq_kick_enable(&d->q));
	assert_int_equal(d->q.last_avail, last);
	/* More good buffers do not revive it; the first reason stays. */
	drv_add(d, (struct buf[]){ rd(0, 10) }, 1);
	assert_int_equal(vq_pop(&d->q, &c), -EIO);
	vq_set_broken(&d->q, "another reason");
	assert_ptr_equal(d->q.broken, reason);
}

static void expect_broken(struct drv *d, const char *reason)
{
	struct vq_chain c;
	uint16_t last = d->q.last_avail;

	assert_int_equal(vq_pop(&d->q, &c), -EIO);
	assert_non_null(d->q.broken);
	assert_string_equal(d->q.broken, reason);
	assert_int_equal(d->q.last_avail, last); /* the bad chain was not consumed */
	assert_broken_for_good(d);
}

static void test_bad_head(void **state)
{
	struct drv *d = *state;
	drv_publish(d, NUM);
	expect_broken(d, "avail ring entry out of range");
}

static void test_bad_next(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ DATA_AT, 10, VRING_DESC_F_NEXT, NUM };
	drv_publish(d, 0);
	expect_broken(d, "descriptor next index out of range");
}

static void test_loop(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ DATA_AT, 10, VRING_DESC_F_NEXT, 1 };
	d->desc[1] = (struct vring_desc){ DATA_AT + 0x100, 10, VRING_DESC_F_NEXT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor chain loops");
}

static void test_self_loop(void **state)
{
	struct drv *d = *state;
	d->desc[3] = (struct vring_desc){ DATA_AT, 0, VRING_DESC_F_NEXT, 3 };
	drv_publish(d, 3);
	expect_broken(d, "descriptor chain loops");
}

static void test_loop_in_indirect(void **state)
{
	struct drv *d = *state;
	struct vring_desc *t = host(d, INDIRECT_AT);
	t[0] = (struct vring_desc){ DATA_AT, 10, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ DATA_AT, 10, VRING_DESC_F_NEXT, 0 };
	d->desc[0] = (struct vring_desc){ INDIRECT_AT, 32, VRING_DESC_F_INDIRECT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor chain loops");
}

static void test_outside_past_end(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ GPA + MEM_SIZE, 1, 0, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor buffer outside guest memory");
}

static void test_outside_crossing_end(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ GPA + MEM_SIZE - 10, 11, VRING_DESC_F_WRITE, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor buffer outside guest memory");
}

static void test_outside_below(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ GPA - 4, 8, 0, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor buffer outside guest memory");
}

static void test_outside_overflow(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ UINT64_MAX - 0xf, 0x20, 0, 0 };
	drv_publish(d, 0);
	expect_broken(d, "descriptor buffer outside guest memory");
}

static void test_last_byte_ok(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	d->desc[0] = (struct vring_desc){ GPA + MEM_SIZE - 16, 16, VRING_DESC_F_WRITE, 0 };
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_ptr_equal(c.iov[0].iov_base, d->mem + MEM_SIZE - 16);
}

static void test_readable_after_writable(void **state)
{
	struct drv *d = *state;
	drv_add(d, (struct buf[]){ rd(0, 10), wr(0x100, 10), rd(0x200, 10) }, 3);
	expect_broken(d, "readable descriptor after a writable one");
}

static void test_indirect_bad_length(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ INDIRECT_AT, 24, VRING_DESC_F_INDIRECT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "bad indirect table length");
}

static void test_indirect_zero_length(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ INDIRECT_AT, 0, VRING_DESC_F_INDIRECT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "bad indirect table length");
}

static void test_indirect_outside(void **state)
{
	struct drv *d = *state;
	d->desc[0] = (struct vring_desc){ GPA + MEM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "indirect table outside guest memory");
}

static void test_indirect_nested(void **state)
{
	struct drv *d = *state;
	struct vring_desc *t = host(d, INDIRECT_AT);
	t[0] = (struct vring_desc){ INDIRECT_AT + 0x100, 16, VRING_DESC_F_INDIRECT, 0 };
	d->desc[0] = (struct vring_desc){ INDIRECT_AT, 16, VRING_DESC_F_INDIRECT, 0 };
	drv_publish(d, 0);
	expect_broken(d, "misplaced indirect descriptor");
}

static void test_indirect_with_next(void **state)
{
	struct drv *d = *state;
	struct vring_desc *t = host(d, INDIRECT_AT);
	t[0] = (struct vring_desc){ DATA_AT, 16, 0, 0 };
	d->desc[0] = (struct vring_desc){ INDIRECT_AT, 16,
					  VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1 };
	d->desc[1] = (struct vring_desc){ DATA_AT, 16, 0, 0 };
	drv_publish(d, 0);
	expect_broken(d, "misplaced indirect descriptor");
}

static void test_too_many_buffers(void **state)
{
	struct drv *d = *state;
	struct buf b[VQ_MAX_IOV + 1];
	for (unsigned i = 0; i < VQ_MAX_IOV + 1; i++)
		b[i] = rd(i * 16, 16);
	drv_add_indirect(d, INDIRECT_AT, b, VQ_MAX_IOV + 1);
	expect_broken(d, "descriptor chain has too many buffers");
}

static void test_max_buffers_ok(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;
	struct buf b[VQ_MAX_IOV];
	for (unsigned i = 0; i < VQ_MAX_IOV; i++)
		b[i] = wr(i * 16, 16);
	drv_add_indirect(d, INDIRECT_AT, b, VQ_MAX_IOV);
	assert_int_equal(vq_pop(&d->q, &c), 1);
	assert_int_equal(c.nin, VQ_MAX_IOV);
	assert_int_equal(c.in_len, 16 * VQ_MAX_IOV);
}

static void test_avail_jump(void **state)
{
	struct drv *d = *state;
	struct vq_chain c;

	/* Exactly num outstanding is a full ring, which is fine. */
	for (unsigned i = 0; i < NUM; i++)
		drv_add(d, (struct buf[]){ rd(i * 0x100, 10) }, 1);
	assert_int_equal(vq_pending(&d->q), NUM);
	assert_null(d->q.broken);
	assert_int_equal(vq_pop(&d->q, &c), 1);

	/* num + 1 past what we consumed cannot be. */
	d->avail->idx = (uint16_t)(d->q.last_avail + NUM + 1);
	expect_broken(d, "avail index moved further than the ring size");
}

static void test_avail_jump_kick_enable(void **state)
{
	struct drv *d = *state;
	d->avail->idx = NUM + 1;
	assert_false(vq_kick_enable(&d->q));
	assert_non_null(d->q.broken);
	assert_broken_for_good(d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, drv_setup, drv_teardown)

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		T(test_empty),
		T(test_single),
		T(test_multi),
		T(test_full_length_chain),
		T(test_indirect),
		T(test_wraparound),
		T(test_unpop),
		T(test_push_flush),
		T(test_should_call_event_idx),
		T(test_should_call_event_idx_wrap),
		T(test_call_outstanding),
		T(test_call_outstanding_needs_event_idx),
		T(test_event_gap),
		T(test_kick_event_idx),
		T(test_flags_mode),
		T(test_bad_head),
		T(test_bad_next),
		T(test_loop),
		T(test_self_loop),
		T(test_loop_in_indirect),
		T(test_outside_past_end),
		T(test_outside_crossing_end),
		T(test_outside_below),
		T(test_outside_overflow),
		T(test_last_byte_ok),
		T(test_readable_after_writable),
		T(test_indirect_bad_length),
		T(test_indirect_zero_length),
		T(test_indirect_outside),
		T(test_indirect_nested),
		T(test_indirect_with_next),
		T(test_too_many_buffers),
		T(test_max_buffers_ok),
		T(test_avail_jump),
		T(test_avail_jump_kick_enable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
