/* A scripted fake vhost-user frontend for the unit tests, shaped like UML's
 * virtio_uml (shared/reference/virtio-uml.md §3), plus the guest driver's
 * side of the split virtqueues.
 *
 * The frontend connects to a backend's listening socket, shares a memfd as
 * guest RAM, and sends messages with fds attached by SCM_RIGHTS. Two ways of
 * running the backend:
 *
 *   synchronous  f->sync points at the vu_dev: after each message the
 *                helpers call vu_dev_handle() in the calling thread, so a
 *                test controls every step (test_vhost_user, test_datapath);
 *   threaded     f->sync is NULL: the engine's control thread answers, and
 *                the helpers wait (bounded) for the reply (test_hostile).
 *
 * Guest physical layout (gpa == file offset == frontend user address, as in
 * UML; only [FF_REGION_GPA, FF_RAM_SIZE) is advertised). The memfd is
 * sparse: only pages something touches cost memory.
 *
 *   0x0000000  not advertised (UML's kernel image lives there)
 *   0x0100000  vring q at FF_RING_GPA(q): desc (16*256), avail +0x1000, used +0x2000
 *   0x0180000  scratch for tests (indirect tables and the like), FF_SCRATCH_BYTES
 *   0x0200000  data: descriptor d of vring q owns the 64 KiB at FF_BUF_GPA(q, d)
 *   0x3200000  free, up to FF_RAM_SIZE (big enough for 64 MiB descriptors)
 */
#ifndef FF_FAKE_FRONTEND_H
#define FF_FAKE_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vhost_user.h"
#include "wire.h"

#define FF_RAM_SIZE (72ull << 20)
#define FF_REGION_GPA 0x100000ull
#define FF_REGION_SIZE (FF_RAM_SIZE - FF_REGION_GPA)
#define FF_RING_NUM 256
#define FF_RING_GPA(q) (FF_REGION_GPA + (uint64_t)(q) * 0x4000ull)
#define FF_AVAIL_OFF 0x1000ull
#define FF_USED_OFF 0x2000ull
#define FF_SCRATCH_GPA 0x180000ull
#define FF_SCRATCH_BYTES 0x80000ull
#define FF_DATA_GPA 0x200000ull
#define FF_BUF_SLOT 0x10000u
#define FF_BUF_GPA(q, d) (FF_DATA_GPA + ((uint64_t)(q) * FF_RING_NUM + (d)) * FF_BUF_SLOT)

/* Protocol features virtio_uml asks for (§4). */
#define FF_PROTO_WANTED                                                              \
	((1ull << VU_PROTO_F_REPLY_ACK) | (1ull << VU_PROTO_F_SLAVE_REQ) |            \
	 (1ull << VU_PROTO_F_CONFIG))

/* virtio_uml's SET_MEM_TABLE payload: always two slots, the second unused. */
#define FF_MEM_TABLE_SIZE (8 + 2 * 32)

/* Bound on waiting for a reply or for the threaded datapath. */
#define FF_WAIT_MS 5000

/* The guest driver's view of one vring. */
struct ff_ring {
	uint64_t gpa;              /* descriptor table (0: FF_RING_GPA(q)) */
	uint16_t num;
	uint16_t avail_idx;        /* our copy of avail->idx */
	uint16_t used_seen;        /* used elements taken so far */
	bool busy[FF_RING_NUM];    /* descriptor in a chain the device has */
};

struct ff {
	int sock;                  /* our end of the vhost-user connection */
	int memfd;
	uint8_t *ram;              /* the whole memfd: gpa X is at ram + X */
	int kick[VNET_NQUEUES];    /* our end of each kick eventfd */
	int call[VNET_NQUEUES];    /* the guest's end of each call socketpair */
	int slave;                 /* the guest's end of the backend channel */
	struct vu_dev *sync;       /* synchronous mode (see above), or NULL */
	uint64_t offered;          /* GET_FEATURES answer at ff_boot */
	uint64_t acked;            /* what ff_boot sent in SET_FEATURES */
	struct ff_ring ring[VNET_NQUEUES];
};

/* One buffer of a chain. gpa 0: the descriptor's own data slot. */
struct ff_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* ---- connection ---- */

/* Connects to path and creates guest RAM. Returns 0 or -errno (f usable
 * for ff_close either way). */
int ff_open(struct ff *f, const char *path);

/* Closes everything ff_open and the helpers below opened. Idempotent. */
void ff_close(struct ff *f);

