/* L2TPv3/UDP receive with UDP GRO (transports/tunnel.c) against the host's
 * own UDP stack: a peer socket sends runs of datagrams with UDP_SEGMENT
 * over lo, which the port's UDP_GRO socket gets as one buffer; rx_batch
 * must cut it into frames, check each (session, counter), keep
 * what does not fit for the next call and return full batches while it
 * holds any.
 *
 * How: the whole binary runs in a network namespace of its own (unshare,
 * lo brought up), so nothing reaches the host's; skipped where that is not
 * allowed or the host has no UDP GRO.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "encap.h"
#include "options.h"
#include "transport.h"

#define HDR 16u   /* UDP word, session, 32-bit cookie, counter */
#define FRAME 100u
#define SEG (HDR + FRAME)

static bool netns_ok;

static int setup_netns(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET) < 0)
		return 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		netns_ok = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

struct lab {
	struct nf_devcfg cfg;
	struct nf_port *port;
	int peer;
	bool v6;
};

/* The test's lab, closed by the teardown, also after a failed test. */
static struct lab lab = { .peer = -1 };

/* Opens the port (local port 17001, the peer 17002) plus a peer socket
 * sending from peer_port. */
static void lab_open(struct lab *l, bool v6, const char *extra, unsigned peer_port)
{
	char arg[512], err[256];
	const char *lo = v6 ? "::1" : "127.0.0.1";

	if (!netns_ok)
		skip();
	l->v6 = v6;
	snprintf(arg, sizeof(arg),
		 "vec1:transport=l2tpv3,udp=1,v6=%d,src=%s,dst=%s,srcport=17001,dstport=17002,"
		 "rx_session=0x20,tx_session=0x10,rx_cookie=0xc0c0,tx_cookie=0xc1c1,counter=1,"
		 "depth=8%s",
		 v6, lo, lo, extra);
	assert_int_equal(nf_opt_parse(arg, &l->cfg, err, sizeof(err)), 0);
	int rc = l->cfg.transport->open(&l->cfg, &l->port, err, sizeof(err));
	if (rc < 0) {
		nf_devcfg_release(&l->cfg);
		fail_msg("open: %s", err);
	}

	l->peer = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	assert_true(l->peer >= 0);
	struct sockaddr_storage a = { 0 }, b = { 0 };
	socklen_t len;
	if (v6) {
		struct sockaddr_in6 *x = (void *)&a, *y = (void *)&b;
		x->sin6_family = y->sin6_family = AF_INET6;
		x->sin6_addr = y->sin6_addr = in6addr_loopback;
		x->sin6_port = htons((uint16_t)peer_port);
		y->sin6_port = htons(17001);
		len = sizeof(*x);
	} else {
		struct sockaddr_in *x = (void *)&a, *y = (void *)&b;
		x->sin_family = y->sin_family = AF_INET;
		x->sin_addr.s_addr = y->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		x->sin_port = htons((uint16_t)peer_port);
		y->sin_port = htons(17001);
		len = sizeof(*x);
	}
	assert_int_equal(bind(l->peer, (struct sockaddr *)&a, len), 0);
	assert_int_equal(connect(l->peer, (struct sockaddr *)&b, len), 0);
}

static int lab_close(void **state)
{
	(void)state;
	if (lab.peer >= 0)
		close(lab.peer);
	if (lab.port) {
		lab.cfg.transport->close(lab.port);
		nf_devcfg_release(&lab.cfg);
	}
	lab = (struct lab){ .peer = -1 };
	return 0;
}

/* Datagram i of a run: our peer's header with counter seq, then FRAME
 * bytes of i (flen of them). */
static void put_dgram(uint8_t *p, uint32_t session, uint32_t seq, unsigned i, size_t flen)
{
	const uint8_t h[HDR] = { 0, 3, 0, 0,
				 (uint8_t)(session >> 24), (uint8_t)(session >> 16),
				 (uint8_t)(session >> 8), (uint8_t)session,
				 0, 0, 0xc0, 0xc0,
				 (uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8),
				 (uint8_t)seq };
	memcpy(p, h, HDR);
	memset(p + HDR, (int)(0x10 + i), flen);
}

/* Sends buf (len bytes) as one UDP_SEGMENT send of seg-byte datagrams. */
static void send_run(int fd, const uint8_t *buf, size_t len, uint16_t seg)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} c;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)len);
}

/* The engine's side of a call: max packets of one room-byte buffer each. */
struct batch {
	struct nf_pkt pkts[8];
	struct iovec iov[8];
	uint8_t mem[8][2048];
};

static int rx(struct lab *l, struct batch *b, unsigned max, size_t room)
{
	for (unsigned i = 0; i < max; i++) {
		b->iov[i] = (struct iovec){ b->mem[i], room };
		b->pkts[i] = (struct nf_pkt){ .iov = &b->iov[i], .iovcnt = 1 };
	}
	return l->port->transport->rx_batch(l->port, b->pkts, max);
}

