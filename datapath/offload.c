/* Software checksums, TCP segmentation and TCP coalescing on contiguous
 * Ethernet frames. See offload.h for the contracts.
 *
 * The frames handled here (offsets from the start of the buffer):
 *
 *   0          12        l3_off        l4_off          payload_off    ip_end    len
 *   +----------+---------+-------------+---------------+--------------+---------+
 *   | dst, src | [VLAN]* | IPv4 / IPv6 | TCP + options | payload      | padding |
 *   | MACs     | type    | (+ options) |               |              |         |
 *   +----------+---------+-------------+---------------+--------------+---------+
 *
 * ip_end comes from the IP length field; anything after it is Ethernet
 * padding, which segmentation and coalescing drop. Every multi-byte packet
 * field is big-endian and read with byte loads, so frames may sit at any
 * alignment; the virtio-net header is little-endian like the host.
 */
#include "offload.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ETH_HLEN 14u
#define ETH_TYPE_OFF 12u
#define ETH_P_IPV4 0x0800u
#define ETH_P_IPV6 0x86ddu
#define ETH_P_8021Q 0x8100u
#define ETH_P_8021AD 0x88a8u
#define VLAN_HLEN 4u
#define MAX_VLANS 2

#define IPV4_HLEN 20u
#define IPV4_DF 0x4000u
#define IPV4_FRAG_MASK 0x3fffu /* MF and fragment offset */
#define IPV6_HLEN 40u
#define IP_PROTO_TCP 6u
#define IP_PROTO_UDP 17u
#define UDP_HLEN 8u
#define IP_LEN_MAX 65535u

#define TCP_HLEN 20u
#define TCP_FLAGS_OFF 13u
#define TCP_CSUM_OFF 16u
#define TH_FIN 0x01u
#define TH_SYN 0x02u
#define TH_RST 0x04u
#define TH_PSH 0x08u
#define TH_ACK 0x10u
#define TH_URG 0x20u
#define TH_ECE 0x40u
#define TH_CWR 0x80u

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- checksums ---- */

/* Ones-complement addition of two accumulators (end-around carry). Since
 * 2^16 and 2^32 are both 1 modulo 0xffff, a 32-bit accumulator with this
 * carry folds to the same 16-bit sum as adding 16-bit words one by one. */
static inline uint32_t csum_add32(uint32_t a, uint32_t b)
{
	uint32_t s = a + b;
	return s + (s < b);
}

/* The sum is byte-order independent (RFC 1071 2.(B)): words are added as
 * they sit in memory (little-endian on every host we run on) 4 bytes at a
 * time into a 64-bit accumulator that cannot overflow for any buffer under
 * 16 GiB, folded, and byte-swapped once at the end so that the accumulator
 * the caller sees holds the big-endian (wire) sum. */
uint32_t ofl_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = 0;
	uint32_t a, b, c, d;
	uint16_t w;

	while (len >= 16) {
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		memcpy(&c, p + 8, 4);
		memcpy(&d, p + 12, 4);
		acc += (uint64_t)a + b + c + d;
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(&a, p, 4);
		acc += a;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w, p, 2);
		acc += w;
		p += 2;
		len -= 2;
	}
	/* A lone last byte is the high half of a zero-padded big-endian word,
	 * which is the low half of a little-endian one. */
	if (len)
		acc += *p;

	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffu) + (acc >> 16);
	acc = (acc & 0xffffu) + (acc >> 16);
	return csum_add32(sum, __builtin_bswap16((uint16_t)acc));
}

uint16_t ofl_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

int ofl_csum_complete(uint8_t *frame, size_t len, uint16_t csum_start, uint16_t csum_offset)
{
	if (csum_start > len || (size_t)csum_offset + 2 > len - csum_start)
		return -EINVAL;
	uint32_t sum = ofl_csum_add(0, frame + csum_start, len - csum_start);
	put16(frame + csum_start + csum_offset, (uint16_t)~ofl_csum_fold(sum));
	return 0;
}

