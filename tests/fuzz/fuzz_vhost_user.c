/* libFuzzer target: vhost-user message handling (datapath/vhost_user.c).
 * The input is a script of records, each sent by a frontend over a
 * socketpair whose other end is the device's connection; vu_dev_handle()
 * then reads and answers until the frontend's end is shut (EOF). Records:
 *
 *   message:    0        1            13
 *               +--------+------------+---------------------------------
 *               | fdsel  | vu_hdr     | payload: hdr.size bytes (fewer if
 *               | (< 0xff)| (12 bytes)|  the input ends: a cut message)
 *               +--------+------------+---------------------------------
 *   RAM write:  0xff, u16 offset (x 16), u8 len, len bytes: written into
 *               guest RAM before the messages are handled
 *
 * fdsel bits 0-2: fds attached to the message (0-7); bits 3-5: their kind
 * (guest RAM memfd, eventfd, socket, pipe write end, read-only view of the
 * RAM, /dev/null, a directory, a regular file), so SET_MEM_TABLE,
 * SET_VRING_KICK/CALL/ERR and SET_SLAVE_REQ_FD get every kind of fd.
 *
 * After the messages, every ready vring is popped a few times and each
 * chain's buffers written, as the datapath would. Nothing may touch memory
 * outside the guest RAM or the device, and no fd may outlive the input's
 * session (counted before and after each input: a leak traps).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "vhost_user.h"

#define RAM_SIZE (1u << 20)
#define SEND_MAX (64u << 10) /* under any socket buffer: sending never blocks */

static struct vu_dev dev;
static int ram = -1;

static void hook_watch(struct vu_dev *d, unsigned q, int fd)
{
	(void)d, (void)q, (void)fd;
}

static void hook_changed(struct vu_dev *d)
{
	(void)d;
}

static const struct vu_dev_ops hooks = {
	.kick_watch = hook_watch,
	.kick_unwatch = hook_watch,
	.changed = hook_changed,
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void init_once(void)
{
	char path[64];
	static const struct virtio_net_config config = { .mac = { 2, 0, 0, 0, 0, 1 },
							 .status = 1, .mtu = 1500 };
	uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
			    (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_NET_F_MAC) |
			    (1ull << VIRTIO_NET_F_CSUM);

	nf_log_level = -1;
	/* As uml-nf (launcher/supervise.c): a call pipe without a reader
	 * must fail the write, not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/tmp/fuzz-vu-%d.sock", (int)getpid());
	if (vu_dev_init(&dev, "fuzz", path, &hooks, features, &config) < 0)
		abort();
	unlink(path); /* the listening fd stays; nothing connects to it */
	ram = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (ram < 0)
		abort();
}

/* An fd of the kind the fuzzer picked; -1 if it cannot be made. */
static int make_fd(unsigned kind, int *extra)
{
	int p[2], fd = -1;
	char path[64];

	*extra = -1;
	switch (kind) {
	case 0:
		return dup(ram);
	case 1:
		return eventfd(0, EFD_CLOEXEC);
	case 2:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
			return -1;
		*extra = p[0];
		return p[1];
	case 3:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		*extra = p[0]; /* closed once sent: calls then fail with EPIPE */
		return p[1];
	case 4:
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ram);
		return open(path, O_RDONLY | O_CLOEXEC);
	case 5:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 6:
		return open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	default:
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0 && ftruncate(fd, 8192) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
}

static void send_record(int sock, const uint8_t *msg, size_t len, unsigned fdsel)
{
	int fds[8], extra[8];
	unsigned n = fdsel & 7, got = 0;
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	for (unsigned i = 0; i < n; i++) {
		int fd = make_fd((fdsel >> 3) & 7, &extra[got]);
		if (fd >= 0)
			fds[got++] = fd;
	}
	if (got) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(got * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(got * sizeof(int));
		memcpy(CMSG_DATA(c), fds, got * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* In flight, the kernel holds its own references. */
	for (unsigned i = 0; i < got; i++) {
		close(fds[i]);
		if (extra[i] >= 0)
			close(extra[i]);
	}
}

/* What the datapath does with a ready ring: pop, touch, push, flush. */
static void exercise_rings(void)
{
	static struct vq_chain c;
	pthread_mutex_lock(&dev.lock);
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &dev.vrings[q];
		if (!vr->ready)
			continue;
		for (int i = 0; i < 8 && vq_pop(&vr->vq, &c) == 1; i++) {
			for (unsigned k = 0; k < (unsigned)(c.nout + c.nin); k++)
				memset(c.iov[k].iov_base, 0xa5, c.iov[k].iov_len);
			vq_push(&vr->vq, c.head, c.in_len);
		}
		vq_flush(&vr->vq);
		vq_should_call(&vr->vq);
		vq_kick_enable(&vr->vq);
		(void)vu_vring_call(&dev, q);
	}
	pthread_mutex_unlock(&dev.lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sp[2];
	char junk[4096];
	size_t sent = 0;

	if (ram < 0)
		init_once();
	if (ftruncate(ram, 0) < 0 || ftruncate(ram, RAM_SIZE) < 0)
		abort();
	int fds_idle = count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	dev.conn_fd = sp[0];
	dev.acked = 0; /* kept across sessions for statistics; each input starts anew */

	for (size_t at = 0; at < size && sent < SEND_MAX;) {
		unsigned sel = data[at++];
		if (sel == 0xff) {
			if (size - at < 3)
				break;
			size_t off = (size_t)(data[at] | data[at + 1] << 8) * 16;
			size_t len = data[at + 2];
			at += 3;
			if (len > size - at)
				len = size - at;
			if (off + len <= RAM_SIZE)
				(void)!pwrite(ram, data + at, len, (off_t)off);
			at += len;
			continue;
		}
		size_t len = sizeof(struct vu_hdr);
		if (size - at < len)
			len = size - at;
		if (len == sizeof(struct vu_hdr)) {
			struct vu_hdr h;
			memcpy(&h, data + at, sizeof(h));
			size_t body = h.size < size - at - len ? h.size : size - at - len;
			len += body;
		}
		send_record(sp[1], data + at, len, sel);
		sent += len;
		at += len;
	}
	shutdown(sp[1], SHUT_WR);

	/* Every message, then EOF (the device disconnects itself). */
	for (int i = 0; i < 4096 && dev.conn_fd >= 0; i++) {
		if (vu_dev_handle(&dev) < 0)
			break;
		while (recv(sp[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
		exercise_rings();
	}
	if (dev.conn_fd >= 0)
		vu_dev_disconnect(&dev);
	close(sp[1]);
	if (count_fds() != fds_idle)
		__builtin_trap(); /* an fd outlived its session */
	return 0;
}
