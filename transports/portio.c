#include "portio.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The gate is an eventfd: writable while its counter is below the maximum
 * (2^64 - 2), which it is when open (0); shutting adds the maximum, opening
 * reads the counter back to 0. */
#define GATE_SHUT_VALUE 0xfffffffffffffffeull

int nf_evset_open(struct nf_evset *es)
{
	int rc;

	es->shut = false;
	es->gate = -1;
	es->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (es->epfd < 0)
		return -errno;
	es->gate = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (es->gate < 0) {
		rc = -errno;
		goto err_close_epfd;
	}
	return 0;

err_close_epfd:
	close(es->epfd);
	es->epfd = -1;
	return rc;
}

void nf_evset_close(struct nf_evset *es)
{
	if (es->gate >= 0)
		close(es->gate);
	if (es->epfd >= 0)
		close(es->epfd);
	es->gate = es->epfd = -1;
}

static int ctl(struct nf_evset *es, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	return epoll_ctl(es->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int nf_evset_add(struct nf_evset *es, int fd, uint32_t events, uint64_t tag)
{
	return ctl(es, EPOLL_CTL_ADD, fd, events, tag);
}

int nf_evset_mod(struct nf_evset *es, int fd, uint32_t events, uint64_t tag)
{
	return ctl(es, EPOLL_CTL_MOD, fd, events, tag);
}

void nf_evset_del(struct nf_evset *es, int fd)
{
	(void)epoll_ctl(es->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int nf_evset_poll(struct nf_evset *es, struct epoll_event *evs, int max)
{
	int n = epoll_wait(es->epfd, evs, max, 0);
	return n < 0 ? 0 : n; /* EINTR: nothing this time */
}

void nf_evset_shut(struct nf_evset *es)
{
	uint64_t v = GATE_SHUT_VALUE;
	if (es->shut)
		return;
	if (write(es->gate, &v, sizeof(v)) == (ssize_t)sizeof(v))
		es->shut = true;
}

void nf_evset_open_gate(struct nf_evset *es)
{
	uint64_t v;
	if (!es->shut)
		return;
	(void)!read(es->gate, &v, sizeof(v));
	es->shut = false;
}

bool nf_msg_peer_gone(int err)
{
	switch (err) {
	case EPIPE:
	case ECONNRESET:
	case ECONNREFUSED: /* unix datagram: the peer socket was closed */
	case ENOTCONN:
	case EDESTADDRREQ:
		return true;
	default:
		return false;
	}
}

int nf_msg_rx(int fd, struct mmsghdr *msgs, struct nf_pkt *pkts, unsigned max, bool vec,
	      bool *empty)
{
	int n;

	*empty = false;
	for (unsigned i = 0; i < max; i++)
		msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = pkts[i].iov,
			.msg_iovlen = pkts[i].iovcnt,
		};
	if (vec) {
		n = recvmmsg(fd, msgs, max, MSG_DONTWAIT, NULL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	} else {
		for (n = 0; n < (int)max;) {
			ssize_t r = recvmsg(fd, &msgs[n].msg_hdr, MSG_DONTWAIT);
			if (r < 0) {
				if (n == 0 && errno != EAGAIN && errno != EINTR)
					return -errno;
				break;
			}
			msgs[n++].msg_len = (unsigned)r;
			if (r == 0)
				break; /* maybe end of file, which would only repeat */
		}
	}
	for (int i = 0; i < n; i++) {
		pkts[i].len = msgs[i].msg_len;
		pkts[i].flags = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? NF_PKT_TRUNC : 0;
		if (msgs[i].msg_len == 0)
			*empty = true;
	}
	return n;
}

unsigned nf_msg_tx(int fd, struct mmsghdr *msgs, struct nf_pkt *pkts, unsigned n, bool vec,
		   uint64_t *drops, int *err)
{
	unsigned sent = 0;

	*err = 0;
	for (unsigned i = 0; i < n; i++)
		msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = pkts[i].iov,
			.msg_iovlen = pkts[i].iovcnt,
		};
	while (sent < n) {
		int r;
		if (vec) {
			r = sendmmsg(fd, msgs + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			ssize_t w = sendmsg(fd, &msgs[sent].msg_hdr, MSG_DONTWAIT | MSG_NOSIGNAL);
			r = w < 0 ? -1 : 1;
		}
		if (r > 0) {
			sent += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || nf_msg_peer_gone(errno)) {
			*err = -errno;
			break;
		}
		/* About this one frame (too big for the socket, no memory for
		 * it): count it and go on with the rest. */
		(*drops)++;
		sent++;
	}
	return sent;
}

int nf_msg_eof(int fd, const struct nf_pkt *pkts, int n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLHUP | POLLRDHUP)))
		return -1;
	/* Queued messages come before the end of file, which then fills the
	 * rest of the batch with zero-length "messages". */
	while (n > 0 && pkts[n - 1].len == 0)
		n--;
	return n;
}