uint32_t ofl_csum_iov(const struct iovec *iov, unsigned n, size_t off, size_t len)
{
	uint32_t sum = 0;
	size_t pos = 0; /* bytes of the run summed so far */

	for (unsigned i = 0; i < n && pos < len; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = l - off < len - pos ? l - off : len - pos;
		uint16_t s = ofl_csum_fold(ofl_csum_add(0, (const uint8_t *)iov[i].iov_base + off, take));
		/* A piece that starts at an odd offset of the run holds the low
		 * bytes of the run's words where ofl_csum_add took high ones. */
		if (pos & 1)
			s = __builtin_bswap16(s);
		sum = csum_add32(sum, s);
		pos += take;
		off = 0;
	}
	return sum;
}

/* ---- parsing ---- */

/* End of the IP packet (start of Ethernet padding); the parser checked it
 * lies within the frame. */
static size_t ip_end(const uint8_t *f, const struct ofl_l34 *l)
{
	(void)f;
	return l->ip_end;
}

int ofl_parse_tcp_headers(const uint8_t *frame, size_t have, size_t len, struct ofl_l34 *out)
{
	size_t l3 = ETH_HLEN, l4, end;
	uint16_t type;
	int vlans = 0;

	/* Reads stay below have (the bytes we hold); lengths are judged
	 * against len (the whole frame). */
	if (have > len)
		have = len;
	if (have < ETH_HLEN)
		return -EINVAL;
	type = get16(frame + ETH_TYPE_OFF);
	while (type == ETH_P_8021Q || type == ETH_P_8021AD) {
		if (vlans++ == MAX_VLANS)
			return -EPROTONOSUPPORT;
		if (have - l3 < VLAN_HLEN)
			return -EINVAL;
		/* The tag's TCI comes first, then the next type. */
		type = get16(frame + l3 + 2);
		l3 += VLAN_HLEN;
	}

	if (type == ETH_P_IPV4) {
		const uint8_t *ip = frame + l3;
		if (have - l3 < IPV4_HLEN || ip[0] >> 4 != 4)
			return -EINVAL;
		size_t ihl = (size_t)(ip[0] & 0xf) * 4;
		size_t tot = get16(ip + 2);
		/* IPv4 BIG TCP (Linux gso_ipv4_max_size above 64 KiB): a
		 * packet too long for the 16-bit field carries 0 there and
		 * runs to the end of the frame. */
		if (tot == 0 && len - l3 > 0xffff)
			tot = len - l3;
		if (ihl < IPV4_HLEN || tot < ihl || tot > len - l3)
			return -EINVAL;
		/* A fragment's TCP header is in the first fragment only, and
		 * we never reassemble: refuse both first and later ones. */
		if (get16(ip + 6) & IPV4_FRAG_MASK)
			return -EPROTONOSUPPORT;
		if (ip[9] != IP_PROTO_TCP)
			return -EPROTONOSUPPORT;
		l4 = l3 + ihl;
		end = l3 + tot;
	} else if (type == ETH_P_IPV6) {
		const uint8_t *ip = frame + l3;
		if (have - l3 < IPV6_HLEN || ip[0] >> 4 != 6)
			return -EINVAL;
		size_t plen = get16(ip + 4);
		if (plen > len - l3 - IPV6_HLEN)
			return -EINVAL;
		/* Extension headers (and jumbograms) would move the TCP
		 * header; we do not walk them. */
		if (ip[6] != IP_PROTO_TCP)
			return -EPROTONOSUPPORT;
		l4 = l3 + IPV6_HLEN;
		end = l4 + plen;
	} else {
		return -EPROTONOSUPPORT;
	}

	if (end - l4 < TCP_HLEN || l4 > have || have - l4 < TCP_HLEN)
		return -EINVAL;
	size_t doff = (size_t)(frame[l4 + 12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > end - l4)
		return -EINVAL;

	out->l3_off = (uint16_t)l3;
	out->l4_off = (uint16_t)l4;
	out->payload_off = (uint16_t)(l4 + doff);
	out->ipv6 = type == ETH_P_IPV6;
	out->ip_end = (uint32_t)end;
	return 0;
}

int ofl_parse_tcp(const uint8_t *frame, size_t len, struct ofl_l34 *out)
{
	return ofl_parse_tcp_headers(frame, len, len, out);
}

int ofl_hdr_check(struct virtio_net_hdr_v1 *h, const uint8_t *hdrs, size_t have, uint32_t len)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;

	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return -EINVAL;
	if (csum && (uint32_t)h->csum_start + h->csum_offset + 2 > len)
		return -EINVAL;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (ecn)
			return -EINVAL;
		/* Whoever gets the frame works out its linear part itself. */
		h->gso_size = 0;
		h->hdr_len = 0;
		return 0;
	}
	if ((gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) || !csum ||
	    h->gso_size < OFL_MIN_MSS)
		return -EINVAL;
	struct ofl_l34 l;
	if (ofl_parse_tcp_headers(hdrs, have, len, &l) < 0 ||
	    l.ipv6 != (gso == VIRTIO_NET_HDR_GSO_TCPV6) || l.ip_end != len ||
	    h->csum_start != l.l4_off || h->csum_offset != 16 || len <= l.payload_off)
		return -EINVAL;
	h->hdr_len = l.payload_off;
	return 0;
}

