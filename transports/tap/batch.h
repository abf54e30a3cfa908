/* Pure helpers of the tap transports' batched receive (no syscalls): how
 * many reads to queue, and how to turn a batch of per-slot read results
 * into the contiguous frame list the engine expects.
 *
 * A batch of reads on a non-blocking tap completes slot by slot: each read
 * either gets a frame or finds the queue empty (-EAGAIN). Reads run in
 * order, so the frames normally fill slots 0..k-1; but a frame that arrives
 * while the batch runs lands after an empty slot:
 *
 *     slot   0     1     2      3     4      5
 *     res   1514  1514  -EAGAIN 60   -EAGAIN -EAGAIN
 *                        ^ hole
 *
 * The engine reads frame i from pkts[i] (its guest chain i), so the frame
 * in slot 3 is copied down into slot 2's buffers (rare: only frames that
 * raced the batch), giving k = 3 frames in slots 0..2.
 */
#ifndef NF_TAP_BATCH_H
#define NF_TAP_BATCH_H

#include <stddef.h>
#include <sys/uio.h>

#include "transport.h"

/* Copies the first len bytes of the scatter list src into dst, as far as
 * dst has room. Returns the bytes copied. The lists must not overlap. */
size_t tap_iov_copy(const struct iovec *dst, unsigned dn, const struct iovec *src, unsigned sn,
		    size_t len);

/* Total length of a scatter list. */
size_t tap_iov_room(const struct iovec *iov, unsigned n);

/* Compacts a completed batch of n reads: res[i] is the result of the read
 * into pkts[i] (bytes, header included, possibly more than its buffers held
 * when the frame was truncated; or -errno). Frames move down over empty
 * slots, keeping their order; pkts[0..k) get len and flags (NF_PKT_TRUNC
 * when the frame was longer than the buffers it ends up in). A result of 0
 * counts as empty. The first error other than -EAGAIN/-EINTR is stored in
 * *hard_err (left alone when there is none). Returns k. */
unsigned tap_batch_compact(struct nf_pkt *pkts, const int *res, unsigned n, int *hard_err);

/* Reads to queue first: as many as the last receive got (at least 1, at
 * most max). A read that finds the queue empty costs about as much as an
 * empty readv(2) here, so queuing max every time would cost more than it
 * saves at moderate rates. */
static inline unsigned tap_round_first(unsigned hint, unsigned max)
{
	return hint < 1 ? 1 : hint > max ? max : hint;
}

/* After a round of prev reads that all got frames: the next round doubles,
 * within what is left of max (done received so far). */
static inline unsigned tap_round_next(unsigned prev, unsigned done, unsigned max)
{
	unsigned left = max - done;
	return prev * 2 < left ? prev * 2 : left;
}

#endif
