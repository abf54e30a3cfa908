/* Software offloads (datapath/offload.c): checksums, parsing, GSO and GRO.
 *
 * Frames come from a small builder below; every checksum is checked with
 * ref_sum(), a plain byte-at-a-time RFC 1071 sum written here, never with
 * the code under test. Payload bytes are a function of their TCP sequence
 * number (pat()), so any segment or merged frame can be checked on its own.
 *
 *   builder layout:  dst src [8100 tci]* type | IP (+opts) | TCP (+opts) | payload | pad
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frames.h"
#include "offload.h"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10
#define URG 0x20
#define ECE 0x40
#define CWR 0x80

#define BIG (140 * 1024)

/* ---- independent reference ---- */

/* Folded (not complemented) RFC 1071 sum, one byte at a time. */
static uint16_t ref_sum(const uint8_t *p, size_t n, uint64_t init)
{
	uint64_t s = init;
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)(v >> 16)), wr16(p + 2, (uint16_t)v); }

static uint8_t pat(uint32_t seq) { return (uint8_t)(seq * 7u + (seq >> 8) * 13u + 1u); }

/* Where the reference builder put things. */
struct layout {
	size_t l3, l4, pay, end; /* end: IP packet end (padding after it) */
	bool v6;
};

/* Sum of the TCP pseudo-header, built as bytes. */
static uint64_t ref_pseudo(const uint8_t *f, const struct layout *L)
{
	uint8_t ph[40];
	size_t n;
	uint32_t tl = (uint32_t)(L->end - L->l4);

	memset(ph, 0, sizeof(ph));
	if (L->v6) {
		memcpy(ph, f + L->l3 + 8, 32);
		wr32(ph + 32, tl);
		ph[39] = 6;
		n = 40;
	} else {
		memcpy(ph, f + L->l3 + 12, 8);
		ph[9] = 6;
		wr16(ph + 10, (uint16_t)tl);
		n = 12;
	}
	return ref_sum(ph, n, 0);
}

static bool ref_ip_ok(const uint8_t *f, const struct layout *L)
{
	return L->v6 || ref_sum(f + L->l3, L->l4 - L->l3, 0) == 0xffff;
}

static bool ref_tcp_ok(const uint8_t *f, const struct layout *L)
{
	return ref_sum(f + L->l4, L->end - L->l4, ref_pseudo(f, L)) == 0xffff;
}

static void ref_tcp_fill(uint8_t *f, const struct layout *L)
{
	wr16(f + L->l4 + 16, 0);
	wr16(f + L->l4 + 16, (uint16_t)~ref_sum(f + L->l4, L->end - L->l4, ref_pseudo(f, L)));
}

/* NEEDS_CSUM completion as a receiver would do it. */
static void ref_complete(uint8_t *f, size_t len, size_t start, size_t off)
{
	wr16(f + start + off, (uint16_t)~ref_sum(f + start, len - start, 0));
}

/* ---- frame builder ---- */

struct spec {
	int vlans;
	bool v6;
	int ipopt;  /* IPv4 option bytes, multiple of 4 */
	int tcpopt; /* TCP option bytes, multiple of 4 */
	uint8_t optx; /* xored into the option bytes after the first two */
	size_t payload;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t id, win, sport;
	bool df;
	uint8_t tos, ttl;
	uint32_t flow; /* IPv6 flow label */
	int pad;       /* Ethernet padding after the IP packet */
	uint8_t proto; /* 0: TCP */
};

static struct spec spec4(size_t payload)
{
	return (struct spec){.payload = payload, .flags = ACK, .seq = 1000000, .ack = 77,
			     .id = 0x1234, .win = 512, .sport = 40000, .ttl = 64};
}

static struct spec spec6(size_t payload)
{
	struct spec s = spec4(payload);
	s.v6 = true;
	s.flow = 0x12345;
	return s;
}

static size_t build(uint8_t *f, const struct spec *s, struct layout *L)
{
	struct layout l = {.v6 = s->v6};
	size_t o = 12;
	const uint8_t dst[6] = {2, 0, 0, 0, 0, 1}, src[6] = {2, 0, 0, 0, 0, 2};

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	for (int i = 0; i < s->vlans; i++) {
		wr16(f + o, i == 0 && s->vlans == 2 ? 0x88a8 : 0x8100);
		wr16(f + o + 2, (uint16_t)(100 + i));
		o += 4;
	}
	wr16(f + o, s->v6 ? 0x86dd : 0x0800);
	l.l3 = o + 2;
	size_t ipl = s->v6 ? 40 : 20 + (size_t)s->ipopt;
	l.l4 = l.l3 + ipl;
	l.pay = l.l4 + 20 + (size_t)s->tcpopt;
	l.end = l.pay + s->payload;
	uint8_t *ip = f + l.l3, *th = f + l.l4;
	uint8_t proto = s->proto ? s->proto : 6;

	memset(ip, 0, ipl);
	if (s->v6) {
		wr32(ip, 6u << 28 | (uint32_t)s->tos << 20 | s->flow);
		wr16(ip + 4, (uint16_t)(l.end - l.l4));
		ip[6] = proto;
		ip[7] = s->ttl;
		for (int i = 0; i < 16; i++) {
			ip[8 + i] = (uint8_t)(0x20 + i);
			ip[24 + i] = (uint8_t)(0x40 + i);
		}
	} else {
		ip[0] = (uint8_t)(0x40 | ipl / 4);
		ip[1] = s->tos;
		wr16(ip + 2, (uint16_t)(l.end - l.l3));
		wr16(ip + 4, s->id);
		wr16(ip + 6, s->df ? 0x4000 : 0);
		ip[8] = s->ttl;
		ip[9] = proto;
		const uint8_t a[8] = {10, 0, 0, 1, 192, 168, 7, 9};
		memcpy(ip + 12, a, 8);
		for (int i = 0; i < s->ipopt; i++) /* NOP ... NOP */
			ip[20 + i] = 1;
		wr16(ip + 10, (uint16_t)~ref_sum(ip, ipl, 0));
	}
	memset(th, 0, 20);
	wr16(th, s->sport);
	wr16(th + 2, 80);
	wr32(th + 4, s->seq);
	wr32(th + 8, s->ack);
	th[12] = (uint8_t)((20 + s->tcpopt) / 4 << 4);
	th[13] = s->flags;
	wr16(th + 14, s->win);
	for (int i = 0; i < s->tcpopt; i++) /* NOPs, then a timestamp-ish tail */
		th[20 + i] = i < 2 ? 1 : (uint8_t)((0x50 + i) ^ s->optx);
	for (size_t i = 0; i < s->payload; i++)
		f[l.pay + i] = pat(s->seq + (uint32_t)i);
	ref_tcp_fill(f, &l);
	for (int i = 0; i < s->pad; i++)
		f[l.end + i] = 0xee;
	if (L)
		*L = l;
	return l.end + (size_t)s->pad;
}

static struct layout from_l34(const uint8_t *f, const struct ofl_l34 *l)
{
	struct layout L = {.l3 = l->l3_off, .l4 = l->l4_off, .pay = l->payload_off, .v6 = l->ipv6};
	L.end = L.v6 ? L.l3 + 40 + rd16(f + L.l3 + 4) : L.l3 + rd16(f + L.l3 + 2);
	return L;
}

