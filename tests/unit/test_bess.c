/* The bess transport (transports/bess/bess.c, included to reach its
 * statics): reconnect backoff, role validation, option limits, and ports
 * against real unix seqpacket sockets in a temporary directory: refusals at
 * start, stale and live names, the listening role through a client leaving
 * and another arriving, and the connecting role through its peer restarting. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../transports/bess/bess.c"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/umlnf-test-bess.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *path(const char *name)
{
	static char buf[4][128];
	static unsigned k;
	char *p = buf[k++ % 4];
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* ---- pure parts ------------------------------------------------------------------ */

static void test_backoff(void **state)
{
	(void)state;
	static const unsigned want[] = { 100, 200, 400, 800, 1600, 2000, 2000, 2000 };
	struct bess_backoff b;

	backoff_reset(&b);
	for (unsigned i = 0; i < NF_ARRAY_SIZE(want); i++) {
		assert_int_equal(backoff_next(&b), want[i]);
		assert_int_equal(b.attempts, i + 1);
	}
	backoff_reset(&b);
	assert_int_equal(b.attempts, 0);
	assert_int_equal(backoff_next(&b), BESS_RETRY_FIRST_MS);
}

static void test_roles(void **state)
{
	(void)state;
	static const struct {
		struct bess_roles r;
		const char *err; /* NULL: accepted */
	} cases[] = {
		{ { .dst = "/s" }, NULL },
		{ { .dst = "/s", .src = "/c", .wait = true }, NULL },
		{ { .listen = "/l" }, NULL },
		{ { 0 }, "vec3: dst: required by transport bess (the peer's socket; or listen=PATH to "
			 "be the listening side)" },
		{ { .src = "/c" }, "vec3: dst: required by transport bess" },
		{ { .dst = "/s", .listen = "/l" }, "vec3: listen: cannot be combined with dst" },
		{ { .listen = "/l", .src = "/c" }, "vec3: src: only with dst" },
		{ { .listen = "/l", .wait = true }, "vec3: wait: only with dst" },
		{ { .dst = "/s", .src = "/s" }, "vec3: src: must differ from dst (/s)" },
	};
	char err[256];

	for (size_t i = 0; i < NF_ARRAY_SIZE(cases); i++) {
		err[0] = '\0';
		int rc = bess_check_roles(3, &cases[i].r, err, sizeof(err));
		if (!cases[i].err) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			printf("case %zu: \"%s\"\n", i, err);
		assert_int_equal(strncmp(err, cases[i].err, strlen(cases[i].err)), 0);
	}
}

