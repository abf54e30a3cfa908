/* The fd transport (transports/fd/fd.c, included to reach its statics):
 * descriptor classification from facts, the probe on real descriptors of
 * each refused kind, the framing iovecs (packet information, headers larger
 * than 10 bytes), option validation, and a port over a real socketpair
 * through to its peer closing. Taps are not created here (that needs
 * privileges and a host interface); the integration tests pass real ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <cmocka.h>

#include "../../transports/fd/fd.c"

/* ---- classification ----------------------------------------------------------- */

struct class_case {
	int fd;
	struct fd_facts f;
	int rc;            /* 0 or the -errno */
	enum fd_kind kind; /* when rc == 0 */
	unsigned pi, hdr;  /* framing, when rc == 0 */
	const char *why;   /* substring of the reason, when rc < 0 */
};

#define SOCK(d, t) .open = true, .accmode = O_RDWR, .fmt = S_IFSOCK, .domain = (d), .type = (t)
#define TAP(flags, h) .open = true, .accmode = O_RDWR, .fmt = S_IFCHR, .tun_dev = true, \
	.tun_flags = (flags), .tun_hdr = (h), .ifname = "tap9"

static const struct class_case class_cases[] = {
	/* usable */
	{ 3, { TAP(IFF_TAP | IFF_NO_PI, 0) }, 0, FD_TAP, 0, 0, NULL },
	{ 3, { TAP(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 10) }, 0, FD_TAP, 0, 10, NULL },
	{ 3, { TAP(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12) }, 0, FD_TAP, 0, 12, NULL },
	{ 3, { TAP(IFF_TAP, 10) }, 0, FD_TAP, 4, 0, NULL }, /* vnet size set, but no IFF_VNET_HDR */
	{ 3, { TAP(IFF_TAP | IFF_VNET_HDR, 12) }, 0, FD_TAP, 4, 12, NULL },
	{ 4, { SOCK(AF_PACKET, SOCK_RAW), .ifindex = 7, .protocol = ETH_P_ALL }, 0, FD_PACKET, 0, 0,
	  NULL },
	{ 4, { SOCK(AF_PACKET, SOCK_RAW), .ifindex = 7, .protocol = ETH_P_ALL, .vnet_hdr = 10 }, 0,
	  FD_PACKET, 0, 10, NULL },
	{ 4, { SOCK(AF_PACKET, SOCK_RAW), .ifindex = 7, .protocol = ETH_P_IP, .vnet_hdr = 12 }, 0,
	  FD_PACKET, 0, 12, NULL },
	{ 5, { SOCK(AF_UNIX, SOCK_SEQPACKET), .connected = true }, 0, FD_SEQPACKET, 0, 0, NULL },
	{ 5, { SOCK(AF_UNIX, SOCK_DGRAM), .connected = true }, 0, FD_DGRAM, 0, 0, NULL },
	/* refused, with what it is and what is needed */
	{ 0, { SOCK(AF_UNIX, SOCK_SEQPACKET), .connected = true }, -EINVAL, 0, 0, 0,
	  "is standard input, which the guest kernel's console may use" },
	{ 2, { .open = true }, -EINVAL, 0, 0, 0, "is standard error" },
	{ 9, { .open = false }, -EBADF, 0, 0, 0, "is not open (uml-nf must inherit it" },
	{ 9, { SOCK(AF_UNIX, SOCK_STREAM), .connected = true }, -ENOTSUP, 0, 0, 0,
	  "is a unix stream socket (no frame boundaries); need a tap, an AF_PACKET socket, or a "
	  "connected unix seqpacket or datagram socket" },
	{ 9, { SOCK(AF_INET, SOCK_STREAM) }, -ENOTSUP, 0, 0, 0, "is a stream socket" },
	{ 9, { SOCK(AF_INET, SOCK_DGRAM) }, -ENOTSUP, 0, 0, 0, "is an AF_INET socket; need" },
	{ 9, { SOCK(AF_NETLINK, SOCK_RAW) }, -ENOTSUP, 0, 0, 0, "is an AF_NETLINK socket" },
	{ 9, { SOCK(AF_UNIX, SOCK_SEQPACKET), .listening = true }, -ENOTSUP, 0, 0, 0,
	  "is a listening socket; need a connected one" },
	{ 9, { SOCK(AF_UNIX, SOCK_DGRAM) }, -ENOTCONN, 0, 0, 0,
	  "is an unconnected unix datagram socket" },
	{ 9, { SOCK(AF_UNIX, SOCK_SEQPACKET) }, -ENOTCONN, 0, 0, 0,
	  "is an unconnected unix seqpacket socket" },
	{ 9, { SOCK(AF_PACKET, SOCK_DGRAM), .ifindex = 7, .protocol = ETH_P_ALL }, -ENOTSUP, 0, 0,
	  0, "is an AF_PACKET SOCK_DGRAM socket" },
	{ 9, { SOCK(AF_PACKET, SOCK_RAW), .protocol = ETH_P_ALL }, -ENOTSUP, 0, 0, 0,
	  "not bound to an interface" },
	{ 9, { SOCK(AF_PACKET, SOCK_RAW), .ifindex = 7 }, -ENOTSUP, 0, 0, 0,
	  "bound without a protocol (it receives nothing)" },
	{ 9, { SOCK(AF_PACKET, SOCK_RAW), .ifindex = 7, .protocol = 3, .vnet_hdr = 80 }, -ENOTSUP,
	  0, 0, 0, "80-byte virtio-net headers" },
	{ 9, { .open = true, .fmt = S_IFREG }, -ENOTSUP, 0, 0, 0, "is a regular file; need" },
	{ 9, { .open = true, .fmt = S_IFIFO }, -ENOTSUP, 0, 0, 0, "is a pipe" },
	{ 9, { .open = true, .fmt = S_IFDIR }, -ENOTSUP, 0, 0, 0, "is a directory" },
	{ 9, { .open = true, .fmt = S_IFBLK }, -ENOTSUP, 0, 0, 0, "is a block device" },
	{ 9, { .open = true, .fmt = 0 }, -ENOTSUP, 0, 0, 0, "is an anonymous inode" },
	{ 9, { .open = true, .fmt = S_IFCHR, .tty = true }, -ENOTSUP, 0, 0, 0, "is a terminal" },
	{ 9, { .open = true, .fmt = S_IFCHR }, -ENOTSUP, 0, 0, 0,
	  "is a character device that is not a tap" },
	{ 9, { .open = true, .fmt = S_IFCHR, .tun_dev = true, .tun_err = EBADFD }, -ENOTSUP, 0, 0,
	  0, "is /dev/net/tun not attached to an interface (TUNSETIFF not done)" },
	{ 9, { TAP(IFF_TUN | IFF_NO_PI, 0) }, -ENOTSUP, 0, 0, 0,
	  "is tun device tap9 (layer 3, no Ethernet header); need a tap (IFF_TAP)" },
	{ 9, { .open = true, .accmode = O_RDONLY, .fmt = S_IFCHR, .tun_dev = true,
	       .tun_flags = IFF_TAP | IFF_NO_PI, .ifname = "tap9" }, -EBADF, 0, 0, 0,
	  "opened read-only" },
	{ 9, { TAP(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 8) }, -ENOTSUP, 0, 0, 0,
	  "8-byte virtio-net headers; uml-nf handles 10 to 64" },
};

