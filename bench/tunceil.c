// SPDX-License-Identifier: GPL-2.0
/*
 * tunceil - the ceiling of a datagram tunnel on this host: how many
 * Ethernet frames per second the host itself can carry from one tunnel end
 * to the other, with no guest, no TCP and no copy but the sockets' own.
 * bench.sh runs it as the "ceil-gre", "ceil-l2tpv3ip" and "ceil-l2tpv3udp"
 * variants, pinned to the router CPU like the tunnel rows, whose one-guest
 * loop sends every frame through the same host path (one end's send, the
 * host's IP stack over lo, the other end's receive) on that CPU: whatever
 * a guest, its bridge, TCP's own segments and acknowledgements and the
 * endpoints' veths add comes on top of this.
 *
 *   tunceil KIND SECONDS [FRAME]
 *     KIND   gre (IP protocol 47, 4-byte header), l2tpv3ip (IP protocol
 *            115, 4-byte session), l2tpv3udp (UDP 1701->1702, 8-byte
 *            header), l2tpv3udp-gso (the same with UDP_SEGMENT runs of up
 *            to 44 frames in 64 KiB on send and UDP_GRO on receive, as
 *            uml-nf does)
 *     FRAME  frame bytes behind the header (default 1514: a 1500-byte IP
 *            packet, i.e. a full TCP segment of 1448 payload bytes with
 *            timestamps)
 *
 * The ends are 10.9.0.1 (sender) and 10.9.0.2 (receiver) on lo, as in the
 * tunnel lab: run it in a namespace that has them. Sends batches of 64
 * with sendmmsg, drains the receiver with recvmmsg after each, never
 * sleeps. Prints "kind=K frames=N seconds=S fps=F frame_gbps=G
 * tcp_payload_gbps=P": P counts 1448 bytes per frame of 1514 (scaled for
 * other sizes), the figure iperf3 reports for TCP through the tunnel.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define GSO_RUN 44
#define RXBUF 65536

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int end_socket(int type, int proto, const char *bind_ip, int bport, const char *peer_ip,
		      int pport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)bport) };
	struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons((uint16_t)pport) };
	int fd = socket(AF_INET, type | SOCK_NONBLOCK, proto), big = 4 << 20;
	if (fd < 0) {
		perror("tunceil: socket");
		exit(1);
	}
	inet_pton(AF_INET, bind_ip, &a.sin_addr);
	inet_pton(AF_INET, peer_ip, &b.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(fd, (struct sockaddr *)&b, sizeof(b)) < 0) {
		perror("tunceil: bind/connect (are 10.9.0.1 and 10.9.0.2 on lo here?)");
		exit(1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: tunceil gre|l2tpv3ip|l2tpv3udp|l2tpv3udp-gso SECONDS [FRAME]\n");
		return 2;
	}
	const char *kind = argv[1];
	double secs = atof(argv[2]);
	size_t frame = argc > 3 ? (size_t)atoi(argv[3]) : 1514;
	bool udp = !strncmp(kind, "l2tpv3udp", 9), gso = !strcmp(kind, "l2tpv3udp-gso");
	size_t hlen = udp ? 8 : 4;
	int proto = !strcmp(kind, "gre") ? 47 : 115;
	if ((!udp && strcmp(kind, "gre") && strcmp(kind, "l2tpv3ip")) || secs <= 0 || frame < 60 ||
	    frame > 9000) {
		fprintf(stderr, "tunceil: bad arguments\n");
		return 2;
	}
	int tx = udp ? end_socket(SOCK_DGRAM, IPPROTO_UDP, "10.9.0.1", 1701, "10.9.0.2", 1702)
		     : end_socket(SOCK_RAW, proto, "10.9.0.1", 0, "10.9.0.2", 0);
	int rx = udp ? end_socket(SOCK_DGRAM, IPPROTO_UDP, "10.9.0.2", 1702, "10.9.0.1", 1701)
		     : end_socket(SOCK_RAW, proto, "10.9.0.2", 0, "10.9.0.1", 0);
	int one = 1;
	if (gso && setsockopt(rx, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
		perror("tunceil: UDP_GRO");
		return 1;
	}

	/* Sender: BATCH messages, each [header][frame] (a GSO run: GSO_RUN of
	 * them in one message). Content does not matter to the host. */
	static uint8_t hdr[8] = { 0x00, 0x00, 0x65, 0x58 }, data[9000];
	memset(data, 0x5a, sizeof(data));
	static struct iovec tiov[BATCH][2 * GSO_RUN];
	static struct mmsghdr tm[BATCH];
	static union {
		struct cmsghdr c;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} tcm[BATCH];
	/* A UDP payload stays under 64 KiB: fewer frames per run when large. */
	unsigned per = gso ? (unsigned)(65000 / (hlen + frame)) : 1;
	if (per > GSO_RUN)
		per = GSO_RUN;
	for (unsigned i = 0; i < BATCH; i++) {
		for (unsigned k = 0; k < per; k++) {
			tiov[i][2 * k] = (struct iovec){ hdr, hlen };
			tiov[i][2 * k + 1] = (struct iovec){ data, frame };
		}
		tm[i].msg_hdr = (struct msghdr){ .msg_iov = tiov[i], .msg_iovlen = 2 * per };
		if (gso) {
			struct msghdr *mh = &tm[i].msg_hdr;
			mh->msg_control = tcm[i].b;
			mh->msg_controllen = sizeof(tcm[i].b);
			struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t seg = (uint16_t)(hlen + frame);
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		}
	}
	/* Receiver: one buffer per message (a GRO run fills one). */
	static uint8_t rbuf[BATCH][RXBUF];
	static struct iovec riov[BATCH];
	static struct mmsghdr rm[BATCH];
	static union {
		struct cmsghdr c;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} rcm[BATCH];
	for (unsigned i = 0; i < BATCH; i++)
		riov[i] = (struct iovec){ rbuf[i], gso ? RXBUF : hlen + frame + 64 };

	unsigned long long frames = 0;
	double t0 = now_s(), t1 = t0;
	unsigned burst = gso ? 2 : BATCH; /* GSO: 88 frames per send call */
	while ((t1 = now_s()) - t0 < secs) {
		int s = sendmmsg(tx, tm, burst, MSG_DONTWAIT);
		if (s < 0 && errno != EAGAIN && errno != ENOBUFS) {
			perror("tunceil: sendmmsg");
			return 1;
		}
		for (;;) {
			for (unsigned i = 0; i < BATCH; i++) {
				rm[i].msg_hdr = (struct msghdr){ .msg_iov = &riov[i], .msg_iovlen = 1 };
				if (gso) {
					rm[i].msg_hdr.msg_control = rcm[i].b;
					rm[i].msg_hdr.msg_controllen = sizeof(rcm[i].b);
				}
			}
			int r = recvmmsg(rx, rm, BATCH, MSG_DONTWAIT, NULL);
			if (r <= 0)
				break;
			for (int i = 0; i < r; i++) {
				unsigned n = 1;
				struct msghdr *mh = &rm[i].msg_hdr;
				for (struct cmsghdr *cm = gso ? CMSG_FIRSTHDR(mh) : NULL; cm;
				     cm = CMSG_NXTHDR(mh, cm)) {
					int seg;
					if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO)
						continue;
					memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
					if (seg > 0)
						n = (rm[i].msg_len + (unsigned)seg - 1) / (unsigned)seg;
				}
				frames += n;
			}
			if (r < BATCH)
				break;
		}
	}
	double dt = t1 - t0, fps = (double)frames / dt;
	/* A 1514-byte frame carries 1448 bytes of TCP payload (66 bytes of
	 * Ethernet, IP and TCP headers with timestamps). */
	double payload = frame > 66 ? (double)(frame - 66) : 0;
	printf("kind=%s frames=%llu seconds=%.2f fps=%.0f frame_gbps=%.2f tcp_payload_gbps=%.2f\n",
	       kind, frames, dt, fps, fps * (double)frame * 8 / 1e9, fps * payload * 8 / 1e9);
	return 0;
}