/* Closes our end of the connection only (the guest's other fds stay). */
void ff_hangup(struct ff *f);

/* Connects a plain socket to path; -1 on error. */
int ff_connect(const char *path);

/* Open file descriptors of this process. */
int ff_count_fds(void);

/* Monotonic milliseconds. */
long long ff_now_ms(void);

/* ---- messages ---- */

/* Writes raw bytes with fds attached; returns sendmsg's result. */
ssize_t ff_send_bytes(struct ff *f, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Writes one message (header + payload) with fds; asserts it went out. */
void ff_send(struct ff *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	     const int *fds, unsigned nfds);

/* True if a reply (or EOF) is waiting within timeout_ms. */
bool ff_readable(struct ff *f, int timeout_ms);

/* Reads one reply to req; asserts its flags are exactly REPLY|version. */
void ff_recv(struct ff *f, uint32_t req, struct vu_msg *r);

/* Asserts no reply is waiting. */
void ff_no_reply(struct ff *f);

/* Synchronous mode: handles one message and asserts vu_dev_handle
 * returned 0. No-op in threaded mode. */
void ff_pump(struct ff *f);

/* A message that asks for an ack (NEED_REPLY): returns the u64 status. */
uint64_t ff_ack(struct ff *f, uint32_t req, const void *payload, uint32_t size,
		const int *fds, unsigned nfds);

/* A GET_* message with a u64 answer. */
uint64_t ff_get_u64(struct ff *f, uint32_t req);

/* ---- virtio_uml's sequence ---- */

/* The one-region table over the memfd. */
struct vu_mem_table ff_one_region(void);

/* Boot and driver bind up to SET_MEM_TABLE; acks (offered & want) plus the
 * protocol features bit. */
void ff_boot(struct ff *f, uint64_t want);

/* SET_VRING_CALL (a fresh socketpair), NUM, BASE 0, ADDR (desc at desc_gpa,
 * avail and used after it as virtio_uml lays them out). */
void ff_vring_config(struct ff *f, unsigned q, uint64_t desc_gpa);

/* SET_VRING_KICK with a fresh eventfd. */
void ff_vring_kick(struct ff *f, unsigned q);

void ff_vring_enable(struct ff *f, unsigned q, unsigned on);

/* Everything virtio_uml does before the guest's first packet. */
void ff_bring_up(struct ff *f, uint64_t want);

/* ---- the guest driver ---- */

void *ff_host(struct ff *f, uint64_t gpa);
struct vring_desc *ff_desc(struct ff *f, unsigned q);
struct vring_avail *ff_avail(struct ff *f, unsigned q);
struct vring_used *ff_used(struct ff *f, unsigned q);

/* Makes head available in vring q (no kick). */
void ff_publish(struct ff *f, unsigned q, uint16_t head);

/* Notifies the device through the kick eventfd. */
void ff_kick(struct ff *f, unsigned q);

/* Writes b[0..n) into free descriptors as one chain and publishes it.
 * Returns the head. */
uint16_t ff_post(struct ff *f, unsigned q, const struct ff_buf *b, unsigned n);

/* Writes b[0..n) into descriptors first..first+n-1 and publishes it. */
void ff_post_at(struct ff *f, unsigned q, uint16_t first, const struct ff_buf *b, unsigned n);

/* Posts n writable single-buffer chains of len bytes on the receive ring. */
void ff_rx_fill(struct ff *f, unsigned n, uint32_t len);

/* Queues one frame for transmission: a 12-byte header (NULL: all zero) and
 * the frame, in as many readable descriptors as it needs. Returns the head. */
uint16_t ff_tx(struct ff *f, const struct virtio_net_hdr_v1 *h, const void *frame, uint32_t len);

/* Used elements published and not taken yet. */
unsigned ff_used_pending(struct ff *f, unsigned q);

/* Takes the next used element and frees its chain's descriptors (their
 * buffers keep their contents until posted again); asks for a call at the
 * next one (used_event). False when there is none. */
bool ff_take_used(struct ff *f, unsigned q, struct vring_used_elem *e);

/* Waits (threaded mode) until n used elements are pending or FF_WAIT_MS
 * passed; returns how many are pending. */
unsigned ff_wait_used(struct ff *f, unsigned q, unsigned n);

/* Copies up to cap bytes of the chain starting at head (its descriptors as
 * we wrote them) into buf; returns the bytes copied. */
size_t ff_read_chain(struct ff *f, unsigned q, uint16_t head, void *buf, size_t cap);

#endif
