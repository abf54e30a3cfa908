/* bess: an AF_UNIX SOCK_SEQPACKET connection carrying one Ethernet frame per
 * message, no header: the framing of stock UML's bess transport and of a
 * BESS unix_port. Frames move in batches (recvmmsg/sendmmsg; vec=0: one per
 * call). No virtio-net header: the engine does checksums, segmentation and
 * GRO in software (NF_CAP_SOFT_OFFLOAD). vnet=1 (ours) puts a virtio-net
 * header in front of each frame instead, between two uml-nf ends.
 *
 * Roles (one of):
 *   dst=PATH     connect to a listening peer (a BESS unix_port, a switch,
 *                another uml-nf with listen=), as stock UML does; with
 *                src=PATH our end is bound to that name first.
 *   listen=PATH  be the listening side (uml-nf's own), so that a stock UML
 *                guest (vecN:transport=bess,dst=PATH), which can only
 *                connect, reaches us directly. One client at a time; the
 *                next one waits in the backlog until the current one leaves.
 *
 * Names we bind (src, listen) are removed at exit, and only while they are
 * still the socket we bound. A socket file left behind by an instance that
 * was killed is replaced at start (listen: only when nothing answers on it);
 * a file that is not a socket is never touched.
 *
 * Outages. The device stays when the connection drops (the peer switch
 * restarts, the client guest reboots): frames the guest sends meanwhile are
 * dropped and counted (host_tx_errors in the stats line), dst is retried
 * with backoff from a timer in the port's event set (never blocking or
 * spinning the datapath thread: a unix connect completes or fails at once),
 * listen= waits for the next client. One line is logged when the link goes
 * and one when it is back, with the outage's length and drops.
 *
 * A peer absent at start: dst= refuses to start (exit 2, naming dst) unless
 * wait=1, which starts anyway and connects when the peer appears. Stock UML
 * instead fails ifup and leaves the device unusable (its pitfall P6).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "portio.h"
#include "transport.h"
#include "util.h"

#define BESS_PATH_MAX 107 /* sun_path less its NUL: filesystem names only */
#define BESS_RETRY_FIRST_MS 100
#define BESS_RETRY_MAX_MS 2000
#define BESS_SOCKBUF (4 << 20)
#define BESS_BACKLOG 4

/* What an event of the port's set is about (data.u64). */
enum { TAG_SOCK = 1, TAG_TIMER, TAG_LISTEN };

/* Reconnect backoff: the first retry after BESS_RETRY_FIRST_MS, each next
 * one after twice as long, capped at BESS_RETRY_MAX_MS; reset when a
 * connection is up. */
struct bess_backoff {
	unsigned next_ms;
	unsigned attempts; /* delays handed out since the reset */
};

static void backoff_reset(struct bess_backoff *b)
{
	b->next_ms = BESS_RETRY_FIRST_MS;
	b->attempts = 0;
}

/* Returns the delay before the next attempt and advances. */
static unsigned backoff_next(struct bess_backoff *b)
{
	unsigned d = b->next_ms;
	b->attempts++;
	b->next_ms = d >= BESS_RETRY_MAX_MS / 2 ? BESS_RETRY_MAX_MS : d * 2;
	return d;
}

/* The roles the options ask for. */
struct bess_roles {
	const char *dst, *src, *listen;
	bool wait;
};

/* Checks that the options make one clear role; one-line error otherwise. */
static int bess_check_roles(unsigned index, const struct bess_roles *r, char *err, size_t errlen)
{
	if (r->listen && r->dst) {
		snprintf(err, errlen, "vec%u: listen: cannot be combined with dst (listen= makes "
			 "uml-nf the listening side, dst= connects to one)", index);
		return -EINVAL;
	}
	if (!r->listen && !r->dst) {
		snprintf(err, errlen, "vec%u: dst: required by transport bess (the peer's socket; "
			 "or listen=PATH to be the listening side)", index);
		return -EINVAL;
	}
	if (r->listen && r->src) {
		snprintf(err, errlen, "vec%u: src: only with dst (it names our end of the "
			 "connection we make)", index);
		return -EINVAL;
	}
	if (r->listen && r->wait) {
		snprintf(err, errlen, "vec%u: wait: only with dst (listen= always waits for a "
			 "client)", index);
		return -EINVAL;
	}
	if (r->src && strcmp(r->src, r->dst) == 0) {
		snprintf(err, errlen, "vec%u: src: must differ from dst (%s)", index, r->dst);
		return -EINVAL;
	}
	return 0;
}