/* ---- checksums ---- */

static void test_csum_vectors(void **state)
{
	(void)state;
	const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0, rfc, sizeof(rfc))), 0xddf2);
	/* Chained: even pieces then an odd tail. */
	uint32_t s = ofl_csum_add(0, rfc, 2);
	s = ofl_csum_add(s, rfc + 2, 4);
	s = ofl_csum_add(s, rfc + 6, 2);
	assert_int_equal(ofl_csum_fold(s), 0xddf2);
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0, rfc, 3)), 0xf201); /* 0001 + f200 */
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0, rfc, 0)), 0);
	assert_int_equal(ofl_csum_fold(0x12345678), (0x1234 + 0x5678));
	assert_int_equal(ofl_csum_fold(0xffffffffu), 0xffff);
	assert_int_equal(ofl_csum_fold(0x0001ffffu), 0x0001);
	/* A carry from the top: start near the end of the accumulator. */
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0xffffffffu, rfc, sizeof(rfc))),
			 ref_sum(rfc, sizeof(rfc), 0xffffffffu));
}

static void test_csum_lengths(void **state)
{
	(void)state;
	static uint8_t buf[70000 + 8];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	/* Every length 0..300 at every alignment 0..7, then big ones. */
	for (size_t al = 0; al < 8; al++)
		for (size_t n = 0; n <= 300; n++)
			assert_int_equal(ofl_csum_fold(ofl_csum_add(0, buf + al, n)),
					 ref_sum(buf + al, n, 0));
	const size_t big[] = {1499, 1500, 9001, 65535, 65536, 70000};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		assert_int_equal(ofl_csum_fold(ofl_csum_add(7, buf + 3, big[i])),
				 ref_sum(buf + 3, big[i], 7));
	/* All 0xff: the worst case for carries. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0, buf, 70000)), ref_sum(buf, 70000, 0));
	assert_int_equal(ofl_csum_fold(ofl_csum_add(0, buf, 70001)), ref_sum(buf, 70001, 0));
}

static void test_csum_complete(void **state)
{
	(void)state;
	static uint8_t f[2000];
	struct spec s = spec4(333); /* odd TCP length */
	struct layout L;
	size_t n = build(f, &s, &L);

	/* Seed = pseudo-header sum, as a NEEDS_CSUM sender leaves it. */
	wr16(f + L.l4 + 16, ref_sum(NULL, 0, ref_pseudo(f, &L)));
	assert_int_equal(ofl_csum_complete(f, n, (uint16_t)L.l4, 16), 0);
	assert_true(ref_tcp_ok(f, &L));

	s = spec6(1000);
	n = build(f, &s, &L);
	wr16(f + L.l4 + 16, ref_sum(NULL, 0, ref_pseudo(f, &L)));
	assert_int_equal(ofl_csum_complete(f, n, (uint16_t)L.l4, 16), 0);
	assert_true(ref_tcp_ok(f, &L));

	/* Offsets that do not fit. */
	assert_int_equal(ofl_csum_complete(f, 100, 99, 0), -EINVAL);
	assert_int_equal(ofl_csum_complete(f, 100, 98, 0), 0);
	assert_int_equal(ofl_csum_complete(f, 100, 101, 0), -EINVAL);
	assert_int_equal(ofl_csum_complete(f, 100, 50, 49), -EINVAL);
	assert_int_equal(ofl_csum_complete(f, 100, 0, 0xffff), -EINVAL);
	assert_int_equal(ofl_csum_complete(f, 100, 0xffff, 0xffff), -EINVAL);
}

/* ---- parsing ---- */

static void check_parse(const struct spec *s)
{
	static uint8_t f[4000];
	struct layout L;
	struct ofl_l34 l;
	size_t n = build(f, s, &L);

	assert_int_equal(ofl_parse_tcp(f, n, &l), 0);
	assert_int_equal(l.l3_off, L.l3);
	assert_int_equal(l.l4_off, L.l4);
	assert_int_equal(l.payload_off, L.pay);
	assert_int_equal(l.ipv6, s->v6);
	/* Cut anywhere before the end of the IP packet: -EINVAL. */
	for (size_t k = 0; k < L.end; k++)
		assert_int_equal(ofl_parse_tcp(f, k, &l), -EINVAL);
}

static void test_parse_shapes(void **state)
{
	(void)state;
	for (int v6 = 0; v6 <= 1; v6++)
		for (int vl = 0; vl <= 2; vl++)
			for (int opt = 0; opt <= 40; opt += 20)
				for (size_t pl = 0; pl <= 7; pl += 7) {
					struct spec s = v6 ? spec6(pl) : spec4(pl);
					s.vlans = vl;
					s.tcpopt = opt;
					s.ipopt = v6 ? 0 : opt;
					s.pad = (int)pl; /* padding is fine */
					check_parse(&s);
				}
}

static void test_parse_bad(void **state)
{
	(void)state;
	static uint8_t f[2000];
	struct ofl_l34 l;
	struct layout L;
	struct spec s = spec4(100);
	size_t n;

	/* Three VLAN tags. */
	s.vlans = 2;
	n = build(f, &s, &L);
	memmove(f + 16, f + 12, n - 12);
	wr16(f + 12, 0x8100);
	wr16(f + 14, 5);
	assert_int_equal(ofl_parse_tcp(f, n + 4, &l), -EPROTONOSUPPORT);

	/* Not IP. */
	s = spec4(100);
	n = build(f, &s, &L);
	wr16(f + 12, 0x0806);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);

	/* IPv4 fragments: MF, or an offset. */
	n = build(f, &s, &L);
	wr16(f + L.l3 + 6, 0x2000);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);
	wr16(f + L.l3 + 6, 0x4001);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);
	wr16(f + L.l3 + 6, 0x4000); /* DF alone is fine */
	assert_int_equal(ofl_parse_tcp(f, n, &l), 0);

	/* UDP. */
	s.proto = 17;
	n = build(f, &s, &L);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);
	s = spec6(100);
	s.proto = 17;
	n = build(f, &s, &L);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);

	/* IPv6 with a hop-by-hop extension header. */
	s = spec6(100);
	s.proto = 0; /* next header 0 */
	n = build(f, &s, &L);
	f[L.l3 + 6] = 0;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EPROTONOSUPPORT);

	/* IHL < 5. */
	s = spec4(100);
	n = build(f, &s, &L);
	f[L.l3] = 0x44;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	/* Wrong version nibble. */
	f[L.l3] = 0x65;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	s = spec6(100);
	n = build(f, &s, &L);
	f[L.l3] = 0x40;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);

	/* TCP data offset < 5, and beyond the IP payload. */
	s = spec4(100);
	n = build(f, &s, &L);
	f[L.l4 + 12] = 0x40;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	s = spec4(0);
	s.pad = 40; /* the options would fit in the frame, not in the packet */
	n = build(f, &s, &L);
	f[L.l4 + 12] = 0x60;
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);

	/* IPv4 total length beyond the frame, and smaller than the header. */
	s = spec4(100);
	n = build(f, &s, &L);
	assert_int_equal(ofl_parse_tcp(f, n - 1, &l), -EINVAL);
	wr16(f + L.l3 + 2, 19);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	wr16(f + L.l3 + 2, 39); /* TCP header cut by the IP length */
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	wr16(f + L.l3 + 2, 0xffff);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	/* IPv4 options longer than the total length. */
	n = build(f, &s, &L);
	f[L.l3] = 0x4f;
	wr16(f + L.l3 + 2, 40);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);

	/* IPv6 payload length beyond the frame. */
	s = spec6(100);
	n = build(f, &s, &L);
	assert_int_equal(ofl_parse_tcp(f, n - 1, &l), -EINVAL);
	wr16(f + L.l3 + 4, 19);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
	wr16(f + L.l3 + 4, 0);
	assert_int_equal(ofl_parse_tcp(f, n, &l), -EINVAL);
}

