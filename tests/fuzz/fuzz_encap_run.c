/* libFuzzer target: cutting a UDP GRO buffer into datagrams (encap_run,
 * transports/encap.c) and checking each as tunnel.c does. The input is
 *
 *   0     1      3              7
 *   +-----+------+--------------+-------------------------------
 *   | ctl | seg  | session      | the buffer as the socket hands it over
 *   +-----+------+--------------+-------------------------------
 *
 * seg: the UDP_GRO cmsg's segment size (big-endian, 0: none). ctl bits: 0
 * 32-bit cookie (0 as the cookie), 1 counter, 2 pinned. Every datagram is
 * copied to an exact-size buffer before encap_check, so a read past it
 * trips ASan. The datagrams must tile the buffer: back to back, each of
 * seg bytes but the last (at most seg), and as many as the host's
 * arithmetic says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 7)
		return 0;
	uint8_t ctl = data[0];
	size_t seg = (size_t)data[1] << 8 | data[2];
	uint32_t session = (uint32_t)data[3] << 24 | (uint32_t)data[4] << 16 |
			   (uint32_t)data[5] << 8 | data[6];
	struct encap e = {
		.kind = ENCAP_L2TPV3,
		.udp = true,
		.rx_session = session,
		.tx_session = session,
		.cookie_len = (ctl & 1) ? 4 : 0,
		.seq = ctl & 2,
		.pin_seq = (ctl & 2) && (ctl & 4),
	};
	encap_init(&e);
	const uint8_t *buf = data + 7;
	size_t len = size - 7, next = 0, n = 0, want;
	struct encap_rx rx = { 0 };
	struct encap_run r;

	if (seg == 0 || seg >= len)
		want = 1;
	else
		want = (len + seg - 1) / seg;
	encap_run_init(&r, len, seg);
	size_t off, dl;
	while (encap_run_next(&r, &off, &dl)) {
		if (off != next || off + dl > len || (seg && seg < len && dl > seg) ||
		    (dl == 0 && len != 0))
			abort();
		/* Only the last may be shorter. */
		if (encap_run_left(&r) && seg && seg < len && dl != seg)
			abort();
		uint8_t *d = malloc(dl ? dl : 1);
		memcpy(d, buf + off, dl);
		size_t foff = 0;
		enum encap_reason why = encap_check(&e, &rx, d, dl, dl, false, &foff);
		if ((unsigned)why >= ENC_NREASONS || (why == ENC_OK && foff + 14 > dl))
			abort();
		free(d);
		next = off + dl;
		n++;
	}
	if (n != want || next != len || encap_run_left(&r))
		abort();
	return 0;
}
