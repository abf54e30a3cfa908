/* bpfflash requests from the guest (launcher/bpfflash.c): parsing, chunked
 * reassembly, the count check, and every malformed shape refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpfflash.h"

static void test_parse(void **state)
{
	(void)state;
	struct bx_req r;
	char err[128];
	assert_int_equal(bx_parse("hello", &r, err, sizeof(err)), 0);
	assert_int_equal(bx_parse("bpfflash eth3 data 0aFf", &r, err, sizeof(err)), 1);
	assert_int_equal(r.op, BX_DATA);
	assert_int_equal(r.eth, 3);
	assert_int_equal(r.hexlen, 4);
	assert_int_equal(bx_parse("bpfflash eth0 commit 12", &r, err, sizeof(err)), 1);
	assert_int_equal(r.op, BX_COMMIT);
	assert_int_equal(r.count, 12);
	assert_int_equal(bx_parse("bpfflash eth10 clear", &r, err, sizeof(err)), 1);
	assert_int_equal(r.op, BX_CLEAR);
	assert_int_equal(r.eth, 10);
	const char *bad[] = {
		"bpfflash", "bpfflash vec0 clear", "bpfflash eth clear", "bpfflash eth0",
		"bpfflash eth0 data", "bpfflash eth0 data abc", "bpfflash eth0 data zz",
		"bpfflash eth0 commit", "bpfflash eth0 commit 1x", "bpfflash eth0 commit 999999",
		"bpfflash eth999999 clear", "bpfflash eth0 flash", "bpfflash eth0 clear now",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bx_parse(bad[i], &r, err, sizeof(err)) == 1, 0);
}

static void feed_hex(struct bx_buf *b, const uint8_t *bytes, size_t n)
{
	char line[512];
	struct bx_req r;
	char err[64];
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 240 ? n - off : 240;
		int m = snprintf(line, sizeof(line), "bpfflash eth0 data ");
		for (size_t i = 0; i < k; i++)
			m += snprintf(line + m, sizeof(line) - (size_t)m, "%02x", bytes[off + i]);
		assert_true(m < 512);
		assert_int_equal(bx_parse(line, &r, err, sizeof(err)), 1);
		assert_int_equal(bx_append(b, &r), 0);
		off += k;
	}
}

static void test_reassembly(void **state)
{
	(void)state;
	struct bx_buf *b = calloc(1, sizeof(*b));
	struct bf_prog p;
	char err[128];
	assert_non_null(b);
	/* 200 instructions: several lines; a return at the end. */
	struct sock_filter prog[200];
	for (unsigned i = 0; i < 200; i++)
		prog[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, i);
	prog[199] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0x40000);
	feed_hex(b, (const uint8_t *)prog, sizeof(prog));
	assert_int_equal(bx_commit(b, 199, &p, err, sizeof(err)), -EINVAL); /* wrong count */
	assert_int_equal(b->len, 0);                                       /* and emptied */
	feed_hex(b, (const uint8_t *)prog, sizeof(prog));
	assert_int_equal(bx_commit(b, 200, &p, err, sizeof(err)), 0);
	assert_int_equal(p.len, 200);
	assert_memory_equal(p.insns, prog, sizeof(prog));
	bf_free(&p);
	/* A program that fails the checks (no final return). */
	feed_hex(b, (const uint8_t *)prog, 8 * 10);
	assert_int_equal(bx_commit(b, 10, &p, err, sizeof(err)), -EINVAL);
	/* Too much data poisons the buffer until the commit. */
	uint8_t *junk = calloc(1, BF_MAX_INSNS * 8 + 8);
	assert_non_null(junk);
	struct bx_req r = { .op = BX_DATA, .hexlen = 0 };
	char *hex = malloc(2 * (BF_MAX_INSNS * 8 + 8) + 1);
	assert_non_null(hex);
	memset(hex, '0', 2 * (BF_MAX_INSNS * 8 + 8));
	r.hex = hex;
	r.hexlen = 2 * (BF_MAX_INSNS * 8 + 8);
	assert_int_equal(bx_append(b, &r), -EINVAL);
	r.hexlen = 2;
	assert_int_equal(bx_append(b, &r), -EINVAL);
	assert_int_equal(bx_commit(b, 1, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than"));
	free(hex);
	free(junk);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_reassembly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