/* A filesystem name we bound: removed only while it is still our socket. */
struct bess_name {
	const char *path;
	dev_t dev;
	ino_t ino;
	bool bound;
};

struct bess_port {
	struct nf_port base;
	struct nf_evset es;
	unsigned index;
	bool vec;
	bool vnet;              /* vnet=1: messages start with a virtio-net header */
	bool listener;          /* listen= role */
	const char *dst;
	struct sockaddr_un dst_sa;
	socklen_t dst_len;
	struct bess_name src, lname;
	int sock;               /* the connection; -1 while down */
	int lsock;              /* listen=: the listening socket */
	int timer;              /* dst=: when to try again */
	bool up;
	bool outage;            /* down because a connection was lost (not yet made) */
	struct bess_backoff bo;
	long long down_since;   /* ms: start of the outage or of the wait */
	uint64_t down_drops;    /* frames dropped since then */
	uint64_t outages;
	unsigned nmsgs;
	struct mmsghdr *msgs;
	/* The receive filter (bpffile=, bpf=, bpfflash): kept so that every
	 * new connection gets it too. Set from the main thread, read when a
	 * connection comes up on the datapath thread. */
	pthread_mutex_t filter_lock;
	struct bf_prog filter;
};

static const struct nf_optdesc bess_opts[] = {
	{ "dst", NF_OPT_STRING, 0, BESS_PATH_MAX, false,
	  "connect to this unix seqpacket socket (BESS unix_port, switch, a uml-nf listen=); dst or listen is required",
	  NULL },
	{ "src", NF_OPT_STRING, 0, BESS_PATH_MAX, false,
	  "with dst: bind our end to this path first (removed at exit)", NULL },
	{ "listen", NF_OPT_STRING, 0, BESS_PATH_MAX, false,
	  "listen here for one client at a time, e.g. stock UML's bess (uml-nf extension)",
	  NULL },
	{ "wait", NF_OPT_BOOL, 0, 1, false,
	  "1: start even if nothing listens on dst yet; default 0: refuse (uml-nf extension)",
	  NULL },
	{ "vnet", NF_OPT_BOOL, 0, 1, false,
	  "1: each message starts with a 10-byte virtio-net header, so checksum offload and, with gro=1, 64 KiB TSO frames cross; both ends must be uml-nf with vnet=1 (uml-nf extension); default 0: plain frames",
	  NULL },
};

static struct bess_port *to_bess(struct nf_port *p)
{
	return nf_container_of(p, struct bess_port, base);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Only filesystem names: stock UML and BESS's non-abstract ports use
 * them, and a name that fits the path option fits sun_path. */
static void make_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(path);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n < BESS_PATH_MAX ? n : BESS_PATH_MAX);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1);
}

static void set_bufsize(int fd, int opt_force, int opt, int size)
{
	/* The FORCE variants ignore wmem_max/rmem_max but need CAP_NET_ADMIN;
	 * for unix sockets the send buffer bounds what is in flight. */
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

static int new_sock(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, BESS_SOCKBUF);
		set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, BESS_SOCKBUF);
	}
	return fd;
}

/* 0 if nothing answers on sa any more (a stale file), else why not: a
 * listener accepted or queued us (EADDRINUSE), or we cannot tell. */
static int name_probe(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc;
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, len) == 0)
		rc = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		rc = 0;
	else if (errno == EAGAIN || errno == EPROTOTYPE)
		rc = -EADDRINUSE; /* a busy listener, or another kind of socket in use */
	else
		rc = -errno;
	close(fd);
	return rc;
}

