/* A fake host transport for the engine's unit tests: a struct nf_port whose
 * "host side" is two in-memory queues the test reaches directly.
 *
 *   host -> guest   fp_inject() queues a frame (with its 10-byte virtio-net
 *                   header, as AF_PACKET with PACKET_VNET_HDR gives it);
 *                   rx_batch hands queued frames out like recvmmsg does:
 *                   copied into the engine's iovecs, the full length
 *                   reported even when it did not fit (MSG_TRUNC);
 *   guest -> host   tx_batch copies each frame (header included) into a
 *                   capture queue fp_take() reads, up to tx_room frames,
 *                   after which it pushes back like a full socket.
 *
 * rx_fd is an eventfd readable while frames wait. tx_fd is another eventfd
 * kept full (never writable) while the port pushes back and drained
 * (writable) when fp_set_tx_room() makes room, so the engine's "wait for
 * the transport" path is exercised as with a real socket. The copies into
 * and out of guest memory are plain memcpy in the datapath thread, like a
 * transport that copies in user space (a shrunk guest memory file faults
 * there, for memguard to catch).
 *
 * Thread safety: the queues are locked; the test thread injects and takes
 * while the datapath thread receives and sends.
 */
#ifndef FP_FAKE_PORT_H
#define FP_FAKE_PORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport.h"
#include "wire.h"

#define FP_QUEUE_MAX 4096

struct fp_frame {
	uint8_t *data; /* header (if the port has NF_CAP_VNET_HDR) + frame; malloc'd */
	uint32_t len;
};

struct fp_port {
	struct nf_port base;
	pthread_mutex_t lock;
	struct fp_frame rxq[FP_QUEUE_MAX];
	unsigned rx_head, rx_tail;       /* free-running */
	struct fp_frame txq[FP_QUEUE_MAX];
	unsigned tx_head, tx_tail;
	unsigned tx_room;                /* frames tx_batch still takes */
	uint64_t rx_batches, tx_batches; /* calls that moved something */
	bool closed;
};

extern const struct nf_transport fp_transport;

/* A new port with the given caps (NF_CAP_VNET_HDR | NF_CAP_GSO is what the
 * raw transport has). The engine closes it (nf_engine_destroy, or
 * nf_engine_add on failure). NULL on allocation failure. */
struct fp_port *fp_open(const struct nf_devcfg *cfg, unsigned caps);

/* Queues a frame from the host: h (legacy 10 bytes; NULL: all zero) is put
 * in front when the port carries vnet headers. Returns 0, or -ENOSPC. */
int fp_inject(struct fp_port *p, const struct virtio_net_hdr_v1 *h, const void *frame,
	      uint32_t len);

/* Frames injected and not yet received by the engine. */
unsigned fp_rx_waiting(struct fp_port *p);

/* Takes the oldest frame the engine sent; the caller frees out->data.
 * False when none. */
bool fp_take(struct fp_port *p, struct fp_frame *out);

/* Frames sent and not taken. */
unsigned fp_tx_count(struct fp_port *p);

/* Waits up to ms for n sent frames; returns how many there are. */
unsigned fp_wait_tx(struct fp_port *p, unsigned n, int ms);

/* How many more frames tx_batch accepts before pushing back (UINT32_MAX:
 * no limit, the default). Making room wakes the engine through tx_fd. */
void fp_set_tx_room(struct fp_port *p, unsigned room);

#endif
