/* Live capture of one device's frames (uml-nf capture).
 *
 * While a capture is attached to a device, the datapath thread copies each
 * frame it moves -- host -> guest as the transport delivered it (before
 * software GRO or segmentation), guest -> host as the transport took it --
 * into the capture's ring (capring.h), with a direction mark and a
 * timestamp. A classic BPF program (compiled by the client with libpcap)
 * decides on the copy which frames are kept, so a narrow filter on a busy
 * device does not fill the ring with frames nobody asked for. When the ring
 * is full, frames are counted as missed instead: the datapath never waits.
 *
 * Without a capture the datapath pays one predictable branch per batch
 * (dev->capture == NULL). One capture per device at a time.
 *
 * Threads: start/stop/peek/pop/free on one thread (the control socket
 * thread); the datapath thread writes the ring.
 */
#ifndef NF_CAPTURE_H
#define NF_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "capring.h"

struct nf_engine;
struct nf_capture;

/* A classic BPF instruction, laid out as libpcap's struct bpf_insn. */
struct nf_bpf_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};

/* Most instructions a filter may have (the kernel's BPF_MAXINSNS). */
#define NF_BPF_MAX_INSNS 4096
/* Snap length bounds: the largest frame uml-nf takes from a host is 256 KiB
 * plus headers. */
#define NF_CAP_SNAP_MIN 64u
#define NF_CAP_SNAP_MAX 262144u
/* The ring: 8 MiB, allocated while the capture runs. */
#define NF_CAP_RING_BYTES (8u << 20)

struct nf_capture_params {
	unsigned index;			/* vecN */
	unsigned dirs;			/* CAP_DIR_RX | CAP_DIR_TX */
	uint32_t snaplen;		/* bytes kept of each frame */
	const struct nf_bpf_insn *prog; /* NULL: every frame */
	unsigned nprog;
};

/* Attaches a capture to device p->index. The program is checked (libpcap's
 * bpf_validate) and copied. Returns 0 with *out, or -ENODEV (no such
 * device), -EBUSY (it has a capture), -EINVAL (bad parameters or
 * program), -ENOMEM, with a one-line reason in err. */
int nf_capture_start(struct nf_engine *eng, const struct nf_capture_params *p,
		     struct nf_capture **out, char *err, size_t errlen);

/* Detaches the capture from its device: when this returns, the datapath no
 * longer writes the ring; what it holds can still be read. Idempotent. */
void nf_capture_stop(struct nf_capture *cap);

/* The oldest stored frame, or NULL; valid until nf_capture_pop. */
const struct cap_rec *nf_capture_peek(struct nf_capture *cap);
void nf_capture_pop(struct nf_capture *cap);

/* Frames the ring had no room for (so far). */
uint64_t nf_capture_missed(const struct nf_capture *cap);

/* Stops (if needed) and frees. NULL is fine. */
void nf_capture_free(struct nf_capture *cap);

#endif