/* Binds fd to n->path (option opt). A socket file already there is taken
 * over (with probe: only once nothing answers on it); anything else there is
 * refused and left alone. */
static int bind_name(int fd, struct bess_name *n, bool probe, unsigned index, const char *opt,
		     char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int rc;

	make_addr(n->path, &sa, &len);
	if (lstat(n->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "vec%u: %s: %s exists and is not a socket (left alone)",
				 index, opt, n->path);
			return -EEXIST;
		}
		rc = probe ? name_probe(&sa, len) : 0;
		if (rc == -EADDRINUSE) {
			snprintf(err, errlen, "vec%u: %s: another program listens on %s", index, opt,
				 n->path);
			return rc;
		}
		if (rc < 0) {
			snprintf(err, errlen, "vec%u: %s: cannot tell whether %s is still in use: %s",
				 index, opt, n->path, strerror(-rc));
			return rc;
		}
		if (unlink(n->path) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, errlen, "vec%u: %s: cannot remove the stale socket %s: %s",
				 index, opt, n->path, strerror(errno));
			return rc;
		}
		nf_dbg("vec%u: %s: replaced the stale socket %s", index, opt, n->path);
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: %s: cannot bind %s: %s", index, opt, n->path,
			 strerror(errno));
		return rc;
	}
	n->bound = lstat(n->path, &st) == 0;
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	return 0;
}

static void unbind_name(struct bess_name *n)
{
	struct stat st;
	if (!n->bound)
		return;
	/* A successor may have replaced it since: only our own goes. */
	if (lstat(n->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == n->dev &&
	    st.st_ino == n->ino)
		unlink(n->path);
	n->bound = false;
}

static void arm_timer(struct bess_port *bp, unsigned ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 },
	};
	timerfd_settime(bp->timer, 0, &its, NULL);
}

static void disarm_timer(struct bess_port *bp)
{
	struct itimerspec its = { 0 };
	if (bp->timer >= 0)
		timerfd_settime(bp->timer, 0, &its, NULL);
}

/* The connection fd is up: watch it, stop waiting for others. */
static int link_up(struct bess_port *bp, int fd)
{
	int rc = nf_evset_add(&bp->es, fd, EPOLLIN | EPOLLRDHUP, TAG_SOCK);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&bp->filter_lock);
	if (bp->filter.len && bf_attach(fd, &bp->filter) < 0)
		nf_warn("vec%u: bess: cannot attach the receive filter to the new connection",
			bp->index);
	pthread_mutex_unlock(&bp->filter_lock);
	bp->sock = fd;
	bp->up = true;
	if (bp->listener)
		nf_evset_del(&bp->es, bp->lsock);
	else
		disarm_timer(bp);
	double secs = (double)(now_ms() - bp->down_since) / 1000.0;
	const char *where = bp->listener ? bp->lname.path : bp->dst;
	if (bp->outage)
		nf_info("vec%u: bess: %s %s again after %.1f s; %llu frames dropped while down",
			bp->index, bp->listener ? "client connected on" : "connected to", where,
			secs, (unsigned long long)bp->down_drops);
	else if (bp->down_since)
		nf_info("vec%u: bess: %s %s after %.1f s", bp->index,
			bp->listener ? "client connected on" : "connected to", where, secs);
	bp->outage = false;
	backoff_reset(&bp->bo);
	return 0;
}

/* The connection is gone (why: for the log): drop frames from now on and
 * get a new one. */
