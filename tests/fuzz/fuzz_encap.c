/* libFuzzer target: GRE and L2TPv3 decapsulation (transports/encap.c), the
 * check every received tunnel datagram goes through. The input is
 *
 *   0     1          5              13
 *   +-----+----------+--------------+----------------------------
 *   | ctl | key/sess | cookie (64)  | datagram as the socket hands it over
 *   +-----+----------+--------------+----------------------------
 *
 * ctl bits: 0 L2TPv3 (else GRE), 1 UDP, 2 key / 32-bit cookie, 3 64-bit
 * cookie, 4 sequence/counter, 5 pinned, 6 outer IPv4 header (raw IPv4
 * socket), 7 the datagram is checked twice (sequence state). The datagram
 * is checked with every "have" from 0 to its length, as the socket side
 * may hand over fewer header bytes than it has. What is accepted must hold
 * at least an Ethernet header after the headers, and a header we build for
 * the same settings must be accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encap.h"

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 13)
		return 0;
	uint8_t ctl = data[0];
	uint32_t id = rd32(data + 1);
	uint64_t cookie = (uint64_t)rd32(data + 5) << 32 | rd32(data + 9);
	struct encap e = {
		.kind = (ctl & 1) ? ENCAP_L2TPV3 : ENCAP_GRE,
		.udp = (ctl & 2) && (ctl & 1),
		.key = (ctl & 4) && !(ctl & 1),
		.rx_key = id, .tx_key = id,
		.rx_session = id, .tx_session = id,
		.cookie_len = (ctl & 1) ? ((ctl & 8) ? 8 : (ctl & 4) ? 4 : 0) : 0,
		.rx_cookie = (ctl & 8) ? cookie : (uint32_t)cookie,
		.tx_cookie = (ctl & 8) ? cookie : (uint32_t)cookie,
		.seq = ctl & 16,
		.pin_seq = ctl & 32,
	};
	bool outer4 = (ctl & 64) && !e.udp;
	encap_init(&e);
	if (e.hdr_len > ENCAP_HDR_MAX)
		abort();

	/* An exact-size copy, so any read past the datagram trips ASan. */
	size_t len = size - 13;
	uint8_t *dg = malloc(len ? len : 1);
	memcpy(dg, data + 13, len);
	struct encap_rx rx = { 0 };
	for (size_t have = 0; have <= len; have++) {
		size_t off = 0;
		enum encap_reason r = encap_check(&e, &rx, dg, have, len, outer4, &off);
		if ((unsigned)r >= ENC_NREASONS)
			abort();
		if (r == ENC_OK && (off != encap_rx_prefix(&e, outer4) || off + 14 > len || have < off))
			abort();
		if (r == ENC_OK && !(ctl & 128))
			rx = (struct encap_rx){ 0 };
	}
	free(dg);

	/* What we send with the same settings we take (sequence 1 after a
	 * fresh state). */
	uint8_t b[IPV4_HDR_MIN + ENCAP_HDR_MAX + 14] = { 0 };
	size_t pre = outer4 ? IPV4_HDR_MIN : 0, n = pre + e.hdr_len + 14, off;
	if (outer4) {
		b[0] = 0x45;
		b[2] = (uint8_t)(n >> 8);
		b[3] = (uint8_t)n;
		b[9] = e.kind == ENCAP_GRE ? IPPROTO_GRE_NUM : IPPROTO_L2TP_NUM;
	}
	encap_build(&e, b + pre, 1);
	/* UML's UDP word is what we check: T = 0, version 3. */
	rx = (struct encap_rx){ 0 };
	if (encap_check(&e, &rx, b, n, n, outer4, &off) != ENC_OK)
		abort();
	return 0;
}