/* ---- segmentation ---- */

static uint8_t gso_in[BIG], gso_out[BIG + 64 * 1024];
static struct ofl_seg segs[1024];

/* Checks segments of the frame built from s at mss: everything the
 * contract promises, checksums by the reference. */
static void check_segments(const struct spec *s, const uint8_t *in, const struct layout *L,
			   int n, size_t mss, enum ofl_csum_mode mode)
{
	size_t payload = s->payload, done = 0;
	int want = payload ? (int)((payload + mss - 1) / mss) : 1;

	assert_int_equal(n, want);
	for (int i = 0; i < n; i++) {
		uint8_t *f = gso_out + segs[i].off;
		size_t chunk = payload - done < mss ? payload - done : mss;
		struct ofl_l34 l;
		struct layout SL;

		if (i > 0)
			assert_int_equal(segs[i].off, segs[i - 1].off + segs[i - 1].len);
		assert_int_equal(segs[i].len, L->pay + chunk);
		assert_int_equal(ofl_parse_tcp(f, segs[i].len, &l), 0);
		SL = from_l34(f, &l);
		assert_int_equal(SL.l4, L->l4);
		assert_int_equal(SL.pay, L->pay);
		assert_int_equal(SL.end, segs[i].len);
		/* Header bytes: L2 identical; IP apart from len/id/csum. */
		assert_memory_equal(f, in, L->l3);
		if (L->v6) {
			assert_memory_equal(f + L->l3, in + L->l3, 4);
			assert_memory_equal(f + L->l3 + 6, in + L->l3 + 6, 34);
			assert_int_equal(rd16(f + L->l3 + 4), SL.end - L->l4);
		} else {
			assert_int_equal(rd16(f + L->l3 + 2), SL.end - L->l3);
			assert_int_equal(rd16(f + L->l3 + 4), (uint16_t)(s->id + i));
			assert_memory_equal(f + L->l3 + 6, in + L->l3 + 6, 4);
			assert_memory_equal(f + L->l3 + 12, in + L->l3 + 12, L->l4 - L->l3 - 12);
			assert_true(ref_ip_ok(f, &SL));
		}
		/* TCP: seq, flags, the rest as given. */
		assert_memory_equal(f + L->l4, in + L->l4, 4);
		assert_int_equal(rd32(f + L->l4 + 4), s->seq + (uint32_t)done);
		assert_memory_equal(f + L->l4 + 8, in + L->l4 + 8, 5);
		uint8_t fl = s->flags;
		if (i > 0)
			fl &= (uint8_t)~CWR;
		if (i < n - 1)
			fl &= (uint8_t)~(FIN | PSH);
		assert_int_equal(f[L->l4 + 13], fl);
		assert_memory_equal(f + L->l4 + 14, in + L->l4 + 14, 2);
		assert_memory_equal(f + L->l4 + 18, in + L->l4 + 18, L->pay - L->l4 - 18);
		for (size_t k = 0; k < chunk; k++)
			assert_int_equal(f[L->pay + k], pat(s->seq + (uint32_t)(done + k)));

		assert_int_equal(segs[i].hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_int_equal(segs[i].hdr.gso_size, 0);
		assert_int_equal(segs[i].hdr.hdr_len, L->pay);
		assert_int_equal(segs[i].hdr.num_buffers, 0);
		if (mode == OFL_CSUM_FULL) {
			assert_int_equal(segs[i].hdr.flags, 0);
			assert_true(ref_tcp_ok(f, &SL));
		} else {
			assert_int_equal(segs[i].hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(segs[i].hdr.csum_start, L->l4);
			assert_int_equal(segs[i].hdr.csum_offset, 16);
			assert_int_equal(rd16(f + L->l4 + 16), ref_sum(NULL, 0, ref_pseudo(f, &SL)));
			ref_complete(f, segs[i].len, segs[i].hdr.csum_start, segs[i].hdr.csum_offset);
			assert_true(ref_tcp_ok(f, &SL));
		}
		done += chunk;
	}
	assert_int_equal(done, payload);
}

static void run_gso(const struct spec *s, size_t mss)
{
	struct layout L;
	size_t n = build(gso_in, s, &L);
	struct virtio_net_hdr_v1 h = {.gso_type = s->v6 ? VIRTIO_NET_HDR_GSO_TCPV6
							: VIRTIO_NET_HDR_GSO_TCPV4,
				      .gso_size = (uint16_t)mss};
	if (s->flags & CWR)
		h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	/* The input TCP checksum is ignored: spoil it. */
	wr16(gso_in + L.l4 + 16, 0xdead);
	for (int m = OFL_CSUM_FULL; m <= OFL_CSUM_PARTIAL; m++) {
		memset(gso_out, 0xa5, sizeof(gso_out));
		int r = ofl_gso_segment(gso_in, n, &h, (enum ofl_csum_mode)m, gso_out,
					sizeof(gso_out), segs, 1024);
		check_segments(s, gso_in, &L, r, mss, (enum ofl_csum_mode)m);
	}
}

static void test_gso_shapes(void **state)
{
	(void)state;
	const size_t payloads[] = {3000, 2896, 1, 1448, 1449, 0, 64000};
	for (int v6 = 0; v6 <= 1; v6++)
		for (int vl = 0; vl <= 2; vl++)
			for (int opt = 0; opt <= 12; opt += 12)
				for (size_t p = 0; p < sizeof(payloads) / sizeof(payloads[0]); p++) {
					struct spec s = v6 ? spec6(payloads[p]) : spec4(payloads[p]);
					s.vlans = vl;
					s.tcpopt = opt;
					s.ipopt = v6 ? 0 : opt + 4;
					s.flags = ACK | PSH | FIN | CWR;
					s.pad = vl * 3;
					run_gso(&s, 1448);
				}
}

static void test_gso_3000(void **state)
{
	(void)state;
	struct spec s = spec4(3000);
	struct layout L;
	size_t n = build(gso_in, &s, &L);
	struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};

	int r = ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, sizeof(gso_out), segs, 8);
	assert_int_equal(r, 3);
	assert_int_equal(segs[0].len - L.pay, 1448);
	assert_int_equal(segs[1].len - L.pay, 1448);
	assert_int_equal(segs[2].len - L.pay, 104);
	check_segments(&s, gso_in, &L, r, 1448, OFL_CSUM_FULL);

	/* ID wrap, sequence wrap, tiny mss. */
	s = spec4(100);
	s.id = 0xfffe;
	s.seq = 0xffffffe0u;
	s.flags = ACK | PSH;
	n = build(gso_in, &s, &L);
	h.gso_size = 7;
	r = ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, sizeof(gso_out), segs, 15);
	check_segments(&s, gso_in, &L, r, 7, OFL_CSUM_FULL);
	/* mss bigger than the payload: one segment. */
	h.gso_size = 65535;
	r = ofl_gso_segment(gso_in, n, &h, OFL_CSUM_PARTIAL, gso_out, sizeof(gso_out), segs, 1);
	check_segments(&s, gso_in, &L, r, 65535, OFL_CSUM_PARTIAL);
}

