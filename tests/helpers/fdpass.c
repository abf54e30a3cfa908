/* fdpass: opens host-side descriptors the way a privileged helper would and
 * execs a command that inherits them, optionally as an unprivileged user:
 * the rootless pattern of uml-nf's fd transport, for the integration tests.
 *
 *   fdpass [--user NAME] SPEC... -- CMD [ARG...]
 *
 * SPECs, opened in order at descriptors 3, 4, ... (a pair takes two):
 *   --tap NAME[,vnet[=SIZE]][,pi]   /dev/net/tun attached to tap NAME
 *                                   (created if absent; IFF_NO_PI unless pi;
 *                                   IFF_VNET_HDR with vnet, header SIZE bytes)
 *   --packet IFNAME[,vnet[=SIZE]]   AF_PACKET SOCK_RAW bound to IFNAME, ETH_P_ALL,
 *                                   4 MB socket buffers
 *   --pair seqpacket|dgram|stream   an AF_UNIX socketpair
 *   --tun NAME                      /dev/net/tun attached to tun NAME (layer 3)
 *   --lone seqpacket|dgram          an AF_UNIX socket, unconnected
 *   --listen PATH                   an AF_UNIX seqpacket socket listening on PATH
 *
 * With --user, after opening everything: no supplementary groups, the
 * user's gid and uid, so no capabilities are left. One line per descriptor
 * on stderr ("fdpass: fd 3 = tap p-tap1 vnet=10"). Exit 2 on bad usage, 1
 * when a descriptor cannot be opened; otherwise it becomes CMD.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PACKET_VNET_HDR_SZ
#define PACKET_VNET_HDR_SZ 24
#endif

#define MAX_FDS 16

static int fds[MAX_FDS];
static int nfds;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "fdpass: %s %s: %s\n", what, arg, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: fdpass [--user NAME] [--tap NAME[,vnet[=SIZE]][,pi]] "
		"[--packet IFNAME[,vnet[=SIZE]]] [--pair seqpacket|dgram|stream] [--tun NAME] "
		"[--lone seqpacket|dgram] [--listen PATH] ... -- CMD [ARG...]\n");
	exit(2);
}

/* Splits "NAME,flag,flag=v": returns NAME, sets *vnet (0: off) and *pi. */
static char *parse_spec(char *s, int *vnet, int *pi)
{
	char *name = strtok(s, ",");
	*vnet = 0;
	*pi = 0;
	for (char *f; (f = strtok(NULL, ","));) {
		if (strcmp(f, "vnet") == 0)
			*vnet = 10;
		else if (strncmp(f, "vnet=", 5) == 0)
			*vnet = atoi(f + 5);
		else if (strcmp(f, "pi") == 0)
			*pi = 1;
		else
			usage();
	}
	if (!name || !*name)
		usage();
	return name;
}

static void add(int fd)
{
	if (nfds == MAX_FDS) {
		fprintf(stderr, "fdpass: too many descriptors\n");
		exit(2);
	}
	/* Out of the way until they are put in place. */
	int high = fcntl(fd, F_DUPFD, 100);
	if (high < 0)
		die("dup", "");
	close(fd);
	fds[nfds++] = high;
}

static void open_tap(char *spec)
{
	int vnet, pi;
	char *name = parse_spec(spec, &vnet, &pi);
	int fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		die("open /dev/net/tun for", name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TAP | (pi ? 0 : IFF_NO_PI) | (vnet ? IFF_VNET_HDR : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF", name);
	if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &vnet) < 0)
		die("TUNSETVNETHDRSZ", name);
	fprintf(stderr, "fdpass: fd %d = tap %s vnet=%d pi=%d\n", 3 + nfds, ifr.ifr_name, vnet, pi);
	add(fd);
}

static void open_packet(char *spec)
{
	int vnet, pi;
	char *name = parse_spec(spec, &vnet, &pi);
	unsigned idx = if_nametoindex(name);
	if (!idx)
		die("no interface", name);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		die("packet socket for", name);
	if (vnet == 10) {
		int one = 1;
		if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
			die("PACKET_VNET_HDR on", name);
	} else if (vnet && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR_SZ, &vnet, sizeof(vnet)) < 0) {
		die("PACKET_VNET_HDR_SZ on", name);
	}
	/* What a privileged passer should do: uml-nf, unprivileged, cannot
	 * raise a buffer beyond rmem_max/wmem_max. */
	int size = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)idx,
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind packet socket to", name);
	fprintf(stderr, "fdpass: fd %d = packet %s vnet=%d\n", 3 + nfds, name, vnet);
	add(fd);
}

static int sock_type(const char *type)
{
	if (strcmp(type, "seqpacket") == 0)
		return SOCK_SEQPACKET;
	if (strcmp(type, "dgram") == 0)
		return SOCK_DGRAM;
	if (strcmp(type, "stream") == 0)
		return SOCK_STREAM;
	usage();
	return -1;
}

static void open_tun(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		die("open /dev/net/tun for", name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF", name);
	fprintf(stderr, "fdpass: fd %d = tun %s\n", 3 + nfds, ifr.ifr_name);
	add(fd);
}

static void open_lone(const char *type)
{
	int fd = socket(AF_UNIX, sock_type(type), 0);
	if (fd < 0)
		die("socket", type);
	fprintf(stderr, "fdpass: fd %d = unconnected unix %s socket\n", 3 + nfds, type);
	add(fd);
}

static void open_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		die("listen on", path);
	fprintf(stderr, "fdpass: fd %d = unix seqpacket socket listening on %s\n", 3 + nfds, path);
	add(fd);
}

static void open_pair(const char *type)
{
	int sv[2], t = sock_type(type);
	if (socketpair(AF_UNIX, t, 0, sv) < 0)
		die("socketpair", type);
	fprintf(stderr, "fdpass: fd %d, %d = %s socketpair\n", 3 + nfds, 4 + nfds, type);
	add(sv[0]);
	add(sv[1]);
}

int main(int argc, char **argv)
{
	const char *user = NULL;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--user") == 0)
			user = argv[++i];
		else if (strcmp(argv[i], "--tap") == 0)
			open_tap(argv[++i]);
		else if (strcmp(argv[i], "--packet") == 0)
			open_packet(argv[++i]);
		else if (strcmp(argv[i], "--pair") == 0)
			open_pair(argv[++i]);
		else if (strcmp(argv[i], "--tun") == 0)
			open_tun(argv[++i]);
		else if (strcmp(argv[i], "--lone") == 0)
			open_lone(argv[++i]);
		else if (strcmp(argv[i], "--listen") == 0)
			open_listen(argv[++i]);
		else
			usage();
	}
	if (i + 1 >= argc)
		usage();
	for (int k = 0; k < nfds; k++) {
		if (dup2(fds[k], 3 + k) < 0) /* the copy is not close-on-exec */
			die("dup2", "");
		close(fds[k]);
	}
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			fprintf(stderr, "fdpass: no user %s\n", user);
			return 1;
		}
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			die("dropping privileges to", user);
		fprintf(stderr, "fdpass: running as %s (uid %u)\n", user, (unsigned)getuid());
	}
	execvp(argv[i + 1], argv + i + 1);
	die("exec", argv[i + 1]);
	return 1;
}
