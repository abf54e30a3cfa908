/* Live capture: the datapath's side (cap_batch) and the attach/detach
 * protocol. See capture.h. */
#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev.h"
#include "iov.h"

_Static_assert(sizeof(struct nf_bpf_insn) == sizeof(struct bpf_insn), "bpf insn size");
_Static_assert(offsetof(struct nf_bpf_insn, k) == offsetof(struct bpf_insn, k), "bpf insn k");

struct nf_capture {
	struct nf_dev *dev; /* NULL once stopped */
	struct cap_ring ring;
	unsigned dirs;
	uint32_t snaplen;
	struct bpf_insn *prog; /* NULL: keep everything */
	uint8_t *scratch;      /* snaplen bytes: a frame filtered while the ring is full */
};

/* Attach and detach happen under the device lock, which the datapath holds
 * whenever it moves frames: so it sees dev->capture change only between
 * batches, and once the pointer is cleared (and the lock released) it can
 * no longer be inside cap_batch for this capture. */
int nf_capture_start(struct nf_engine *eng, const struct nf_capture_params *p,
		     struct nf_capture **out, char *err, size_t errlen)
{
	struct nf_dev *dev = engine_dev(eng, p->index);
	struct nf_capture *cap = NULL;
	int rc;

	if (!dev) {
		snprintf(err, errlen, "vec%u: no such device", p->index);
		return -ENODEV;
	}
	if (!p->dirs || (p->dirs & ~(CAP_DIR_RX | CAP_DIR_TX)) || p->snaplen < NF_CAP_SNAP_MIN ||
	    p->snaplen > NF_CAP_SNAP_MAX) {
		snprintf(err, errlen, "vec%u: bad capture parameters", p->index);
		return -EINVAL;
	}
	if (p->nprog > NF_BPF_MAX_INSNS ||
	    (p->nprog && !bpf_validate((const struct bpf_insn *)p->prog, (int)p->nprog))) {
		snprintf(err, errlen, "vec%u: the filter is not a valid BPF program", p->index);
		return -EINVAL;
	}
	cap = calloc(1, sizeof(*cap));
	if (!cap)
		goto err_nomem;
	rc = cap_ring_init(&cap->ring, NF_CAP_RING_BYTES);
	if (rc < 0)
		goto err_free;
	cap->dirs = p->dirs;
	cap->snaplen = p->snaplen < cap_ring_max_caplen(&cap->ring)
			   ? p->snaplen
			   : cap_ring_max_caplen(&cap->ring);
	cap->scratch = malloc(cap->snaplen);
	if (!cap->scratch)
		goto err_nomem;
	if (p->nprog) {
		cap->prog = malloc(p->nprog * sizeof(*cap->prog));
		if (!cap->prog)
			goto err_nomem;
		memcpy(cap->prog, p->prog, p->nprog * sizeof(*cap->prog));
	}
	pthread_mutex_lock(&dev->vu.lock);
	if (dev->capture) {
		pthread_mutex_unlock(&dev->vu.lock);
		snprintf(err, errlen, "vec%u: another capture is attached", p->index);
		rc = -EBUSY;
		goto err_free;
	}
	cap->dev = dev;
	dev->capture = cap;
	pthread_mutex_unlock(&dev->vu.lock);
	*out = cap;
	return 0;

err_nomem:
	rc = -ENOMEM;
err_free:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "vec%u: out of memory for the capture ring", p->index);
	nf_capture_free(cap);
	return rc;
}

void nf_capture_stop(struct nf_capture *cap)
{
	struct nf_dev *dev = cap->dev;
	if (!dev)
		return;
	pthread_mutex_lock(&dev->vu.lock);
	dev->capture = NULL;
	pthread_mutex_unlock(&dev->vu.lock);
	cap->dev = NULL;
}

const struct cap_rec *nf_capture_peek(struct nf_capture *cap)
{
	return cap_ring_peek(&cap->ring);
}

void nf_capture_pop(struct nf_capture *cap)
{
	cap_ring_pop(&cap->ring);
}

uint64_t nf_capture_missed(const struct nf_capture *cap)
{
	return cap_ring_missed(&cap->ring);
}

void nf_capture_free(struct nf_capture *cap)
{
	if (!cap)
		return;
	nf_capture_stop(cap);
	cap_ring_deinit(&cap->ring);
	free(cap->scratch);
	free(cap->prog);
	free(cap);
}

/* ---- datapath thread, device lock held ---- */

void cap_batch(struct nf_dev *dev, unsigned dir, const struct nf_pkt *pkts, unsigned n)
{
	struct nf_capture *cap = dev->capture;
	uint32_t hdr = (dev->port->caps & NF_CAP_VNET_HDR) ? VNET_HDR_LEN_LEGACY : 0;
	struct timespec ts;

	if (!(cap->dirs & dir) || n == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts); /* one timestamp per batch */
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (unsigned i = 0; i < n; i++) {
		const struct nf_pkt *pkt = &pkts[i];
		/* rx lengths count the transport's header, tx lengths do not. */
		uint32_t frame = pkt->len;
		if (dir == CAP_DIR_RX) {
			if (frame < hdr)
				continue;
			frame -= hdr;
		}
		uint32_t want = frame < cap->snaplen ? frame : cap->snaplen;
		struct cap_rec *rec = cap_ring_reserve(&cap->ring, want);
		if (!rec && !cap->prog) {
			cap_ring_miss(&cap->ring);
			continue;
		}
		/* A frame the host truncated (rx) holds only what fit. */
		uint8_t *dst = rec ? rec->data : cap->scratch;
		uint32_t got = (uint32_t)iov_read(pkt->iov, pkt->iovcnt, hdr, dst, want);
		if (cap->prog && !bpf_filter(cap->prog, dst, frame, got))
			continue; /* not asked for: the reservation is forgotten */
		if (!rec) {
			cap_ring_miss(&cap->ring);
			continue;
		}
		rec->wirelen = frame;
		rec->caplen = got;
		rec->dir = (uint8_t)dir;
		rec->ts_ns = ns;
		cap_ring_commit(&cap->ring);
	}
}
