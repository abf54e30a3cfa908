/* Software offloads on contiguous frames: Internet checksums, TCP
 * segmentation (GSO) and TCP coalescing (GRO), for the cases where one side
 * of the engine can carry GSO frames and the other cannot.
 *
 * Frames are Ethernet frames (no FCS) in one contiguous buffer, described by
 * the legacy 10-byte virtio-net header fields (struct virtio_net_hdr_v1,
 * num_buffers ignored). Pure code: no syscalls, no allocation, no logging.
 * Errors are -errno: -EINVAL malformed frame or header, -EPROTONOSUPPORT a
 * protocol we do not segment/coalesce (the caller drops or passes it as is),
 * -ENOSPC output space too small.
 *
 * Supported: Ethernet II with up to two VLAN tags (0x8100/0x88a8), IPv4 with
 * options (no fragments), IPv6 without extension headers, TCP with options.
 */
#ifndef NF_OFFLOAD_H
#define NF_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

/* ---- checksums ---- */

/* Adds len bytes at buf to a 32-bit ones-complement accumulator (RFC 1071;
 * an odd trailing byte is padded with zero, so only the last piece of a
 * chained sum may have an odd length). Start with sum = 0. The accumulator
 * holds the big-endian (wire) sum: bytes 00 01 f2 03 fold to 0xf204, and
 * host-order numbers such as a pseudo-header length may be added to it. */
uint32_t ofl_csum_add(uint32_t sum, const void *buf, size_t len);

/* Folds an accumulator to 16 bits (not complemented). */
uint16_t ofl_csum_fold(uint32_t sum);

/* NEEDS_CSUM completion in place: the sum of [csum_start, len) is folded,
 * complemented and stored (network order) at csum_start + csum_offset. The
 * checksum field's current content is part of the sum (it holds the
 * pseudo-header seed). Returns 0 or -EINVAL if the offsets do not fit. */
int ofl_csum_complete(uint8_t *frame, size_t len, uint16_t csum_start, uint16_t csum_offset);

/* The sum of len bytes at offset off of a scatter list whose pieces may
 * have any length and alignment (a piece that starts at an odd offset of
 * the run is added byte-swapped, RFC 1071 2.(B)), as an accumulator like
 * ofl_csum_add's. Bytes past the end of the list count as absent. */
uint32_t ofl_csum_iov(const struct iovec *iov, unsigned n, size_t off, size_t len);

/* ---- parsing ---- */

struct ofl_l34 {
	uint16_t l3_off;    /* IP header offset (after Ethernet and VLAN tags) */
	uint16_t l4_off;    /* TCP header offset */
	uint16_t payload_off; /* TCP payload offset (after options) */
	uint8_t ipv6;       /* 0: IPv4, 1: IPv6 */
	uint32_t ip_end;    /* end of the IP packet by its length field (padding after);
			     * the frame's end for an IPv4 BIG TCP packet (length 0) */
};

/* Locates the headers of a TCP frame. Returns 0, -EINVAL (truncated or
 * inconsistent lengths, IP version nibble not matching the EtherType, IHL or
 * data offset < 5), or -EPROTONOSUPPORT (not TCP over IPv4/IPv6, more than
 * two VLAN tags, an IPv4 fragment, an IPv6 extension header). Bytes after
 * the IP length are Ethernet padding, allowed and ignored. */
int ofl_parse_tcp(const uint8_t *frame, size_t len, struct ofl_l34 *out);

/* The same for a frame of len bytes of which only the first have bytes are
 * at frame (a copy of its headers): nothing at or past have is read, and
 * every length is checked against len. -EINVAL also when the headers reach
 * past have. */
int ofl_parse_tcp_headers(const uint8_t *frame, size_t have, size_t len, struct ofl_l34 *out);

/* ---- headers from an untrusted side ---- */

/* Smallest TCP segment size accepted in a GSO frame: Linux's own floor
 * (tcp_min_snd_mss). A gso_size of 1 would cut a 64 KiB frame into 65000
 * segments. */
#define OFL_MIN_MSS 48u

/* Checks the virtio-net header *h of a frame of len bytes that came from a
 * side we do not trust (a guest's transmit, a peer's message), against the
 * frame itself: among the flags only NEEDS_CSUM, with its checksum field
 * inside the frame; gso_type NONE without the ECN bit, or TCPV4 / TCPV6
 * (ECN allowed) with NEEDS_CSUM, gso_size >= OFL_MIN_MSS and headers that
 * are TCP of that IP version (parsed from hdrs, a copy of the frame's first
 * have bytes; not read for NONE): IP length covering the whole frame, the
 * partial checksum on the TCP checksum field, payload present. Anything
 * else (UDP GSO among it) is refused. On success rewrites hdr_len (the TCP
 * payload offset; 0, and gso_size 0, for NONE) and returns 0; -EINVAL
 * otherwise. Which offloads were negotiated is the caller's to check. */
