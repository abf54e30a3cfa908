/* Shared by the XDP program (bpf/xdp_redirect.bpf.c) and ring=xdp
 * (transports/raw/ring_xdp.c): the AF_XDP frame layout. */
#ifndef NF_XDP_FRAME_H
#define NF_XDP_FRAME_H

/* UMEM frame size (a power of two: aligned chunks). */
#define NF_XDP_FRAME_SIZE 2048
/* The kernel puts a received frame XDP_PACKET_HEADROOM (256) bytes into
 * its chunk; frames longer than what is left take the packet socket. */
#define NF_XDP_FRAME_MAX (NF_XDP_FRAME_SIZE - 256)
/* xsks_map entries: receive queues of the interface. */
#define NF_XDP_QUEUES 64

#endif
