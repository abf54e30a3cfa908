/* The capture ring (datapath/capring.c), the batch size histogram
 * (datapath/hist.h) and the datapath's capture copy (datapath/capture.c,
 * included to reach cap_batch with a device of our own): ordering and
 * contents across the wrap, a full ring never blocking, filters. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../datapath/capture.c"

/* ---- the ring ---- */

static void fill_pattern(uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i);
}

static int check_pattern(const uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(seed * 31 + i))
			return 0;
	return 1;
}

static void push(struct cap_ring *r, uint32_t caplen, uint32_t seed)
{
	struct cap_rec *rec = cap_ring_reserve(r, caplen);
	assert_non_null(rec);
	rec->wirelen = caplen;
	rec->ts_ns = seed;
	fill_pattern(rec->data, caplen, seed);
	cap_ring_commit(r);
}

static void test_ring_init(void **state)
{
	(void)state;
	struct cap_ring r;
	assert_int_equal(cap_ring_init(&r, 1000), -EINVAL); /* not a power of two */
	assert_int_equal(cap_ring_init(&r, 2048), -EINVAL); /* too small */
	assert_int_equal(cap_ring_init(&r, 128u << 20), -EINVAL);
	assert_int_equal(cap_ring_init(&r, 4096), 0);
	assert_int_equal(cap_ring_max_caplen(&r), 2048 - 24);
	assert_null(cap_ring_reserve(&r, 2048 - 23));
	assert_null(cap_ring_peek(&r));
	cap_ring_deinit(&r);
}

static void test_ring_order_and_wrap(void **state)
{
	(void)state;
	struct cap_ring r;
	assert_int_equal(cap_ring_init(&r, 4096), 0);
	/* 1000 + 24 -> 1024 bytes each: three fit, the fourth does not. */
	push(&r, 1000, 1);
	push(&r, 1000, 2);
	push(&r, 1000, 3);
	assert_null(cap_ring_reserve(&r, 1100));
	const struct cap_rec *rec = cap_ring_peek(&r);
	assert_non_null(rec);
	assert_int_equal(rec->ts_ns, 1);
	assert_true(check_pattern(rec->data, 1000, 1));
	cap_ring_pop(&r);
	/* Record 4 fills the end exactly; 5 then starts at offset 0. */
	push(&r, 1000, 4);			 /* fills the end exactly */
	assert_null(cap_ring_reserve(&r, 1001)); /* 1024 free at the start, not 1032 */
	cap_ring_pop(&r);			 /* 2 */
	push(&r, 100, 5);			 /* at offset 0 */
	assert_ptr_equal(cap_ring_peek(&r), (void *)(r.buf + 2048));
	const uint32_t want[] = {3, 4, 5};
	for (unsigned i = 0; i < 3; i++) {
		rec = cap_ring_peek(&r);
		assert_non_null(rec);
		assert_int_equal(rec->ts_ns, want[i]);
		assert_true(check_pattern(rec->data, (uint32_t)rec->wirelen, want[i]));
		cap_ring_pop(&r);
	}
	assert_null(cap_ring_peek(&r));
	cap_ring_deinit(&r);
}

static void test_ring_skip_end(void **state)
{
	(void)state;
	struct cap_ring r;
	assert_int_equal(cap_ring_init(&r, 4096), 0);
	push(&r, 1500, 1); /* 1528 bytes */
	push(&r, 1500, 2); /* 3056 */
	cap_ring_pop(&r);
	cap_ring_pop(&r);
	/* 1040 left at the end: a 1500-byte record skips it. */
	push(&r, 1500, 3);
	const struct cap_rec *rec = cap_ring_peek(&r);
	assert_non_null(rec);
	assert_ptr_equal(rec, (void *)r.buf);
	assert_int_equal(rec->ts_ns, 3);
	cap_ring_pop(&r);
	assert_null(cap_ring_peek(&r));
	assert_int_equal(atomic_load(&r.head), atomic_load(&r.tail));
	cap_ring_deinit(&r);
}

static void test_ring_uncommitted(void **state)
{
	(void)state;
	struct cap_ring r;
	assert_int_equal(cap_ring_init(&r, 4096), 0);
	assert_non_null(cap_ring_reserve(&r, 2000)); /* forgotten */
	assert_null(cap_ring_peek(&r));
	push(&r, 10, 7);
	const struct cap_rec *rec = cap_ring_peek(&r);
	assert_non_null(rec);
	assert_int_equal(rec->ts_ns, 7);
	assert_int_equal(cap_ring_missed(&r), 0);
	cap_ring_miss(&r);
	cap_ring_miss(&r);
	assert_int_equal(cap_ring_missed(&r), 2);
	cap_ring_deinit(&r);
}