/* ofl_gso_split: an IPv4 BIG TCP frame (IP length 0) and an IPv6 frame cut
 * into GSO pieces; each piece is checked on its own, then segmented again,
 * and the segments of all pieces must be exactly the segments of the
 * original (IDs, sequence numbers, payload, flags). */
static uint8_t split_out[BIG + 64 * 1024], reseg[BIG + 64 * 1024];
static struct ofl_seg pieces[64], psegs[1024];

static void check_split(const struct spec *s, uint8_t *in, size_t n, const struct layout *L,
			size_t mss, size_t max_frame)
{
	struct virtio_net_hdr_v1 h = {.gso_type = s->v6 ? VIRTIO_NET_HDR_GSO_TCPV6
							: VIRTIO_NET_HDR_GSO_TCPV4,
				      .gso_size = (uint16_t)mss};
	int np = ofl_gso_split(in, n, &h, max_frame, split_out, sizeof(split_out), pieces, 64);
	assert_true(np > 1);
	size_t done = 0;
	int total = 0;
	for (int i = 0; i < np; i++) {
		uint8_t *f = split_out + pieces[i].off;
		size_t plen = pieces[i].len - L->pay;
		struct ofl_l34 l;
		assert_true(pieces[i].len <= max_frame);
		assert_int_equal(ofl_parse_tcp(f, pieces[i].len, &l), 0);
		struct layout PL = from_l34(f, &l);
		assert_int_equal(PL.end, pieces[i].len); /* a real 16-bit IP length */
		if (i < np - 1)
			assert_int_equal(plen % mss, 0);
		assert_int_equal(rd32(f + L->l4 + 4), s->seq + (uint32_t)done);
		if (!s->v6) {
			assert_true(ref_ip_ok(f, &PL));
			assert_int_equal(rd16(f + L->l3 + 4), (uint16_t)(s->id + done / mss));
		}
		assert_int_equal(pieces[i].hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(pieces[i].hdr.csum_start, L->l4);
		assert_int_equal(pieces[i].hdr.csum_offset, 16);
		assert_int_equal(pieces[i].hdr.hdr_len, L->pay);
		assert_int_equal(rd16(f + L->l4 + 16), ref_sum(NULL, 0, ref_pseudo(f, &PL)));
		if (plen > mss) {
			assert_int_equal(pieces[i].hdr.gso_type, h.gso_type);
			assert_int_equal(pieces[i].hdr.gso_size, mss);
		} else {
			assert_int_equal(pieces[i].hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		}
		/* Segment the piece again: its segments continue the original's. */
		struct virtio_net_hdr_v1 ph = h;
		int ns = ofl_gso_segment(f, pieces[i].len, &ph, OFL_CSUM_FULL, reseg, sizeof(reseg),
					 psegs, 1024);
		assert_true(ns > 0);
		for (int k = 0; k < ns; k++) {
			uint8_t *g = reseg + psegs[k].off;
			size_t off = done + (size_t)k * mss;
			assert_int_equal(rd32(g + L->l4 + 4), s->seq + (uint32_t)off);
			if (!s->v6)
				assert_int_equal(rd16(g + L->l3 + 4), (uint16_t)(s->id + total + k));
			for (size_t b = 0; b < psegs[k].len - L->pay; b += 97)
				assert_int_equal(g[L->pay + b], pat(s->seq + (uint32_t)(off + b)));
			uint8_t fl = s->flags;
			if (total + k > 0)
				fl &= (uint8_t)~CWR;
			if (!(i == np - 1 && k == ns - 1))
				fl &= (uint8_t)~(FIN | PSH);
			assert_int_equal(g[L->l4 + 13], fl);
		}
		total += ns;
		done += plen;
	}
	assert_int_equal(done, s->payload);
	assert_int_equal(total, (int)((s->payload + mss - 1) / mss));
}

static void test_gso_split(void **state)
{
	(void)state;
	struct layout L;

	/* IPv4 BIG TCP: 100000 bytes of payload, IP length field 0. */
	struct spec s = spec4(100000);
	s.flags = ACK | PSH | FIN | CWR;
	s.df = true;
	size_t n = build(gso_in, &s, &L);
	wr16(gso_in + L.l3 + 2, 0);
	wr16(gso_in + L.l3 + 10, 0);
	wr16(gso_in + L.l3 + 10, (uint16_t)~ref_sum(gso_in + L.l3, L.l4 - L.l3, 0));
	struct ofl_l34 l;
	assert_int_equal(ofl_parse_tcp(gso_in, n, &l), 0);
	assert_int_equal(l.ip_end, n);
	check_split(&s, gso_in, n, &L, 1448, 65535 + 14);
	check_split(&s, gso_in, n, &L, 1448, 20000);

	/* IPv6 with a VLAN tag, cut for a small receive buffer. */
	s = spec6(60000);
	s.vlans = 1;
	s.tcpopt = 12;
	n = build(gso_in, &s, &L);
	check_split(&s, gso_in, n, &L, 1220, 16384);

	/* Length 0 is BIG TCP only for packets too long for the field. */
	s = spec4(1000);
	n = build(gso_in, &s, &L);
	wr16(gso_in + L.l3 + 2, 0);
	assert_int_equal(ofl_parse_tcp(gso_in, n, &l), -EINVAL);

	/* Room for the headers only, and more pieces than allowed. */
	s = spec4(30000);
	n = build(gso_in, &s, &L);
	struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};
	assert_int_equal(ofl_gso_split(gso_in, n, &h, L.pay + 100, split_out, sizeof(split_out),
				       pieces, 64), -EINVAL);
	assert_int_equal(ofl_gso_split(gso_in, n, &h, L.pay + 1448, split_out, sizeof(split_out),
				       pieces, 4), -ENOSPC);
}

/* Headers-only parsing never reads at or past have. */
static void test_parse_headers_only(void **state)
{
	(void)state;
	struct layout L;
	struct ofl_l34 l;
	struct spec s = spec4(5000);
	s.ipopt = 40;
	s.tcpopt = 20;
	size_t n = build(gso_in, &s, &L);
	uint8_t *copy = malloc(L.pay);
	assert_non_null(copy);
	memcpy(copy, gso_in, L.pay);
	assert_int_equal(ofl_parse_tcp_headers(copy, L.pay, n, &l), 0);
	assert_int_equal(l.payload_off, L.pay);
	assert_int_equal(l.ip_end, n);
	/* Cut inside the TCP header, inside the IP options, inside Ethernet:
	 * ASan catches any read past the copy. */
	const size_t cuts[] = {L.l4 + 12, L.l4 + 2, L.l3 + 30, L.l3 + 4, 10};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		uint8_t *c = malloc(cuts[i]);
		assert_non_null(c);
		memcpy(c, gso_in, cuts[i]);
		assert_int_equal(ofl_parse_tcp_headers(c, cuts[i], n, &l), -EINVAL);
		free(c);
	}
	free(copy);
}

