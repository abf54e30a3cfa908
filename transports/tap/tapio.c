#include "tapio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"

#define CANCEL_TAG UINT64_MAX

const char *tap_io_mode(const struct tap_io *io)
{
	return io->uring ? "io_uring" : "readv/writev";
}

/* Why io_uring_setup said no, in words a user can act on. */
static void explain_setup_error(int rc, char *why, size_t whylen)
{
	char knob[8] = "";
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	if (f) {
		if (!fgets(knob, sizeof(knob), f))
			knob[0] = '\0';
		fclose(f);
		knob[strcspn(knob, "\n")] = '\0';
	}
	snprintf(why, whylen, "io_uring unavailable (io_uring_setup: %s%s%s)", strerror(-rc),
		 rc == -EPERM && knob[0] && strcmp(knob, "0") ? ", kernel.io_uring_disabled=" : "",
		 rc == -EPERM && knob[0] && strcmp(knob, "0") ? knob : "");
}

/* Checks that the tap takes RWF_NOWAIT reads through the ring. A read into
 * an empty scatter list returns before the tap looks at its queue, so no
 * frame is consumed; a kernel whose tap cannot do nowait I/O refuses the
 * flag (-EOPNOTSUPP). */
static int probe_nowait(struct tap_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	struct io_uring_cqe *cqe;
	struct iovec none = { io->scratch, 0 };
	if (!sqe)
		return -EBUSY;
	io_uring_prep_readv2(sqe, io->fd, &none, 1, -1, RWF_NOWAIT);
	sqe->user_data = 0;
	int rc = io_uring_submit_and_wait(&io->ring, 1);
	if (rc < 0)
		return rc;
	rc = io_uring_peek_cqe(&io->ring, &cqe);
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(&io->ring, cqe);
	return rc < 0 ? rc : 0;
}

static int ring_setup(struct tap_io *io, char *why, size_t whylen)
{
	/* SUBMIT_ALL: a request refused at submission does not stop the rest
	 * (which would stay queued in the SQ, pointing at buffers we no longer
	 * own). COOP_TASKRUN: no IPI to post completions; ours complete inline
	 * anyway. Both are 5.18+; without them the ring still works. */
	struct io_uring_params p = { .flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN };
	unsigned entries = io->depth + 1; /* a round, or the cancels of one */
	int rc = io_uring_queue_init_params(entries, &io->ring, &p);
	if (rc == -EINVAL) {
		p = (struct io_uring_params){ 0 };
		rc = io_uring_queue_init_params(entries, &io->ring, &p);
	}
	if (rc < 0) {
		explain_setup_error(rc, why, whylen);
		return rc;
	}
	rc = probe_nowait(io);
	if (rc < 0) {
		snprintf(why, whylen, "io_uring cannot do non-blocking tap reads here (%s)",
			 strerror(-rc));
		io_uring_queue_exit(&io->ring);
		return rc;
	}
	/* A fixed file saves the fd lookup and reference count per request
	 * (the process is multi-threaded, so each readv pays it too). */
	io->fixed = io_uring_register_files(&io->ring, &io->fd, 1) == 0;
	return 0;
}

int tap_io_init(struct tap_io *io, int fd, unsigned depth, bool vec, char *why, size_t whylen)
{
	char dummy[1];
	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	*io = (struct tap_io){ .fd = fd, .depth = depth, .rx_hint = 1 };
	io->scratch_iov = (struct iovec){ io->scratch, sizeof(io->scratch) };
	why[0] = '\0';
	io->res = calloc(depth, sizeof(*io->res));
	if (!io->res)
		return -ENOMEM;
	const char *env = getenv("UMLNF_IO_URING"); /* A/B switch for tests and bench runs */
	if (!vec)
		snprintf(why, whylen, "vec=0");
	else if (env && strcmp(env, "0") == 0)
		snprintf(why, whylen, "io_uring off (UMLNF_IO_URING=0)");
	else
		io->uring = ring_setup(io, why, whylen) == 0;
	return 0;
}