/* A producer thread and a consumer thread: every record arrives once, in
 * order, intact; the producer counts what found no room. */
#define NREC 200000

static void *producer(void *arg)
{
	struct cap_ring *r = arg;
	for (uint32_t i = 0; i < NREC; i++) {
		uint32_t len = (i * 7919u) % 3000u;
		struct cap_rec *rec = cap_ring_reserve(r, len);
		if (!rec) {
			cap_ring_miss(r);
			continue;
		}
		rec->wirelen = len;
		rec->ts_ns = i;
		fill_pattern(rec->data, len, i);
		cap_ring_commit(r);
	}
	return NULL;
}

static void test_ring_threads(void **state)
{
	(void)state;
	struct cap_ring r;
	pthread_t t;
	assert_int_equal(cap_ring_init(&r, 65536), 0);
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	uint64_t got = 0, last = 0;
	bool first = true, done = false;
	while (!done) {
		const struct cap_rec *rec = cap_ring_peek(&r);
		if (!rec) {
			/* The producer's last record is NREC - 1 or it missed it. */
			if (got + cap_ring_missed(&r) == NREC)
				done = true;
			continue;
		}
		if (!first && rec->ts_ns <= last)
			fail_msg("record %llu after %llu", (unsigned long long)rec->ts_ns,
				 (unsigned long long)last);
		if (!check_pattern(rec->data, rec->wirelen, (uint32_t)rec->ts_ns))
			fail_msg("record %llu corrupt", (unsigned long long)rec->ts_ns);
		last = rec->ts_ns;
		first = false;
		got++;
		cap_ring_pop(&r);
	}
	pthread_join(t, NULL);
	assert_int_equal(got + cap_ring_missed(&r), NREC);
	assert_true(got > 0);
	cap_ring_deinit(&r);
}

/* ---- histogram ---- */

static void test_hist(void **state)
{
	(void)state;
	const struct {
		unsigned n, bucket;
	} cases[] = {{0, 0},	{1, 1},	    {2, 2},	{3, 2},	     {4, 3},
		     {7, 3},	{8, 4},	    {63, 6},	{64, 7},     {127, 7},
		     {512, 10}, {1023, 10}, {1024, 11}, {70000, 11}, {~0u, 11}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (nf_hist_bucket(cases[i].n) != cases[i].bucket)
			fail_msg("%u frames: bucket %u, want %u", cases[i].n,
				 nf_hist_bucket(cases[i].n), cases[i].bucket);
	for (unsigned b = 1; b < NF_HIST_BUCKETS; b++)
		assert_int_equal(nf_hist_bucket(nf_hist_low(b)), b);
	uint64_t h[NF_HIST_BUCKETS] = {0};
	nf_hist_add(h, 64);
	nf_hist_add(h, 64);
	nf_hist_add(h, 0);
	assert_int_equal(h[7], 2);
	assert_int_equal(h[0], 1);
}

/* ---- cap_batch on a device of our own ---- */

static struct nf_dev test_dev;
static struct nf_port test_port;

struct nf_dev *engine_dev(struct nf_engine *eng, unsigned index)
{
	(void)eng;
	return index == 0 ? &test_dev : NULL;
}

/* Frames as a vnet-header transport hands them: 10-byte header, then the
 * frame split over two buffers. */
static uint8_t frames[4][1600];
static struct iovec fiov[4][2];
static struct nf_pkt fpkts[4];

static void make_frames(void)
{
	for (unsigned i = 0; i < 4; i++) {
		uint8_t *f = frames[i];
		memset(f, 0, sizeof(frames[i]));
		uint8_t *eth = f + VNET_HDR_LEN_LEGACY;
		memset(eth, 0xff, 6);
		/* frames 0 and 2 IPv4 (0x0800), 1 and 3 ARP (0x0806) */
		eth[12] = 0x08;
		eth[13] = (i & 1) ? 0x06 : 0x00;
		for (unsigned k = 14; k < 1000; k++)
			eth[k] = (uint8_t)(k + i);
		fiov[i][0] = (struct iovec){f, VNET_HDR_LEN_LEGACY + 100};
		fiov[i][1] = (struct iovec){f + VNET_HDR_LEN_LEGACY + 100, 900};
		fpkts[i] = (struct nf_pkt){fiov[i], 2, VNET_HDR_LEN_LEGACY + 1000, 0};
	}
}

static void setup_dev(void)
{
	memset(&test_dev, 0, sizeof(test_dev));
	pthread_mutex_init(&test_dev.vu.lock, NULL);
	test_port.caps = NF_CAP_VNET_HDR;
	test_dev.port = &test_port;
	make_frames();
}

static void test_capture_copy(void **state)
{
	(void)state;
	struct nf_capture *cap;
	char err[128];
	setup_dev();
	struct nf_capture_params p = {.index = 0, .dirs = CAP_DIR_RX, .snaplen = 200};
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), 0);
	assert_ptr_equal(test_dev.capture, cap);
	struct nf_capture *second;
	assert_int_equal(nf_capture_start(NULL, &p, &second, err, sizeof(err)), -EBUSY);
	p.index = 1;
	assert_int_equal(nf_capture_start(NULL, &p, &second, err, sizeof(err)), -ENODEV);

	cap_batch(&test_dev, CAP_DIR_TX, fpkts, 4); /* not asked for */
	assert_null(nf_capture_peek(cap));
	cap_batch(&test_dev, CAP_DIR_RX, fpkts, 2);
	const struct cap_rec *rec = nf_capture_peek(cap);
	assert_non_null(rec);
	assert_int_equal(rec->wirelen, 1000);
	assert_int_equal(rec->caplen, 200);
	assert_int_equal(rec->dir, CAP_DIR_RX);
	assert_memory_equal(rec->data, frames[0] + VNET_HDR_LEN_LEGACY, 200);
	nf_capture_pop(cap);
	rec = nf_capture_peek(cap);
	assert_non_null(rec);
	assert_memory_equal(rec->data, frames[1] + VNET_HDR_LEN_LEGACY, 200);
	nf_capture_pop(cap);
	nf_capture_stop(cap);
	assert_null(test_dev.capture);
	nf_capture_free(cap);
}

