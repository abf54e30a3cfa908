// SPDX-License-Identifier: GPL-2.0
/*
 * nullfwd - the least a router on a given host transport can do: move each
 * IPv4 frame from one port to the other with nothing in between but the
 * router's own edits (MAC addresses rewritten, TTL decremented, header
 * checksum patched). bench.sh runs it as the "ceil-tap" and "ceil-raw"
 * variants, pinned to the router CPU like every router, so its rate is the
 * ceiling any appliance on that transport can reach on this host: whatever
 * a UML guest, uml-nf or stock, adds comes on top of this per-frame cost.
 *
 *   nullfwd tap IF0 IF1 PEER0 PEER1 OWN0 OWN1
 *       attaches to the existing taps IF0 and IF1 (IFF_TAP | IFF_NO_PI, no
 *       virtio-net header); one read and one write per frame, which is all
 *       a tap allows from user space, submitted 64 at a time through
 *       io_uring (RWF_NOWAIT: they complete inline), as uml-nf does.
 *   nullfwd raw IF0 IF1 PEER0 PEER1 OWN0 OWN1
 *       AF_PACKET sockets bound to IF0 and IF1, recvmmsg and sendmmsg in
 *       batches of up to 64, transmit qdisc bypassed.
 *
 * It never sleeps while it runs (it spins, yielding the CPU to any other
 * runnable task between empty turns): a ceiling must not pay for wake-ups,
 * which cost tens of µs each in these VMs. Its CPU time is therefore all of
 * the router CPU and says nothing; its rates are what counts.
 *
 * A frame read on port N leaves port 1-N with destination PEER(1-N) and
 * source OWN(1-N) (the MAC the far side's static neighbour entry names).
 * Non-IPv4 frames, frames with TTL <= 1 and frames we sent ourselves
 * (raw: PACKET_OUTGOING) are dropped. Runs until SIGINT or SIGTERM and
 * prints "forwarded=N dropped=N" to stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <liburing.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define FRAME 2048

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct port {
	int fd;
	unsigned char peer[6], own[6]; /* what frames leaving here carry */
};

static int parse_mac(const char *s, unsigned char m[6])
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		m[i] = (unsigned char)v[i];
	}
	return 0;
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_packet(const char *name)
{
	unsigned idx = if_nametoindex(name);
	int one = 1;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)idx };
	int buf = 8 << 20; /* as uml-nf's raw sockets: bursts fit */
	if (!idx || fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0 ||
	    (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) < 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The router's edits for a frame leaving through out; false: drop it. */
static bool route(unsigned char *f, size_t len, const struct port *out)
{
	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[22] <= 1)
		return false;
	memcpy(f, out->peer, 6);
	memcpy(f + 6, out->own, 6);
	f[22]--; /* TTL is the high byte of its 16-bit word: the sum grows by 0x0100 */
	uint32_t sum = (uint32_t)((f[24] << 8) | f[25]) + 0x0100;
	sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (unsigned char)(sum >> 8);
	f[25] = (unsigned char)sum;
	return true;
}

static unsigned char bufs[2][BATCH][FRAME];
static uint64_t forwarded, dropped;

static struct io_uring ring;

/* Submits what is prepared and collects the n results into res (by slot). */
static void ring_run(unsigned n, int *res)
{
	struct io_uring_cqe *cqe;
	unsigned seen = 0;
	if (io_uring_submit_and_wait(&ring, n) < 0)
		return;
	while (seen < n && io_uring_peek_cqe(&ring, &cqe) == 0) {
		res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		seen++;
	}
}

