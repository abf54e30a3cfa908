/* The tap transports' pure helpers (transports/tap/batch.c), their batched
 * I/O (tapio.c) driven over a socketpair instead of a tap (a SEQPACKET
 * socket keeps frame boundaries and supports non-blocking io_uring reads the
 * same way), and the ifup= runner (transports/ifup.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "ifup.h"
#include "log.h"
#include "options.h"
#include "tapio.h"

/* ---- scatter-list copy ---- */

static void test_iov_copy(void **state)
{
	(void)state;
	uint8_t src[100], dst[100];
	for (int i = 0; i < 100; i++)
		src[i] = (uint8_t)i;
	memset(dst, 0xee, sizeof(dst));
	/* Pieces that never line up: 3+50+47 into 10+10+80. */
	struct iovec s[3] = { { src, 3 }, { src + 3, 50 }, { src + 53, 47 } };
	struct iovec d[3] = { { dst, 10 }, { dst + 10, 10 }, { dst + 20, 80 } };
	assert_int_equal(tap_iov_copy(d, 3, s, 3, 100), 100);
	assert_memory_equal(dst, src, 100);

	/* len bounds the copy; so does the room of either side. */
	memset(dst, 0xee, sizeof(dst));
	assert_int_equal(tap_iov_copy(d, 3, s, 3, 55), 55);
	assert_memory_equal(dst, src, 55);
	assert_int_equal(dst[55], 0xee);
	assert_int_equal(tap_iov_copy(d, 1, s, 3, 100), 10);
	assert_int_equal(tap_iov_copy(d, 3, s, 1, 100), 3);
	assert_int_equal(tap_iov_copy(d, 0, s, 3, 100), 0);
	/* Zero-length pieces are stepped over. */
	struct iovec sz[3] = { { src, 0 }, { src, 4 }, { src + 4, 0 } };
	struct iovec dz[2] = { { dst, 0 }, { dst, 8 } };
	memset(dst, 0, sizeof(dst));
	assert_int_equal(tap_iov_copy(dz, 2, sz, 3, 100), 4);
	assert_memory_equal(dst, src, 4);
	assert_int_equal(tap_iov_room(d, 3), 100);
	assert_int_equal(tap_iov_room(d, 0), 0);
}

/* ---- batch compaction ---- */

#define SLOTS 6
#define SLOT_BYTES 64

struct batch {
	uint8_t buf[SLOTS][SLOT_BYTES];
	struct iovec iov[SLOTS][2];
	struct nf_pkt pkts[SLOTS];
	int res[SLOTS];
};

/* Slot i: two pieces (16 + 48 bytes, like a header split), filled with
 * bytes 0x10*i + offset as if a frame of that slot had been read. */
static void batch_init(struct batch *b)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		for (unsigned k = 0; k < SLOT_BYTES; k++)
			b->buf[i][k] = (uint8_t)(0x10 * i + k);
		b->iov[i][0] = (struct iovec){ b->buf[i], 16 };
		b->iov[i][1] = (struct iovec){ b->buf[i] + 16, SLOT_BYTES - 16 };
		b->pkts[i] = (struct nf_pkt){ .iov = b->iov[i], .iovcnt = 2, .flags = 0xdead };
		b->res[i] = -EAGAIN;
	}
}

static void assert_slot_holds(const struct batch *b, unsigned slot, unsigned from, unsigned len)
{
	for (unsigned k = 0; k < len; k++)
		assert_int_equal(b->buf[slot][k], (uint8_t)(0x10 * from + k));
}

static void test_compact_in_order(void **state)
{
	(void)state;
	struct batch b;
	int hard = 0;
	batch_init(&b);
	b.res[0] = 60;
	b.res[1] = 14;
	b.res[2] = 64;
	/* The queue ran dry at slot 3: nothing moves. */
	assert_int_equal(tap_batch_compact(b.pkts, b.res, SLOTS, &hard), 3);
	assert_int_equal(hard, 0);
	assert_int_equal(b.pkts[0].len, 60);
	assert_int_equal(b.pkts[1].len, 14);
	assert_int_equal(b.pkts[2].len, 64);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(b.pkts[i].flags, 0);
		assert_slot_holds(&b, i, i, SLOT_BYTES);
	}
}

