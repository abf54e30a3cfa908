/* Tunnel headers (transports/encap.c) and the gre/l2tpv3 option checks.
 *
 * Headers are compared with the bytes UML's stock transports put on the
 * wire (vector-transports reference: "30 00 65 58 | 00 00 00 06 | 00 00 00
 * 01" for GRE key 6 + sequence, "00 03 00 00 | 00 00 00 10 | 88 77 .. 11 |
 * 00 00 00 01" for L2TPv3/UDP session 0x10, 64-bit cookie, counter).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "encap.h"
#include "options.h"

static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00 };

/* A datagram: [outer IPv4][hdr][frame of 14 bytes]; returns its length. */
static size_t dgram(uint8_t *buf, bool outer4, uint8_t proto, const uint8_t *hdr, size_t hl)
{
	size_t off = 0;
	if (outer4) {
		memset(buf, 0, 20);
		buf[0] = 0x45;
		buf[9] = proto;
		off = 20;
	}
	memcpy(buf + off, hdr, hl);
	memcpy(buf + off + hl, eth, sizeof(eth));
	size_t len = off + hl + sizeof(eth);
	if (outer4) {
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
	}
	return len;
}

static void test_gre_wire(void **state)
{
	(void)state;
	struct encap e = { .kind = ENCAP_GRE, .key = true, .rx_key = 5, .tx_key = 6, .seq = true };
	uint8_t h[ENCAP_HDR_MAX];
	encap_init(&e);
	assert_int_equal(e.hdr_len, 12);
	encap_build(&e, h, 1);
	const uint8_t want[] = { 0x30, 0, 0x65, 0x58, 0, 0, 0, 6, 0, 0, 0, 1 };
	assert_memory_equal(h, want, sizeof(want));
	e.pin_seq = true;
	encap_build(&e, h, 77);
	assert_int_equal(h[11], 0);

	struct encap p = { .kind = ENCAP_GRE };
	encap_init(&p);
	assert_int_equal(p.hdr_len, 4);
	encap_build(&p, h, 9);
	const uint8_t plain[] = { 0, 0, 0x65, 0x58 };
	assert_memory_equal(h, plain, 4);
	struct encap k = { .kind = ENCAP_GRE, .key = true, .tx_key = 0xffffffffu };
	encap_init(&k);
	encap_build(&k, h, 0);
	const uint8_t keyed[] = { 0x20, 0, 0x65, 0x58, 0xff, 0xff, 0xff, 0xff };
	assert_memory_equal(h, keyed, sizeof(keyed));
}

static void test_gre_check(void **state)
{
	(void)state;
	struct encap e = { .kind = ENCAP_GRE, .key = true, .rx_key = 5, .tx_key = 6, .seq = true };
	struct encap_rx rx = { 0 };
	uint8_t hdr[12] = { 0x30, 0, 0x65, 0x58, 0, 0, 0, 5, 0, 0, 0, 10 }, buf[128];
	size_t off = 0;
	encap_init(&e);
	for (int outer = 0; outer <= 1; outer++) {
		memset(&rx, 0, sizeof(rx));
		hdr[11] = 10;
		size_t n = dgram(buf, outer, 47, hdr, 12);
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_OK);
		assert_int_equal(off, outer ? 32u : 12u);
		/* the same number again, and one just before: replay/reorder */
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_SEQ);
		hdr[11] = 9;
		n = dgram(buf, outer, 47, hdr, 12);
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_SEQ);
		/* ahead (loss) is fine; far behind is a peer restart */
		hdr[10] = 0x10;
		n = dgram(buf, outer, 47, hdr, 12);
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_OK);
		hdr[10] = 0;
		hdr[11] = 1;
		n = dgram(buf, outer, 47, hdr, 12);
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_OK);
		/* key */
		hdr[7] = 6;
		hdr[11] = 50;
		n = dgram(buf, outer, 47, hdr, 12);
		assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_KEY);
		hdr[7] = 5;
		/* flags: checksum bit, no sequence, version 1, other protocol */
		const uint8_t w0[][4] = { { 0xb0, 0, 0x65, 0x58 }, { 0x20, 0, 0x65, 0x58 },
					  { 0x30, 1, 0x65, 0x58 }, { 0x30, 0, 0x08, 0x00 } };
		for (unsigned i = 0; i < 4; i++) {
			uint8_t b[12];
			memcpy(b, hdr, 12);
			memcpy(b, w0[i], 4);
			n = dgram(buf, outer, 47, b, 12);
			assert_int_equal(encap_check(&e, &rx, buf, n, n, outer, &off), ENC_HDR);
		}
		/* truncated: every length short of headers + an Ethernet header */
		n = dgram(buf, outer, 47, hdr, 12);
		for (size_t l = 0; l < n; l++) {
			if (outer && l >= 20) {
				buf[2] = (uint8_t)(l >> 8);
				buf[3] = (uint8_t)l;
			}
			enum encap_reason r = encap_check(&e, &rx, buf, l, l, outer, &off);
			assert_true(r == ENC_SHORT || (outer && r == ENC_OUTER && l < 20));
		}
	}
	/* outer header: options, wrong protocol, longer than its length */
	size_t n = dgram(buf, true, 47, hdr, 12);
	buf[0] = 0x46;
	assert_int_equal(encap_check(&e, &rx, buf, n, n, true, &off), ENC_OUTER);
	buf[0] = 0x45;
	buf[9] = 115;
	assert_int_equal(encap_check(&e, &rx, buf, n, n, true, &off), ENC_OUTER);
	buf[9] = 47;
	buf[3]--;
	assert_int_equal(encap_check(&e, &rx, buf, n, n, true, &off), ENC_OUTER);
	/* pinned: zeros every time, nothing checked */
	e.pin_seq = true;
	memset(&rx, 0, sizeof(rx));
	hdr[11] = 0;
	n = dgram(buf, false, 47, hdr, 12);
	for (int i = 0; i < 3; i++)
		assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_OK);
}