/* The value of " key=N" in the port's counters (-1: not there). */
static long long stat_of(struct lab *l, const char *key)
{
	char buf[512], k[64];
	l->port->transport->format_stats(l->port, buf, sizeof(buf));
	snprintf(k, sizeof(k), " %s=", key);
	const char *p = strstr(buf, k);
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* A run of 20: datagram 5 of another session, 9 a replayed counter, the
 * last one shorter; cut 8 + 8 + 4 over three calls of max 8. */
static void run_of_20(bool v6)
{
	struct lab *l = &lab;
	struct batch b;
	uint8_t buf[20 * SEG];

	lab_open(l, v6, "", 17002);
	if (stat_of(l, "rx_gro_runs") < 0) {
		skip(); /* no UDP GRO on this host */
	}
	size_t len = 0;
	for (unsigned i = 0; i < 20; i++) {
		size_t flen = i == 19 ? 60 : FRAME;
		put_dgram(buf + len, i == 5 ? 0x21 : 0x20, i == 9 ? 100 + 3 : 100 + i, i, flen);
		len += HDR + flen;
	}
	send_run(l->peer, buf, len, SEG);

	unsigned seen = 0;
	int want[] = { 8, 8, 4 };
	for (unsigned call = 0; call < 3; call++) {
		int n = rx(l, &b, 8, 2048);
		assert_int_equal(n, want[call]);
		for (int j = 0; j < n; j++, seen++) {
			const struct nf_pkt *p = &b.pkts[j];
			if (seen == 5 || seen == 9) {
				assert_int_equal(p->flags, NF_PKT_DROP);
				continue;
			}
			assert_int_equal(p->flags, 0);
			assert_int_equal(p->len, seen == 19 ? 60 : FRAME);
			assert_int_equal(b.mem[j][0], 0x10 + seen);
			assert_int_equal(b.mem[j][p->len - 1], 0x10 + seen);
		}
	}
	assert_int_equal(seen, 20);
	assert_int_equal(rx(l, &b, 8, 2048), 0);
	assert_int_equal(stat_of(l, "rx_gro_runs"), 1);
	assert_int_equal(stat_of(l, "rx_gro_dgrams"), 20);
	assert_int_equal(stat_of(l, "rx_bad_session"), 1);
	assert_int_equal(stat_of(l, "rx_bad_counter"), 1);
}

static void test_run4(void **state)
{
	(void)state;
	run_of_20(false);
}

static void test_run6(void **state)
{
	(void)state;
	run_of_20(true);
}

/* Two runs and a lone datagram in one call of max 8: 3 + 1 + 3, then the
 * socket is empty (fewer than max). A frame larger than the engine's room
 * comes back cut short and flagged. */
static void test_runs_and_room(void **state)
{
	(void)state;
	struct lab *l = &lab;
	struct batch b;
	uint8_t buf[3 * SEG];

	lab_open(l, false, "", 17002);
	if (stat_of(l, "rx_gro_runs") < 0) {
		skip();
	}
	uint32_t seq = 1;
	for (unsigned r = 0; r < 3; r++) {
		unsigned k = r == 1 ? 1 : 3;
		for (unsigned i = 0; i < k; i++)
			put_dgram(buf + i * SEG, 0x20, seq++, r * 3 + i, FRAME);
		if (k == 1)
			assert_int_equal(send(l->peer, buf, SEG, 0), (ssize_t)SEG);
		else
			send_run(l->peer, buf, k * SEG, SEG);
	}
	assert_int_equal(rx(l, &b, 8, 2048), 7);
	for (unsigned j = 0; j < 7; j++) {
		assert_int_equal(b.pkts[j].flags, 0);
		assert_int_equal(b.pkts[j].len, FRAME);
	}
	assert_int_equal(b.mem[3][0], 0x10 + 3);
	assert_int_equal(b.mem[4][0], 0x10 + 6);
	assert_int_equal(stat_of(l, "rx_gro_runs"), 2);

	for (unsigned i = 0; i < 2; i++)
		put_dgram(buf + i * SEG, 0x20, seq++, i, FRAME);
	send_run(l->peer, buf, 2 * SEG, SEG);
	assert_int_equal(rx(l, &b, 8, 64), 2);
	for (unsigned j = 0; j < 2; j++) {
		assert_int_equal(b.pkts[j].flags, NF_PKT_TRUNC);
		assert_int_equal(b.pkts[j].len, 64);
		assert_int_equal(b.mem[j][63], 0x10 + j);
	}
}

/* vec=0 (and UMLNF_UDP_GRO=0) keep one datagram per message: the host
 * cuts the run itself, the frames are the same. */
static void plain(const char *extra)
{
	struct lab *l = &lab;
	struct batch b;
	uint8_t buf[5 * SEG];

	lab_open(l, false, extra, 17002);
	assert_int_equal(stat_of(l, "rx_gro_runs"), -1);
	for (unsigned i = 0; i < 5; i++)
		put_dgram(buf + i * SEG, 0x20, 7 + i, i, FRAME);
	send_run(l->peer, buf, sizeof(buf), SEG);
	assert_int_equal(rx(l, &b, 4, 2048), 4);
	assert_int_equal(rx(l, &b, 4, 2048), 1);
	assert_int_equal(b.pkts[0].len, FRAME);
	assert_int_equal(b.pkts[0].flags, 0);
	assert_int_equal(b.mem[0][0], 0x14);
}

static void test_vec0(void **state)
{
	(void)state;
	plain(",vec=0");
}

static void test_env_off(void **state)
{
	(void)state;
	setenv("UMLNF_UDP_GRO", "0", 1);
	plain("");
	unsetenv("UMLNF_UDP_GRO");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_run4, lab_close),
		cmocka_unit_test_teardown(test_run6, lab_close),
		cmocka_unit_test_teardown(test_runs_and_room, lab_close),
		cmocka_unit_test_teardown(test_vec0, lab_close),
		cmocka_unit_test_teardown(test_env_off, lab_close),
	};
	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
