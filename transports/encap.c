/* GRE and L2TPv3 headers. See encap.h for the contracts and wire.h for the
 * layouts. Multi-byte fields are big-endian and read and written with byte
 * operations, so buffers may sit at any alignment. */
#include "encap.h"

#include <string.h>

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void encap_init(struct encap *e)
{
	if (e->kind == ENCAP_GRE) {
		e->gre_word0 = (uint32_t)((e->key ? GRE_F_KEY : 0) | (e->seq ? GRE_F_SEQ : 0)) << 16 |
			       GRE_PROTO_TEB;
		e->hdr_len = 4 + (e->key ? 4 : 0) + (e->seq ? 4 : 0);
	} else {
		e->gre_word0 = 0;
		e->hdr_len = (e->udp ? 4 : 0) + 4 + e->cookie_len + (e->seq ? 4 : 0);
	}
	e->seq_off = e->seq ? e->hdr_len - 4 : 0;
}

void encap_build(const struct encap *e, uint8_t *buf, uint32_t seq)
{
	uint8_t *p = buf;

	if (e->kind == ENCAP_GRE) {
		put32(p, e->gre_word0);
		p += 4;
		if (e->key) {
			put32(p, e->tx_key);
			p += 4;
		}
	} else {
		if (e->udp) {
			put32(p, L2TPV3_UDP_DATA);
			p += 4;
		}
		put32(p, e->tx_session);
		p += 4;
		if (e->cookie_len == 8) {
			put32(p, (uint32_t)(e->tx_cookie >> 32));
			put32(p + 4, (uint32_t)e->tx_cookie);
		} else if (e->cookie_len == 4) {
			put32(p, (uint32_t)e->tx_cookie);
		}
		p += e->cookie_len;
	}
	if (e->seq)
		put32(p, e->pin_seq ? 0 : seq);
}

static bool seq_take(struct encap_rx *rx, uint32_t seq)
{
	if (rx->have) {
		int32_t d = (int32_t)(seq - rx->next);
		if (d < 0 && d >= -(int32_t)ENCAP_SEQ_WINDOW)
			return false;
	}
	rx->have = true;
	rx->next = seq + 1;
	return true;
}

enum encap_reason encap_check(const struct encap *e, struct encap_rx *rx, const uint8_t *buf,
			      size_t have, size_t len, bool outer4, size_t *frame_off)
{
	size_t pre = encap_rx_prefix(e, outer4);

	if (have > len)
		have = len;
	if (outer4) {
		/* The host kernel checked the outer header's checksum and
		 * reassembled fragments; what remains to check is that ours
		 * starts where we receive it (no options), and that the
		 * datagram is no longer than the header says. */
		if (have < IPV4_HDR_MIN)
			return ENC_SHORT;
		uint8_t proto = e->kind == ENCAP_GRE ? IPPROTO_GRE_NUM : IPPROTO_L2TP_NUM;
		/* (A longer total length is a datagram cut short by the
		 * buffers, which the caller knows as truncated.) */
		if (buf[0] != 0x45 || buf[9] != proto || get16(buf + 2) < len)
			return ENC_OUTER;
	}
	if (have < pre || len < pre + 14)
		return ENC_SHORT;
	const uint8_t *h = buf + (outer4 ? IPV4_HDR_MIN : 0);

	if (e->kind == ENCAP_GRE) {
		/* The first word must be the one we send: the same K and S
		 * bits, no checksum or routing, version 0, Ethernet. */
		if (get32(h) != e->gre_word0)
			return ENC_HDR;
		if (e->key && get32(h + 4) != e->rx_key)
			return ENC_KEY;
	} else {
		const uint8_t *p = h;
		if (e->udp) {
			/* A data message (T = 0) of version 3; the other bits
			 * are reserved and ignored (RFC 3931 4.1.2.1). */
			if ((h[0] & 0x80) || (h[1] & 0x0f) != 3)
				return ENC_HDR;
			p += 4;
		}
		if (get32(p) != e->rx_session)
			return ENC_SESSION;
		p += 4;
		if (e->cookie_len == 8 && ((uint64_t)get32(p) << 32 | get32(p + 4)) != e->rx_cookie)
			return ENC_COOKIE;
		if (e->cookie_len == 4 && get32(p) != (uint32_t)e->rx_cookie)
			return ENC_COOKIE;
	}
	if (e->seq && !e->pin_seq && !seq_take(rx, get32(h + e->seq_off)))
		return ENC_SEQ;
	*frame_off = pre;
	return ENC_OK;
}

void encap_run_init(struct encap_run *r, size_t len, size_t seg)
{
	if (seg == 0 || seg >= len)
		seg = len ? len : 1;
	r->len = len;
	r->seg = seg;
	r->i = 0;
	/* An empty buffer is one (empty) datagram, as a plain receive of a
	 * zero-length datagram is: it is checked and counted, not lost. */
	r->n = len ? (len - 1) / seg + 1 : 1;
}

bool encap_run_next(struct encap_run *r, size_t *off, size_t *len)
{
	if (r->i >= r->n)
		return false;
	size_t o = r->i++ * r->seg;
	*off = o;
	*len = r->len - o < r->seg ? r->len - o : r->seg;
	return true;
}

const char *encap_reason_name(enum encap_kind kind, enum encap_reason r)
{
	static const char *const names[ENC_NREASONS] = {
		[ENC_SHORT] = "rx_short",
		[ENC_OUTER] = "rx_bad_outer",
		[ENC_HDR] = "rx_bad_hdr",
		[ENC_KEY] = "rx_bad_key",
		[ENC_SESSION] = "rx_bad_session",
		[ENC_COOKIE] = "rx_bad_cookie",
		[ENC_SEQ] = "rx_bad_seq",
		[ENC_PEER] = "rx_wrong_peer",
	};
	if ((unsigned)r >= ENC_NREASONS)
		return NULL;
	if (kind == ENCAP_GRE && (r == ENC_SESSION || r == ENC_COOKIE))
		return NULL;
	if (kind == ENCAP_L2TPV3 && r == ENC_KEY)
		return NULL;
	if (kind == ENCAP_L2TPV3 && r == ENC_SEQ)
		return "rx_bad_counter";
	return names[r];
}
