/* Per-device state shared by the engine's parts (datapath/ internal).
 *
 *   engine.c  threads, event loop, vhost-user hooks, lifecycle, call watchdog
 *   rx.c      host -> guest: receive paths, software GSO/GRO on the way in
 *   tx.c      guest -> host, and the virtio-net control queue
 *
 * Everything here runs on the datapath thread with dev->vu.lock held.
 */
#ifndef NF_DEV_H
#define NF_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hist.h"
#include "offload.h"
#include "options.h"
#include "transport.h"
#include "vhost_user.h"
#include "virtq.h"

struct nf_engine;
struct nf_capture;

/* The largest frame taken from the host: BIG TCP (gso_max_size and
 * gro_max_size, or their IPv4 twins, above 64 KiB on the host interface or
 * its peer) makes GSO frames of up to this; larger ones are dropped and
 * counted (rx_oversize). Frames above GUEST_GSO_MAX are cut into GSO frames
 * the guest can take (ofl_gso_split), or segmented. */
#define RX_FRAME_MAX (262144u + 256u)
#define GUEST_GSO_MAX (65535u + 14u)
/* Per-slot receive staging (see "Receive paths"): the largest frame plus its
 * transport header. Only the part a frame actually uses is ever touched, so
 * the memory is mostly never faulted in. */
#define SPILL_BYTES (RX_FRAME_MAX + 16u)
#define MRG_MAX_BUFS 256u
/* Software GSO output: a 256 KiB frame at a 536-byte MSS, each segment
 * repeating up to ~200 bytes of headers. */
#define MAX_SEGS 512u
/* Software GRO switches on after a direct batch with this many full-sized
 * non-GSO frames, and off after this many staged batches without a merge. */
#define GRO_TRIGGER 8u
#define GRO_MIN_FRAME 1000u
#define GRO_IDLE_BATCHES 16u
/* nf_pkt.flags bit of the engine's own: coalesced into an earlier frame. */
#define PKT_ABSORBED 0x100u
#define SEGBUF_BYTES (LINEAR_BYTES + MAX_SEGS * 256u)
/* dev->linear: one frame gathered for software segmentation (coalescing
 * grows in place in the first frame's slot); frames larger than this are
 * dropped (rx_oversize). */
#define LINEAR_BYTES RX_FRAME_MAX

/* Batches per device per loop turn before looking at other devices again. */
#define BATCH_BUDGET 8
#define ETH_MIN_FRAME 14

enum src_kind { SRC_WAKE, SRC_KICK, SRC_PORT_RX, SRC_PORT_TX, SRC_LISTEN, SRC_CONN };

/* What an epoll event points at. */
struct ep_src {
	enum src_kind kind;
	struct nf_dev *dev;
	unsigned q;
};

struct nf_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped; /* host -> guest */
	uint64_t tx_packets, tx_bytes, tx_dropped; /* guest -> host */
	uint64_t ctrl_cmds, calls, recalls;
	uint64_t ctrl_halt_cmds; /* of them, answered after the halt request */
	uint64_t kicks; /* guest notifications seen on any of the device's queues */
	uint64_t rx_waits; /* times delivery waited for the guest to post buffers */
	uint64_t rx_segmented; /* GSO frames segmented in software for the guest */
	uint64_t rx_coalesced; /* frames merged by software GRO */
	uint64_t rx_oversize;  /* dropped: larger than RX_FRAME_MAX, or than the guest's buffers */
	uint64_t rx_split;     /* GSO frames cut into smaller GSO frames for the guest */
	uint64_t tx_bad_hdr;   /* dropped: virtio-net header asks for what was not negotiated */
	uint64_t rx_bad_hdr;   /* dropped: a peer's virtio-net header (NF_CAP_PEER_HDR) is invalid */
	uint64_t tx_bad_frame; /* dropped: chain too short or too long to be a frame */
	uint64_t call_errors;  /* calls the call fd refused (not "already pending") */
	uint64_t tx_host_down; /* guest frames dropped while the host side was gone */
	uint64_t tx_segmented; /* guest GSO frames segmented in software (soft-offload ports) */
	uint64_t port_downs;   /* times the host side went away */
	/* offloads crossing: GSO frames and partial checksums each way */
	uint64_t rx_gso, rx_csum; /* given to the guest (gso_type set / NEEDS_CSUM) */
	uint64_t tx_gso, tx_csum; /* taken from the guest and sent */
	/* frames per transport rx_batch / tx_batch call (hist.h) */
	uint64_t rx_batch_hist[NF_HIST_BUCKETS], tx_batch_hist[NF_HIST_BUCKETS];
};