static void test_gso_errors(void **state)
{
	(void)state;
	struct spec s = spec4(3000);
	struct layout L;
	size_t n = build(gso_in, &s, &L);
	struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};
	size_t need = 3 * L.pay + 3000;

	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, need, segs, 3), 3);
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, need - 1, segs, 3),
			 -ENOSPC);
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, need, segs, 2),
			 -ENOSPC);
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, 0, segs, 0),
			 -ENOSPC);
	h.gso_size = 0;
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9),
			 -EINVAL);
	h.gso_size = 1448;
	const uint8_t bad4[] = {VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV6,
				VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_ECN, 2, 0x81 | 0x40};
	for (size_t i = 0; i < sizeof(bad4); i++) {
		h.gso_type = bad4[i];
		assert_int_equal(
			ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9),
			-EINVAL);
	}
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9), 3);

	s = spec6(3000);
	n = build(gso_in, &s, &L);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9),
			 -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9), 3);
	/* Malformed and unsupported frames pass the parser's error through. */
	assert_int_equal(ofl_gso_segment(gso_in, n - 1, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9),
			 -EINVAL);
	s.proto = 17;
	n = build(gso_in, &s, &L);
	assert_int_equal(ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, BIG, segs, 9),
			 -EPROTONOSUPPORT);
}

/* ---- coalescing ---- */

#define MSS 1448
static uint8_t gro_buf[BIG];
static uint8_t fr[64][2000];
static size_t frlen[64];

/* frames[i] = segment i of a stream: seq base + i * MSS, ID id + i. */
static void make_stream(const struct spec *base, int count)
{
	for (int i = 0; i < count; i++) {
		struct spec s = *base;
		s.seq += (uint32_t)(i * (int)base->payload);
		s.id = (uint16_t)(s.id + i);
		frlen[i] = build(fr[i], &s, NULL);
	}
}

/* Appends a frame that must be refused, and checks g did not move. */
static void refuse(struct ofl_gro *g, const uint8_t *f, size_t n)
{
	struct ofl_gro before = *g;
	static uint8_t copy[BIG];
	memcpy(copy, g->buf, g->len);
	assert_int_equal(ofl_gro_append(g, f, n), 0);
	assert_memory_equal(&before, g, sizeof(before));
	assert_memory_equal(copy, g->buf, g->len);
}

/* Completes a finished frame with the reference checksum, re-segments it
 * with its own header and checks it gives back exactly frames[0..n). */
static void resegment_equals(struct ofl_gro *g, int n)
{
	struct virtio_net_hdr_v1 h;
	size_t len = ofl_gro_finish(g, &h);
	struct ofl_l34 l;

	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, g->l.l4_off);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.hdr_len, g->l.payload_off);
	assert_int_equal(ofl_parse_tcp(g->buf, len, &l), 0);
	struct layout L = from_l34(g->buf, &l);
	assert_int_equal(L.end, len);
	assert_true(ref_ip_ok(g->buf, &L));
	assert_int_equal(rd16(g->buf + L.l4 + 16), ref_sum(NULL, 0, ref_pseudo(g->buf, &L)));
	ref_complete(g->buf, len, h.csum_start, h.csum_offset);
	assert_true(ref_tcp_ok(g->buf, &L));
	if (n == 1) {
		assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_int_equal(h.gso_size, 0);
		assert_int_equal(len, frlen[0]);
		assert_memory_equal(g->buf, fr[0], len);
		return;
	}
	assert_int_equal(h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN,
			 l.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
	int r = ofl_gso_segment(g->buf, len, &h, OFL_CSUM_FULL, gso_out, sizeof(gso_out), segs,
				1024);
	assert_int_equal(r, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(segs[i].len, frlen[i]);
		assert_memory_equal(gso_out + segs[i].off, fr[i], frlen[i]);
	}
}

static void test_gro_three(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct virtio_net_hdr_v1 h;

	for (int v6 = 0; v6 <= 1; v6++)
		for (int vl = 0; vl <= 2; vl++) {
			struct spec s = v6 ? spec6(MSS) : spec4(MSS);
			s.vlans = vl;
			s.tcpopt = 12;
			s.ipopt = v6 ? 0 : 8;
			s.pad = 5; /* padding is dropped from the merge */
			make_stream(&s, 3);
			assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
			assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
			assert_int_equal(ofl_gro_append(&g, fr[2], frlen[2]), 1);
			assert_int_equal(g.segs, 3);
			size_t len = ofl_gro_finish(&g, &h);
			assert_int_equal(h.gso_type, v6 ? VIRTIO_NET_HDR_GSO_TCPV6
							: VIRTIO_NET_HDR_GSO_TCPV4);
			assert_int_equal(h.gso_size, MSS);
			assert_int_equal(len, frlen[0] - 5 + 2 * MSS);
			/* Padding is not part of the originals' IP packets. */
			for (int i = 0; i < 3; i++)
				frlen[i] -= 5;
			resegment_equals(&g, 3);
		}
}

/* The merge grown in place behind the first frame (buf == frame), as the
 * engine's staged receive does: the same frame as one built in a buffer of
 * its own. */
static void test_gro_in_place(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct virtio_net_hdr_v1 h;
	struct spec s = spec4(MSS);
	s.pad = 3;
	make_stream(&s, 4);
	memcpy(gro_buf, fr[0], frlen[0]);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), gro_buf, frlen[0]), 0);
	for (int i = 1; i < 4; i++)
		assert_int_equal(ofl_gro_append(&g, fr[i], frlen[i]), 1);
	size_t len = ofl_gro_finish(&g, &h);
	assert_int_equal(len, frlen[0] - 3 + 3 * MSS);
	assert_int_equal(h.gso_size, MSS);
	for (int i = 0; i < 4; i++)
		frlen[i] -= 3;
	resegment_equals(&g, 4);
	/* Too little room behind the first frame for a second one. */
	make_stream(&s, 2);
	memcpy(gro_buf, fr[0], frlen[0]);
	assert_int_equal(ofl_gro_start(&g, gro_buf, frlen[0] - 3 + MSS - 1, gro_buf, frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 0);
}

static void test_gro_single_and_start(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct spec s = spec4(MSS);

	make_stream(&s, 1);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	resegment_equals(&g, 1);

	const uint8_t bad[] = {SYN, SYN | ACK, FIN | ACK, RST | ACK, URG | ACK};
	for (size_t i = 0; i < sizeof(bad); i++) {
		s.flags = bad[i];
		make_stream(&s, 1);
		memset(&g, 0x5a, sizeof(g));
		assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]),
				 -EPROTONOSUPPORT);
	}
	s = spec4(0); /* pure ACK */
	make_stream(&s, 1);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]),
			 -EPROTONOSUPPORT);
	s = spec4(MSS);
	s.proto = 17;
	make_stream(&s, 1);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]),
			 -EPROTONOSUPPORT);
	s = spec4(MSS);
	make_stream(&s, 1);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0] - 1),
			 -EINVAL);
	assert_int_equal(ofl_gro_start(&g, gro_buf, frlen[0] - 1, fr[0], frlen[0]), -ENOSPC);
}