void tap_io_deinit(struct tap_io *io)
{
	if (io->uring || io->retired) {
		/* Unregistering drops the ring's reference to the tap now;
		 * io_uring_queue_exit alone would leave that to the kernel's
		 * asynchronous ring teardown, and a tap we created would
		 * outlive uml-nf for a moment. */
		if (io->fixed)
			io_uring_unregister_files(&io->ring);
		io_uring_queue_exit(&io->ring);
	}
	io->uring = io->retired = false;
	free(io->res);
	io->res = NULL;
}

/* Leaves io_uring for good after something that should not happen (a
 * request that did not complete inline, a refused submission). */
static void retire(struct tap_io *io, const char *what)
{
	if (!io->retired)
		nf_warn("tap: %s; switching this device to readv/writev", what);
	io->uring = false;
	io->retired = true;
}

static void reap(struct tap_io *io, unsigned *seen)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&io->ring, head, cqe) {
		n++;
		if (cqe->user_data == CANCEL_TAG)
			continue;
		io->res[cqe->user_data] = cqe->res;
		(*seen)++;
	}
	io_uring_cq_advance(&io->ring, n);
}

/* Submits the n requests prepared with user_data = slot and collects their
 * results in io->res[0..n). Returns with none of them in flight: a request
 * that did not complete inline is cancelled and waited for. Slots never
 * submitted read -ECANCELED. */
static void ring_run(struct tap_io *io, unsigned n)
{
	unsigned submitted = 0, seen = 0;
	bool odd = false;

	for (unsigned i = 0; i < n; i++)
		io->res[i] = -ECANCELED;
	for (int tries = 0; submitted < n && tries < 4; tries++) {
		int rc = io_uring_submit(&io->ring);
		if (rc > 0)
			submitted += (unsigned)rc;
		else if (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			break;
	}
	if (submitted < n)
		odd = true; /* the rest stays unsubmitted: the ring is retired below */
	reap(io, &seen);
	if (seen < submitted) {
		odd = true;
		/* Cancel by slot (portable to kernels without cancel-by-fd);
		 * a slot that completed meanwhile just fails its cancel. */
		for (unsigned i = 0; i < n; i++) {
			struct io_uring_sqe *sqe;
			if (io->res[i] != -ECANCELED || !(sqe = io_uring_get_sqe(&io->ring)))
				continue;
			io_uring_prep_cancel64(sqe, i, 0);
			sqe->user_data = CANCEL_TAG;
		}
		io_uring_submit(&io->ring);
		while (seen < submitted) {
			struct io_uring_cqe *cqe;
			int rc = io_uring_wait_cqe(&io->ring, &cqe);
			if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
				/* Cannot happen with a healthy ring; returning
				 * now could let the kernel write into buffers
				 * that are no longer ours. */
				nf_err("tap: io_uring wait failed with requests in flight: %s",
				       strerror(-rc));
				abort();
			}
			reap(io, &seen);
		}
	}
	if (odd)
		retire(io, "io_uring requests did not complete inline");
}

/* The ring has room for depth + 1 entries and every round is submitted
 * before the next is prepared, so io_uring_get_sqe cannot run out while the
 * ring is in use (leftovers of a refused submission retire it). */
static void prep(struct tap_io *io, struct io_uring_sqe *sqe, bool write, const struct iovec *iov,
		 unsigned cnt, unsigned slot)
{
	int fd = io->fixed ? 0 : io->fd;
	if (write)
		io_uring_prep_writev2(sqe, fd, iov, cnt, -1, RWF_NOWAIT);
	else
		io_uring_prep_readv2(sqe, fd, iov, cnt, -1, RWF_NOWAIT);
	if (io->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = slot;
}

/* ---- readv/writev: vec=0, or no io_uring ---- */

static int read_loop(struct tap_io *io, struct nf_pkt *pkts, unsigned max)
{
	unsigned n = 0;
	while (n < max) {
		ssize_t r = readv(io->fd, pkts[n].iov, (int)pkts[n].iovcnt);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0 && n == 0 && errno != EAGAIN)
				return -errno;
			break;
		}
		size_t room = tap_iov_room(pkts[n].iov, pkts[n].iovcnt);
		pkts[n].len = (uint32_t)r;
		pkts[n].flags = (size_t)r > room ? NF_PKT_TRUNC : 0;
		n++;
	}
	return (int)n;
}