/* "ether proto 0x0806" (ARP) as pcap_compile makes it. */
static const struct nf_bpf_insn arp_only[] = {
    {0x28, 0, 0, 12},
    {0x15, 0, 1, 0x806},
    {0x6, 0, 0, 262144},
    {0x6, 0, 0, 0},
};

static void test_capture_filter_and_full(void **state)
{
	(void)state;
	struct nf_capture *cap;
	char err[128];
	setup_dev();
	struct nf_capture_params p = {.index = 0,
				      .dirs = CAP_DIR_RX | CAP_DIR_TX,
				      .snaplen = 1500,
				      .prog = arp_only,
				      .nprog = 4};
	/* Frames for the tx direction carry no header in their length. */
	for (unsigned i = 0; i < 4; i++)
		fpkts[i].len = 1000;
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), 0);
	cap_batch(&test_dev, CAP_DIR_TX, fpkts, 4);
	unsigned n = 0;
	for (const struct cap_rec *rec; (rec = nf_capture_peek(cap)); nf_capture_pop(cap)) {
		assert_int_equal(rec->data[13], 0x06);
		assert_int_equal(rec->dir, CAP_DIR_TX);
		assert_int_equal(rec->caplen, 1000);
		n++;
	}
	assert_int_equal(n, 2);
	/* Fill the ring: frames that would not match are not counted as
	 * missed, matching ones are. */
	unsigned stored = 0;
	while (nf_capture_missed(cap) == 0) {
		cap_batch(&test_dev, CAP_DIR_TX, fpkts, 4);
		stored += 2;
		assert_true(stored < 100000);
	}
	uint64_t missed = nf_capture_missed(cap);
	cap_batch(&test_dev, CAP_DIR_TX, fpkts, 4);
	assert_int_equal(nf_capture_missed(cap), missed + 2);
	nf_capture_free(cap);
	assert_null(test_dev.capture);

	/* Programs libpcap's validator refuses never get attached. */
	const struct nf_bpf_insn bad[] = {{0x28, 0, 0, 12}}; /* no return */
	p.prog = bad;
	p.nprog = 1;
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), -EINVAL);
	const struct nf_bpf_insn jump_out[] = {{0x05, 0, 0, 10}, {0x6, 0, 0, 0}};
	p.prog = jump_out;
	p.nprog = 2;
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), -EINVAL);
	p.prog = NULL;
	p.nprog = 0;
	p.snaplen = 10;
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), -EINVAL);
	p.snaplen = 100;
	p.dirs = 4;
	assert_int_equal(nf_capture_start(NULL, &p, &cap, err, sizeof(err)), -EINVAL);
	assert_null(test_dev.capture);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ring_init),	  cmocka_unit_test(test_ring_order_and_wrap),
	    cmocka_unit_test(test_ring_skip_end), cmocka_unit_test(test_ring_uncommitted),
	    cmocka_unit_test(test_ring_threads),  cmocka_unit_test(test_hist),
	    cmocka_unit_test(test_capture_copy),  cmocka_unit_test(test_capture_filter_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