static void test_options(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[256], arg[300];

	memset(arg, 0, sizeof(arg));
	strcpy(arg, "vec0:transport=bess,dst=/");
	memset(arg + strlen(arg), 'a', 107); /* 108 characters: one too many */
	assert_int_equal(nf_opt_parse(arg, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vec0: dst: longer than 107 characters");
	assert_int_equal(nf_opt_parse("vec0:transport=bess,dst=/x,wait=yes", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "vec0: wait: expected 0 or 1, got \"yes\"");
	assert_int_equal(nf_opt_parse("vec0:transport=bess,listen=/x,ifname=e", &cfg, err,
				      sizeof(err)), -EINVAL);
	assert_string_equal(err, "vec0: ifname: unknown option for transport bess (known: depth, "
				 "mac, gro, mtu, headroom, vec, mrg, coalesce, bpffile, bpf, bpfflash, dst, src, listen, wait, vnet)");
	arg[strlen(arg) - 1] = '\0'; /* 107: fits */
	assert_int_equal(nf_opt_parse(arg, &cfg, err, sizeof(err)), 0);
	nf_devcfg_release(&cfg);
}

/* ---- ports on real sockets ------------------------------------------------------- */

static int open_port(struct nf_devcfg *cfg, struct nf_port **port, char *err, size_t errlen,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int open_port(struct nf_devcfg *cfg, struct nf_port **port, char *err, size_t errlen,
		     const char *fmt, ...)
{
	char arg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(arg, sizeof(arg), fmt, ap);
	va_end(ap);
	assert_int_equal(nf_opt_parse(arg, cfg, err, errlen), 0);
	int rc = cfg->transport->open(cfg, port, err, errlen);
	if (rc < 0)
		nf_devcfg_release(cfg);
	return rc;
}

static int listener(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	unlink(p);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int client(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Runs rx_batch (as the engine would when rx_fd is readable) until it
 * returns a frame or timeout_ms pass; returns the last result. */
static int rx_until(struct nf_port *port, struct nf_pkt *pkts, unsigned n, int timeout_ms)
{
	struct pollfd p = { .fd = port->rx_fd, .events = POLLIN };
	int got = 0;
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		poll(&p, 1, 10);
		got = port->transport->rx_batch(port, pkts, n);
		if (got != 0)
			break;
	}
	return got;
}

static void pkts_init(struct nf_pkt *pkts, struct iovec *iov, uint8_t (*buf)[128], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		pkts[i] = (struct nf_pkt){ &iov[i], 1, 0, 0 };
	}
}

static void test_refusals(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	struct nf_port *port = NULL;
	char err[512];

	/* Nothing listens on dst: refused, naming it; src not left behind. */
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err),
				   "vec1:transport=bess,dst=%s,src=%s", path("none"), path("me")),
			 -ENOENT);
	assert_non_null(strstr(err, "vec1: dst: cannot connect to "));
	assert_non_null(strstr(err, "(nothing listens there: start the peer first, or add wait=1)"));
	assert_false(exists(path("me")));

	/* A socket file nobody listens on: refused the same way. */
	int stale = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path("stale"));
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec1:transport=bess,dst=%s",
				   path("stale")), -ECONNREFUSED);

	/* A stream listener there: the wrong kind of socket. */
	int st = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path("stream"));
	assert_int_equal(bind(st, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(st, 1), 0);
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec1:transport=bess,dst=%s",
				   path("stream")), -EPROTOTYPE);
	assert_non_null(strstr(err, "(the socket there is not SOCK_SEQPACKET)"));
	close(st);

	/* listen= on a regular file: refused and left alone. */
	FILE *f = fopen(path("file"), "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec0:transport=bess,listen=%s",
				   path("file")), -EEXIST);
	assert_non_null(strstr(err, "vec0: listen: "));
	assert_non_null(strstr(err, "exists and is not a socket (left alone)"));
	assert_true(exists(path("file")));

	/* listen= where another program listens: refused, its socket kept. */
	int live = listener(path("live"));
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec0:transport=bess,listen=%s",
				   path("live")), -EADDRINUSE);
	assert_non_null(strstr(err, "vec0: listen: another program listens on "));
	assert_true(exists(path("live")));
	close(live);

	/* src= on something that is not a socket. */
	int srv = listener(path("srv"));
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err),
				   "vec0:transport=bess,dst=%s,src=%s", path("srv"), path("file")),
			 -EEXIST);
	assert_non_null(strstr(err, "vec0: src: "));
	close(srv);
}