/* ---- header rewriting shared by GSO and GRO ---- */

/* Sets the IP length fields for a packet ending at end and recomputes the
 * IPv4 header checksum. */
static void set_ip_len(uint8_t *f, const struct ofl_l34 *l, size_t end)
{
	uint8_t *ip = f + l->l3_off;

	if (l->ipv6) {
		put16(ip + 4, (uint16_t)(end - l->l3_off - IPV6_HLEN));
		return;
	}
	put16(ip + 2, (uint16_t)(end - l->l3_off));
	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~ofl_csum_fold(ofl_csum_add(0, ip, l->l4_off - l->l3_off)));
}

/* TCP pseudo-header sum: addresses, protocol and TCP length (RFC 793 for
 * IPv4, RFC 8200 8.1 for IPv6; both add up to the same 16-bit sum). */
static uint32_t pseudo_sum(const uint8_t *f, const struct ofl_l34 *l, uint32_t tcp_len)
{
	uint32_t sum;

	if (l->ipv6)
		sum = ofl_csum_add(0, f + l->l3_off + 8, 32);
	else
		sum = ofl_csum_add(0, f + l->l3_off + 12, 8);
	return csum_add32(sum, IP_PROTO_TCP + (tcp_len >> 16) + (tcp_len & 0xffffu));
}

/* Writes the TCP checksum of the segment [l4_off, end): the full checksum,
 * or for NEEDS_CSUM the folded, uncomplemented pseudo-header sum that the
 * completer adds the segment to. */
static void set_tcp_csum(uint8_t *f, const struct ofl_l34 *l, size_t end, bool full)
{
	uint8_t *th = f + l->l4_off;
	uint32_t sum = pseudo_sum(f, l, (uint32_t)(end - l->l4_off));

	if (!full) {
		put16(th + TCP_CSUM_OFF, ofl_csum_fold(sum));
		return;
	}
	put16(th + TCP_CSUM_OFF, 0);
	sum = ofl_csum_add(sum, th, end - l->l4_off);
	put16(th + TCP_CSUM_OFF, (uint16_t)~ofl_csum_fold(sum));
}

/* ---- segmentation ---- */

/* Cuts a TCP GSO frame into pieces of at most seg_payload payload bytes.
 * step: original segments per piece (IPv4 IDs advance by it, so a piece
 * segmented again later numbers its packets as the original would have);
 * gso: the pieces stay GSO frames of the original mss (partial checksums)
 * instead of becoming plain segments. */