/* One batch from ports[i] to ports[1-i]; returns frames read. */
static unsigned tap_turn(struct port *ports, int i)
{
	struct iovec iv[BATCH];
	int res[BATCH];
	unsigned n = 0, m = 0;
	for (unsigned k = 0; k < BATCH; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		iv[k] = (struct iovec){ bufs[i][k], FRAME };
		io_uring_prep_readv2(sqe, ports[i].fd, &iv[k], 1, -1, RWF_NOWAIT);
		sqe->user_data = k;
		res[k] = -1;
	}
	ring_run(BATCH, res);
	/* A read that found the queue empty does not end the batch: a later
	 * one in the same submission may have caught a frame that came in. */
	for (unsigned k = 0; k < BATCH; k++) {
		if (res[k] <= 0)
			continue;
		n++;
		if (!route(bufs[i][k], (size_t)res[k], &ports[1 - i])) {
			dropped++;
			continue;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		iv[m] = (struct iovec){ bufs[i][k], (size_t)res[k] };
		io_uring_prep_writev2(sqe, ports[1 - i].fd, &iv[m], 1, -1, RWF_NOWAIT);
		sqe->user_data = m++;
	}
	if (m) {
		ring_run(m, res);
		for (unsigned k = 0; k < m; k++)
			res[k] > 0 ? forwarded++ : dropped++;
	}
	return n;
}

static unsigned raw_turn(struct port *ports, int i)
{
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec iv[BATCH], ov[BATCH];
	struct sockaddr_ll from[BATCH];
	memset(in, 0, sizeof(in));
	for (unsigned k = 0; k < BATCH; k++) {
		iv[k] = (struct iovec){ bufs[i][k], FRAME };
		in[k].msg_hdr.msg_iov = &iv[k];
		in[k].msg_hdr.msg_iovlen = 1;
		in[k].msg_hdr.msg_name = &from[k];
		in[k].msg_hdr.msg_namelen = sizeof(from[k]);
	}
	int n = recvmmsg(ports[i].fd, in, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	unsigned m = 0;
	memset(out, 0, sizeof(out));
	for (int k = 0; k < n; k++) {
		if (from[k].sll_pkttype == PACKET_OUTGOING ||
		    !route(bufs[i][k], in[k].msg_len, &ports[1 - i])) {
			dropped++;
			continue;
		}
		ov[m] = (struct iovec){ bufs[i][k], in[k].msg_len };
		out[m].msg_hdr.msg_iov = &ov[m];
		out[m].msg_hdr.msg_iovlen = 1;
		m++;
	}
	unsigned sent = 0;
	while (sent < m) {
		int s = sendmmsg(ports[1 - i].fd, out + sent, m - sent, 0);
		if (s <= 0) {
			if (s < 0 && errno == EINTR)
				continue;
			dropped += m - sent;
			break;
		}
		sent += (unsigned)s;
	}
	forwarded += sent;
	return (unsigned)n;
}

int main(int argc, char **argv)
{
	struct port ports[2];
	bool tap;
	if (argc != 8 || (strcmp(argv[1], "tap") && strcmp(argv[1], "raw"))) {
		fprintf(stderr, "usage: nullfwd tap|raw IF0 IF1 PEER0_MAC PEER1_MAC OWN0_MAC OWN1_MAC\n");
		return 2;
	}
	tap = strcmp(argv[1], "tap") == 0;
	for (int i = 0; i < 2; i++) {
		if (parse_mac(argv[4 + i], ports[i].peer) || parse_mac(argv[6 + i], ports[i].own)) {
			fprintf(stderr, "nullfwd: bad MAC address for port %d\n", i);
			return 2;
		}
		ports[i].fd = tap ? open_tap(argv[2 + i]) : open_packet(argv[2 + i]);
		if (ports[i].fd < 0) {
			fprintf(stderr, "nullfwd: %s: %s\n", argv[2 + i], strerror(errno));
			return 1;
		}
	}
	if (tap && io_uring_queue_init(2 * BATCH, &ring, 0) < 0) {
		fprintf(stderr, "nullfwd: io_uring_queue_init failed\n");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		unsigned got = 0;
		for (int i = 0; i < 2; i++)
			got += tap ? tap_turn(ports, i) : raw_turn(ports, i);
		if (!got)
			sched_yield();
	}
	printf("forwarded=%llu dropped=%llu\n", (unsigned long long)forwarded,
	       (unsigned long long)dropped);
	return 0;
}