static void test_listen_role(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	struct nf_port *port = NULL;
	char err[512];
	struct iovec iov[4];
	struct nf_pkt pkts[4];
	uint8_t buf[4][128], frame[64];

	/* A stale socket file (a killed instance's) does not block the start. */
	int stale = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path("l.sock"));
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec0:transport=bess,listen=%s,depth=4",
				   path("l.sock")), 0);
	assert_int_equal(port->caps, NF_CAP_SOFT_OFFLOAD); /* plain frames, offloads in software */

	/* No client yet: frames from the guest are dropped and counted. */
	memset(frame, 0x5a, sizeof(frame));
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(port->tx_drops, 1);

	/* A client (stock UML's role): accepted, frames both ways. */
	int c = client(path("l.sock"));
	assert_int_equal(send(c, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(rx_until(port, pkts, 4, 1000), 1);
	assert_int_equal(pkts[0].len, sizeof(frame));
	assert_true(to_bess(port)->up);
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(recv(c, buf[0], sizeof(buf[0]), 0), (ssize_t)sizeof(frame));

	/* An oversized message is flagged, never passed on as a frame. */
	uint8_t big[200] = { 0 };
	assert_int_equal(send(c, big, sizeof(big), 0), (ssize_t)sizeof(big));
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(rx_until(port, pkts, 4, 1000), 1);
	assert_int_equal(pkts[0].flags, NF_PKT_TRUNC);

	/* The client leaves: down, dropping, nothing spins. */
	close(c);
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 0);
	assert_false(to_bess(port)->up);
	struct pollfd p = { .fd = port->rx_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 50), 0);
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(to_bess(port)->down_drops, 1);

	/* The next one is taken. */
	c = client(path("l.sock"));
	assert_int_equal(send(c, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(rx_until(port, pkts, 4, 1000), 1);
	assert_true(to_bess(port)->up);
	close(c);

	port->transport->close(port);
	assert_false(exists(path("l.sock"))); /* removed at exit */
	nf_devcfg_release(&cfg);
}

static void test_connect_role(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	struct nf_port *port = NULL;
	char err[512];
	struct iovec iov[4];
	struct nf_pkt pkts[4];
	uint8_t buf[4][128], frame[64];

	/* wait=1: starts with nothing listening, connects once something does. */
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err),
				   "vec2:transport=bess,dst=%s,src=%s,wait=1", path("sw"),
				   path("me.sock")), 0);
	assert_false(to_bess(port)->up);
	assert_false(exists(path("me.sock")));
	int lis = listener(path("sw"));
	pkts_init(pkts, iov, buf, 4);
	int s = -1;
	for (int i = 0; i < 100 && s < 0; i++) { /* the first retry comes after 100 ms */
		rx_until(port, pkts, 4, 10);
		s = accept(lis, NULL, NULL);
	}
	assert_true(s >= 0);
	assert_true(to_bess(port)->up);
	assert_true(exists(path("me.sock"))); /* src bound while connected */

	memset(frame, 0x11, sizeof(frame));
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1);
	assert_int_equal(recv(s, buf[0], sizeof(buf[0]), 0), (ssize_t)sizeof(frame));

	/* The switch restarts: its end closes; it comes back on the same path. */
	close(s);
	close(lis);
	unlink(path("sw"));
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(port->transport->rx_batch(port, pkts, 4), 0);
	assert_false(to_bess(port)->up);
	assert_false(exists(path("me.sock"))); /* ours, removed while down */
	iov[0] = (struct iovec){ frame, sizeof(frame) };
	pkts[0] = (struct nf_pkt){ &iov[0], 1, sizeof(frame), 0 };
	assert_int_equal(port->transport->tx_batch(port, pkts, 1), 1); /* dropped, counted */
	assert_int_equal(to_bess(port)->down_drops, 1);
	assert_int_equal(port->tx_drops, 1);

	lis = listener(path("sw"));
	s = -1;
	pkts_init(pkts, iov, buf, 4);
	for (int i = 0; i < 300 && s < 0; i++) {
		rx_until(port, pkts, 4, 10);
		s = accept(lis, NULL, NULL);
	}
	assert_true(s >= 0);
	assert_true(to_bess(port)->up);
	assert_int_equal(to_bess(port)->outages, 1);
	assert_int_equal(send(s, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	pkts_init(pkts, iov, buf, 4);
	assert_int_equal(rx_until(port, pkts, 4, 1000), 1);

	port->transport->close(port);
	assert_false(exists(path("me.sock")));
	close(s);
	close(lis);
	nf_devcfg_release(&cfg);
}

/* vnet=1: the header crosses (checked by the engine as a peer's); it and a
 * socket filter exclude each other. */
static void test_vnet(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	struct nf_port *port = NULL;
	char err[512];

	assert_int_equal(open_port(&cfg, &port, err, sizeof(err), "vec0:transport=bess,listen=%s,vnet=1",
				   path("v.sock")), 0);
	assert_int_equal(port->caps, NF_CAP_VNET_HDR | NF_CAP_GSO | NF_CAP_PEER_HDR);
	port->transport->close(port);
	nf_devcfg_release(&cfg);
	assert_int_equal(open_port(&cfg, &port, err, sizeof(err),
				   "vec0:transport=bess,listen=%s,vnet=1,bpf=udp", path("v.sock")),
			 -EINVAL);
	assert_string_equal(err, "vec0: vnet: cannot be combined with bpf= (a socket filter would "
				 "see the virtio-net header in front of each frame)");
	assert_int_equal(access(path("v.sock"), F_OK), -1); /* nothing left */
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	nf_log_level = -1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_listen_role),
		cmocka_unit_test(test_vnet),
		cmocka_unit_test(test_connect_role),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