/* Starts a merge of stream frame 0 and 1 merged, returning g. */
static void start2(struct ofl_gro *g, const struct spec *s)
{
	make_stream(s, 8);
	assert_int_equal(ofl_gro_start(g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(g, fr[1], frlen[1]), 1);
}

/* Builds stream frame i with a change and expects it refused. */
static void refuse_changed(const struct spec *base, void (*change)(struct spec *))
{
	struct ofl_gro g;
	struct spec s = *base;

	start2(&g, base);
	s.seq += 2 * (uint32_t)s.payload;
	s.id = (uint16_t)(s.id + 2);
	change(&s);
	frlen[2] = build(fr[2], &s, NULL);
	refuse(&g, fr[2], frlen[2]);
	/* The merge itself is still good. */
	resegment_equals(&g, 2);
}

static void ch_port(struct spec *s) { s->sport++; }
static void ch_seq_ahead(struct spec *s) { s->seq += MSS; }
static void ch_seq_back(struct spec *s) { s->seq -= MSS; }
static void ch_ack(struct spec *s) { s->ack++; }
static void ch_win(struct spec *s) { s->win++; }
static void ch_cwr(struct spec *s) { s->flags |= CWR; }
static void ch_ece(struct spec *s) { s->flags |= ECE; }
static void ch_urg(struct spec *s) { s->flags |= URG; }
static void ch_fin(struct spec *s) { s->flags |= FIN; }
static void ch_syn(struct spec *s) { s->flags |= SYN; }
static void ch_rst(struct spec *s) { s->flags |= RST; }
static void ch_noack(struct spec *s) { s->flags = PSH; }
static void ch_opts(struct spec *s) { s->tcpopt += 4; }
static void ch_optbytes(struct spec *s) { s->optx = 0x20; }
static void ch_ipopts(struct spec *s) { s->ipopt += 4; }
static void ch_ttl(struct spec *s) { s->ttl--; }
static void ch_tos(struct spec *s) { s->tos = 4; }
static void ch_df(struct spec *s) { s->df = !s->df; }
static void ch_id_skip(struct spec *s) { s->id++; }
static void ch_id_same(struct spec *s) { s->id = (uint16_t)(s->id - 2); }
static void ch_flow(struct spec *s) { s->flow ^= 1; }
static void ch_vlan(struct spec *s) { s->vlans = 1; }
static void ch_v6(struct spec *s) { s->v6 = !s->v6; }
static void ch_longer(struct spec *s) { s->payload++; }
static void ch_empty(struct spec *s) { s->payload = 0; }
static void ch_udp(struct spec *s) { s->proto = 17; }

static void test_gro_refuse(void **state)
{
	(void)state;
	void (*both[])(struct spec *) = {ch_port, ch_seq_ahead, ch_seq_back, ch_ack,  ch_win,
					 ch_cwr,  ch_ece,      ch_urg,      ch_fin,  ch_syn,
					 ch_rst,  ch_noack,    ch_opts,     ch_ttl,  ch_vlan,
					 ch_v6,   ch_longer,   ch_empty,    ch_udp,  ch_tos,
					 ch_optbytes};
	void (*v4[])(struct spec *) = {ch_ipopts, ch_df, ch_id_skip, ch_id_same};
	void (*v6[])(struct spec *) = {ch_flow};

	struct spec s4 = spec4(MSS), s6 = spec6(MSS);
	s4.tcpopt = 12;
	s6.tcpopt = 12;
	for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
		refuse_changed(&s4, both[i]);
		refuse_changed(&s6, both[i]);
	}
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
		refuse_changed(&s4, v4[i]);
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		refuse_changed(&s6, v6[i]);
}

static void test_gro_malformed(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct spec s = spec4(MSS);

	start2(&g, &s);
	struct ofl_gro before = g;
	assert_int_equal(ofl_gro_append(&g, fr[2], frlen[2] - 1), -EINVAL);
	assert_int_equal(ofl_gro_append(&g, fr[2], 10), -EINVAL);
	assert_memory_equal(&before, &g, sizeof(g));
	assert_int_equal(ofl_gro_append(&g, fr[2], frlen[2]), 1);
}

static void test_gro_ends(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct spec s = spec4(MSS);

	/* PSH ends the merge: merged, then the next is refused. */
	make_stream(&s, 3);
	s.seq += MSS;
	s.id++;
	s.flags = ACK | PSH;
	frlen[1] = build(fr[1], &s, NULL);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
	refuse(&g, fr[2], frlen[2]);
	resegment_equals(&g, 2);

	/* PSH on the first: nothing merges. */
	s = spec4(MSS);
	s.flags = ACK | PSH;
	make_stream(&s, 2);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	refuse(&g, fr[1], frlen[1]);

	/* A short segment ends it. */
	s = spec4(MSS);
	make_stream(&s, 3);
	s.seq += MSS;
	s.id++;
	s.payload = 100;
	frlen[1] = build(fr[1], &s, NULL);
	s.seq += 100;
	s.id++;
	frlen[2] = build(fr[2], &s, NULL);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
	refuse(&g, fr[2], frlen[2]);
	resegment_equals(&g, 2);

	/* CWR on the first: merged, and the header carries the ECN bit. */
	s = spec6(MSS);
	s.flags = ACK | CWR;
	make_stream(&s, 3);
	s.seq += MSS;
	s.flags = ACK;
	frlen[1] = build(fr[1], &s, NULL);
	s.seq += MSS;
	frlen[2] = build(fr[2], &s, NULL);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
	assert_int_equal(ofl_gro_append(&g, fr[2], frlen[2]), 1);
	struct ofl_gro copy = g;
	struct virtio_net_hdr_v1 h;
	ofl_gro_finish(&copy, &h);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
	resegment_equals(&g, 3);

	/* ECE on the first: it may start, but nothing joins it. */
	s = spec4(MSS);
	s.flags = ACK | ECE;
	make_stream(&s, 2);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	refuse(&g, fr[1], frlen[1]);

	/* DF with a fixed ID merges. */
	s = spec4(MSS);
	s.df = true;
	for (int i = 0; i < 3; i++) {
		struct spec t = s;
		t.seq += (uint32_t)(i * MSS);
		frlen[i] = build(fr[i], &t, NULL);
	}
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
	assert_int_equal(ofl_gro_append(&g, fr[2], frlen[2]), 1);
	assert_int_equal(g.segs, 3);
}

