/* ring=xdp and ring=xdpskb for the raw transport: receive through an AF_XDP
 * socket (copy mode) fed by uml-nf's XDP program (bpf/xdp_redirect.bpf.c)
 * on the port's interface; transmit stays on the packet socket (sendmmsg
 * with virtio-net headers, so guest TSO frames still leave whole).
 *
 *   interface --XDP--> frames <= NF_XDP_FRAME_MAX --> AF_XDP rx ring --+
 *                `---> larger (GSO) or no socket --> host stack -->    |
 *                                           packet socket (vnet hdr) --+--> rx_batch
 *
 * UMEM: NF_XDP_FRAMES frames of NF_XDP_FRAME_SIZE bytes in our memory. The
 * kernel copies each frame into a frame we put on the fill ring; rx_batch
 * copies it from there into the guest's buffer behind a virtio_net_hdr of
 * its own (no offload state: XDP frames have none) and puts the frame back
 * on the fill ring at once, so the UMEM never runs dry while the guest has
 * buffers.
 *
 * xdp attaches the program in native (driver) mode: on a veth it runs in
 * the sending side's NAPI context, so the host's receive work for the
 * router moves to the sender's CPU. xdpskb attaches it in generic (skb)
 * mode, after the host has built the skb and steered it (RPS) to the
 * router's CPU, which then pays for it as with the other rings.
 *
 * Built only with libxdp and libbpf (and clang for the program); otherwise
 * rx_xdp_open refuses with a message saying so.
 */
#ifndef NF_RING_XDP_H
#define NF_RING_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct rx_xdp;

/* Creates the UMEM and the XDP socket on queue 0 of ifname, loads and
 * attaches the program (native, or generic with skb_mode) and puts the
 * socket into its map. Returns 0 and *out, or -errno with a one-line
 * message naming dev and option in err (the kernel refused, or no XDP in
 * this build). Main thread. */
int rx_xdp_open(const char *ifname, unsigned ifindex, const char *dev, bool skb_mode,
		struct rx_xdp **out, char *err, size_t errlen);

/* Detaches the program, closes the socket, frees the UMEM. NULL is fine. */
void rx_xdp_close(struct rx_xdp *x);

/* The XDP socket (readable when its rx ring has frames). */
int rx_xdp_fd(const struct rx_xdp *x);

/* Copies up to max frames from the rx ring into pkts[i].iov behind a
 * zeroed 10-byte virtio_net_hdr. Returns the number (0: none). Never
 * blocks, no syscall. */
int rx_xdp_rx(struct rx_xdp *x, struct nf_pkt *pkts, unsigned max);

/* Frames the XDP socket dropped (rx ring or fill ring empty). */
uint64_t rx_xdp_drops(struct rx_xdp *x);

#endif
