/* The fake host transport: see fake_port.h. */
#include "fake_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static struct fp_port *to_fp(struct nf_port *p)
{
	return nf_container_of(p, struct fp_port, base);
}

static size_t hdr_len(const struct fp_port *p)
{
	return (p->base.caps & NF_CAP_VNET_HDR) ? VNET_HDR_LEN_LEGACY : 0;
}

/* tx_fd: an eventfd at its maximum count is not writable; empty, it is. */
static void tx_fd_block(struct fp_port *p, bool block)
{
	uint64_t v;
	if (block) {
		v = 0xfffffffffffffffeull;
		(void)!read(p->base.tx_fd, &v, sizeof(v)); /* to zero, then to the top */
		v = 0xfffffffffffffffeull;
		(void)!write(p->base.tx_fd, &v, sizeof(v));
	} else {
		(void)!read(p->base.tx_fd, &v, sizeof(v));
	}
}

static void fp_close(struct nf_port *port)
{
	struct fp_port *p = to_fp(port);
	for (unsigned i = p->rx_head; i != p->rx_tail; i++)
		free(p->rxq[i % FP_QUEUE_MAX].data);
	for (unsigned i = p->tx_head; i != p->tx_tail; i++)
		free(p->txq[i % FP_QUEUE_MAX].data);
	close(port->rx_fd);
	close(port->tx_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int fp_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct fp_port *p = to_fp(port);
	unsigned n = 0;

	pthread_mutex_lock(&p->lock);
	while (n < max && p->rx_head != p->rx_tail) {
		struct fp_frame *fr = &p->rxq[p->rx_head % FP_QUEUE_MAX];
		struct nf_pkt *pkt = &pkts[n++];
		size_t off = 0;
		for (unsigned k = 0; k < pkt->iovcnt && off < fr->len; k++) {
			size_t take = fr->len - off < pkt->iov[k].iov_len ? fr->len - off
									   : pkt->iov[k].iov_len;
			memcpy(pkt->iov[k].iov_base, fr->data + off, take);
			off += take;
		}
		pkt->len = fr->len; /* MSG_TRUNC: the whole length, even if cut */
		pkt->flags = 0;
		free(fr->data);
		p->rx_head++;
	}
	if (p->rx_head == p->rx_tail) {
		uint64_t v;
		(void)!read(port->rx_fd, &v, sizeof(v)); /* nothing left: not readable */
	}
	if (n)
		p->rx_batches++;
	pthread_mutex_unlock(&p->lock);
	return (int)n;
}

static int fp_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct fp_port *p = to_fp(port);
	unsigned sent = 0;

	pthread_mutex_lock(&p->lock);
	while (sent < n && p->tx_room && p->tx_tail - p->tx_head < FP_QUEUE_MAX) {
		const struct nf_pkt *pkt = &pkts[sent];
		size_t len = 0;
		for (unsigned k = 0; k < pkt->iovcnt; k++)
			len += pkt->iov[k].iov_len;
		uint8_t *data = malloc(len ? len : 1);
		if (!data)
			break;
		size_t off = 0;
		for (unsigned k = 0; k < pkt->iovcnt; k++) {
			memcpy(data + off, pkt->iov[k].iov_base, pkt->iov[k].iov_len);
			off += pkt->iov[k].iov_len;
		}
		p->txq[p->tx_tail++ % FP_QUEUE_MAX] = (struct fp_frame){ data, (uint32_t)len };
		if (p->tx_room != UINT32_MAX)
			p->tx_room--;
		sent++;
	}
	if (sent < n)
		tx_fd_block(p, true); /* writable again when room is made */
	if (sent)
		p->tx_batches++;
	pthread_mutex_unlock(&p->lock);
	return (int)sent;
}

const struct nf_transport fp_transport = {
	.name = "fake",
	.summary = "in-memory queues (unit tests)",
	.close = fp_close,
	.rx_batch = fp_rx_batch,
	.tx_batch = fp_tx_batch,
};

struct fp_port *fp_open(const struct nf_devcfg *cfg, unsigned caps)
{
	struct fp_port *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base.transport = &fp_transport;
	p->base.cfg = cfg;
	p->base.caps = caps;
	p->base.rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->base.tx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->tx_room = UINT32_MAX;
	if (p->base.rx_fd < 0 || p->base.tx_fd < 0 || pthread_mutex_init(&p->lock, NULL)) {
		if (p->base.rx_fd >= 0)
			close(p->base.rx_fd);
		if (p->base.tx_fd >= 0)
			close(p->base.tx_fd);
		free(p);
		return NULL;
	}
	return p;
}

int fp_inject(struct fp_port *p, const struct virtio_net_hdr_v1 *h, const void *frame,
	      uint32_t len)
{
	static const struct virtio_net_hdr_v1 zero;
	size_t hl = hdr_len(p);
	uint8_t *data = malloc(hl + len);
	if (!data)
		return -ENOMEM;
	memcpy(data, h ? h : &zero, hl);
	memcpy(data + hl, frame, len);

	pthread_mutex_lock(&p->lock);
	if (p->rx_tail - p->rx_head >= FP_QUEUE_MAX) {
		pthread_mutex_unlock(&p->lock);
		free(data);
		return -ENOSPC;
	}
	p->rxq[p->rx_tail++ % FP_QUEUE_MAX] = (struct fp_frame){ data, (uint32_t)(hl + len) };
	uint64_t one = 1;
	(void)!write(p->base.rx_fd, &one, sizeof(one));
	pthread_mutex_unlock(&p->lock);
	return 0;
}

unsigned fp_rx_waiting(struct fp_port *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->rx_tail - p->rx_head;
	pthread_mutex_unlock(&p->lock);
	return n;
}

bool fp_take(struct fp_port *p, struct fp_frame *out)
{
	bool got = false;
	pthread_mutex_lock(&p->lock);
	if (p->tx_head != p->tx_tail) {
		*out = p->txq[p->tx_head++ % FP_QUEUE_MAX];
		got = true;
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

unsigned fp_tx_count(struct fp_port *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->tx_tail - p->tx_head;
	pthread_mutex_unlock(&p->lock);
	return n;
}

unsigned fp_wait_tx(struct fp_port *p, unsigned n, int ms)
{
	struct timespec nap = { 0, 500000 };
	unsigned have;
	for (int waited = 0; (have = fp_tx_count(p)) < n && waited < 2 * ms; waited++)
		nanosleep(&nap, NULL);
	return have;
}

void fp_set_tx_room(struct fp_port *p, unsigned room)
{
	pthread_mutex_lock(&p->lock);
	p->tx_room = room;
	tx_fd_block(p, room == 0);
	pthread_mutex_unlock(&p->lock);
}