static void test_l2tpv3(void **state)
{
	(void)state;
	struct encap e = { .kind = ENCAP_L2TPV3, .udp = true, .rx_session = 0x20, .tx_session = 0x10,
			   .cookie_len = 8, .rx_cookie = 0x1122334455667788ull,
			   .tx_cookie = 0x8877665544332211ull, .seq = true };
	uint8_t h[ENCAP_HDR_MAX], buf[128];
	struct encap_rx rx = { 0 };
	size_t off;
	encap_init(&e);
	assert_int_equal(e.hdr_len, 20);
	encap_build(&e, h, 1);
	const uint8_t want[] = { 0, 3, 0, 0, 0, 0, 0, 0x10, 0x88, 0x77, 0x66, 0x55,
				 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 1 };
	assert_memory_equal(h, want, sizeof(want));

	/* What the peer sends us. */
	uint8_t in[20] = { 0, 3, 0, 0, 0, 0, 0, 0x20, 0x11, 0x22, 0x33, 0x44,
			   0x55, 0x66, 0x77, 0x88, 0, 0, 0, 5 };
	size_t n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_OK);
	assert_int_equal(off, 20);
	in[19] = 6;
	in[2] = 0x5a; /* reserved bits are ignored */
	n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_OK);
	in[2] = 0;
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_SEQ);
	in[19] = 7;
	in[0] = 0x80; /* control message */
	n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_HDR);
	in[0] = 0;
	in[1] = 2; /* version 2 */
	n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_HDR);
	in[1] = 3;
	in[7] = 0x21;
	n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_SESSION);
	in[7] = 0x20;
	in[15] = 0x89;
	n = dgram(buf, false, 0, in, 20);
	assert_int_equal(encap_check(&e, &rx, buf, n, n, false, &off), ENC_COOKIE);

	/* IP mode, 32-bit cookie, no counter: session first, no UDP word. */
	struct encap ip = { .kind = ENCAP_L2TPV3, .rx_session = 0xffffffffu, .tx_session = 7,
			    .cookie_len = 4, .rx_cookie = 0xa1b2c3d4u, .tx_cookie = 0x01020304u };
	encap_init(&ip);
	assert_int_equal(ip.hdr_len, 8);
	encap_build(&ip, h, 0);
	const uint8_t iw[] = { 0, 0, 0, 7, 1, 2, 3, 4 };
	assert_memory_equal(h, iw, sizeof(iw));
	const uint8_t ii[] = { 0xff, 0xff, 0xff, 0xff, 0xa1, 0xb2, 0xc3, 0xd4 };
	n = dgram(buf, true, 115, ii, 8);
	assert_int_equal(encap_check(&ip, &rx, buf, n, n, true, &off), ENC_OK);
	assert_int_equal(off, 28);
	n = dgram(buf, true, 47, ii, 8);
	assert_int_equal(encap_check(&ip, &rx, buf, n, n, true, &off), ENC_OUTER);
	assert_string_equal(encap_reason_name(ENCAP_L2TPV3, ENC_SEQ), "rx_bad_counter");
	assert_null(encap_reason_name(ENCAP_L2TPV3, ENC_KEY));
	assert_null(encap_reason_name(ENCAP_GRE, ENC_COOKIE));
	assert_string_equal(encap_reason_name(ENCAP_GRE, ENC_KEY), "rx_bad_key");
}

/* ---- cutting UDP GRO buffers (encap_run) ---- */

