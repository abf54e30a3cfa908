/* ring=mmap for the raw transport: PACKET_MMAP rings on the packet socket.
 *
 * Receive is a TPACKET_V3 block ring: the host kernel copies each frame,
 * behind its 10-byte virtio_net_hdr, into a block of a ring mapped into our
 * memory, and wakes the socket once per block (when it fills, or at the
 * latest RM_BLOCK_TOV_MS after its first frame), not once per frame. No
 * receive syscall at all: frames are copied from the retired blocks into the
 * guest's buffers and each block is handed back to the kernel whole.
 * A frame the socket cannot deliver because the ring is full is dropped by
 * the kernel before any skb is cloned or queued for us (tp_drops).
 *
 * Transmit (ring=mmaptx only) uses the same socket's TX ring (TPACKET_V3
 * frame slots, one fixed-size frame each): frames are copied from the
 * guest's chains into free slots, marked for sending, and one send() with no
 * data hands the whole batch to the kernel. The kernel sends a slot's bytes
 * past the virtio_net_hdr's hdr_len as page fragments of the ring, which a
 * veth then copies into fresh pages (skb_copy_ubufs, a page allocation per
 * frame: seen as 2 % of the router CPU at 130 kpps); small frames are
 * therefore given hdr_len = their length and go out linear. With plain
 * ring=mmap the socket has no TX ring and sendmmsg sends as with
 * ring=socket (the kernel's packet_snd: one copy into a linear skb).
 *
 *   rx ring: block_nr blocks of block_size bytes
 *   +------------------------------+------------------------------+--
 *   | block desc | pkt | pkt | ... | block desc | pkt | ...        |
 *   +------------------------------+------------------------------+--
 *     pkt = tpacket3_hdr ... [virtio_net_hdr 10][frame tp_snaplen]
 *                                               ^ hdr + tp_mac
 *   tx ring (mapped right after): frame_nr slots of frame_size bytes
 *     slot = tpacket3_hdr ... [virtio_net_hdr 10][frame]
 *                             ^ slot + tp_hdrlen - sizeof(sockaddr_ll)
 *
 * The rings are shared with the host kernel only, never with the guest;
 * everything read from them is still bounds-checked against its block or
 * slot before it is used.
 */
#ifndef NF_RING_MMAP_H
#define NF_RING_MMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct rm_ring;

/* Geometry of both rings for a device: largest frame the guest may send
 * (tx_frame, Ethernet header on, no virtio header) and whether host GSO
 * frames of up to 256 KiB must fit a receive block. Pure; unit-tested. */
struct rm_geom {
	unsigned rx_block_size, rx_block_nr, rx_frame_size;
	unsigned tx_block_size, tx_block_nr, tx_frame_size, tx_frame_nr;
};
int rm_geom_for(unsigned tx_frame, unsigned tx_slots, struct rm_geom *g);

/* Sets up both rings on fd, a bound or unbound AF_PACKET socket that
 * already has PACKET_VNET_HDR on and no ring yet. Returns 0 and *out, or
 * -errno with a message naming dev and option in err. The caller keeps fd
 * and closes it after rm_close. */
int rm_open(int fd, const char *dev, bool tx_ring, unsigned tx_frame, unsigned tx_slots,
	    bool bypass, struct rm_ring **out, char *err, size_t errlen);

/* True when the ring has a transmit ring (rm_tx); else send with sendmmsg. */
bool rm_has_tx(const struct rm_ring *r);

/* Unmaps the rings and frees *r (the socket stays open). NULL is fine. */
void rm_close(struct rm_ring *r);

/* Copies up to max frames from retired receive blocks into pkts[i].iov
 * (virtio_net_hdr first, as recvmmsg with PACKET_VNET_HDR would), setting
 * len and flags (NF_PKT_TRUNC when the frame did not fit). Returns the
 * number of frames, 0 when no block is ready. Never blocks, no syscall. */
int rm_rx(struct rm_ring *r, struct nf_pkt *pkts, unsigned max);

/* Copies n frames (virtio_net_hdr first) into free transmit slots and asks
 * the kernel to send them. Returns how many were consumed (fewer when the
 * ring is full: wait for the socket to be writable), or -errno from the
 * kernel (the interface gone: -ENETDOWN, ENXIO, ENODEV as errno). Frames
 * too large for a slot are consumed and counted in *oversize. */
int rm_tx(struct rm_ring *r, int fd, struct nf_pkt *pkts, unsigned n, uint64_t *oversize);

#endif