static void test_gro_limits(void **state)
{
	(void)state;
	struct ofl_gro g;
	struct spec s = spec4(1000);

	/* IPv4: 40 header bytes + 65 * 1000 = 65040; a 66th full one would
	 * exceed 65535, a 495-byte one lands exactly on it. */
	make_stream(&s, 64);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	for (int i = 1; i < 64; i++)
		assert_int_equal(ofl_gro_append(&g, fr[i], frlen[i]), 1);
	struct spec t = s;
	t.seq += 64 * 1000;
	t.id = (uint16_t)(t.id + 64);
	frlen[0] = build(fr[0], &t, NULL);
	assert_int_equal(ofl_gro_append(&g, fr[0], frlen[0]), 1);
	t.seq += 1000;
	t.id++;
	frlen[0] = build(fr[0], &t, NULL);
	refuse(&g, fr[0], frlen[0]);
	t.payload = 496;
	frlen[0] = build(fr[0], &t, NULL);
	refuse(&g, fr[0], frlen[0]);
	t.payload = 495;
	frlen[0] = build(fr[0], &t, NULL);
	assert_int_equal(ofl_gro_append(&g, fr[0], frlen[0]), 1);
	struct virtio_net_hdr_v1 h;
	size_t len = ofl_gro_finish(&g, &h);
	assert_int_equal(rd16(g.buf + 14 + 2), 65535);
	assert_int_equal(len, 14 + 65535);
	assert_int_equal(h.gso_size, 1000);

	/* IPv6: the payload length is what is limited. */
	s = spec6(1000);
	make_stream(&s, 64);
	assert_int_equal(ofl_gro_start(&g, gro_buf, sizeof(gro_buf), fr[0], frlen[0]), 0);
	for (int i = 1; i < 64; i++)
		assert_int_equal(ofl_gro_append(&g, fr[i], frlen[i]), 1);
	t = s;
	t.seq += 64 * 1000;
	frlen[0] = build(fr[0], &t, NULL);
	assert_int_equal(ofl_gro_append(&g, fr[0], frlen[0]), 1);
	t.seq += 1000;
	t.payload = 516; /* 20 + 65000 + 516 = 65536 */
	frlen[0] = build(fr[0], &t, NULL);
	refuse(&g, fr[0], frlen[0]);
	t.payload = 515;
	frlen[0] = build(fr[0], &t, NULL);
	assert_int_equal(ofl_gro_append(&g, fr[0], frlen[0]), 1);
	len = ofl_gro_finish(&g, &h);
	assert_int_equal(len, 14 + 40 + 65535);

	/* Buffer capacity: room for exactly two segments. */
	s = spec4(MSS);
	make_stream(&s, 3);
	size_t cap = frlen[0] + MSS;
	assert_int_equal(ofl_gro_start(&g, gro_buf, cap, fr[0], frlen[0]), 0);
	assert_int_equal(ofl_gro_append(&g, fr[1], frlen[1]), 1);
	refuse(&g, fr[2], frlen[2]);
	resegment_equals(&g, 2);
}


/* Zero-copy segmentation (ofl_gso_plan + ofl_gso_seg_headers, payload sums
 * from a scatter list of odd pieces with ofl_csum_iov) gives byte for byte
 * what ofl_gso_segment gives in FULL mode. */
static void test_gso_plan_matches(void **state)
{
	(void)state;
	const size_t payloads[] = {3000, 1, 1448, 64000, 2897};
	for (int v6 = 0; v6 <= 1; v6++)
		for (size_t p = 0; p < sizeof(payloads) / sizeof(payloads[0]); p++) {
			struct spec s = v6 ? spec6(payloads[p]) : spec4(payloads[p]);
			struct layout L;
			s.vlans = (int)p % 3;
			s.tcpopt = 12;
			s.flags = ACK | PSH | CWR;
			size_t n = build(gso_in, &s, &L);
			struct virtio_net_hdr_v1 h = {
				.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
				.gso_size = 1448 - (uint16_t)p};
			int r = ofl_gso_segment(gso_in, n, &h, OFL_CSUM_FULL, gso_out, sizeof(gso_out),
						segs, 1024);
			assert_true(r > 0);
			struct ofl_gso_plan plan;
			assert_int_equal(ofl_gso_plan(gso_in, 256, n, &h, &plan), 0);
			assert_int_equal(plan.nseg, (unsigned)r);
			/* The frame in pieces of 1, 3, 7, 1000 ... bytes. */
			struct iovec iov[64];
			unsigned cnt = 0;
			size_t off = 0, step[] = {1, 3, 7, 1000, 2, 4095};
			while (off < n && cnt < 63) {
				size_t l = step[cnt % 6];
				if (l > n - off || cnt == 62)
					l = n - off;
				iov[cnt++] = (struct iovec){ gso_in + off, l };
				off += l;
			}
			for (unsigned i = 0; i < plan.nseg; i++) {
				uint8_t hdr[256];
				size_t at = plan.l.payload_off + (size_t)i * plan.mss;
				uint32_t chunk = ofl_gso_seg_len(&plan, i);
				ofl_gso_seg_headers(&plan, gso_in, i, ofl_csum_iov(iov, cnt, at, chunk), hdr);
				assert_int_equal(segs[i].len, plan.l.payload_off + chunk);
				assert_memory_equal(hdr, gso_out + segs[i].off, plan.l.payload_off);
				assert_memory_equal(gso_in + at, gso_out + segs[i].off + plan.l.payload_off,
						    chunk);
			}
		}
	/* Headers beyond the copy, no payload, wrong type: refused. */
	struct spec s = spec4(100);
	struct layout L;
	size_t n = build(gso_in, &s, &L);
	struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 10};
	struct ofl_gso_plan plan;
	assert_int_equal(ofl_gso_plan(gso_in, L.pay - 1, n, &h, &plan), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(ofl_gso_plan(gso_in, n, n, &h, &plan), -EINVAL);
	s = spec4(0);
	n = build(gso_in, &s, &L);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(ofl_gso_plan(gso_in, n, n, &h, &plan), -EINVAL);
}

static void test_csum_iov_and_verify(void **state)
{
	(void)state;
	uint8_t buf[301];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	/* Every split into two or three pieces sums like the whole. */
	for (size_t a = 0; a <= sizeof(buf); a += 7)
		for (size_t b = a; b <= sizeof(buf); b += 13) {
			struct iovec iov[3] = { { buf, a }, { buf + a, b - a }, { buf + b, sizeof(buf) - b } };
			assert_int_equal(ofl_csum_fold(ofl_csum_iov(iov, 3, 0, sizeof(buf))),
					 ref_sum(buf, sizeof(buf), 0));
			assert_int_equal(ofl_csum_fold(ofl_csum_iov(iov, 3, 5, 250)), ref_sum(buf + 5, 250, 0));
		}
	for (int v6 = 0; v6 <= 1; v6++) {
		struct spec s = v6 ? spec6(999) : spec4(999);
		struct layout L;
		s.pad = v6 ? 0 : 6;
		size_t n = build(gso_in, &s, &L);
		ref_tcp_fill(gso_in, &L);
		assert_int_equal(ofl_tcp_csum_verify(gso_in, n), 0);
		gso_in[L.pay + 10] ^= 1;
		assert_int_equal(ofl_tcp_csum_verify(gso_in, n), -EINVAL);
		gso_in[L.pay + 10] ^= 1;
		if (!v6) {
			gso_in[L.l3 + 8] ^= 1; /* TTL: the IPv4 header sum */
			assert_int_equal(ofl_tcp_csum_verify(gso_in, n), -EINVAL);
			gso_in[L.l3 + 8] ^= 1;
			gso_in[n - 1] ^= 0xff; /* padding is not summed */
			assert_int_equal(ofl_tcp_csum_verify(gso_in, n), 0);
		}
		s.proto = 17;
		n = build(gso_in, &s, &L);
		assert_int_equal(ofl_tcp_csum_verify(gso_in, n), -EPROTONOSUPPORT);
	}
}

