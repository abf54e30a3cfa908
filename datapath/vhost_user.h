/* vhost-user backend core for one virtio-net device, as driven by UML's
 * virtio_uml frontend (see shared/reference/virtio-uml.md).
 *
 * The core speaks the protocol on one unix socket: it listens, accepts one
 * frontend at a time, parses and answers each message, keeps the memory map
 * and vring configuration, and decides when each vring is ready. It owns no
 * event loop and no thread: its host calls vu_dev_accept()/vu_dev_handle()
 * when the fds it watches become readable, and the core reports changes back
 * through struct vu_dev_ops.
 *
 * Locking: dev->lock guards the memory map and the vrings. vu_dev_handle()
 * takes it while it changes them; the datapath takes it around each batch.
 * Replies are written after the lock is released, with a send timeout, so a
 * frontend that stops reading can neither freeze the datapath nor hold the
 * control thread for more than VU_IO_TIMEOUT_MS per message; a message
 * must arrive whole within the same bound once its first byte has.
 */
#ifndef NF_VHOST_USER_H
#define NF_VHOST_USER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guestmem.h"
#include "virtq.h"
#include "wire.h"

struct vu_dev;

/* Hooks into the host. All are called on the thread running vu_dev_handle()
 * with dev->lock held; they must not block. */
struct vu_dev_ops {
	/* Start/stop watching a vring's kick fd (owned by the core). */
	void (*kick_watch)(struct vu_dev *dev, unsigned q, int fd);
	void (*kick_unwatch)(struct vu_dev *dev, unsigned q, int fd);
	/* Vring readiness, features or connection state changed. */
	void (*changed)(struct vu_dev *dev);
	/* Optional: running vring q was re-translated through a new memory
	 * table and keeps running from where it was; descriptor chains the
	 * host holds popped must be translated again (vq_chain_reload). */
	void (*remapped)(struct vu_dev *dev, unsigned q);
};

/* How calls reach the guest through a vring's call fd. */
enum vu_call_kind {
	VU_CALL_SOCKET,  /* virtio_uml: a stream socket read in 8-byte units */
	VU_CALL_EVENTFD, /* other frontends */
	VU_CALL_PIPE,    /* a pipe or FIFO (our own non-blocking description) */
};

/* Bound on one message's arrival once its first byte has, and on sending
 * one reply. */
#define VU_IO_TIMEOUT_MS 1000

/* Consecutive failed calls (other than "a signal is already pending") after
 * which the device is marked broken. */
#define VU_CALL_FAIL_MAX 64

struct vu_vring {
	struct vq vq;          /* datapath state, valid while ready */
	uint16_t num;          /* SET_VRING_NUM */
	uint16_t base;         /* SET_VRING_BASE / where to resume */
	struct vu_vring_addr addr;
	bool addr_set;
	bool started;          /* a kick fd was set since the last (re)configuration */
	bool enabled;          /* SET_VRING_ENABLE */
	bool ready;            /* the datapath may use vq */
	unsigned gen;          /* bumped whenever vq is (re)mapped: chains the
				* datapath kept from before are void */
	int kick_fd;
	int call_fd;
	enum vu_call_kind call_kind;
	unsigned call_fails;   /* consecutive failed calls */
	int err_fd;
};

struct vu_map {
	void *addr;
	size_t len;
};

struct vu_dev {
	const struct vu_dev_ops *ops;
	char name[16];         /* "vec0", for logs */
	pthread_mutex_t lock;
	int listen_fd;
	int conn_fd;
	int backend_fd;        /* SET_SLAVE_REQ_FD channel, or -1 */
	uint64_t features;     /* offered */
	uint64_t acked;        /* SET_FEATURES */
	uint64_t protocol_features; /* SET_PROTOCOL_FEATURES */
	bool mem_set;
	struct guestmem mem;
	struct vu_map maps[VU_MAX_REGIONS];
	struct vu_vring vrings[VNET_NQUEUES];
	struct virtio_net_config config;
	const char *broken;    /* reason, or NULL */
	atomic_bool halting;   /* the guest is shutting down: its rings may be scribbled on */
	/* Stopped for a halt (set with halting, before vu_dev_set_broken): the
	 * control queue alone stays served. A halting virtio_net may still
	 * send a control command (rx mode, MAC table) and spins until it is
	 * answered, and it only frees that ring after its last answer. */
	bool ctrl_only;
	atomic_bool mem_fault; /* a guest mapping faulted (file shrunk): see memguard.h */
};

/* Initialises dev and listens on path (replacing a stale socket file).
 * Returns 0 or -errno. features: virtio feature bits to offer. */
int vu_dev_init(struct vu_dev *dev, const char *name, const char *path,
		const struct vu_dev_ops *ops, uint64_t features,
		const struct virtio_net_config *config);

/* Closes everything and unmaps guest memory. */
void vu_dev_deinit(struct vu_dev *dev);

/* Accepts a pending connection on listen_fd. A second frontend while one is
 * connected is refused. Returns 0 or -errno. */
int vu_dev_accept(struct vu_dev *dev);

/* Reads and handles one message from the connection. Returns 0, or -errno
 * when the connection was closed (EOF or a framing error); the core has then
 * already torn the session down and the device waits for a new frontend. */
int vu_dev_handle(struct vu_dev *dev);

/* Takes a session down: vrings stopped, fds closed, memory unmapped. */
void vu_dev_disconnect(struct vu_dev *dev);

/* Marks the device broken (first reason wins, logged once). Lock held. */
void vu_dev_set_broken(struct vu_dev *dev, const char *reason);

/* Signals the guest that vring q has used buffers. Never blocks: a call fd
 * that cannot take the signal now already has one pending. Returns 0, or
 * -errno when the fd refused it; after VU_CALL_FAIL_MAX failures in a row
 * the device is marked broken. Datapath thread, lock held. */
int vu_vring_call(struct vu_dev *dev, unsigned q);

/* Tells the guest its config space changed (CONFIG_CHANGE_MSG on the
 * backend channel, no reply asked for): virtio-net then re-reads the link
 * status. A guest not connected yet reads the config when it probes.
 * Never blocks. Returns 0, or -errno when the channel refused the message.
 * Lock held (dev->config changed under it). */
int vu_dev_config_changed(struct vu_dev *dev);

/* Marks the device broken if one of its guest mappings faulted since the
 * last look (memguard). Returns true if the device is broken. Lock held. */
bool vu_dev_check_fault(struct vu_dev *dev);

/* True if feature bit was negotiated. */
static inline bool vu_has(const struct vu_dev *dev, unsigned bit)
{
	return (dev->acked >> bit) & 1;
}

#endif