static void link_down(struct bess_port *bp, const char *why)
{
	nf_evset_del(&bp->es, bp->sock);
	/* Under the filter lock: bess_set_filter must never see a number
	 * that close() just freed for reuse. */
	pthread_mutex_lock(&bp->filter_lock);
	close(bp->sock);
	bp->sock = -1;
	pthread_mutex_unlock(&bp->filter_lock);
	bp->up = false;
	unbind_name(&bp->src);
	nf_evset_open_gate(&bp->es); /* transmit never waits for a dead socket */
	bp->outage = true;
	bp->outages++;
	bp->down_since = now_ms();
	bp->down_drops = 0;
	if (bp->listener) {
		nf_evset_add(&bp->es, bp->lsock, EPOLLIN, TAG_LISTEN);
		nf_warn("vec%u: bess: the client on %s went away (%s); dropping frames until one "
			"connects", bp->index, bp->lname.path, why);
	} else {
		backoff_reset(&bp->bo);
		arm_timer(bp, backoff_next(&bp->bo));
		nf_warn("vec%u: bess: lost the connection to %s (%s); dropping frames, reconnecting",
			bp->index, bp->dst, why);
	}
}

/* One attempt to connect to dst. 0 when up; else -errno, nothing kept. */
static int connect_once(struct bess_port *bp, char *err, size_t errlen)
{
	int fd = new_sock(), rc;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: bess: socket: %s", bp->index, strerror(errno));
		return rc;
	}
	if (bp->src.path) {
		rc = bind_name(fd, &bp->src, false, bp->index, "src", err, errlen);
		if (rc < 0)
			goto err_close;
	}
	if (connect(fd, (struct sockaddr *)&bp->dst_sa, bp->dst_len) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: dst: cannot connect to %s: %s", bp->index, bp->dst,
			 strerror(errno));
		goto err_unbind;
	}
	rc = link_up(bp, fd);
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: bess: epoll: %s", bp->index, strerror(-rc));
		goto err_unbind;
	}
	return 0;

err_unbind:
	unbind_name(&bp->src);
err_close:
	close(fd);
	return rc;
}

static void retry(struct bess_port *bp)
{
	char err[256];
	int rc = connect_once(bp, err, sizeof(err));
	if (rc == 0)
		return;
	nf_dbg("%s (attempt %u)", err, bp->bo.attempts);
	arm_timer(bp, backoff_next(&bp->bo));
}

static void accept_client(struct bess_port *bp)
{
	int fd = accept4(bp->lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			nf_dbg("vec%u: bess: accept on %s: %s", bp->index, bp->lname.path,
			       strerror(errno));
		return;
	}
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, BESS_SOCKBUF);
	if (link_up(bp, fd) < 0)
		close(fd);
}

/* Handles what besides received frames woke the port: the retry timer, a
 * client, room to transmit again. Datapath thread. */
static void service(struct bess_port *bp)
{
	struct epoll_event evs[4];
	int n = nf_evset_poll(&bp->es, evs, 4);

	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case TAG_TIMER: {
			uint64_t expirations;
			(void)!read(bp->timer, &expirations, sizeof(expirations));
			if (!bp->up)
				retry(bp);
			break;
		}
		case TAG_LISTEN:
			if (!bp->up)
				accept_client(bp);
			break;
		case TAG_SOCK:
			if ((evs[i].events & EPOLLOUT) && bp->es.shut) {
				nf_evset_mod(&bp->es, bp->sock, EPOLLIN | EPOLLRDHUP, TAG_SOCK);
				nf_evset_open_gate(&bp->es);
			}
			break;
		}
	}
}

static int bess_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	struct bess_port *bp = to_bess(port);
	struct bf_prog copy;
	char err[64];
	if (bp->vnet)
		return -EOPNOTSUPP; /* it would see our header, not the frame */
	int rc = bf_from_bytes(prog->insns, prog->len * sizeof(*prog->insns), &copy, err,
			       sizeof(err));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&bp->filter_lock);
	bf_free(&bp->filter);
	bp->filter = copy;
	/* The live connection now; later ones in link_up. A race with a
	 * connection coming up is harmless: both attach the same program. */
	int sock = bp->sock;
	rc = sock >= 0 ? bf_attach(sock, &bp->filter) : 0;
	pthread_mutex_unlock(&bp->filter_lock);
	return rc;
}