int ofl_hdr_check(struct virtio_net_hdr_v1 *h, const uint8_t *hdrs, size_t have, uint32_t len);

/* ---- segmentation ---- */

/* One output segment: a complete frame at out + off, len bytes, and the
 * virtio-net header that goes with it: gso_type NONE, gso_size 0, hdr_len =
 * payload_off, num_buffers 0, flags and csum_* as the mode says (all 0 in
 * FULL mode). */
struct ofl_seg {
	uint32_t off;
	uint32_t len;
	struct virtio_net_hdr_v1 hdr;
};

/* Output checksum mode for ofl_gso_segment. */
enum ofl_csum_mode {
	OFL_CSUM_FULL,    /* compute every TCP (and IPv4 header) checksum; hdr.flags 0 */
	OFL_CSUM_PARTIAL, /* IPv4 header checksum computed, TCP checksum field holds
			   * the pseudo-header seed; hdr says NEEDS_CSUM with
			   * csum_start = l4_off, csum_offset = 16 */
};

/* Splits a TCP GSO frame (h->gso_type TCPV4 or TCPV6, optionally with the
 * ECN bit; h->gso_size = payload bytes per segment) into frames of at most
 * gso_size payload bytes, written back to back into out (capacity out_cap),
 * described in segs (capacity max_segs). Each segment gets the original
 * headers with: IPv4 total length, ID (+1 per segment) and header checksum;
 * IPv6 payload length; TCP sequence number advanced by the payload before
 * it; FIN and PSH only on the last segment; CWR only on the first. A frame
 * whose payload fits in one segment yields one segment. The input's TCP
 * checksum field is ignored (recomputed), and so are h's flags, hdr_len and
 * csum_* (untrusted hints). A frame without payload yields one segment;
 * trailing Ethernet padding is dropped. out must not overlap frame. Returns
 * the number of segments, or -errno: -EINVAL also for gso_size 0 or a
 * gso_type that is not TCPV4 for IPv4 / TCPV6 for IPv6, -ENOSPC when out or
 * segs (more than max_segs segments) is too small; out and segs are
 * undefined on error. */
int ofl_gso_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		    enum ofl_csum_mode mode, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		    unsigned max_segs);

/* Cuts a TCP GSO frame (as for ofl_gso_segment) into smaller GSO frames of
 * at most max_frame bytes each and of at most 64 KiB of IP packet, made of
 * whole segments of the original gso_size: for a frame too large for the
 * receiver as one (IPv4 BIG TCP frames, whose IP length field is 0, or a
 * frame larger than the buffer it must go to). Each piece gets the original
 * headers with IP length, IPv4 ID (advanced by the segments before it) and
 * sequence number set, FIN/PSH only on the last and CWR only on the first,
 * and a header: NEEDS_CSUM, csum_start = l4_off, csum_offset = 16 (the
 * checksum field holds the piece's pseudo-header seed), hdr_len = payload
 * offset, and gso_type/gso_size of the original when the piece holds more
 * than one segment (gso_type NONE otherwise). Returns the number of pieces
 * or -errno as ofl_gso_segment; -EINVAL also when max_frame cannot hold the
 * headers and one segment. */
int ofl_gso_split(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		  size_t max_frame, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		  unsigned max_segs);

/* Segmentation without copying the payload: the caller keeps the frame
 * where it is (a scatter list) and needs only each segment's headers.
 * ofl_gso_plan checks a copy of the frame's headers (have bytes of a frame
 * of len bytes) and h as ofl_gso_segment does and fills *p: p->nseg
 * segments of at most p->mss payload bytes, segment i holding payload bytes
 * [i * mss, i * mss + ofl_gso_seg_len(p, i)) (offsets after the headers).
 * Returns 0 or -errno as ofl_gso_segment (-EINVAL also when the headers
 * reach past have, or the frame has no payload). */
struct ofl_gso_plan {
	struct ofl_l34 l;
	uint32_t payload; /* payload bytes of the whole frame (padding excluded) */
	uint16_t mss;
	unsigned nseg;
};

int ofl_gso_plan(const uint8_t *hdrs, size_t have, size_t len, const struct virtio_net_hdr_v1 *h,
		 struct ofl_gso_plan *p);

static inline uint32_t ofl_gso_seg_len(const struct ofl_gso_plan *p, unsigned i)
{
	uint32_t done = (uint32_t)i * p->mss;
	return p->payload - done < p->mss ? p->payload - done : p->mss;
}

/* Writes segment i's headers (p->l.payload_off bytes) to out from the
 * original headers hdrs: IP length, IPv4 ID (+i) and header checksum,
 * sequence number, FIN/PSH only on the last and CWR only on the first, and
 * the complete TCP checksum, for which payload_sum is the ofl_csum_add
 * style sum of the segment's payload. */