static void test_compact_holes(void **state)
{
	(void)state;
	struct batch b;
	int hard = 0;
	batch_init(&b);
	/* Frames in slots 0, 2 and 5 (the last two raced the batch). */
	b.res[0] = 20;
	b.res[2] = 40;
	b.res[5] = 64;
	assert_int_equal(tap_batch_compact(b.pkts, b.res, SLOTS, &hard), 3);
	assert_int_equal(hard, 0);
	assert_int_equal(b.pkts[0].len, 20);
	assert_int_equal(b.pkts[1].len, 40);
	assert_int_equal(b.pkts[2].len, 64);
	assert_slot_holds(&b, 0, 0, SLOT_BYTES);
	assert_slot_holds(&b, 1, 2, 40); /* slot 2's frame, moved down */
	assert_slot_holds(&b, 2, 5, 64); /* slot 5's frame, across both pieces */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(b.pkts[i].flags, 0);
}

static void test_compact_errors_and_trunc(void **state)
{
	(void)state;
	struct batch b;
	int hard = 0;
	batch_init(&b);
	b.res[0] = -EAGAIN;
	b.res[1] = -EINTR;      /* not an error worth reporting */
	b.res[2] = 0;           /* empty */
	b.res[3] = 1000;        /* longer than the 64 bytes it had: truncated */
	b.res[4] = -EFAULT;     /* the first hard error is kept */
	b.res[5] = -EBADFD;
	assert_int_equal(tap_batch_compact(b.pkts, b.res, SLOTS, &hard), 1);
	assert_int_equal(hard, -EFAULT);
	assert_int_equal(b.pkts[0].len, 1000);
	assert_int_equal(b.pkts[0].flags, NF_PKT_TRUNC);
	assert_slot_holds(&b, 0, 3, SLOT_BYTES);

	/* A frame moving into a smaller slot is cut, and says so. */
	batch_init(&b);
	hard = 0;
	b.iov[0][1].iov_len = 8; /* slot 0: 24 bytes of room */
	b.res[1] = 50;
	assert_int_equal(tap_batch_compact(b.pkts, b.res, 2, &hard), 1);
	assert_int_equal(b.pkts[0].len, 50);
	assert_int_equal(b.pkts[0].flags, NF_PKT_TRUNC);
	assert_slot_holds(&b, 0, 1, 24);
	assert_int_equal(b.buf[0][24], 24); /* past the room: untouched */

	/* All empty. */
	batch_init(&b);
	hard = 0;
	assert_int_equal(tap_batch_compact(b.pkts, b.res, SLOTS, &hard), 0);
	assert_int_equal(hard, 0);
}

/* ---- round sizes ---- */

static void test_rounds(void **state)
{
	(void)state;
	assert_int_equal(tap_round_first(0, 64), 1);
	assert_int_equal(tap_round_first(1, 64), 1);
	assert_int_equal(tap_round_first(17, 64), 17);
	assert_int_equal(tap_round_first(64, 64), 64);
	assert_int_equal(tap_round_first(500, 64), 64);
	assert_int_equal(tap_round_first(5, 1), 1);
	/* Doubling within what is left. */
	assert_int_equal(tap_round_next(1, 1, 64), 2);
	assert_int_equal(tap_round_next(4, 7, 64), 8);
	assert_int_equal(tap_round_next(32, 40, 64), 24);
	assert_int_equal(tap_round_next(64, 64, 64), 0);
	/* From a hint of 1 to a full batch of 64: 1+2+4+8+16+32+1 in 7 rounds. */
	unsigned done = 0, rounds = 0;
	for (unsigned r = tap_round_first(1, 64); r; r = tap_round_next(r, done, 64)) {
		done += r;
		rounds++;
	}
	assert_int_equal(done, 64);
	assert_int_equal(rounds, 7);
}