struct nf_dev {
	struct vu_dev vu;
	struct nf_engine *eng;
	const struct nf_devcfg *cfg;
	struct nf_port *port;
	/* Hot-plug (attach.c). A device without a transport (a spare, or one
	 * detached) is served by null_port with idle_cfg: port_down stays
	 * set, so guest frames are dropped and counted (tx_host_down), and
	 * receive is not attempted. Changed under the lock. */
	unsigned index;               /* N of vecN (cfg may be swapped) */
	bool detached;
	unsigned depth_max;           /* buffers are sized for this depth */
	struct nf_port null_port;
	struct nf_devcfg idle_cfg;
	struct nf_devcfg *cfg_owned;  /* a hot-plugged cfg, released at detach */
	struct ep_src src_kick[VNET_NQUEUES], src_rx, src_tx, src_listen, src_conn;
	atomic_bool changed;          /* set by the control thread */
	/* datapath-thread state */
	bool kicked[VNET_NQUEUES];
	bool rx_readable;             /* transport may have frames */
	bool rx_starved;              /* no guest buffers: not watching rx_fd */
	bool tx_blocked;              /* transport pushed back: watching tx_fd */
	bool port_down;               /* host side gone (-ENETDOWN): see dev_port_error */
	long long reattach_at;        /* next reattach attempt while down (monotonic µs) */
	long long err_logged_at;      /* last "receive/transmit failed" line (rate limit) */
	uint32_t rx_mask, tx_mask;    /* registered epoll masks */
	unsigned depth;
	struct vq_chain *chains;      /* tx and control: one batch at a time */
	struct vq_chain *rx_chains;   /* rx: kept popped across batches */
	unsigned *order;              /* rx_chains[order[0..nstash)] are popped, unused */
	unsigned nstash;
	unsigned rx_gen;              /* rx vring generation the stash belongs to */
	struct nf_pkt *pkts;          /* tx batch: tx_slots of them */
	unsigned tx_slots;            /* depth, + NF_SOFT_TX_EXTRA for soft-offload ports */
	unsigned *pkt_seg;            /* soft offload: pkts[i] is segment pkt_seg[i] of its chain */
	uint8_t *tx_seghdrs;          /* soft offload: TX_HDR_PEEK bytes per slot */
	uint16_t tx_skip_head;        /* soft offload: chain partly sent ... */
	unsigned tx_skip;             /* ... and its frames already sent (0: none) */
	struct nf_pkt *rx_pkts;       /* rx batch: frames may stay staged across turns */
	unsigned *pkt_chain;          /* pkts[i] came from chains[pkt_chain[i]] */
	struct virtio_net_hdr_v1 *tx_hdrs; /* pkts[i]'s checked header (10 bytes used) */
	/* Call watchdog: when to look again whether the guest acted on our
	 * last call to each queue (0: nothing outstanding), and the backoff. */
	long long recall_at[VNET_NQUEUES]; /* monotonic µs */
	unsigned recall_us[VNET_NQUEUES];
	/* since when the guest's used_event has been recall_event */
	long long recall_from[VNET_NQUEUES];
	uint16_t recall_event[VNET_NQUEUES];
	/* interrupt moderation: last call, and a deferred one (0: none) */
	long long call_last[VNET_NQUEUES], call_due[VNET_NQUEUES];
	struct iovec *iovs, *rx_iovs; /* PKT_IOV_MAX per packet of pkts / rx_pkts */
	uint8_t *spill;               /* depth x SPILL_BYTES */
	struct vq_chain xfirst, xchain; /* mergeable: first and current buffer */
	struct vring_used_elem mrg[MRG_MAX_BUFS]; /* buffers of the frame being copied */
	unsigned held_from, held_to;  /* staged frames still to hand to the guest */
	unsigned rx_seen;             /* buffers available at the last failed delivery */
	/* software segmentation (see rx_segment) */
	uint8_t *linear;              /* one gathered frame */
	uint8_t *segbuf;              /* its segments */
	struct ofl_seg segs[MAX_SEGS];
	unsigned nsegs, seg_next;     /* staged path: segments pending */
	bool gro_staged;              /* software GRO on (staged receive) */
	unsigned gro_idle;            /* staged batches in a row without a merge */
	struct nf_stats st;
	/* Live capture (capture.c), or NULL: set and cleared under the lock,
	 * so the datapath sees it change only between batches. */
	struct nf_capture *capture;
};

