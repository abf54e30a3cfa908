/* Batched frame I/O on a tap fd (shared by the tap and hybrid transports).
 *
 * A tap fd is not a socket: no recvmmsg/sendmmsg, one frame per read(2) or
 * write(2). With vector I/O (vec=1) a batch of reads or writes goes to the
 * kernel as one io_uring submission instead: one syscall per batch, each
 * request completing before io_uring_enter returns. Without io_uring (setup
 * refused, e.g. kernel.io_uring_disabled, seccomp, an old kernel; or
 * UMLNF_IO_URING=0) and with vec=0, one readv/writev per frame.
 *
 * Every request carries RWF_NOWAIT: on a tap fd (which supports nowait I/O)
 * io_uring otherwise treats O_NONBLOCK as "retry when ready" and parks a read
 * of an empty queue on a poll -- holding the engine's buffers after the
 * batch call returned. With RWF_NOWAIT it completes at once with -EAGAIN.
 * Should a request still not complete inline, it is cancelled and waited
 * for before the call returns, and the port switches to readv/writev.
 *
 * All calls but init/deinit run on the datapath thread and never block.
 */
#ifndef NF_TAP_TAPIO_H
#define NF_TAP_TAPIO_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "transport.h"

/* The virtio-net header in front of every frame on the fd (TUNSETVNETHDRSZ
 * is set to this; it matches NF_CAP_VNET_HDR framing). */
#define TAP_VNET_HDR_LEN 10

struct tap_io {
	int fd;            /* borrowed: the owner closes it after deinit */
	unsigned depth;    /* most frames per call */
	bool uring;        /* batches go through ring */
	bool fixed;        /* fd registered with the ring as fixed file 0 */
	struct io_uring ring;
	int *res;          /* per-slot results of the current round */
	bool retired;      /* an anomaly made us leave io_uring (ring kept until deinit) */
	unsigned rx_hint;  /* frames the last read got: size of the next first round */
	uint8_t scratch[TAP_VNET_HDR_LEN]; /* drain target: header only, rest cut */
	struct iovec scratch_iov;
};

/* Sets io up for fd: io_uring when vec and the host allow it, else
 * readv/writev. Never fails for lack of io_uring; why (when non-NULL) gets
 * the reason it is not used, or "" when it is. Returns 0 or -ENOMEM. Main
 * thread. */
int tap_io_init(struct tap_io *io, int fd, unsigned depth, bool vec, char *why, size_t whylen);

/* Releases the ring (before the owner closes fd: a ring holding a
 * registered fd would keep the tap attached until the kernel tears the ring
 * down, after close returned). Main thread, datapath stopped. */
void tap_io_deinit(struct tap_io *io);

/* "io_uring" or "readv/writev". */
const char *tap_io_mode(const struct tap_io *io);

/* Reads up to max frames (at most depth) into pkts[i].iov, in order, and
 * sets pkts[i].len (header included) and flags (NF_PKT_TRUNC when a frame
 * was longer than its buffers). Returns the number of frames, 0 when the
 * queue is empty, or -errno when nothing was read because of an error. */
int tap_io_read(struct tap_io *io, struct nf_pkt *pkts, unsigned max);

/* Writes n frames (at most depth). Frames the tap refuses (bad header, link
 * down) are counted in *drops and consumed. Returns the frames consumed from
 * the front; fewer than n only when the tap pushes back (EAGAIN); -EBADFD
 * when the tap is gone (deleted under us; tap_io_read says so too). */
int tap_io_write(struct tap_io *io, struct nf_pkt *pkts, unsigned n, uint64_t *drops);

/* Reads and discards queued frames (only their header is copied), up to
 * depth, starting with a round of hint reads. Returns the number discarded
 * (0 on error). */
unsigned tap_io_drain(struct tap_io *io, unsigned hint);

#endif