/* ---- batched I/O over a socketpair ---- */

struct pair {
	int us, peer;
	struct tap_io io;
	uint8_t buf[8][256];
	struct iovec iov[8][2];
	struct nf_pkt pkts[8];
};

static void pair_open(struct pair *p, bool vec, bool uring)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	p->us = sv[0];
	p->peer = sv[1];
	if (!uring)
		setenv("UMLNF_IO_URING", "0", 1);
	char why[160];
	assert_int_equal(tap_io_init(&p->io, p->us, 8, vec, why, sizeof(why)), 0);
	unsetenv("UMLNF_IO_URING");
	if (!vec)
		assert_string_equal(why, "vec=0");
	else if (!uring)
		assert_string_equal(why, "io_uring off (UMLNF_IO_URING=0)");
	else if (!p->io.uring)
		print_message("    (io_uring unavailable here: %s; testing readv/writev)\n", why);
	for (unsigned i = 0; i < 8; i++) {
		/* A header piece and the rest, as the engine splits them. */
		p->iov[i][0] = (struct iovec){ p->buf[i], TAP_VNET_HDR_LEN };
		p->iov[i][1] = (struct iovec){ p->buf[i] + TAP_VNET_HDR_LEN,
					       sizeof(p->buf[i]) - TAP_VNET_HDR_LEN };
		p->pkts[i] = (struct nf_pkt){ .iov = p->iov[i], .iovcnt = 2 };
	}
}

static void pair_close(struct pair *p)
{
	tap_io_deinit(&p->io);
	close(p->us);
	if (p->peer >= 0)
		close(p->peer);
}

static void send_frames(int fd, unsigned n, unsigned len)
{
	uint8_t f[512];
	for (unsigned i = 0; i < n; i++) {
		memset(f, (int)(0x40 + i), sizeof(f));
		assert_int_equal(send(fd, f, len + i, 0), (ssize_t)(len + i));
	}
}

static void io_roundtrip(bool vec, bool uring)
{
	struct pair p;
	uint64_t drops = 0;
	pair_open(&p, vec, uring);

	/* An empty queue: 0 at once, not a blocked thread. */
	assert_int_equal(tap_io_read(&p.io, p.pkts, 8), 0);

	/* 5 queued frames, read 8: the 5 in order, lengths and contents. */
	send_frames(p.peer, 5, 60);
	assert_int_equal(tap_io_read(&p.io, p.pkts, 8), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(p.pkts[i].len, 60 + i);
		assert_int_equal(p.pkts[i].flags, 0);
		assert_int_equal(p.buf[i][0], 0x40 + i);
		assert_int_equal(p.buf[i][59 + i], 0x40 + i);
	}
	assert_int_equal(tap_io_read(&p.io, p.pkts, 8), 0);

	/* More than max: max now, the rest next time. */
	send_frames(p.peer, 7, 14);
	assert_int_equal(tap_io_read(&p.io, p.pkts, 4), 4);
	assert_int_equal(tap_io_read(&p.io, p.pkts, 8), 3);
	assert_int_equal(p.buf[0][0], 0x40 + 4);

	/* Writes: all consumed, each one frame at the peer. */
	for (unsigned i = 0; i < 3; i++) {
		memset(p.buf[i], (int)(0x70 + i), sizeof(p.buf[i]));
		p.iov[i][1].iov_len = 50;
	}
	assert_int_equal(tap_io_write(&p.io, p.pkts, 3, &drops), 3);
	assert_int_equal(drops, 0);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t f[512];
		assert_int_equal(recv(p.peer, f, sizeof(f), MSG_DONTWAIT), TAP_VNET_HDR_LEN + 50);
		assert_int_equal(f[0], 0x70 + i);
	}

	/* Drain: queued frames go, counted. */
	send_frames(p.peer, 6, 30);
	assert_int_equal(tap_io_drain(&p.io, 2), 6);
	assert_int_equal(tap_io_read(&p.io, p.pkts, 8), 0);

	/* A peer that is gone: writes are dropped, not retried forever. */
	close(p.peer);
	p.peer = -1;
	assert_int_equal(tap_io_write(&p.io, p.pkts, 2, &drops), 2);
	assert_int_equal(drops, 2);
	pair_close(&p);
}