static int write_loop(struct tap_io *io, struct nf_pkt *pkts, unsigned n, uint64_t *drops)
{
	unsigned i = 0;
	while (i < n) {
		if (writev(io->fd, pkts[i].iov, (int)pkts[i].iovcnt) >= 0) {
			i++;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		if (errno == EBADFD)
			return i ? (int)i : -EBADFD; /* the tap is gone */
		/* About this one frame (bad header, tap down): drop it. */
		(*drops)++;
		i++;
	}
	return (int)i;
}

/* ---- the batch calls ---- */

int tap_io_read(struct tap_io *io, struct nf_pkt *pkts, unsigned max)
{
	unsigned done = 0, round;
	int hard = 0;

	if (max > io->depth)
		max = io->depth;
	if (!io->uring)
		return read_loop(io, pkts, max);
	for (round = tap_round_first(io->rx_hint, max); round;
	     round = tap_round_next(round, done, max)) {
		for (unsigned i = 0; i < round; i++)
			prep(io, io_uring_get_sqe(&io->ring), false, pkts[done + i].iov,
			     pkts[done + i].iovcnt, i);
		ring_run(io, round);
		unsigned k = tap_batch_compact(pkts + done, io->res, round, &hard);
		done += k;
		if (k < round || !io->uring)
			break; /* the queue ran dry during this round */
	}
	io->rx_hint = done;
	return done == 0 && hard ? hard : (int)done;
}

int tap_io_write(struct tap_io *io, struct nf_pkt *pkts, unsigned n, uint64_t *drops)
{
	if (n > io->depth)
		n = io->depth;
	if (!io->uring || n == 0)
		return write_loop(io, pkts, n, drops);
	for (unsigned i = 0; i < n; i++)
		prep(io, io_uring_get_sqe(&io->ring), true, pkts[i].iov, pkts[i].iovcnt, i);
	ring_run(io, n);
	if (io->res[0] == -EBADFD)
		return -EBADFD; /* the tap is gone; later slots failed alike */
	/* A frame not taken (EAGAIN, or never submitted) ends the batch unless
	 * a later one went out: resending it then would reorder, so it is
	 * dropped instead. A tap has no transmit queue to fill (its socket
	 * buffer is unlimited by default), so neither happens in practice. */
	unsigned last = 0; /* one past the last frame the tap consumed */
	for (unsigned i = 0; i < n; i++)
		if (io->res[i] != -EAGAIN && io->res[i] != -ECANCELED)
			last = i + 1;
	for (unsigned i = 0; i < last; i++)
		if (io->res[i] < 0)
			(*drops)++;
	return (int)last;
}

unsigned tap_io_drain(struct tap_io *io, unsigned hint)
{
	unsigned done = 0, max = io->depth;

	if (!io->uring) {
		while (done < max) {
			ssize_t r = readv(io->fd, &io->scratch_iov, 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			done++;
		}
		return done;
	}
	for (unsigned round = tap_round_first(hint, max); round;
	     round = tap_round_next(round, done, max)) {
		unsigned k = 0;
		for (unsigned i = 0; i < round; i++)
			prep(io, io_uring_get_sqe(&io->ring), false, &io->scratch_iov, 1, i);
		ring_run(io, round);
		for (unsigned i = 0; i < round; i++)
			k += io->res[i] > 0;
		done += k;
		if (k < round || !io->uring)
			break;
	}
	return done;
}
