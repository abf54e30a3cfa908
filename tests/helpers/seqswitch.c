/* seqswitch: a tiny stand-in for a software switch's unix ports (BESS
 * unix_port style), for the bess transport's tests: listens on each PATH
 * (AF_UNIX SOCK_SEQPACKET), takes one client per path (a new one replaces
 * the old, as BESS does), and repeats every message from one client to all
 * the others: a hub of one frame per message.
 *
 *   seqswitch PATH...
 *
 * A socket file left at PATH by a killed run is replaced; anything else
 * there is refused. Prints "seqswitch: ready" once listening, a line per
 * client, and on SIGTERM/SIGINT the counters; removes its sockets on exit.
 * Sends block (at most 100 ms, SO_SNDTIMEO) rather than drop, so a busy
 * port slows its sender down instead of losing frames. An empty message is
 * taken for the end of the connection (frames are never empty).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PORTS 8
#define BATCH 64
#define FRAME_MAX 65600

struct port {
	const char *path;
	int lfd, cfd;
};

static struct port ports[MAX_PORTS];
static int nports;
static volatile sig_atomic_t stop;
static unsigned long long relayed, dropped;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "seqswitch: %s: path too long\n", path);
		exit(2);
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "seqswitch: %s exists and is not a socket\n", path);
			exit(1);
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "seqswitch: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void drop_client(int ep, struct port *p, const char *why)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, p->cfd, NULL);
	close(p->cfd);
	p->cfd = -1;
	printf("seqswitch: client on %s gone (%s)\n", p->path, why);
}

/* Repeats n received messages of port from to every other client. */
static void relay(int ep, int from, struct mmsghdr *msgs, unsigned n)
{
	for (int k = 0; k < nports; k++) {
		struct port *p = &ports[k];
		if (k == from || p->cfd < 0)
			continue;
		unsigned sent = 0;
		while (sent < n) {
			int r = sendmmsg(p->cfd, msgs + sent, n - sent, MSG_NOSIGNAL);
			if (r > 0) {
				sent += (unsigned)r;
				continue;
			}
			if (errno == EINTR)
				continue;
			dropped += n - sent;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop_client(ep, p, strerror(errno));
			break;
		}
		relayed += sent;
	}
}

int main(int argc, char **argv)
{
	static char bufs[BATCH][FRAME_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];

	if (argc < 2 || argc - 1 > MAX_PORTS) {
		fprintf(stderr, "usage: seqswitch PATH... (at most %d)\n", MAX_PORTS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 1; i < argc; i++) {
		struct port *p = &ports[nports];
		p->path = argv[i];
		p->lfd = listen_on(argv[i]);
		p->cfd = -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(nports * 2) };
		epoll_ctl(ep, EPOLL_CTL_ADD, p->lfd, &ev);
		nports++;
	}
	printf("seqswitch: ready (%d ports)\n", nports);
	while (!stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, 500);
		for (int i = 0; i < n; i++) {
			int k = (int)(evs[i].data.u32 / 2);
			struct port *p = &ports[k];
			if (evs[i].data.u32 % 2 == 0) {
				int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0)
					continue;
				if (p->cfd >= 0)
					drop_client(ep, p, "replaced");
				struct timeval tv = { 0, 100000 };
				setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
				p->cfd = c;
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(k * 2 + 1) };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				printf("seqswitch: client on %s\n", p->path);
				continue;
			}
			if (p->cfd < 0)
				continue;
			for (int j = 0; j < BATCH; j++) {
				iov[j] = (struct iovec){ bufs[j], FRAME_MAX };
				msgs[j].msg_hdr = (struct msghdr){ .msg_iov = &iov[j], .msg_iovlen = 1 };
			}
			int got = recvmmsg(p->cfd, msgs, BATCH, MSG_DONTWAIT, NULL);
			if (got < 0) {
				if (errno != EAGAIN && errno != EINTR)
					drop_client(ep, p, strerror(errno));
				continue;
			}
			int data = 0;
			while (data < got && msgs[data].msg_len > 0)
				data++;
			if (data < got) { /* frames are never empty: end of file */
				drop_client(ep, p, "closed");
				got = data;
			}
			for (int j = 0; j < got; j++)
				iov[j].iov_len = msgs[j].msg_len;
			if (got > 0)
				relay(ep, k, msgs, (unsigned)got);
		}
	}
	printf("seqswitch: relayed=%llu dropped=%llu\n", relayed, dropped);
	for (int k = 0; k < nports; k++)
		unlink(ports[k].path);
	return 0;
}