static void test_io_uring(void **state)
{
	(void)state;
	io_roundtrip(true, true);
}

static void test_io_readv(void **state)
{
	(void)state;
	io_roundtrip(true, false);
}

static void test_io_vec0(void **state)
{
	(void)state;
	io_roundtrip(false, true);
}

/* A frame longer than its buffers is flagged, in both modes. */
static void test_io_trunc(void **state)
{
	(void)state;
	for (int uring = 0; uring < 2; uring++) {
		struct pair p;
		pair_open(&p, true, uring);
		p.iov[0][1].iov_len = 20; /* room 30 */
		send_frames(p.peer, 1, 100);
		int n = tap_io_read(&p.io, p.pkts, 1);
		assert_int_equal(n, 1);
		/* A socket reports the bytes stored; a tap the frame's length. */
		assert_true(p.pkts[0].len == 30 || p.pkts[0].len == 100);
		if (p.pkts[0].len > 30)
			assert_int_equal(p.pkts[0].flags, NF_PKT_TRUNC);
		pair_close(&p);
	}
}

/* ---- ifup= ---- */

static void ifup_case(const char *line, const char *ifname, int want, const char *want_msg)
{
	struct nf_devcfg cfg;
	char err[256] = "";
	assert_int_equal(nf_opt_parse(line, &cfg, err, sizeof(err)), 0);
	err[0] = '\0';
	int rc = nf_ifup_run(&cfg, ifname, err, sizeof(err));
	if (rc != want || strcmp(err, want_msg) != 0)
		fail_msg("%s\n  want %d \"%s\"\n  got  %d \"%s\"", line, want, want_msg, rc, err);
	nf_devcfg_release(&cfg);
}

static void test_ifup(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_tap.XXXXXX", path[64], line[160], out[64];
	assert_non_null(mkdtemp(dir));
	/* A script that records its argument and exits with status 3 for
	 * "bad0". */
	snprintf(path, sizeof(path), "%s/up.sh", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"$#:$1\" > %s/arg\n[ \"$1\" != bad0 ] || exit 3\n", dir);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);

	ifup_case("vec0:transport=tap", "tap9", 0, ""); /* no ifup=: nothing to run */
	snprintf(line, sizeof(line), "vec0:transport=tap,ifup=%s", path);
	ifup_case(line, "tap9", 0, "");
	snprintf(out, sizeof(out), "%s/arg", dir);
	f = fopen(out, "r");
	assert_non_null(f);
	char got[32] = "";
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, "1:tap9\n");

	char msg[256];
	snprintf(line, sizeof(line), "vec3:transport=hybrid,ifup=%s", path);
	snprintf(msg, sizeof(msg), "vec3: ifup: \"%s bad0\" exited with status 3", path);
	ifup_case(line, "bad0", -ECHILD, msg);
	/* Looked up in PATH. */
	ifup_case("vec1:transport=raw,ifname=x,ifup=true", "x", 0, "");
	ifup_case("vec1:transport=raw,ifname=x,ifup=false", "x", -ECHILD,
		  "vec1: ifup: \"false x\" exited with status 1");
	ifup_case("vec1:transport=raw,ifname=x,ifup=/nonexistent/up", "x", -ENOENT,
		  "vec1: ifup: cannot run \"/nonexistent/up\": No such file or directory");
	unlink(out);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	nf_log_level = -1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iov_copy),
		cmocka_unit_test(test_compact_in_order),
		cmocka_unit_test(test_compact_holes),
		cmocka_unit_test(test_compact_errors_and_trunc),
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_io_uring),
		cmocka_unit_test(test_io_readv),
		cmocka_unit_test(test_io_vec0),
		cmocka_unit_test(test_io_trunc),
		cmocka_unit_test(test_ifup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