void ofl_gso_seg_headers(const struct ofl_gso_plan *p, const uint8_t *hdrs, unsigned i,
			 uint32_t payload_sum, uint8_t *out);

/* Segments a UDP GSO frame (h->gso_type VIRTIO_NET_HDR_GSO_UDP_L4, what a
 * host socket using UDP_SEGMENT makes; h->gso_size = payload bytes per
 * datagram) into datagrams written to out as ofl_gso_segment does: each
 * gets the original headers with IP length, IPv4 ID (+1 per datagram) and
 * header checksum, UDP length and checksum (FULL: computed, 0 sent as
 * 0xffff; PARTIAL: the pseudo-header seed, NEEDS_CSUM at offset 6). Same
 * frames as ofl_parse_tcp takes, with UDP instead of TCP. Returns the
 * number of datagrams or -errno as ofl_gso_segment. */
int ofl_udp_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h,
		    enum ofl_csum_mode mode, uint8_t *out, size_t out_cap, struct ofl_seg *segs,
		    unsigned max_segs);

/* Verifies a received TCP frame's checksums (the IPv4 header's and the TCP
 * one, over the IP packet's extent). Returns 0 when both are right,
 * -EINVAL when one is wrong or the frame is malformed, -EPROTONOSUPPORT
 * when it is not a TCP frame ofl_parse_tcp takes. */
int ofl_tcp_csum_verify(const uint8_t *frame, size_t len);

/* ---- coalescing ---- */

/* A frame being built by coalescing: a contiguous buffer holding the first
 * segment's headers and the payload gathered so far. */
struct ofl_gro {
	uint8_t *buf;     /* caller's buffer */
	size_t cap;       /* its capacity */
	size_t len;       /* current frame length */
	struct ofl_l34 l; /* parsed headers of the first segment */
	uint16_t mss;     /* payload size of the first segment (gso_size) */
	unsigned segs;    /* segments merged so far */
	uint32_t next_seq; /* sequence number expected next (host order) */
};

/* Starts a coalesced frame from a received TCP frame (copied into buf,
 * borrowed until finish; trailing Ethernet padding is dropped; buf may be
 * the frame itself, with cap the room it has: the merge then grows in
 * place). Checksums
 * are not verified here: frames with a bad checksum must not be merged, so
 * the caller only passes frames whose checksum is known good (its header
 * said DATA_VALID or NEEDS_CSUM, or the caller verified it). Returns 0, or
 * -errno if it cannot start a merge, in which case the frame is to be passed
 * on as is: -EINVAL malformed, -EPROTONOSUPPORT not TCP, no payload or
 * SYN/RST/FIN/URG set, -ENOSPC frame longer than cap. g is only written on
 * success. */
int ofl_gro_start(struct ofl_gro *g, uint8_t *buf, size_t cap, const uint8_t *frame,
		  size_t len);

/* Appends the next frame if it belongs: same flow (MACs, VLAN tags,
 * addresses, ports), same IP header fields apart from length, ID and
 * checksum (IPv4 ID: first + number merged so far, i.e. previous + 1 all
 * along, or with DF set equal to the first all along), exactly the next
 * sequence number, the same ACK number, data offset, window and TCP option
 * bytes, flags ACK or ACK|PSH only (no CWR/ECE/URG/SYN/RST/FIN), payload
 * 1..mss bytes, and room in the buffer and at most 65535 bytes of IP length
 * (IPv6: payload length). Because GSO gives every segment the first one's
 * flags, a first segment whose flags are not ACK (plus CWR/PSH) -- e.g. one
 * with ECE -- merges nothing. Returns 1 merged, 0 not mergeable (g
 * unchanged: finish g and start anew with this frame; also for a well
 * formed non-TCP frame), -EINVAL on a malformed frame. After a merged
 * segment with PSH (or a first segment with PSH) or with less than mss
 * payload nothing more can follow: later calls return 0 without looking at
 * the frame. */
int ofl_gro_append(struct ofl_gro *g, const uint8_t *frame, size_t len);

/* Finishes the frame (g->buf holds it; g must not be appended to again):
 * fixes IP lengths (and the IPv4 header checksum),
 * writes the pseudo-header seed into the TCP checksum field, and fills *h
 * with NEEDS_CSUM, csum_start = l4_off, csum_offset = 16, hdr_len =
 * payload_off and, when more than one segment was merged, gso_type
 * TCPV4/TCPV6 (plus the ECN bit if the first segment had CWR) and gso_size =
 * mss; one segment gets gso_type NONE. Returns the frame length. The first
 * segment may carry CWR/ECE/PSH flags and options; ofl_gro_start refuses
 * SYN, RST, FIN and URG. */
size_t ofl_gro_finish(struct ofl_gro *g, struct virtio_net_hdr_v1 *h);

#endif
