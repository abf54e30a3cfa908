// SPDX-License-Identifier: GPL-2.0
/*
 * pacer - send one UDP/IPv4 frame at a fixed rate on an interface, evenly
 * spaced, for bench.sh's fixed-rate run.
 *
 * Why not trafgen: trafgen 0.6.8's --rate sends each second's frames in one
 * burst at full speed and then sleeps (seen here: 250 kpps for 0.2 s, then
 * nothing), and its --gap is one nanosleep per frame, whose wake-up latency
 * in this VM (tens of µs, varying with load) makes the rate anything from
 * 20 to 50 kpps for the same gap. pacer keeps an absolute schedule on
 * CLOCK_MONOTONIC and busy-waits the last stretch before each frame, so
 * frames leave every 1/rate s; it sleeps only when the next frame is more
 * than SLEEP_NS away. A frame that could not leave on time (the sender was
 * preempted) is sent at once, but never more than MAX_LATE frames back to
 * back: beyond that the schedule restarts from now, so the receiver never
 * sees a catch-up burst.
 *
 * Frame, the same as bench.sh's trafgen config (no FCS):
 *
 *   0          6          12     14                 34        42      len
 *   +----------+----------+------+------------------+---------+--------+
 *   | dst MAC  | src MAC  | 0800 | IPv4, ttl 64,    | UDP     | 0x42.. |
 *   |          |          |      | no options       | 4000->9 |        |
 *   +----------+----------+------+------------------+---------+--------+
 *
 * -b BURST (default 1) sends BURST frames back to back (one sendmmsg) every
 * BURST periods instead: the same average rate for a fraction of the
 * syscalls, so a generator CPU shared with other work still reaches the
 * rate asked for (the NDR/PDR search of bench/ndr.sh uses it). The catch-up
 * limit is then MAX_LATE bursts.
 *
 * Prints "sent=N failed=N restarts=N" to stdout at the end (SIGINT, SIGTERM
 * or the duration elapsed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_NS 200000L /* sleep when the next frame is further away than this */
#define WAKE_NS 100000L  /* and wake this much before it, then spin */
#define MAX_LATE 16      /* frames sent back to back before the schedule restarts */
#define FRAME_MIN 60
#define FRAME_MAX 1514
#define BURST_MAX 64

struct pacer_opts {
	const char *ifname;
	uint8_t dmac[6], smac[6];
	struct in_addr sip, dip;
	unsigned int len;
	unsigned long pps;
	unsigned int burst;
	double seconds;
};

static volatile sig_atomic_t pacer_stop;

static void pacer_on_signal(int sig)
{
	(void)sig;
	pacer_stop = 1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static uint16_t ip_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Fills frame[0..o->len) as drawn in the header comment. */
static void frame_build(uint8_t *frame, const struct pacer_opts *o)
{
	struct ether_header *eth = (struct ether_header *)frame;
	struct iphdr *ip = (struct iphdr *)(frame + sizeof(*eth));
	struct udphdr *udp = (struct udphdr *)(frame + sizeof(*eth) + sizeof(*ip));
	size_t l3 = o->len - sizeof(*eth);

	memset(frame, 0x42, o->len);
	memcpy(eth->ether_dhost, o->dmac, 6);
	memcpy(eth->ether_shost, o->smac, 6);
	eth->ether_type = htons(ETHERTYPE_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)l3);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = o->sip.s_addr;
	ip->daddr = o->dip.s_addr;
	ip->check = ip_csum(ip, sizeof(*ip));
	udp->source = htons(4000);
	udp->dest = htons(9);
	udp->len = htons((uint16_t)(l3 - sizeof(*ip)));
	udp->check = 0; /* optional in IPv4 */
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pacer -i IFNAME -d DST_MAC -s SRC_MAC -S SRC_IP -D DST_IP\n"
		   "             -l FRAME_BYTES (%d..%d, no FCS) -r PPS -t SECONDS [-b BURST (1..%d)]\n",
		FRAME_MIN, FRAME_MAX, BURST_MAX);
}