/* Cuts a buffer of len bytes every seg; offs/lens get each datagram. */
static size_t cut(size_t len, size_t seg, size_t *offs, size_t *lens, size_t max)
{
	struct encap_run r;
	size_t n = 0, off, l;
	encap_run_init(&r, len, seg);
	while (n < max && encap_run_left(&r)) {
		assert_true(encap_run_next(&r, &off, &l));
		offs[n] = off;
		lens[n++] = l;
	}
	assert_false(encap_run_left(&r));
	assert_false(encap_run_next(&r, &off, &l));
	return n;
}

static void test_gro_run(void **state)
{
	(void)state;
	size_t o[80], l[80];

	/* Equal datagrams, then a shorter last one. */
	assert_int_equal(cut(300, 100, o, l, 80), 3);
	assert_int_equal(o[2], 200);
	assert_int_equal(l[2], 100);
	assert_int_equal(cut(250, 100, o, l, 80), 3);
	assert_int_equal(o[1], 100);
	assert_int_equal(l[1], 100);
	assert_int_equal(o[2], 200);
	assert_int_equal(l[2], 50);
	assert_int_equal(cut(201, 100, o, l, 80), 3);
	assert_int_equal(l[2], 1);
	/* No segment size, or one at least the buffer: one datagram. */
	assert_int_equal(cut(1514, 0, o, l, 80), 1);
	assert_int_equal(l[0], 1514);
	assert_int_equal(cut(1514, 1514, o, l, 80), 1);
	assert_int_equal(cut(1514, 9000, o, l, 80), 1);
	assert_int_equal(l[0], 1514);
	/* An empty datagram is one datagram (encap_check calls it short). */
	assert_int_equal(cut(0, 100, o, l, 80), 1);
	assert_int_equal(o[0], 0);
	assert_int_equal(l[0], 0);
	/* The largest run the host makes: 64 segments, under 64 KiB. */
	assert_int_equal(cut(64 * 1000, 1000, o, l, 80), 64);
	assert_int_equal(o[63], 63000);
	/* A segment size of 1 (a hostile or broken cmsg) still stays in. */
	assert_int_equal(cut(70, 1, o, l, 80), 70);
	assert_int_equal(o[69], 69);
	assert_int_equal(l[69], 1);
}

/* Every datagram cut from a run goes through encap_check on its own: a bad
 * one in the middle is refused, the ones around it pass, the counter goes
 * on per datagram, and a short last one is refused as short. */
static void test_gro_run_check(void **state)
{
	(void)state;
	struct encap e = { .kind = ENCAP_L2TPV3, .udp = true, .rx_session = 0x20, .tx_session = 0x20,
			   .cookie_len = 4, .rx_cookie = 0xabcd, .tx_cookie = 0xabcd, .seq = true };
	struct encap_rx rx = { 0 };
	uint8_t buf[5 * 40];
	encap_init(&e);
	assert_int_equal(e.hdr_len, 16);
	const size_t seg = 16 + 24;
	for (unsigned i = 0; i < 5; i++) {
		encap_build(&e, buf + i * seg, 10 + i);
		memset(buf + i * seg + 16, 0x40 + i, 24);
	}
	buf[2 * seg + 7] = 0x21; /* datagram 2: another session */
	/* Datagram 4 cut to 16 + 10 bytes: shorter than an Ethernet header. */
	size_t len = 4 * seg + 16 + 10;
	enum encap_reason want[] = { ENC_OK, ENC_OK, ENC_SESSION, ENC_OK, ENC_SHORT };
	struct encap_run r;
	size_t off, l, foff, i = 0;
	encap_run_init(&r, len, seg);
	while (encap_run_next(&r, &off, &l)) {
		assert_true(i < 5);
		assert_int_equal(encap_check(&e, &rx, buf + off, l, l, false, &foff), want[i]);
		if (want[i] == ENC_OK)
			assert_int_equal(buf[off + foff], 0x40 + i);
		i++;
	}
	assert_int_equal(i, 5);
	assert_int_equal(rx.next, 14); /* taken: 10, 11, 13 */
	/* The same run again is a replay: every counter refused. */
	encap_run_init(&r, 2 * seg, seg);
	while (encap_run_next(&r, &off, &l))
		assert_int_equal(encap_check(&e, &rx, buf + off, l, l, false, &foff), ENC_SEQ);
}

/* ---- option validation (the transports' check ops through nf_opt_parse) ---- */

