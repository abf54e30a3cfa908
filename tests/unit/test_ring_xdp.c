/* ring=xdp receive walk (transports/raw/ring_xdp.c) over AF_XDP rings built
 * in memory here (the kernel's part played by the test): frames copied
 * behind a zeroed virtio_net_hdr, every frame's chunk back on the fill
 * ring, descriptors pointing outside the UMEM or past their chunk refused
 * without reading there, short guest room marked truncated. Skipped in a
 * build without libxdp. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef NF_HAVE_XDP
#include "../../transports/raw/ring_xdp.c"

/* The embedded program is not needed here. */
const unsigned char nf_xdp_prog[1];
const unsigned int nf_xdp_prog_len = 0;

#define RING 8u
static uint32_t rx_prod, rx_cons, fq_prod, fq_cons;
static struct xdp_desc descs[RING];
static uint64_t fq[RING];

static struct rx_xdp *fake(void)
{
	struct rx_xdp *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->area = calloc(NF_XDP_FRAMES, NF_XDP_FRAME_SIZE);
	assert_non_null(x->area);
	rx_prod = rx_cons = fq_prod = fq_cons = 0;
	x->rx = (struct xsk_ring_cons){ .mask = RING - 1, .size = RING, .producer = &rx_prod,
					.consumer = &rx_cons, .ring = descs };
	/* An empty fill ring the kernel has taken everything from. */
	x->fill = (struct xsk_ring_prod){ .mask = RING - 1, .size = RING, .cached_cons = RING,
					  .producer = &fq_prod, .consumer = &fq_cons, .ring = fq };
	return x;
}

static void unfake(struct rx_xdp *x)
{
	free(x->area);
	free(x);
}

static void post(uint64_t addr, uint32_t len)
{
	descs[rx_prod % RING] = (struct xdp_desc){ .addr = addr, .len = len };
	rx_prod++;
}

static void test_rx(void **state)
{
	(void)state;
	struct rx_xdp *x = fake();
	uint8_t buf[3][128];
	struct iovec iov[3] = { { buf[0], 128 }, { buf[1], 128 }, { buf[2], 20 } };
	struct nf_pkt pkts[3] = { { &iov[0], 1, 0, 0 }, { &iov[1], 1, 0, 0 }, { &iov[2], 1, 0, 0 } };
	uint8_t *area = x->area;

	assert_int_equal(rx_xdp_rx(x, pkts, 3), 0);
	/* Frames at the kernel's headroom of chunks 5 and 9. */
	memset(area + 5 * NF_XDP_FRAME_SIZE + 256, 0xab, 60);
	memset(area + 9 * NF_XDP_FRAME_SIZE + 256, 0xcd, 100);
	post(5 * NF_XDP_FRAME_SIZE + 256, 60);
	post(9 * NF_XDP_FRAME_SIZE + 256, 100);
	post(1 * NF_XDP_FRAME_SIZE + 256, 64); /* 20 bytes of room only */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(rx_xdp_rx(x, pkts, 3), 3);
	assert_int_equal(pkts[0].len, 10 + 60);
	assert_int_equal(pkts[0].flags, 0);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(buf[0][i], 0);
	assert_int_equal(buf[0][10], 0xab);
	assert_int_equal(buf[0][69], 0xab);
	assert_int_equal(buf[0][70], 0xff);
	assert_int_equal(pkts[1].len, 10 + 100);
	assert_int_equal(buf[1][109], 0xcd);
	assert_int_equal(pkts[2].flags, NF_PKT_TRUNC);
	/* Consumed from the rx ring, chunks back on the fill ring. */
	assert_int_equal(rx_cons, 3);
	assert_int_equal(fq_prod, 3);
	assert_int_equal(fq[0], 5 * NF_XDP_FRAME_SIZE);
	assert_int_equal(fq[1], 9 * NF_XDP_FRAME_SIZE);
	assert_int_equal(fq[2], 1 * NF_XDP_FRAME_SIZE);
	unfake(x);
}

static void test_rx_bad_descriptors(void **state)
{
	(void)state;
	struct rx_xdp *x = fake();
	uint8_t buf[2048];
	struct iovec iov = { buf, sizeof(buf) };
	struct nf_pkt pkts[2] = { { &iov, 1, 0, 0 }, { &iov, 1, 0, 0 } };

	/* Past the UMEM, and reaching past its chunk: neither is read (the
	 * UMEM is heap memory here, ASan would see a read). */
	post((uint64_t)NF_XDP_FRAMES * NF_XDP_FRAME_SIZE + 256, 60);
	post((NF_XDP_FRAMES - 1) * (uint64_t)NF_XDP_FRAME_SIZE + 2000, 100);
	assert_int_equal(rx_xdp_rx(x, pkts, 2), 2);
	assert_int_equal(pkts[0].flags, NF_PKT_TRUNC);
	assert_int_equal(pkts[0].len, 0);
	assert_int_equal(pkts[1].flags, NF_PKT_TRUNC);
	assert_int_equal(rx_cons, 2);
	unfake(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_rx_bad_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
static void test_no_xdp(void **state)
{
	(void)state;
	skip(); /* built without libxdp: ring=xdp is refused at open */
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_no_xdp) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