static int opts_parse(int argc, char **argv, struct pacer_opts *o)
{
	int c, have = 0;
	char *end;

	o->burst = 1;
	while ((c = getopt(argc, argv, "i:d:s:S:D:l:r:t:b:h")) != -1) {
		switch (c) {
		case 'b':
			o->burst = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || o->burst < 1 || o->burst > BURST_MAX)
				return -EINVAL;
			continue;
		case 'i': o->ifname = optarg; break;
		case 'd': if (parse_mac(optarg, o->dmac)) return -EINVAL; break;
		case 's': if (parse_mac(optarg, o->smac)) return -EINVAL; break;
		case 'S': if (inet_pton(AF_INET, optarg, &o->sip) != 1) return -EINVAL; break;
		case 'D': if (inet_pton(AF_INET, optarg, &o->dip) != 1) return -EINVAL; break;
		case 'l':
			o->len = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || o->len < FRAME_MIN || o->len > FRAME_MAX)
				return -EINVAL;
			break;
		case 'r':
			o->pps = strtoul(optarg, &end, 10);
			if (*end || o->pps == 0 || o->pps > 10000000)
				return -EINVAL;
			break;
		case 't':
			o->seconds = strtod(optarg, &end);
			if (*end || !(o->seconds > 0))
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
		have |= 1 << (strchr("idsSDlrt", c) - "idsSDlrt");
	}
	return have == 0xff && optind == argc ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct pacer_opts o = { 0 };
	struct sockaddr_ll to = { 0 };
	struct sigaction sa = { 0 };
	unsigned long sent = 0, failed = 0, restarts = 0, late = 0;
	uint8_t frame[FRAME_MAX];
	struct iovec iov;
	struct mmsghdr msgs[BURST_MAX];
	int64_t period, next, end, now;
	int fd;

	if (opts_parse(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	frame_build(frame, &o);
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_IP);
	to.sll_ifindex = (int)if_nametoindex(o.ifname);
	to.sll_halen = 6;
	memcpy(to.sll_addr, o.dmac, 6);
	if (!to.sll_ifindex) {
		fprintf(stderr, "pacer: no interface %s\n", o.ifname);
		return 1;
	}
	/* Protocol 0: a send-only socket, nothing is queued to it. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("pacer: socket");
		return 1;
	}
	sa.sa_handler = pacer_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	iov = (struct iovec){ frame, o.len };
	for (unsigned int i = 0; i < o.burst; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &to, .msg_namelen = sizeof(to),
							 .msg_iov = &iov, .msg_iovlen = 1 } };
	period = 1000000000L * (int64_t)o.burst / (int64_t)o.pps;
	next = mono_ns();
	end = next + (int64_t)(o.seconds * 1e9);
	while (!pacer_stop) {
		now = mono_ns();
		if (now >= end)
			break;
		if (now < next) {
			if (next - now > SLEEP_NS) {
				struct timespec ts = { 0, next - now - WAKE_NS };

				nanosleep(&ts, NULL);
			}
			continue; /* spin the last stretch */
		}
		if (now - next > period) {
			if (++late > MAX_LATE) {
				next = now;
				late = 0;
				restarts++;
			}
		} else {
			late = 0;
		}
		if (o.burst > 1) {
			int r = sendmmsg(fd, msgs, o.burst, 0);
			r = r < 0 ? 0 : r;
			sent += (unsigned long)r;
			failed += o.burst - (unsigned int)r;
		} else if (sendto(fd, frame, o.len, 0, (struct sockaddr *)&to, sizeof(to)) ==
			   (ssize_t)o.len) {
			sent++;
		} else {
			failed++;
		}
		next += period;
	}
	close(fd);
	printf("sent=%lu failed=%lu restarts=%lu\n", sent, failed, restarts);
	return 0;
}