static const struct {
	const char *arg, *err; /* err NULL: accepted */
} cases[] = {
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2", NULL },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,rx_key=-1,tx_key=0xffffffff,sequence=1,pin_sequence=1", NULL },
	{ "vec1:transport=gre,src=h1,dst=h2,v6=1", NULL },
	{ "vec1:transport=gre,src=fd00::1,dst=fd00::2,v6=1,headroom=32,vec=0,mtu=1400", NULL },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,rx_key=x,tx_key=1",
	  "vec1: rx_key: expected a number, got \"x\"" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,rx_key=1",
	  "vec1: rx_key: needs tx_key too (keys go both ways)" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,tx_key=1",
	  "vec1: tx_key: needs rx_key too (keys go both ways)" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,rx_key=-2147483649,tx_key=1",
	  "vec1: rx_key: -2147483649 is out of range -2147483648..4294967295" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,pin_sequence=1",
	  "vec1: pin_sequence: needs sequence=1" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=fd00::2,v6=1",
	  "vec1: src: 10.0.0.1 is an IPv4 address, but v6=1" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=fd00::2", "vec1: dst: fd00::2 is an IPv6 address: add v6=1" },
	{ "vec1:transport=gre,dst=10.0.0.2", "vec1: src: required by transport gre" },
	{ "vec1:transport=gre,src=10.0.0.1,dst=10.0.0.2,dstport=5",
	  "vec1: dstport: unknown option for transport gre (known: depth, mac, gro, mtu, headroom, "
	  "vec, mrg, coalesce, bpffile, bpf, bpfflash, src, dst, v6, rx_key, tx_key, sequence, pin_sequence)" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2", NULL },
	{ "vec1:transport=l2tpv3,udp=1,src=a,dst=b,srcport=1,dstport=65535,rx_session=-1,tx_session=2,"
	  "rx_cookie=0xffffffff,tx_cookie=0,counter=1,pin_counter=1", NULL },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,cookie64=1,"
	  "rx_cookie=0x1122334455667788,tx_cookie=18446744073709551615", NULL },
	{ "vec1:transport=l2tpv3,src=a,dst=b,tx_session=2", "vec1: rx_session: required by transport l2tpv3" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=0,tx_session=2",
	  "vec1: rx_session: 0 is reserved for control messages" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,rx_cookie=5",
	  "vec1: rx_cookie: needs tx_cookie too (cookies go both ways)" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,tx_cookie=5",
	  "vec1: tx_cookie: needs rx_cookie too (cookies go both ways)" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,rx_cookie=1,tx_cookie=0x100000000",
	  "vec1: tx_cookie: does not fit in 32 bits (cookie64=1 for 64-bit cookies)" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,cookie64=1",
	  "vec1: cookie64: needs rx_cookie and tx_cookie" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,rx_cookie=-1,tx_cookie=1",
	  "vec1: rx_cookie: expected a number, got \"-1\"" },
	{ "vec1:transport=l2tpv3,udp=1,src=a,dst=b,rx_session=1,tx_session=2,dstport=1",
	  "vec1: srcport: required with udp=1" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,srcport=1",
	  "vec1: srcport: only with udp=1 (L2TPv3 over IP has no ports)" },
	{ "vec1:transport=l2tpv3,src=a,dst=b,rx_session=1,tx_session=2,pin_counter=1",
	  "vec1: pin_counter: needs counter=1" },
	{ "vec1:transport=l2tpv3,v6=1,src=::1,dst=127.0.0.1,rx_session=1,tx_session=2",
	  "vec1: dst: 127.0.0.1 is an IPv4 address, but v6=1" },
};

static void test_options(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nf_devcfg cfg;
		char err[256] = "";
		int rc = nf_opt_parse(cases[i].arg, &cfg, err, sizeof(err));
		if (cases[i].err ? rc != -EINVAL || strcmp(err, cases[i].err) : rc != 0) {
			print_message("%s\n  want: %s\n  got:  %d \"%s\"\n", cases[i].arg,
				      cases[i].err ? cases[i].err : "(accepted)", rc, err);
			fail();
		}
		if (rc == 0)
			nf_devcfg_release(&cfg);
	}
	/* Values reach the config: headroom accepted (no effect), mtu_set. */
	struct nf_devcfg cfg;
	char err[256];
	assert_int_equal(nf_opt_parse("vec2:transport=gre,src=a,dst=b,headroom=64,mtu=1400", &cfg, err,
				      sizeof(err)), 0);
	assert_int_equal(cfg.headroom, 64);
	assert_true(cfg.mtu_set);
	assert_int_equal(nf_devcfg_topt(&cfg, "dst")->str[0], 'b');
	nf_devcfg_release(&cfg);
	assert_int_equal(nf_opt_parse("vec2:transport=gre,src=a,dst=b", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.mtu_set);
	nf_devcfg_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gre_wire),
		cmocka_unit_test(test_gre_check),
		cmocka_unit_test(test_l2tpv3),
		cmocka_unit_test(test_gro_run),
		cmocka_unit_test(test_gro_run_check),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