static int gso_cut(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		   size_t seg_payload, unsigned step, bool gso, enum ofl_csum_mode mode,
		   uint8_t *out, size_t out_cap, struct ofl_seg *segs, unsigned max_segs)
{
	struct ofl_l34 l;
	int r = ofl_parse_tcp(frame, len, &l);
	if (r < 0)
		return r;

	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint8_t want = l.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	size_t mss = h->gso_size;
	if (type != want || mss == 0)
		return -EINVAL;
	if (gso) {
		/* Pieces of whole segments, each at most seg_payload bytes. */
		step = (unsigned)(seg_payload / mss);
		if (step == 0)
			return -EINVAL;
		seg_payload = step * mss;
	}

	size_t hlen = l.payload_off;
	size_t payload = ip_end(frame, &l) - hlen;
	/* A frame without payload still makes one (header-only) segment. */
	size_t nseg = payload ? (payload + seg_payload - 1) / seg_payload : 1;
	if (nseg > max_segs || nseg * hlen + payload > out_cap)
		return -ENOSPC;

	const uint8_t *ip0 = frame + l.l3_off;
	const uint8_t *th0 = frame + l.l4_off;
	uint16_t id = get16(ip0 + 4);
	uint32_t seq = get32(th0 + 4);
	uint8_t flags = th0[TCP_FLAGS_OFF];
	bool full = mode == OFL_CSUM_FULL && !gso;
	size_t off = 0, done = 0;

	for (size_t i = 0; i < nseg; i++) {
		size_t chunk = payload - done < seg_payload ? payload - done : seg_payload;
		uint8_t *s = out + off;
		uint8_t *th = s + l.l4_off;
		uint8_t fl = flags;

		memcpy(s, frame, hlen);
		memcpy(s + hlen, frame + hlen + done, chunk);
		if (!l.ipv6)
			put16(s + l.l3_off + 4, (uint16_t)(id + i * step));
		set_ip_len(s, &l, hlen + chunk);
		put32(th + 4, seq + (uint32_t)done);
		/* CWR marks the first packet after a window reduction; FIN
		 * and PSH belong to the end of the data. */
		if (i != 0)
			fl &= (uint8_t)~TH_CWR;
		if (i != nseg - 1)
			fl &= (uint8_t)~(TH_FIN | TH_PSH);
		th[TCP_FLAGS_OFF] = fl;
		set_tcp_csum(s, &l, hlen + chunk, full);

		segs[i] = (struct ofl_seg){
			.off = (uint32_t)off,
			.len = (uint32_t)(hlen + chunk),
			.hdr = {
				.flags = full ? 0 : VIRTIO_NET_HDR_F_NEEDS_CSUM,
				.gso_type = VIRTIO_NET_HDR_GSO_NONE,
				.hdr_len = (uint16_t)hlen,
				.csum_start = full ? 0 : l.l4_off,
				.csum_offset = full ? 0 : TCP_CSUM_OFF,
			},
		};
		if (gso && chunk > mss) {
			segs[i].hdr.gso_type = h->gso_type;
			segs[i].hdr.gso_size = (uint16_t)mss;
		}
		off += hlen + chunk;
		done += chunk;
	}
	return (int)nseg;
}

int ofl_gso_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		    enum ofl_csum_mode mode, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		    unsigned max_segs)
{
	return gso_cut(frame, len, h, h->gso_size, 1, false, mode, out, out_cap, segs, max_segs);
}

int ofl_gso_split(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		  size_t max_frame, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		  unsigned max_segs)
{
	struct ofl_l34 l;
	int r = ofl_parse_tcp(frame, len, &l);
	if (r < 0)
		return r;
	/* Payload room per piece: the frame limit and the 16-bit IP length. */
	size_t ip_room = (l.ipv6 ? 0xffffu + l.l3_off + IPV6_HLEN : 0xffffu + l.l3_off);
	size_t lim = max_frame < ip_room ? max_frame : ip_room;
	if (lim <= l.payload_off)
		return -EINVAL;
	return gso_cut(frame, len, h, lim - l.payload_off, 0, true, OFL_CSUM_PARTIAL, out,
		       out_cap, segs, max_segs);
}

int ofl_gso_plan(const uint8_t *hdrs, size_t have, size_t len, const struct virtio_net_hdr_v1 *h,
		 struct ofl_gso_plan *p)
{
	struct ofl_l34 l;
	int r = ofl_parse_tcp_headers(hdrs, have, len, &l);
	if (r < 0)
		return r;
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint8_t want = l.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	if (type != want || h->gso_size == 0)
		return -EINVAL;
	/* The headers are rewritten from this copy: all of them must be in it. */
	if (l.payload_off > have || l.ip_end <= l.payload_off)
		return -EINVAL;
	p->l = l;
	p->payload = l.ip_end - l.payload_off;
	p->mss = h->gso_size;
	p->nseg = (p->payload + p->mss - 1) / p->mss;
	return 0;
}