static void bess_close(struct nf_port *port)
{
	struct bess_port *bp = to_bess(port);

	if (bp->sock >= 0)
		close(bp->sock);
	unbind_name(&bp->src);
	if (bp->lsock >= 0)
		close(bp->lsock);
	unbind_name(&bp->lname);
	if (bp->timer >= 0)
		close(bp->timer);
	nf_evset_close(&bp->es);
	if (!bp->up && bp->outage)
		nf_info("vec%u: bess: still down at exit, for %.1f s; %llu frames dropped since",
			bp->index, (double)(now_ms() - bp->down_since) / 1000.0,
			(unsigned long long)bp->down_drops);
	bf_free(&bp->filter);
	pthread_mutex_destroy(&bp->filter_lock);
	free(bp->msgs);
	free(bp);
}

static int bess_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	const struct nf_optval *v;
	struct bess_roles r = { 0 };
	struct bess_port *bp = NULL;
	int rc;

	if ((v = nf_devcfg_topt(cfg, "dst")))
		r.dst = v->str;
	if ((v = nf_devcfg_topt(cfg, "src")))
		r.src = v->str;
	if ((v = nf_devcfg_topt(cfg, "listen")))
		r.listen = v->str;
	if ((v = nf_devcfg_topt(cfg, "wait")))
		r.wait = v->num;
	rc = bess_check_roles(cfg->index, &r, err, errlen);
	if (rc < 0)
		return rc;
	bool vnet = (v = nf_devcfg_topt(cfg, "vnet")) && v->num;
	if (vnet && (cfg->bpffile || cfg->bpf_expr)) {
		snprintf(err, errlen, "vec%u: vnet: cannot be combined with %s= (a socket filter "
			 "would see the virtio-net header in front of each frame)", cfg->index,
			 cfg->bpffile ? "bpffile" : "bpf");
		return -EINVAL;
	}

	bp = calloc(1, sizeof(*bp));
	if (!bp)
		goto err_nomem;
	bp->sock = bp->lsock = bp->timer = -1;
	pthread_mutex_init(&bp->filter_lock, NULL);
	bp->es.epfd = bp->es.gate = -1;
	bp->index = cfg->index;
	bp->vec = cfg->vec;
	bp->vnet = vnet;
	bp->listener = r.listen != NULL;
	bp->dst = r.dst;
	bp->src.path = r.src;
	bp->lname.path = r.listen;
	backoff_reset(&bp->bo);
	/* Plain frames: the engine's segments of the guest's GSO frames too. */
	bp->nmsgs = cfg->depth + (vnet ? 0 : NF_SOFT_TX_EXTRA);
	bp->msgs = calloc(bp->nmsgs, sizeof(*bp->msgs));
	if (!bp->msgs)
		goto err_nomem;
	rc = nf_evset_open(&bp->es);
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: bess: event set: %s", cfg->index, strerror(-rc));
		goto err_close;
	}

	if (bp->listener) {
		bp->lsock = new_sock();
		if (bp->lsock < 0) {
			rc = -errno;
			snprintf(err, errlen, "vec%u: bess: socket: %s", cfg->index, strerror(errno));
			goto err_close;
		}
		rc = bind_name(bp->lsock, &bp->lname, true, cfg->index, "listen", err, errlen);
		if (rc < 0)
			goto err_close;
		if (listen(bp->lsock, BESS_BACKLOG) < 0 ||
		    nf_evset_add(&bp->es, bp->lsock, EPOLLIN, TAG_LISTEN) < 0) {
			rc = -errno;
			snprintf(err, errlen, "vec%u: listen: %s: %s", cfg->index, r.listen,
				 strerror(errno));
			goto err_close;
		}
		bp->down_since = now_ms();
		nf_info("vec%u: bess: listening on %s for a client (e.g. stock UML's "
			"vecN:transport=bess,dst=%s)", cfg->index, r.listen, r.listen);
	} else {
		make_addr(r.dst, &bp->dst_sa, &bp->dst_len);
		bp->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (bp->timer < 0 || nf_evset_add(&bp->es, bp->timer, EPOLLIN, TAG_TIMER) < 0) {
			rc = -errno;
			snprintf(err, errlen, "vec%u: bess: timer: %s", cfg->index, strerror(errno));
			goto err_close;
		}
		rc = connect_once(bp, err, errlen);
		if (rc < 0 && !(r.wait && (rc == -ENOENT || rc == -ECONNREFUSED || rc == -EAGAIN))) {
			size_t len = strlen(err);
			const char *hint = rc == -ENOENT || rc == -ECONNREFUSED
				? " (nothing listens there: start the peer first, or add wait=1)"
				: rc == -EPROTOTYPE ? " (the socket there is not SOCK_SEQPACKET)"
				: rc == -EAGAIN ? " (its backlog is full: it is not accepting)"
				: "";
			snprintf(err + len, errlen - len, "%s", hint);
			goto err_close;
		}
		if (rc == 0)
			nf_info("vec%u: bess: connected to %s", cfg->index, r.dst);
		if (rc < 0) {
			nf_info("vec%u: bess: nothing accepts connections on %s yet (%s); connecting "
				"when it does (wait=1)", cfg->index, r.dst, strerror(-rc));
			bp->down_since = now_ms();
			arm_timer(bp, backoff_next(&bp->bo));
		}
	}

	bp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = bp->es.epfd,
		.tx_fd = bp->es.gate,
		/* Plain frames: the guest's TSO frames and partial checksums
		 * are finished by the engine, and with gro=1 received segments
		 * are coalesced for it. vnet=1: the header crosses, written
		 * by a peer we check. */
		.caps = vnet ? NF_CAP_VNET_HDR | NF_CAP_GSO | NF_CAP_PEER_HDR : NF_CAP_SOFT_OFFLOAD,
	};
	*out = &bp->base;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "vec%u: out of memory", cfg->index);
