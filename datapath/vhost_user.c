#include "vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "memguard.h"
#include "util.h"

/* Protocol features we offer: synchronous acks, the backend channel (without
 * it virtio_uml cannot get a call interrupt) and config space access (needed
 * for MAC, status and MTU). Never in-band notifications: they turn every kick
 * into a round trip. */
#define VU_PROTO_OFFERED                                                         \
	((1ull << VU_PROTO_F_REPLY_ACK) | (1ull << VU_PROTO_F_SLAVE_REQ) |       \
	 (1ull << VU_PROTO_F_CONFIG))

static const char *const request_name[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = "GET_FEATURES",
	[VU_SET_FEATURES] = "SET_FEATURES",
	[VU_SET_OWNER] = "SET_OWNER",
	[VU_RESET_OWNER] = "RESET_OWNER",
	[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VU_SET_LOG_FD] = "SET_LOG_FD",
	[VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VU_SET_SLAVE_REQ_FD] = "SET_SLAVE_REQ_FD",
	[VU_GET_CONFIG] = "GET_CONFIG",
	[VU_SET_CONFIG] = "SET_CONFIG",
	[VU_RESET_DEVICE] = "RESET_DEVICE",
	[VU_VRING_KICK] = "VRING_KICK",
};

static const char *req_name(uint32_t req)
{
	return req < VU_REQUEST_MAX && request_name[req] ? request_name[req] : "unknown";
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void vring_reset(struct vu_vring *vr)
{
	unsigned gen = vr->gen;
	memset(vr, 0, sizeof(*vr));
	vr->gen = gen + 1;
	vr->kick_fd = vr->call_fd = vr->err_fd = -1;
}

int vu_dev_init(struct vu_dev *dev, const char *name, const char *path,
		const struct vu_dev_ops *ops, uint64_t features,
		const struct virtio_net_config *config)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int rc;

	memset(dev, 0, sizeof(*dev));
	if ((rc = mg_install()) < 0)
		return rc;
	dev->ops = ops;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->listen_fd = dev->conn_fd = dev->backend_fd = -1;
	dev->features = features;
	dev->config = *config;
	gm_init(&dev->mem);
	for (unsigned i = 0; i < VNET_NQUEUES; i++)
		vring_reset(&dev->vrings[i]);

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	dev->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (dev->listen_fd < 0)
		return -errno;
	/* Replace a stale socket from an earlier run, but never delete a
	 * file that is not a socket. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(dev->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(dev->listen_fd, 1) < 0) {
		rc = -errno;
		close_fd(&dev->listen_fd);
		return rc;
	}
	rc = pthread_mutex_init(&dev->lock, NULL);
	if (rc) {
		close_fd(&dev->listen_fd);
		return -rc;
	}
	return 0;
}

static void unmap_all(struct vu_dev *dev)
{
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++) {
		if (dev->maps[i].addr) {
			mg_remove(dev->maps[i].addr);
			munmap(dev->maps[i].addr, dev->maps[i].len);
		}
		dev->maps[i] = (struct vu_map){ 0 };
	}
	gm_init(&dev->mem);
	dev->mem_set = false;
	atomic_store(&dev->mem_fault, false);
}

/* Stops a vring and releases its fds. Lock held. */
static void vring_teardown(struct vu_dev *dev, unsigned q)
{
	struct vu_vring *vr = &dev->vrings[q];
	if (vr->kick_fd >= 0)
		dev->ops->kick_unwatch(dev, q, vr->kick_fd);
	close_fd(&vr->kick_fd);
	close_fd(&vr->call_fd);
	close_fd(&vr->err_fd);
	vring_reset(vr);
}

void vu_dev_disconnect(struct vu_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		vring_teardown(dev, q);
	unmap_all(dev);
	close_fd(&dev->backend_fd);
	close_fd(&dev->conn_fd);
	dev->protocol_features = 0;
	dev->broken = NULL;
	dev->ops->changed(dev);
	pthread_mutex_unlock(&dev->lock);
}

void vu_dev_deinit(struct vu_dev *dev)
{
	vu_dev_disconnect(dev);
	close_fd(&dev->listen_fd);
	pthread_mutex_destroy(&dev->lock);
}

/* True for the one ring a device stopped for a halt still serves. */
static bool ring_outlives_stop(const struct vu_dev *dev, unsigned q)
{
	return dev->ctrl_only && q == VNET_Q_CTRL;
}

void vu_dev_set_broken(struct vu_dev *dev, const char *reason)
{
	if (dev->broken)
		return;
	dev->broken = reason;
	if (atomic_load(&dev->halting))
		/* A halting UML kernel frees ring memory without telling the
		 * device (virtio_uml just closes the socket at the end). */
		nf_info("%s: stopped serving the halting guest (%s)", dev->name, reason);
	else
		nf_err("%s: guest broke the virtio protocol: %s; device stopped until the guest reconnects",
		       dev->name, reason);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		if (!ring_outlives_stop(dev, q))
			dev->vrings[q].ready = false;
	dev->ops->changed(dev);
}

int vu_dev_accept(struct vu_dev *dev)
{
	int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (dev->conn_fd >= 0) {
		nf_warn("%s: refusing a second vhost-user frontend", dev->name);
		close(fd);
		return -EBUSY;
	}
	/* Replies are sent with a timeout: a frontend that does not read them
	 * is dropped instead of holding the control thread. */
	struct timeval tv = { .tv_sec = VU_IO_TIMEOUT_MS / 1000,
			      .tv_usec = (VU_IO_TIMEOUT_MS % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&dev->lock);
	dev->conn_fd = fd;
	dev->acked = 0; /* kept after a disconnect for the exit statistics */
	pthread_mutex_unlock(&dev->lock);
	nf_dbg("%s: frontend connected", dev->name);
	return 0;
}

/* ---- message I/O ----------------------------------------------------------- */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes before the deadline (monotonic ms). Ancillary data
 * after a message's first bytes is not expected; the kernel discards (and
 * closes) any fds sent with it. Returns 0 or -errno (-ETIMEDOUT). */
static int read_full(int sock, void *buf, size_t len, long long deadline)
{
	for (size_t got = 0; got < len;) {
		long long left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { sock, POLLIN, 0 };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = recv(sock, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		got += (size_t)n;
	}
	return 0;
}

/* Reads one message: header (with any fds) then payload. The whole message
 * must arrive within VU_IO_TIMEOUT_MS of its first bytes: a frontend that
 * trickles it one byte at a time cannot hold the control thread for longer.
 * Returns 0 or -errno; on error no fd remains open. */
static int msg_read(int sock, struct vu_msg *msg, int *fds, unsigned *nfds)
{
	char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	struct iovec iov = { &msg->hdr, sizeof(msg->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	ssize_t n;
	int rc = 0;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	/* On failure the kernel leaves msg_controllen as we set it and the
	 * control buffer unwritten: there is nothing to parse and no fd to own. */
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	long long deadline = mono_ms() + VU_IO_TIMEOUT_MS;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned cnt = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < cnt; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < VU_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0) {
		rc = -ECONNRESET;
		goto err_close_fds;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		rc = -EPROTO;
		goto err_close_fds;
	}
	/* A stream may deliver the header in pieces. */
	if ((size_t)n < sizeof(msg->hdr)) {
		rc = read_full(sock, (uint8_t *)&msg->hdr + n, sizeof(msg->hdr) - (size_t)n, deadline);
		if (rc < 0)
			goto err_close_fds;
	}
	if (msg->hdr.size > VU_PAYLOAD_MAX) {
		nf_err("vhost-user: %s message claims %u payload bytes (max %u)",
		       req_name(msg->hdr.request), msg->hdr.size, VU_PAYLOAD_MAX);
		rc = -EMSGSIZE;
		goto err_close_fds;
	}
	rc = read_full(sock, msg->payload.raw, msg->hdr.size, deadline);
	if (rc < 0) {
		if (rc == -ETIMEDOUT)
			nf_err("vhost-user: %s message not complete within %d ms",
			       req_name(msg->hdr.request), VU_IO_TIMEOUT_MS);
		goto err_close_fds;
	}
	return 0;

err_close_fds:
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	return rc;
}

/* A reply prepared under the lock and sent after it is released. */
static int reply_set(struct vu_msg *reply, uint32_t request, const void *payload, uint32_t size)
{
	reply->hdr = (struct vu_hdr){ request, VU_VERSION | VU_FLAG_REPLY, size };
	memcpy(reply->payload.raw, payload, size);
	return 1;
}

/* Sends a reply (socket send timeout: VU_IO_TIMEOUT_MS). */
static int msg_send(int sock, const struct vu_msg *reply)
{
	size_t len = sizeof(reply->hdr) + reply->hdr.size;
	const char *p = (const char *)reply;
	while (len) {
		ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int reply_u64(struct vu_msg *reply, uint32_t request, uint64_t v)
{
	return reply_set(reply, request, &v, sizeof(v));
}

/* ---- vring readiness --------------------------------------------------------- */

/* Translates ring addresses through the current map and (re)starts the vq
 * state, keeping the position in the ring. Lock held. */
static int vring_map(struct vu_dev *dev, struct vu_vring *vr)
{
	uint16_t num = vr->num;
	struct vring_desc *desc = gm_uva(&dev->mem, vr->addr.desc, vq_desc_bytes(num));
	struct vring_avail *avail = gm_uva(&dev->mem, vr->addr.avail, vq_avail_bytes(num));
	struct vring_used *used = gm_uva(&dev->mem, vr->addr.used, vq_used_bytes(num));

	if (!desc || !avail || !used)
		return -EFAULT;
	if (((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
		return -EFAULT;
	vq_setup(&vr->vq, &dev->mem, num, desc, avail, used,
		 vu_has(dev, VIRTIO_F_EVENT_IDX), vr->base);
	vr->gen++;
	return 0;
}

/* Recomputes which vrings the datapath may use. A ring runs once it has a
 * size, addresses, a kick fd and memory, and is enabled — or, when protocol
 * features were not negotiated (virtio_uml's second SET_FEATURES can drop
 * bit 30), as soon as it is started. Lock held. */
static void update_ready(struct vu_dev *dev)
{
	bool proto = vu_has(dev, VU_F_PROTOCOL_FEATURES);

	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &dev->vrings[q];
		bool live = !dev->broken || ring_outlives_stop(dev, q);
		bool want = live && dev->mem_set && vr->num && vr->addr_set && vr->started &&
			    (vr->enabled || !proto);
		if (want && !vr->ready) {
			if (vring_map(dev, vr) < 0) {
				vu_dev_set_broken(dev, "vring addresses outside guest memory");
				return;
			}
		} else if (!want && vr->ready) {
			vr->base = vr->vq.last_avail; /* resume here */
		}
		vr->ready = want;
	}
	dev->ops->changed(dev);
}

/* Stops a ring that is being reconfigured; it restarts with its next kick fd. */
static void vring_stop(struct vu_dev *dev, struct vu_vring *vr)
{
	if (vr->ready)
		vr->base = vr->vq.last_avail;
	vr->ready = false;
	vr->started = false;
	(void)dev;
}

/* ---- request handlers -----------------------------------------------------
 * Each returns >= 0 on success (1 = a reply was prepared), or -errno,
 * which becomes a NACK when the frontend asked for an ack. Handlers run with
 * dev->lock held and own the fds they are given. */

static int take_fd(int *fds, unsigned nfds, unsigned i)
{
	if (i >= nfds)
		return -1;
	int fd = fds[i];
	fds[i] = -1;
	return fd;
}

static int handle_set_mem_table(struct vu_dev *dev, struct vu_msg *m, int *fds, unsigned nfds)
{
	const struct vu_mem_table *t = &m->payload.mem;
	struct vu_map maps[VU_MAX_REGIONS] = { 0 };
	struct guestmem mem;
	int rc = 0;

	if (m->hdr.size < 8 || t->nregions == 0 || t->nregions > VU_MAX_REGIONS ||
	    m->hdr.size < 8 + 32 * t->nregions || nfds != t->nregions) {
		nf_err("%s: SET_MEM_TABLE: bad layout (%u regions, %u bytes, %u fds)", dev->name,
		       t->nregions, m->hdr.size, nfds);
		return -EINVAL;
	}
	gm_init(&mem);
	long page = sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < t->nregions; i++) {
		const struct vu_region *r = &t->regions[i];
		uint64_t align = r->mmap_offset & (uint64_t)(page - 1);
		uint64_t len = r->size + align;
		struct stat st;
		if (r->size == 0 || len < r->size || r->mmap_offset + r->size < r->mmap_offset) {
			rc = -EINVAL;
			goto err_unmap;
		}
		/* Touching a mapping past the end of its file raises SIGBUS, so
		 * the region must lie inside the file the guest gave us. */
		if (fstat(fds[i], &st) < 0 || (uint64_t)st.st_size < r->mmap_offset + r->size) {
			nf_err("%s: SET_MEM_TABLE: region %u extends past the end of its file",
			       dev->name, i);
			rc = -EINVAL;
			goto err_unmap;
		}
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i],
			       (off_t)(r->mmap_offset - align));
		if (p == MAP_FAILED) {
			rc = -errno;
			nf_err("%s: SET_MEM_TABLE: mmap of region %u (%llu bytes): %s", dev->name, i,
			       (unsigned long long)r->size, strerror(errno));
			goto err_unmap;
		}
		maps[i] = (struct vu_map){ p, len };
		(void)mg_add(p, len, &dev->mem_fault); /* full table: unguarded, as before */
		rc = gm_add(&mem, r->guest_addr, r->size, r->user_addr, (uint8_t *)p + align);
		if (rc < 0) {
			nf_err("%s: SET_MEM_TABLE: region %u overlaps or wraps", dev->name, i);
			goto err_unmap;
		}
	}
	/* The fds are not needed once mapped. */
	for (unsigned i = 0; i < nfds; i++)
		close_fd(&fds[i]);

	unmap_all(dev);
	memcpy(dev->maps, maps, sizeof(maps));
	dev->mem = mem;
	dev->mem_set = true;
	/* Running rings keep their position but must be re-translated. */
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &dev->vrings[q];
		if (vr->ready) {
			vr->base = vr->vq.last_avail;
			uint16_t used_idx = vr->vq.used_idx;
			if (vring_map(dev, vr) < 0) {
				vu_dev_set_broken(dev, "vring addresses outside the new memory table");
				break;
			}
			vr->vq.used_idx = used_idx;
			if (dev->ops->remapped)
				dev->ops->remapped(dev, q);
		}
	}
	return 0;

err_unmap:
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++)
		if (maps[i].addr) {
			mg_remove(maps[i].addr);
			munmap(maps[i].addr, maps[i].len);
		}
	return rc;
}

static struct vu_vring *vring_arg(struct vu_dev *dev, uint32_t index, const char *what)
{
	if (index >= VNET_NQUEUES) {
		nf_err("%s: %s: vring index %u out of range", dev->name, what, index);
		return NULL;
	}
	return &dev->vrings[index];
}

/* A kick fd is watched with epoll and never read or written: anything
 * epoll refuses (a regular file, a directory) cannot deliver kicks. */
static int kick_fd_check(struct vu_dev *dev, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
	    S_ISBLK(st.st_mode)) {
		nf_err("%s: SET_VRING_KICK: the kick fd cannot be watched for events", dev->name);
		return -EINVAL;
	}
	return 0;
}

/* What a call fd is decides how we signal it without ever blocking (see
 * vu_vring_call). A socket takes MSG_DONTWAIT; a pipe or FIFO is reopened
 * through /proc as a non-blocking description of our own; an eventfd is
 * made non-blocking (its file is shared, so vu_vring_call also polls). Any
 * other kind (a regular file, a tty, a device) is refused: writes to it
 * could block, fill a disk, or mean nothing to the guest. On success *fd
 * may have been replaced (the old one closed). */
static int call_fd_prepare(struct vu_dev *dev, int *fd, enum vu_call_kind *kind)
{
	char path[64], link[64] = "";
	struct stat st;

	if (fstat(*fd, &st) < 0) {
		nf_err("%s: SET_VRING_CALL: fstat: %s", dev->name, strerror(errno));
		return -errno;
	}
	if (S_ISSOCK(st.st_mode)) {
		*kind = VU_CALL_SOCKET;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", *fd);
	if (S_ISFIFO(st.st_mode)) {
		int nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (nfd < 0) {
			nf_err("%s: SET_VRING_CALL: cannot reopen the call pipe: %s", dev->name,
			       strerror(errno));
			return -errno;
		}
		close(*fd);
		*fd = nfd;
		*kind = VU_CALL_PIPE;
		return 0;
	}
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n > 0)
		link[n] = '\0';
	if (strcmp(link, "anon_inode:[eventfd]") == 0) {
		int fl = fcntl(*fd, F_GETFL);
		if (fl < 0 || fcntl(*fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		*kind = VU_CALL_EVENTFD;
		return 0;
	}
	nf_err("%s: SET_VRING_CALL: the call fd is %s, not a socket, eventfd or pipe", dev->name,
	       S_ISREG(st.st_mode) ? "a regular file" : S_ISCHR(st.st_mode) ? "a character device"
	       : S_ISDIR(st.st_mode) ? "a directory" : link[0] ? link : "of an unusable kind");
	return -EINVAL;
}

static int handle_vring_fd(struct vu_dev *dev, struct vu_msg *m, int *fds, unsigned nfds)
{
	uint64_t v = m->payload.u64;
	const char *what = req_name(m->hdr.request);
	struct vu_vring *vr = vring_arg(dev, (uint32_t)(v & VU_VRING_IDX_MASK), what);
	unsigned q = (unsigned)(v & VU_VRING_IDX_MASK);
	bool nofd = v & VU_VRING_NOFD_MASK;

	if (!vr)
		return -EINVAL;
	if (nofd != (nfds == 0) || nfds > 1) {
		nf_err("%s: %s: fd count %u does not match the no-fd flag", dev->name, what, nfds);
		return -EINVAL;
	}
	int fd = take_fd(fds, nfds, 0);
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		if (fd >= 0 && kick_fd_check(dev, fd) < 0) {
			close(fd);
			return -EINVAL;
		}
		if (vr->kick_fd >= 0)
			dev->ops->kick_unwatch(dev, q, vr->kick_fd);
		close_fd(&vr->kick_fd);
		vr->kick_fd = fd;
		if (fd >= 0)
			dev->ops->kick_watch(dev, q, fd); /* watched, never read */
		vr->started = true; /* the spec's "ring starts on kick" */
		break;
	case VU_SET_VRING_CALL: {
		enum vu_call_kind kind = VU_CALL_SOCKET;
		if (fd >= 0 && call_fd_prepare(dev, &fd, &kind) < 0) {
			close(fd); /* taken from fds[]: ours to close, or it leaks */
			return -EINVAL;
		}
		close_fd(&vr->call_fd);
		vr->call_fd = fd;
		vr->call_kind = kind;
		vr->call_fails = 0;
		break;
	}
	default:
		close_fd(&vr->err_fd);
		vr->err_fd = fd;
		break;
	}
	return 0;
}

static void config_read(const struct vu_dev *dev, struct vu_config *c)
{
	const uint8_t *src = (const uint8_t *)&dev->config;
	for (uint32_t i = 0; i < c->size; i++) {
		uint32_t at = c->offset + i;
		c->data[i] = at < sizeof(dev->config) ? src[at] : 0;
	}
}

/* Dispatches one request: >= 0 success (1: its natural reply is in *reply,
 * to be sent once the lock is released), -errno failure. */
static int dispatch(struct vu_dev *dev, struct vu_msg *m, int *fds, unsigned nfds,
		    struct vu_msg *reply)
{
	uint32_t size = m->hdr.size;
	struct vu_vring *vr;

#define NEED_SIZE(n)                                                                        \
	do {                                                                                \
		if (size < (n)) {                                                           \
			nf_err("%s: %s: payload of %u bytes, expected %u", dev->name,       \
			       req_name(m->hdr.request), size, (unsigned)(n));              \
			return -EINVAL;                                                     \
		}                                                                           \
	} while (0)

	switch (m->hdr.request) {
	case VU_GET_FEATURES:
		return reply_u64(reply, m->hdr.request,
				 dev->features | (1ull << VU_F_PROTOCOL_FEATURES));
	case VU_SET_FEATURES:
		NEED_SIZE(8);
		if (m->payload.u64 & ~(dev->features | (1ull << VU_F_PROTOCOL_FEATURES))) {
			nf_err("%s: SET_FEATURES: frontend acked features we did not offer (0x%llx)",
			       dev->name, (unsigned long long)(m->payload.u64 & ~dev->features));
			return -EINVAL;
		}
		dev->acked = m->payload.u64;
		for (unsigned q = 0; q < VNET_NQUEUES; q++)
			if (dev->vrings[q].ready)
				dev->vrings[q].vq.event_idx = vu_has(dev, VIRTIO_F_EVENT_IDX);
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		return reply_u64(reply, m->hdr.request, VU_PROTO_OFFERED);
	case VU_SET_PROTOCOL_FEATURES:
		NEED_SIZE(8);
		if (m->payload.u64 & ~VU_PROTO_OFFERED) {
			nf_err("%s: SET_PROTOCOL_FEATURES: unoffered bits 0x%llx", dev->name,
			       (unsigned long long)(m->payload.u64 & ~VU_PROTO_OFFERED));
			return -EINVAL;
		}
		dev->protocol_features = m->payload.u64;
		return 0;
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		for (unsigned q = 0; q < VNET_NQUEUES; q++)
			vring_teardown(dev, q);
		dev->acked = 0;
		dev->broken = NULL;
		return 0;
	case VU_SET_MEM_TABLE:
		return handle_set_mem_table(dev, m, fds, nfds);
	case VU_SET_VRING_NUM:
		NEED_SIZE(sizeof(struct vu_vring_state));
		if (!(vr = vring_arg(dev, m->payload.state.index, "SET_VRING_NUM")))
			return -EINVAL;
		/* Split rings are a power of two in size: the free-running u16
		 * indices only map consistently onto slots then. */
		if (m->payload.state.num == 0 || m->payload.state.num > VRING_MAX_SIZE ||
		    (m->payload.state.num & (m->payload.state.num - 1))) {
			nf_err("%s: SET_VRING_NUM: size %u is not a power of two in 1..%u",
			       dev->name, m->payload.state.num, VRING_MAX_SIZE);
			return -EINVAL;
		}
		vring_stop(dev, vr);
		vr->num = (uint16_t)m->payload.state.num;
		return 0;
	case VU_SET_VRING_BASE:
		NEED_SIZE(sizeof(struct vu_vring_state));
		if (!(vr = vring_arg(dev, m->payload.state.index, "SET_VRING_BASE")))
			return -EINVAL;
		vring_stop(dev, vr);
		vr->base = (uint16_t)m->payload.state.num;
		return 0;
	case VU_SET_VRING_ADDR:
		NEED_SIZE(sizeof(struct vu_vring_addr));
		if (!(vr = vring_arg(dev, m->payload.addr.index, "SET_VRING_ADDR")))
			return -EINVAL;
		vring_stop(dev, vr);
		vr->addr = m->payload.addr;
		vr->addr_set = true;
		return 0;
	case VU_GET_VRING_BASE: {
		NEED_SIZE(sizeof(struct vu_vring_state));
		if (!(vr = vring_arg(dev, m->payload.state.index, "GET_VRING_BASE")))
			return -EINVAL;
		vring_stop(dev, vr);
		struct vu_vring_state st = { m->payload.state.index, vr->base };
		return reply_set(reply, m->hdr.request, &st, sizeof(st));
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		NEED_SIZE(8);
		return handle_vring_fd(dev, m, fds, nfds);
	case VU_SET_VRING_ENABLE:
		NEED_SIZE(sizeof(struct vu_vring_state));
		if (!(vr = vring_arg(dev, m->payload.state.index, "SET_VRING_ENABLE")))
			return -EINVAL;
		vr->enabled = m->payload.state.num != 0;
		return 0;
	case VU_SET_SLAVE_REQ_FD: {
		struct stat st;
		if (nfds != 1) {
			nf_err("%s: SET_SLAVE_REQ_FD without exactly one fd", dev->name);
			return -EINVAL;
		}
		/* The backend channel is one end of a socketpair; backend
		 * requests (CONFIG_CHANGE_MSG) would be written to it, and a
		 * pipe or file there could block or mean nothing. */
		if (fstat(fds[0], &st) < 0 || !S_ISSOCK(st.st_mode)) {
			nf_err("%s: SET_SLAVE_REQ_FD: the backend channel is not a socket", dev->name);
			return -EINVAL;
		}
		close_fd(&dev->backend_fd);
		dev->backend_fd = take_fd(fds, nfds, 0);
		return 0;
	}
	case VU_GET_QUEUE_NUM:
		return reply_u64(reply, m->hdr.request, 1);
	case VU_GET_CONFIG: {
		NEED_SIZE(12);
		struct vu_config *c = &m->payload.config;
		if (c->size > VU_CONFIG_MAX || size < 12 + c->size) {
			nf_err("%s: GET_CONFIG: bad size %u", dev->name, c->size);
			return -EINVAL;
		}
		config_read(dev, c);
		return reply_set(reply, m->hdr.request, c, 12 + c->size);
	}
	case VU_SET_CONFIG:
		/* virtio-net's config space is read-only for a modern driver. */
		nf_dbg("%s: SET_CONFIG ignored (read-only config space)", dev->name);
		return -EPERM;
	default:
		nf_warn("%s: unsupported vhost-user request %u (%s)", dev->name, m->hdr.request,
			req_name(m->hdr.request));
		return -EOPNOTSUPP;
	}
#undef NEED_SIZE
}

int vu_dev_handle(struct vu_dev *dev)
{
	struct vu_msg msg, reply;
	int fds[VU_MAX_FDS];
	unsigned nfds;
	int rc;

	rc = msg_read(dev->conn_fd, &msg, fds, &nfds);
	if (rc == -EAGAIN)
		return 0; /* woken without data */
	if (rc < 0) {
		if (rc != -ECONNRESET)
			nf_err("%s: vhost-user connection: %s; disconnecting", dev->name,
			       strerror(-rc));
		else
			nf_dbg("%s: frontend disconnected", dev->name);
		vu_dev_disconnect(dev);
		return rc;
	}
	if ((msg.hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
		nf_err("%s: vhost-user version %u not supported; disconnecting", dev->name,
		       msg.hdr.flags & VU_VERSION_MASK);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		vu_dev_disconnect(dev);
		return -EPROTO;
	}
	nf_dbg("%s: %s (%u bytes, %u fds)", dev->name, req_name(msg.hdr.request), msg.hdr.size,
	       nfds);

	pthread_mutex_lock(&dev->lock);
	bool was_broken = dev->broken;
	rc = dispatch(dev, &msg, fds, nfds, &reply);
	update_ready(dev);
	if (!was_broken && dev->broken && rc == 0)
		rc = -EFAULT; /* this message broke the device: tell the frontend */
	pthread_mutex_unlock(&dev->lock);
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]); /* handler did not take it */

	/* With REPLY_ACK every message without a natural reply that asks for
	 * one gets a u64: 0 success, 1 failure. */
	bool want_ack = (msg.hdr.flags & VU_FLAG_NEED_REPLY) &&
			(dev->protocol_features & (1ull << VU_PROTO_F_REPLY_ACK));
	if (rc != 1 && want_ack)
		reply_u64(&reply, msg.hdr.request, rc < 0);
	if (rc == 1 || want_ack) {
		int src = msg_send(dev->conn_fd, &reply);
		if (src < 0) {
			nf_err("%s: cannot reply to %s: %s; disconnecting", dev->name,
			       req_name(msg.hdr.request), strerror(-src));
			vu_dev_disconnect(dev);
			return -EPIPE;
		}
	}
	if (rc < 0 && rc != -EPERM && rc != -EOPNOTSUPP)
		nf_warn("%s: %s refused", dev->name, req_name(msg.hdr.request));
	return 0;
}

int vu_vring_call(struct vu_dev *dev, unsigned q)
{
	static const uint64_t one = 1;
	struct vu_vring *vr = &dev->vrings[q];
	ssize_t n;

	if (vr->call_fd < 0)
		return 0;
	if (vr->call_kind == VU_CALL_SOCKET) {
		/* EAGAIN: the guest has not read the calls before this one. */
		n = send(vr->call_fd, &one, sizeof(one), MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		/* The eventfd's file is shared with the frontend, which could
		 * clear O_NONBLOCK on it again: look first, so a counter at
		 * its maximum (a signal is pending anyway) never blocks us. */
		if (vr->call_kind == VU_CALL_EVENTFD) {
			struct pollfd p = { vr->call_fd, POLLOUT, 0 };
			if (poll(&p, 1, 0) == 0) {
				vr->call_fails = 0;
				return 0;
			}
		}
		n = write(vr->call_fd, &one, sizeof(one));
	}
	if (n >= 0 || errno == EAGAIN || errno == EINTR) {
		vr->call_fails = 0;
		return 0;
	}
	int rc = -errno;
	if (++vr->call_fails == VU_CALL_FAIL_MAX) {
		nf_err("%s: vring %u call fd failed %u times in a row (%s)", dev->name, q,
		       VU_CALL_FAIL_MAX, strerror(-rc));
		vu_dev_set_broken(dev, "the call fd keeps refusing calls");
	}
	return rc;
}

int vu_dev_config_changed(struct vu_dev *dev)
{
	/* virtio_uml handles it in its backend-channel interrupt and then
	 * calls virtio_config_changed(); it answers only with NEED_REPLY,
	 * which we do not set, so nothing ever has to be read back here. */
	struct vu_hdr h = { .request = VU_BACKEND_CONFIG_CHANGE_MSG, .flags = VU_VERSION, .size = 0 };
	if (dev->backend_fd < 0)
		return 0;
	ssize_t n = send(dev->backend_fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(h))
		return 0;
	return n < 0 ? -errno : -EIO;
}

bool vu_dev_check_fault(struct vu_dev *dev)
{
	if (atomic_exchange(&dev->mem_fault, false))
		vu_dev_set_broken(dev, "guest memory file shrank under its mapping (SIGBUS)");
	return dev->broken != NULL;
}
