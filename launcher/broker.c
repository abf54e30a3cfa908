#include "broker.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"
#include "privsock.h"

#define BROKER_CAPS ((1ull << CAP_NET_RAW) | (1ull << CAP_NET_ADMIN))

static void reply(int fd, int err, int sock)
{
	struct nf_sock_reply rep = {err};
	struct iovec iov = {&rep, sizeof(rep)};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (sock >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sock, sizeof(int));
	}
	(void)sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* The broker's whole life. fd is 3; nothing else but 0-2 is open. */
static void __attribute__((noreturn)) broker_main(int fd)
{
	prctl(PR_SET_NAME, "uml-nf-sockbrk", 0, 0, 0);
	if (pv_drop(BROKER_CAPS) < 0)
		_exit(1);
	for (;;) {
		struct nf_sock_req req;
		ssize_t n = recv(fd, &req, sizeof(req), 0);
		if (n == 0)
			_exit(0); /* uml-nf closed its end, or is gone */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		/* Exactly one well-formed request, or nothing is done. */
		if (n != (ssize_t)sizeof(req) || req.magic != NF_SOCK_MAGIC ||
		    req.op != NF_SOCK_OP_PACKET || req.bufsize < 0 ||
		    req.bufsize > NF_SOCK_BUF_MAX) {
			reply(fd, EINVAL, -1);
			continue;
		}
		pv_raise(BROKER_CAPS);
		int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int err = s < 0 ? errno : 0;
		if (s >= 0)
			nf_sock_set_bufs(s, req.bufsize);
		pv_lower();
		reply(fd, err, s);
		if (s >= 0)
			close(s);
	}
}

int br_start(pid_t *pid)
{
	int sv[2];
	pid_t parent = getpid();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t p = fork();
	if (p < 0) {
		int rc = -errno;
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		syscall(SYS_close_range, 4u, ~0u, 0u);
		broker_main(3);
	}
	close(sv[1]);
	*pid = p;
	return sv[0];
}