#define PKT_IOV_MAX (VQ_MAX_IOV + 2) /* + header split + spill */
_Static_assert(PKT_IOV_MAX == NF_PKT_IOV_MAX, "transport.h's NF_PKT_IOV_MAX");
/* Bytes of a frame's headers copied out of the guest to check and rewrite. */
#define TX_HDR_PEEK 256u

/* Flushes queue q's used ring and signals the guest if it asked (engine.c). */
void dev_call_guest(struct nf_dev *dev, unsigned q);

/* Re-registers the transport fds for what the device waits on (engine.c). */
void dev_update_port_interest(struct nf_dev *dev);

/* A transport batch call failed with err (< 0): -ENETDOWN takes the port
 * down until its transport reattaches it; other errors are logged, at most
 * once a second (engine.c). */
void dev_port_error(struct nf_dev *dev, const char *what, int err);

/* The device serving vecN, or NULL (engine.c). */
struct nf_dev *engine_dev(struct nf_engine *eng, unsigned index);

/* The virtio features a device with cfg and port offers (engine.c). */
uint64_t dev_offered_features(const struct nf_devcfg *cfg, const struct nf_port *port);

/* Adds or removes port's fds to or from the datapath's epoll set, with no
 * events yet (dev_update_port_interest sets them) (engine.c). */
int dev_port_watch(struct nf_dev *dev, struct nf_port *port);
void dev_port_unwatch(struct nf_dev *dev, struct nf_port *port);

/* Makes the datapath thread look at dev's rings and port again (engine.c). */
void dev_wake(struct nf_dev *dev);

/* The transport of a device without one (attach.c): receives nothing;
 * never asked to send (the port is down). */
extern const struct nf_transport nf_transport_none;

/* Copies n frames of direction dir (CAP_DIR_RX: pkts as rx_batch filled
 * them; CAP_DIR_TX: as given to tx_batch) into dev->capture, which must be
 * set. Lock held (capture.c). */
void cap_batch(struct nf_dev *dev, unsigned dir, const struct nf_pkt *pkts, unsigned n);

/* Moves guest -> host batches; true if work remains (budget spent) (tx.c). */
bool tx_run(struct nf_dev *dev);

/* Answers pending control commands, up to a ring's worth; true if more may
 * be waiting (tx.c). */
bool ctrl_run(struct nf_dev *dev);

/* Moves host -> guest batches; true if work remains (rx.c). */
bool rx_run(struct nf_dev *dev);

/* Drops frames staged for a receive ring that went away (rx.c). */
void rx_reset(struct nf_dev *dev);

#endif