err_close:
	if (bp)
		bess_close(&bp->base);
	return rc;
}

static int bess_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct bess_port *bp = to_bess(port);
	bool empty;

	/* While up with the gate open, the connection is all there is in the
	 * set: no need to look at it. */
	if (!bp->up || bp->es.shut)
		service(bp);
	if (!bp->up)
		return 0;
	if (max > bp->nmsgs)
		max = bp->nmsgs;
	int n = nf_msg_rx(bp->sock, bp->msgs, pkts, max, bp->vec, &empty);
	if (n < 0) {
		if (!nf_msg_peer_gone(-n))
			return n;
		link_down(bp, strerror(-n));
		return 0;
	}
	if (empty) {
		int k = nf_msg_eof(bp->sock, pkts, n);
		if (k >= 0) {
			link_down(bp, "closed by the peer");
			return k;
		}
	}
	return n;
}

static int bess_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct bess_port *bp = to_bess(port);
	int err;

	if (!bp->up)
		service(bp); /* in case receive is not looking (no guest buffers) */
	if (!bp->up)
		goto drop;
	if (n > bp->nmsgs)
		n = bp->nmsgs;
	unsigned sent = nf_msg_tx(bp->sock, bp->msgs, pkts, n, bp->vec, &port->tx_drops, &err);
	if (err == -EAGAIN) {
		/* Wait for room: the engine watches the gate, receive
		 * watches the socket and opens the gate. */
		nf_evset_mod(&bp->es, bp->sock, EPOLLIN | EPOLLRDHUP | EPOLLOUT, TAG_SOCK);
		nf_evset_shut(&bp->es);
		return (int)sent;
	}
	if (err == 0)
		return (int)sent;
	link_down(bp, strerror(-err));
	n -= sent;
	port->tx_drops += n;
	bp->down_drops += n;
	return (int)(sent + n);

drop:
	port->tx_drops += n;
	bp->down_drops += n;
	return (int)n;
}

const struct nf_transport nf_transport_bess = {
	.name = "bess",
	.summary = "unix seqpacket socket, one frame per message (BESS, stock UML bess), batched",
	.opts = bess_opts,
	.nopts = NF_ARRAY_SIZE(bess_opts),
	.open = bess_open,
	.close = bess_close,
	.rx_batch = bess_rx_batch,
	.tx_batch = bess_tx_batch,
	.set_filter = bess_set_filter,
};