static void test_classify(void **state)
{
	(void)state;
	unsigned failures = 0;

	for (size_t i = 0; i < NF_ARRAY_SIZE(class_cases); i++) {
		const struct class_case *c = &class_cases[i];
		enum fd_kind kind = FD_DGRAM;
		struct fd_framing fr = { 99, 99 };
		char why[256] = "";
		int rc = fd_classify(c->fd, &c->f, &kind, &fr, why, sizeof(why));
		bool ok = rc == c->rc;
		if (ok && rc == 0)
			ok = kind == c->kind && fr.pi == c->pi && fr.hdr == c->hdr;
		if (ok && rc < 0)
			ok = strstr(why, c->why) != NULL;
		if (!ok) {
			printf("case %zu: rc %d (want %d), kind %d (want %d), pi %u hdr %u (want %u %u), "
			       "why \"%s\" (want \"%s\")\n", i, rc, c->rc, kind, c->kind, fr.pi, fr.hdr,
			       c->pi, c->hdr, why, c->why ? c->why : "");
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* Probe and classify real descriptors: what the user would pass by mistake. */
static int classify_real(int fd, char *why, size_t len)
{
	struct fd_facts f;
	enum fd_kind kind;
	struct fd_framing fr;
	fd_probe(fd, &f);
	return fd_classify(fd, &f, &kind, &fr, why, len);
}

static void test_probe_real(void **state)
{
	(void)state;
	char why[256];
	int sv[2], p[2];

	int reg = open("/proc/self/stat", O_RDONLY);
	assert_true(reg >= 3);
	assert_int_equal(classify_real(reg, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "is a regular file"));
	close(reg);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(classify_real(p[0], why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "is a pipe"));
	close(p[0]);
	close(p[1]);

	int null = open("/dev/null", O_RDWR);
	assert_int_equal(classify_real(null, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "character device that is not a tap"));
	close(null);

	int efd = eventfd(0, 0);
	assert_int_equal(classify_real(efd, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "anonymous inode"));
	assert_int_equal(classify_real(efd + 100, why, sizeof(why)), -EBADF); /* not open */
	close(efd);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(classify_real(sv[0], why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "is a unix stream socket"));
	close(sv[0]);
	close(sv[1]);

	int lone = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(classify_real(lone, why, sizeof(why)), -ENOTCONN);
	close(lone);

	int lis = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "umlnf-test-fd-%d", (int)getpid());
	assert_int_equal(bind(lis, (struct sockaddr *)&sa, sizeof(sa)), 0); /* abstract */
	assert_int_equal(listen(lis, 1), 0);
	assert_int_equal(classify_real(lis, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "is a listening socket"));
	close(lis);

	for (int t = 0; t < 2; t++) {
		struct fd_facts f;
		enum fd_kind kind;
		struct fd_framing fr;
		assert_int_equal(socketpair(AF_UNIX, t ? SOCK_DGRAM : SOCK_SEQPACKET, 0, sv), 0);
		fd_probe(sv[0], &f);
		assert_int_equal(fd_classify(sv[0], &f, &kind, &fr, why, sizeof(why)), 0);
		assert_int_equal(kind, t ? FD_DGRAM : FD_SEQPACKET);
		assert_int_equal(fr.pi + fr.hdr, 0);
		close(sv[0]);
		close(sv[1]);
	}
}

/* ---- framing -------------------------------------------------------------------- */

static void test_frame_iov(void **state)
{
	(void)state;
	uint8_t a[4], b[20], c[100], pi[4], pad[64];
	struct iovec src[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct iovec dst[8];

	/* pi only: prepended, the rest as it is. */
	struct fd_framing fr = { FD_PI_LEN, 0 };
	assert_int_equal(frame_iov(&fr, src, 3, pi, pad, dst, 8), 4);
	assert_ptr_equal(dst[0].iov_base, pi);
	assert_int_equal(dst[0].iov_len, 4);
	assert_ptr_equal(dst[1].iov_base, a);
	assert_ptr_equal(dst[3].iov_base, c);
	assert_int_equal(framing_extra(&fr), 4);

	/* A 12-byte header: 10 bytes (split over a and b), the pad, the rest. */
	fr = (struct fd_framing){ 0, 12 };
	assert_int_equal(frame_iov(&fr, src, 3, pi, pad, dst, 8), 5);
	assert_ptr_equal(dst[0].iov_base, a);
	assert_int_equal(dst[0].iov_len, 4);
	assert_ptr_equal(dst[1].iov_base, b);
	assert_int_equal(dst[1].iov_len, 6);
	assert_ptr_equal(dst[2].iov_base, pad);
	assert_int_equal(dst[2].iov_len, 2);
	assert_ptr_equal(dst[3].iov_base, b + 6);
	assert_int_equal(dst[3].iov_len, 14);
	assert_ptr_equal(dst[4].iov_base, c);
	assert_int_equal(framing_extra(&fr), 2);

	/* Both, the header ending exactly at an iovec boundary. */
	struct iovec src2[2] = { { b, 10 }, { c, 100 } };
	fr = (struct fd_framing){ FD_PI_LEN, 20 };
	assert_int_equal(frame_iov(&fr, src2, 2, pi, pad, dst, 8), 4);
	assert_ptr_equal(dst[0].iov_base, pi);
	assert_ptr_equal(dst[1].iov_base, b);
	assert_int_equal(dst[1].iov_len, 10);
	assert_ptr_equal(dst[2].iov_base, pad);
	assert_int_equal(dst[2].iov_len, 10);
	assert_ptr_equal(dst[3].iov_base, c);
	assert_int_equal(framing_extra(&fr), 14);

	/* Not enough room: 0, never a write past cap. */
	assert_int_equal(frame_iov(&fr, src2, 2, pi, pad, dst, 3), 0);
	fr = (struct fd_framing){ 0, 12 };
	assert_int_equal(frame_iov(&fr, src, 3, pi, pad, dst, 4), 0);
}

/* ---- options -------------------------------------------------------------------- */

static void test_options(void **state)
{
	(void)state;
	static const struct {
		const char *arg, *err;
	} bad[] = {
		{ "vec0:transport=fd", "vec0: fd: required by transport fd" },
		{ "vec0:transport=fd,fd=0x3", "vec0: fd: expected a number, got \"0x3\"" },
		{ "vec0:transport=fd,fd=-1", "vec0: fd: expected a number, got \"-1\"" },
		{ "vec0:transport=fd,fd=+3", "vec0: fd: expected a number, got \"+3\"" },
		{ "vec0:transport=fd,fd=3a", "vec0: fd: expected a number, got \"3a\"" },
		{ "vec0:transport=fd,fd= 3", "vec0: fd: expected a number, got \" 3\"" },
		{ "vec0:transport=fd,fd=", "vec0: fd: empty value" },
		{ "vec0:transport=fd,fd=2147483648",
		  "vec0: fd: 2147483648 is out of range 0..2147483647" },
		{ "vec0:transport=fd,fd=3,ifname=x",
		  "vec0: ifname: unknown option for transport fd (known: depth, mac, gro, mtu, headroom, vec, "
		  "mrg, coalesce, bpffile, bpf, bpfflash, fd)" },
		{ "vec0:transport=fd,fd=3,bpffile=/x,bpf=icmp",
		  "vec0: bpf: give bpffile= or bpf=, not both" },
	};
	struct nf_devcfg cfg;
	char err[256];

	for (size_t i = 0; i < NF_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		assert_int_equal(nf_opt_parse(bad[i].arg, &cfg, err, sizeof(err)), -EINVAL);
		if (strcmp(err, bad[i].err) != 0)
			printf("%s: got \"%s\"\n", bad[i].arg, err);
		assert_string_equal(err, bad[i].err);
	}
	assert_int_equal(nf_opt_parse("vec2:transport=fd,fd=0009,vec=0,depth=8", &cfg, err,
				      sizeof(err)), 0);
	assert_int_equal(nf_devcfg_topt(&cfg, "fd")->num, 9); /* decimal, never octal */
	assert_false(cfg.vec);
	nf_devcfg_release(&cfg);
}

/* ---- a port over a socketpair ---------------------------------------------------- */

static int open_port(const char *arg, struct nf_devcfg *cfg, struct nf_port **port, char *err,
		     size_t errlen)
{
	assert_int_equal(nf_opt_parse(arg, cfg, err, errlen), 0);
	return cfg->transport->open(cfg, port, err, errlen);
}

static void test_port_seqpacket(void **state)
{
	(void)state;
	struct nf_devcfg cfg, cfg2;
	struct nf_port *port = NULL, *port2 = NULL;
	char err[256], arg[64];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	snprintf(arg, sizeof(arg), "vec0:transport=fd,fd=%d,depth=4", sv[0]);
	assert_int_equal(open_port(arg, &cfg, &port, err, sizeof(err)), 0);
	assert_int_equal(port->caps, 0);
	assert_int_equal(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0); /* the shared file untouched */

	/* The same descriptor for a second device: refused. */
	snprintf(arg, sizeof(arg), "vec1:transport=fd,fd=%d", sv[0]);
	assert_int_equal(open_port(arg, &cfg2, &port2, err, sizeof(err)), -EBUSY);
	char want[128];
	snprintf(want, sizeof(want), "vec1: fd: descriptor %d is already used by another device",
		 sv[0]);
	assert_string_equal(err, want);
	nf_devcfg_release(&cfg2);

	/* Peer -> port: two frames, one too big for its buffer. */
	uint8_t frame[60], big[300], buf[4][128];
	memset(frame, 0xab, sizeof(frame));
	memset(big, 0xcd, sizeof(big));
	assert_int_equal(send(sv[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	assert_int_equal(send(sv[1], big, sizeof(big), 0), (ssize_t)sizeof(big));
	struct iovec iov[4];
	struct nf_pkt pkts[4];
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		pkts[i] = (struct nf_pkt){ &iov[i], 1, 0, 0 };
	}
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 2);
	assert_int_equal(pkts[0].len, 60);
	assert_int_equal(pkts[0].flags, 0);
	assert_memory_equal(buf[0], frame, 60);
	assert_int_equal(pkts[1].flags, NF_PKT_TRUNC);
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 0); /* drained */

	/* Port -> peer. */
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(recv(sv[1], buf[0], sizeof(buf[0]), MSG_DONTWAIT), 60);

	/* Fill the peer's side until the port pushes back: the gate shuts
	 * (tx_fd not writable), and opens again once there is room and
	 * receive has looked. */
	struct pollfd pfd = { .fd = port->tx_fd, .events = POLLOUT };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	int sent = 0, r;
	for (int k = 0; k < 100000 && (r = port->transport->tx_batch(port, pkts, 1)) == 1; k++)
		sent++;
	assert_int_equal(r, 0);
	assert_true(sent > 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	while (recv(sv[1], buf[0], sizeof(buf[0]), MSG_DONTWAIT) > 0)
		;
	struct pollfd rfd = { .fd = port->rx_fd, .events = POLLIN };
	assert_int_equal(poll(&rfd, 1, 1000), 1); /* the set saw the room */
	assert_int_equal(port->transport->rx_batch(port, pkts, 1), 0);
	assert_int_equal(poll(&pfd, 1, 0), 1);

	/* The peer goes: end of file, the device stays and drops. */
	assert_int_equal(send(sv[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	close(sv[1]);
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		pkts[i] = (struct nf_pkt){ &iov[i], 1, 0, 0 };
	}
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 1); /* the last frame */
	assert_int_equal(pkts[0].len, 60);
	assert_true(to_fd(port)->dead);
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 0);
	assert_int_equal(poll(&rfd, 1, 0), 0); /* nothing keeps waking the engine */
	uint64_t before = port->tx_drops;
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(port->tx_drops, before + 1);

	port->transport->close(port); /* closes sv[0] */
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	nf_devcfg_release(&cfg);
}

static void test_port_dgram_vec0(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	struct nf_port *port = NULL;
	char err[256], arg[64];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	snprintf(arg, sizeof(arg), "vec0:transport=fd,fd=%d,vec=0", sv[0]);
	assert_int_equal(open_port(arg, &cfg, &port, err, sizeof(err)), 0);
	uint8_t frame[60] = { 1 }, buf[3][100];
	for (int i = 0; i < 3; i++)
		assert_int_equal(send(sv[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct iovec iov[3];
	struct nf_pkt pkts[3];
	for (int i = 0; i < 3; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		pkts[i] = (struct nf_pkt){ &iov[i], 1, 0, 0 };
	}
	assert_int_equal(port->transport->rx_batch(port, pkts, 3), 3);
	/* A datagram peer that is gone: the send says so; dropped from then on. */
	close(sv[1]);
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_true(to_fd(port)->dead);
	assert_int_equal(port->tx_drops, 1);
	port->transport->close(port);
	nf_devcfg_release(&cfg);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	nf_log_level = -1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_probe_real),
		cmocka_unit_test(test_frame_iov),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_port_seqpacket),
		cmocka_unit_test(test_port_dgram_vec0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