void ofl_gso_seg_headers(const struct ofl_gso_plan *p, const uint8_t *hdrs, unsigned i,
			 uint32_t payload_sum, uint8_t *out)
{
	const struct ofl_l34 *l = &p->l;
	uint32_t chunk = ofl_gso_seg_len(p, i);
	size_t hlen = l->payload_off, end = hlen + chunk;
	uint8_t *th = out + l->l4_off;
	uint8_t fl = hdrs[l->l4_off + TCP_FLAGS_OFF];

	memcpy(out, hdrs, hlen);
	if (!l->ipv6)
		put16(out + l->l3_off + 4, (uint16_t)(get16(hdrs + l->l3_off + 4) + i));
	set_ip_len(out, l, end);
	put32(th + 4, get32(hdrs + l->l4_off + 4) + (uint32_t)i * p->mss);
	if (i != 0)
		fl &= (uint8_t)~TH_CWR;
	if (i != p->nseg - 1)
		fl &= (uint8_t)~(TH_FIN | TH_PSH);
	th[TCP_FLAGS_OFF] = fl;
	put16(th + TCP_CSUM_OFF, 0);
	uint32_t sum = pseudo_sum(out, l, (uint32_t)(end - l->l4_off));
	sum = ofl_csum_add(sum, th, hlen - l->l4_off);
	/* The TCP header has an even length, so the payload's sum adds as is. */
	sum = csum_add32(sum, payload_sum);
	put16(th + TCP_CSUM_OFF, (uint16_t)~ofl_csum_fold(sum));
}

/* The L3 part of a UDP frame: like ofl_parse_tcp_headers up to the
 * transport header (l4_off; payload_off = l4_off + 8). */
static int parse_udp(const uint8_t *frame, size_t len, struct ofl_l34 *out)
{
	size_t l3 = ETH_HLEN, l4, end;
	int vlans = 0;

	if (len < ETH_HLEN)
		return -EINVAL;
	uint16_t type = get16(frame + ETH_TYPE_OFF);
	while (type == ETH_P_8021Q || type == ETH_P_8021AD) {
		if (vlans++ == MAX_VLANS)
			return -EPROTONOSUPPORT;
		if (len - l3 < VLAN_HLEN)
			return -EINVAL;
		type = get16(frame + l3 + 2);
		l3 += VLAN_HLEN;
	}
	const uint8_t *ip = frame + l3;
	if (type == ETH_P_IPV4) {
		if (len - l3 < IPV4_HLEN || ip[0] >> 4 != 4)
			return -EINVAL;
		size_t ihl = (size_t)(ip[0] & 0xf) * 4, tot = get16(ip + 2);
		if (ihl < IPV4_HLEN || tot < ihl || tot > len - l3)
			return -EINVAL;
		if ((get16(ip + 6) & IPV4_FRAG_MASK) || ip[9] != IP_PROTO_UDP)
			return -EPROTONOSUPPORT;
		l4 = l3 + ihl;
		end = l3 + tot;
	} else if (type == ETH_P_IPV6) {
		if (len - l3 < IPV6_HLEN || ip[0] >> 4 != 6)
			return -EINVAL;
		size_t plen = get16(ip + 4);
		if (plen > len - l3 - IPV6_HLEN)
			return -EINVAL;
		if (ip[6] != IP_PROTO_UDP)
			return -EPROTONOSUPPORT;
		l4 = l3 + IPV6_HLEN;
		end = l4 + plen;
	} else {
		return -EPROTONOSUPPORT;
	}
	if (end - l4 < UDP_HLEN)
		return -EINVAL;
	*out = (struct ofl_l34){ .l3_off = (uint16_t)l3, .l4_off = (uint16_t)l4,
				 .payload_off = (uint16_t)(l4 + UDP_HLEN), .ipv6 = type == ETH_P_IPV6,
				 .ip_end = (uint32_t)end };
	return 0;
}

