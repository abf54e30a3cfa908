/* libFuzzer target: software offloads. The input is
 *
 *   0      1         2   4         6
 *   +------+---------+---+---------+-----------------
 *   | ctl  |gso_type |gso_size| out cap | frame ...
 *   +------+---------+---+---------+-----------------
 *
 * Bit 6 of ctl stamps the IPv6 EtherType (and version nibble) onto the
 * frame, which the fuzzer does not find on its own. The frame goes through
 * the parser, GSO in both checksum modes (into an
 * output buffer of the given capacity and a segment count from ctl), and
 * GRO: the segments GSO produced are merged back (which exercises the
 * merge path with frames that do belong together), then the raw frame is
 * offered too. Nothing may touch memory outside the buffers, and a merge
 * of all of a FULL-mode segmentation must give back the original payload.
 */
#include <stdint.h>
#include <string.h>

#include "offload.h"

#define OUT_MAX (256 * 1024)
#define SEGS_MAX 128

static uint8_t in[OUT_MAX];
static uint8_t out[OUT_MAX];
static uint8_t gro[OUT_MAX];
static struct ofl_seg segs[SEGS_MAX];

/* GSO with FULL checksums, then GRO of the result. */
static void regroup(const uint8_t *frame, size_t len, int n, const struct ofl_l34 *l,
		    size_t cap)
{
	struct ofl_gro g;
	struct virtio_net_hdr_v1 h;
	int merged = 1;

	if (n <= 0 || ofl_gro_start(&g, gro, cap, out + segs[0].off, segs[0].len) < 0)
		return;
	for (int i = 1; i < n; i++) {
		int r = ofl_gro_append(&g, out + segs[i].off, segs[i].len);
		if (r < 0)
			__builtin_trap(); /* GSO output must parse */
		merged += r;
	}
	ofl_gro_append(&g, frame, len);
	size_t glen = ofl_gro_finish(&g, &h);
	if (glen > cap)
		__builtin_trap();
	if (merged == n && n > 1 && g.segs == (unsigned)n) {
		/* Everything merged back: same headers size, same payload. */
		size_t pay = glen - l->payload_off;
		if (memcmp(gro + l->payload_off, frame + l->payload_off, pay))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[] = {VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4,
					VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP};
	struct virtio_net_hdr_v1 h = {0};
	struct ofl_l34 l;

	if (size < 6)
		return 0;
	uint8_t ctl = data[0];
	h.gso_type = (uint8_t)(types[data[1] & 3] | (data[1] & VIRTIO_NET_HDR_GSO_ECN));
	h.gso_size = (uint16_t)(data[2] | data[3] << 8);
	size_t cap = (size_t)(data[4] | data[5] << 8) << (ctl & 3);
	if (cap > OUT_MAX)
		cap = OUT_MAX;
	unsigned max_segs = ctl & 4 ? SEGS_MAX : 1u + (ctl >> 4);
	size_t len = size - 6 < OUT_MAX ? size - 6 : OUT_MAX;
	memcpy(in, data + 6, len);
	if ((ctl & 0x40) && len >= 15) {
		in[12] = 0x86;
		in[13] = 0xdd;
		in[14] = (uint8_t)(0x60 | (in[14] & 0xf));
	}
	const uint8_t *frame = in;

	int pr = ofl_parse_tcp(frame, len, &l);
	ofl_csum_fold(ofl_csum_add(0, frame, len));

	/* A header from an untrusted side, fields from the input: whatever it
	 * accepts stays inside the frame and, for TSO, parses as TCP. */
	struct virtio_net_hdr_v1 u = h;
	u.flags = data[3];
	u.csum_start = (uint16_t)(data[4] | data[2] << 8);
	u.csum_offset = data[5];
	if (ofl_hdr_check(&u, frame, len < 256 ? len : 256, (uint32_t)len) == 0) {
		if ((u.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    (size_t)u.csum_start + u.csum_offset + 2 > len)
			__builtin_trap();
		if (u.gso_type != VIRTIO_NET_HDR_GSO_NONE && (pr < 0 || u.hdr_len != l.payload_off))
			__builtin_trap();
	}

	int full = ofl_gso_segment(frame, len, &h, OFL_CSUM_FULL, out, cap, segs, max_segs);
	if (full > 0 && pr < 0)
		__builtin_trap(); /* segmented something the parser refused */
	if (full > 0)
		regroup(frame, len, full, &l, ctl & 8 ? OUT_MAX : cap);
	int part = ofl_gso_segment(frame, len, &h, OFL_CSUM_PARTIAL, out, cap, segs, max_segs);
	if (part != full)
		__builtin_trap(); /* the mode must not change the outcome */
	for (int i = 0; i < part; i++)
		if (ofl_csum_complete(out + segs[i].off, segs[i].len, segs[i].hdr.csum_start,
				      segs[i].hdr.csum_offset) < 0)
			__builtin_trap();

	/* GRO from the raw frame, offered to itself and to each half. */
	struct ofl_gro g;
	if (ofl_gro_start(&g, gro, cap, frame, len) == 0) {
		ofl_gro_append(&g, frame, len);
		ofl_gro_append(&g, frame, len / 2);
		ofl_gro_append(&g, frame + len / 2, len - len / 2);
		ofl_gro_finish(&g, &h);
	}
	return 0;
}
