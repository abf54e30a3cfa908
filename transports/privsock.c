#include "privsock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long the broker may take to answer. */
#define BROKER_TIMEOUT_MS 2000

static int broker_fd = -1;

void nf_sock_use_broker(int fd)
{
	broker_fd = fd;
}

static void raise_buf(int fd, int opt_force, int opt, int size)
{
	int cur = 0;
	socklen_t len = sizeof(cur);
	/* The kernel reports twice what was set (its bookkeeping overhead). */
	if (getsockopt(fd, SOL_SOCKET, opt, &cur, &len) == 0 && cur / 2 >= size)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

void nf_sock_set_bufs(int fd, int size)
{
	raise_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, size);
	raise_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, size);
}

static int broker_packet_socket(int bufsize)
{
	struct nf_sock_req req = {NF_SOCK_MAGIC, NF_SOCK_OP_PACKET, bufsize};
	struct nf_sock_reply rep;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {&rep, sizeof(rep)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};

	if (send(broker_fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -EPIPE;
	struct pollfd p = {broker_fd, POLLIN, 0};
	if (poll(&p, 1, BROKER_TIMEOUT_MS) <= 0)
		return -ETIMEDOUT;
	ssize_t n = recvmsg(broker_fd, &mh, MSG_CMSG_CLOEXEC);
	int fd = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)) && fd < 0)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(rep) || (mh.msg_flags & MSG_CTRUNC) ||
	    (rep.err == 0) != (fd >= 0)) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	return rep.err ? -rep.err : fd;
}

int nf_packet_socket(int bufsize)
{
	if (broker_fd >= 0)
		return broker_packet_socket(bufsize);
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	nf_sock_set_bufs(fd, bufsize);
	return fd;
}