int ofl_udp_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		    enum ofl_csum_mode mode, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		    unsigned max_segs)
{
	struct ofl_l34 l;
	int r = parse_udp(frame, len, &l);
	if (r < 0)
		return r;
	size_t mss = h->gso_size, hlen = l.payload_off, payload = l.ip_end - hlen;
	if ((h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_UDP_L4 || mss == 0)
		return -EINVAL;
	size_t nseg = payload ? (payload + mss - 1) / mss : 1;
	if (nseg > max_segs || nseg * hlen + payload > out_cap)
		return -ENOSPC;
	uint16_t id = get16(frame + l.l3_off + 4);
	size_t off = 0, done = 0;
	for (size_t i = 0; i < nseg; i++) {
		size_t chunk = payload - done < mss ? payload - done : mss;
		uint8_t *s = out + off, *uh = s + l.l4_off;
		memcpy(s, frame, hlen);
		memcpy(s + hlen, frame + hlen + done, chunk);
		if (!l.ipv6)
			put16(s + l.l3_off + 4, (uint16_t)(id + i));
		set_ip_len(s, &l, hlen + chunk);
		uint32_t ulen = (uint32_t)(UDP_HLEN + chunk);
		put16(uh + 4, (uint16_t)ulen);
		uint32_t sum;
		if (l.ipv6)
			sum = ofl_csum_add(0, s + l.l3_off + 8, 32);
		else
			sum = ofl_csum_add(0, s + l.l3_off + 12, 8);
		sum = csum_add32(sum, IP_PROTO_UDP + (ulen >> 16) + (ulen & 0xffffu));
		put16(uh + 6, 0);
		if (mode == OFL_CSUM_FULL) {
			uint16_t c = (uint16_t)~ofl_csum_fold(ofl_csum_add(sum, uh, ulen));
			put16(uh + 6, c ? c : 0xffff); /* 0 would mean "no checksum" */
		} else {
			put16(uh + 6, ofl_csum_fold(sum));
		}
		bool full = mode == OFL_CSUM_FULL;
		segs[i] = (struct ofl_seg){
			.off = (uint32_t)off,
			.len = (uint32_t)(hlen + chunk),
			.hdr = {
				.flags = full ? 0 : VIRTIO_NET_HDR_F_NEEDS_CSUM,
				.gso_type = VIRTIO_NET_HDR_GSO_NONE,
				.hdr_len = (uint16_t)hlen,
				.csum_start = full ? 0 : l.l4_off,
				.csum_offset = full ? 0 : 6,
			},
		};
		off += hlen + chunk;
		done += chunk;
	}
	return (int)nseg;
}

int ofl_tcp_csum_verify(const uint8_t *frame, size_t len)
{
	struct ofl_l34 l;
	int r = ofl_parse_tcp(frame, len, &l);
	if (r < 0)
		return r;
	if (!l.ipv6 &&
	    ofl_csum_fold(ofl_csum_add(0, frame + l.l3_off, l.l4_off - l.l3_off)) != 0xffff)
		return -EINVAL;
	uint32_t sum = pseudo_sum(frame, &l, l.ip_end - l.l4_off);
	sum = ofl_csum_add(sum, frame + l.l4_off, l.ip_end - l.l4_off);
	return ofl_csum_fold(sum) == 0xffff ? 0 : -EINVAL;
}

/* ---- coalescing ---- */

static size_t gro_payload(const struct ofl_gro *g)
{
	return g->len - g->l.payload_off;
}

/* A merge ends after a segment with PSH (the sender wants it delivered now)
 * or one shorter than mss (GSO could not reproduce a short segment in the
 * middle). Both are visible in the frame: the merged header carries the
 * last segment's PSH, and only a short segment breaks payload == segs * mss. */
static bool gro_closed(const struct ofl_gro *g)
{
	return (g->buf[g->l.l4_off + TCP_FLAGS_OFF] & TH_PSH) ||
	       gro_payload(g) != (size_t)g->segs * g->mss;
}

int ofl_gro_start(struct ofl_gro *g, uint8_t *buf, size_t cap, const uint8_t *frame,
		  size_t len)
{
	struct ofl_l34 l;
	int r = ofl_parse_tcp(frame, len, &l);
	if (r < 0)
		return r;

	size_t end = ip_end(frame, &l);
	size_t payload = end - l.payload_off;
	const uint8_t *th = frame + l.l4_off;
	/* SYN and FIN take sequence space that GSO would replicate on every
	 * segment, RST ends the connection, URG points into one segment. */
	if (payload == 0 || (th[TCP_FLAGS_OFF] & (TH_SYN | TH_RST | TH_FIN | TH_URG)))
		return -EPROTONOSUPPORT;
	/* A BIG TCP packet (IPv4 length field 0) is already larger than any
	 * merge could make, and its payload does not fit gso_size. */
	if (payload > 0xffff)
		return -EPROTONOSUPPORT;
	if (end > cap)
		return -ENOSPC;

	if (buf != frame) /* the same: the merge grows in place after it */
		memcpy(buf, frame, end);
	*g = (struct ofl_gro){
		.buf = buf,
		.cap = cap,
		.len = end,
		.l = l,
		.mss = (uint16_t)payload, /* IP lengths are 16 bits, so it fits */
		.segs = 1,
		.next_seq = get32(th + 4) + (uint32_t)payload,
	};
	return 0;
}

/* Same flow and same IP header apart from length, ID and checksum. The
 * IPv4 ID must continue the run: first + segs (incrementing), or, with DF
 * set, equal to the first (a fixed ID, as some stacks send with DF). */
static bool gro_same_ip(const struct ofl_gro *g, const uint8_t *f)
{
	const uint8_t *a = g->buf + g->l.l3_off, *b = f + g->l.l3_off;
	size_t hl = g->l.l4_off - g->l.l3_off;

	if (memcmp(g->buf, f, g->l.l3_off))
		return false;
	if (g->l.ipv6) /* version, traffic class, flow label | next header, hops, addrs */
		return !memcmp(a, b, 4) && !memcmp(a + 6, b + 6, IPV6_HLEN - 6);

	if (memcmp(a, b, 2) || memcmp(a + 6, b + 6, 4) || memcmp(a + 12, b + 12, hl - 12))
		return false;
	uint16_t first = get16(a + 4), id = get16(b + 4);
	return id == (uint16_t)(first + g->segs) || ((get16(b + 6) & IPV4_DF) && id == first);
}

int ofl_gro_append(struct ofl_gro *g, const uint8_t *frame, size_t len)
{
	struct ofl_l34 l;

	if (gro_closed(g))
		return 0;
	int r = ofl_parse_tcp(frame, len, &l);
	if (r == -EPROTONOSUPPORT)
		return 0; /* well formed, just not ours: the caller passes it on */
	if (r < 0)
		return r;
	if (l.l3_off != g->l.l3_off || l.l4_off != g->l.l4_off ||
	    l.payload_off != g->l.payload_off || l.ipv6 != g->l.ipv6)
		return 0;

	size_t payload = ip_end(frame, &l) - l.payload_off;
	size_t ip_len = g->len - l.l3_off - (l.ipv6 ? IPV6_HLEN : 0);
	if (payload == 0 || payload > g->mss || payload > g->cap - g->len ||
	    ip_len + payload > IP_LEN_MAX)
		return 0;

	const uint8_t *a = g->buf + l.l4_off, *b = frame + l.l4_off;
	if (!gro_same_ip(g, frame))
		return 0;
	/* Ports; then data offset and window; the urgent pointer is
	 * meaningless without URG and is not compared. */
	if (memcmp(a, b, 4) || get32(b + 4) != g->next_seq || memcmp(a + 8, b + 8, 5) ||
	    memcmp(a + 14, b + 14, 2) ||
	    memcmp(a + TCP_HLEN, b + TCP_HLEN, l.payload_off - l.l4_off - TCP_HLEN))
		return 0;
	/* GSO copies the first segment's flags to every segment (CWR only to
	 * the first, PSH only to the last), so the others must carry exactly
	 * ACK, plus PSH on the last. A first segment with ECE or without ACK
	 * therefore merges nothing. */
	uint8_t ff = a[TCP_FLAGS_OFF], fl = b[TCP_FLAGS_OFF];
	if ((ff & (uint8_t)~(TH_CWR | TH_PSH)) != TH_ACK || (fl & (uint8_t)~TH_PSH) != TH_ACK)
		return 0;

	memcpy(g->buf + g->len, frame + l.payload_off, payload);
	g->len += payload;
	g->next_seq += (uint32_t)payload;
	g->segs++;
	g->buf[l.l4_off + TCP_FLAGS_OFF] |= fl & TH_PSH;
	return 1;
}

size_t ofl_gro_finish(struct ofl_gro *g, struct virtio_net_hdr_v1 *h)
{
	const struct ofl_l34 *l = &g->l;
	bool cwr = g->buf[l->l4_off + TCP_FLAGS_OFF] & TH_CWR;
	uint8_t type = l->ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;

	set_ip_len(g->buf, l, g->len);
	set_tcp_csum(g->buf, l, g->len, false);
	*h = (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.hdr_len = l->payload_off,
		.csum_start = l->l4_off,
		.csum_offset = TCP_CSUM_OFF,
	};
	if (g->segs > 1) {
		h->gso_type = (uint8_t)(type | (cwr ? VIRTIO_NET_HDR_GSO_ECN : 0));
		h->gso_size = g->mss;
	}
	return g->len;
}