/* UDP GSO frames from the host (UDP_SEGMENT senders) are cut into
 * datagrams with right lengths and checksums, full or partial. */
static void test_udp_segment(void **state)
{
	(void)state;
	for (int v6 = 0; v6 <= 1; v6++)
		for (size_t payload = 1; payload < 5000; payload += 1237) {
			uint8_t *f = gso_in;
			size_t l3 = 18, ipl = v6 ? 40 : 20, l4 = l3 + ipl, n = l4 + 8 + payload;
			memset(f, 0, l4 + 8);
			wr16(f + 12, 0x8100);
			wr16(f + 16, v6 ? 0x86dd : 0x0800);
			if (v6) {
				f[l3] = 0x60;
				wr16(f + l3 + 4, (uint16_t)(8 + payload));
				f[l3 + 6] = 17;
				f[l3 + 7] = 64;
				f[l3 + 23] = 1;
				f[l3 + 39] = 2;
			} else {
				f[l3] = 0x45;
				wr16(f + l3 + 2, (uint16_t)(ipl + 8 + payload));
				wr16(f + l3 + 4, 0xfff0);
				f[l3 + 8] = 64;
				f[l3 + 9] = 17;
				wr32(f + l3 + 12, 0x0a000001);
				wr32(f + l3 + 16, 0x0a000002);
			}
			wr16(f + l4, 1701);
			wr16(f + l4 + 2, 1702);
			for (size_t i = 0; i < payload; i++)
				f[l4 + 8 + i] = pat((uint32_t)i);
			struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4, .gso_size = 1000};
			for (int mode = 0; mode <= 1; mode++) {
				int r = ofl_udp_segment(f, n, &h, mode ? OFL_CSUM_PARTIAL : OFL_CSUM_FULL,
							gso_out, sizeof(gso_out), segs, 1024);
				assert_int_equal(r, (int)((payload + 999) / 1000));
				size_t done = 0;
				for (int i = 0; i < r; i++) {
					uint8_t *sg = gso_out + segs[i].off;
					size_t chunk = segs[i].len - (l4 + 8);
					struct layout L = {.l3 = l3, .l4 = l4, .pay = l4 + 8, .end = segs[i].len, .v6 = v6};
					assert_true(chunk == (payload - done < 1000 ? payload - done : 1000));
					assert_int_equal(rd16(sg + l4 + 4), 8 + chunk);
					assert_memory_equal(sg + l4 + 8, f + l4 + 8 + done, chunk);
					assert_true(ref_ip_ok(sg, &L));
					if (!v6)
						assert_int_equal(rd16(sg + l3 + 4), (uint16_t)(0xfff0 + i));
					/* the pseudo-header with protocol 17 */
					uint8_t ph[40] = {0};
					size_t pn;
					if (v6) {
						memcpy(ph, sg + l3 + 8, 32);
						wr32(ph + 32, (uint32_t)(8 + chunk));
						ph[39] = 17;
						pn = 40;
					} else {
						memcpy(ph, sg + l3 + 12, 8);
						ph[9] = 17;
						wr16(ph + 10, (uint16_t)(8 + chunk));
						pn = 12;
					}
					if (mode)
						ref_complete(sg, segs[i].len, segs[i].hdr.csum_start,
							     segs[i].hdr.csum_offset);
					assert_int_equal(ref_sum(sg + l4, 8 + chunk, ref_sum(ph, pn, 0)), 0xffff);
					done += chunk;
				}
				assert_int_equal(done, payload);
			}
		}
	struct virtio_net_hdr_v1 h = {.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4, .gso_size = 0};
	assert_int_equal(ofl_udp_segment(gso_in, 64, &h, OFL_CSUM_FULL, gso_out, sizeof(gso_out), segs, 8),
			 -EINVAL);
}

/* ofl_hdr_check: what an untrusted side's header may say about its frame. */
static void test_hdr_check(void **state)
{
	(void)state;
	uint8_t f4[256], f6[256], plain[100];
	uint32_t l4 = ft_tcp4(f4, 100, 1, 0x10, 1), l6 = ft_tcp6(f6, 100, 1, 0x10);
	ft_plain(plain, sizeof(plain), 1);
	struct virtio_net_hdr_v1 h;

	/* good: no offload (hints cleared), a partial checksum, TSO v4/v6, ECN */
	h = (struct virtio_net_hdr_v1){ .gso_size = 7, .hdr_len = 9 };
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), 0);
	assert_int_equal(h.gso_size, 0);
	assert_int_equal(h.hdr_len, 0);
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
					.csum_offset = 16 };
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), 0);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 48, 34);
	h.hdr_len = 3;
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), 0);
	assert_int_equal(h.hdr_len, 54); /* ours, not the sender's */
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 1000, 54);
	assert_int_equal(ofl_hdr_check(&h, f6, l6, l6), 0);
	assert_int_equal(h.hdr_len, 74);

	/* bad */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), -EINVAL);
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 97,
					.csum_offset = 2 };
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), -EINVAL);
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 96,
					.csum_offset = 2 };
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), 0); /* edge */
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_ECN };
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_UDP_L4, 1000, 34);
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_UDP, 1000, 34);
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 47, 34);
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV6, 1000, 34); /* frame is IPv4 */
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	h.flags = 0; /* TSO without a partial checksum */
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	h.csum_offset = 6; /* not the TCP checksum field */
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4), -EINVAL);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	assert_int_equal(ofl_hdr_check(&h, f4, l4, l4 + 10), -EINVAL); /* IP length short */
	assert_int_equal(ofl_hdr_check(&h, f4, 40, l4), -EINVAL);      /* headers cut off */
	uint32_t bare = ft_tcp4(f4, 0, 1, 0x10, 1);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	assert_int_equal(ofl_hdr_check(&h, f4, bare, bare), -EINVAL); /* no payload */
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	assert_int_equal(ofl_hdr_check(&h, plain, sizeof(plain), sizeof(plain)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_csum_vectors),
		cmocka_unit_test(test_csum_lengths),
		cmocka_unit_test(test_csum_complete),
		cmocka_unit_test(test_parse_shapes),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_gso_shapes),
		cmocka_unit_test(test_gso_3000),
		cmocka_unit_test(test_gso_errors),
		cmocka_unit_test(test_gso_split),
		cmocka_unit_test(test_parse_headers_only),
		cmocka_unit_test(test_gro_three),
		cmocka_unit_test(test_gro_in_place),
		cmocka_unit_test(test_gro_single_and_start),
		cmocka_unit_test(test_gro_refuse),
		cmocka_unit_test(test_gro_malformed),
		cmocka_unit_test(test_gro_ends),
		cmocka_unit_test(test_gro_limits),
		cmocka_unit_test(test_gso_plan_matches),
		cmocka_unit_test(test_csum_iov_and_verify),
		cmocka_unit_test(test_udp_segment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
