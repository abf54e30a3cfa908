/* The control socket server (see csock_server.h and, for the protocol,
 * csock_proto.h). */
#include "csock_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "csock_proto.h"
#include "log.h"
#include "stats.h"
#include "util.h"

/* While a capture runs, its ring is emptied this often. */
#define CS_DRAIN_MS 5
/* A reply must be read within this long. */
#define CS_REPLY_MS 5000
/* Capture records are moved from the ring while less than this is queued
 * for the client. */
#define CS_CAP_QUEUE (1u << 20)
/* Largest reply buffer (stats of 64 devices need ~150 KiB). */
#define CS_OUT_MAX (4u << 20)

#define EP_LISTEN 1000u
#define EP_STOP 1001u

enum cl_state { CL_FREE, CL_REQ, CL_REPLY, CL_CAPTURE };

struct cs_client {
	enum cl_state state;
	int fd;
	char *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool out_failed; /* the reply outgrew CS_OUT_MAX */
	uint32_t epmask;
	long long deadline; /* monotonic ms; 0: none */
	/* capture */
	struct nf_capture *cap;
	unsigned cap_index;
	uint64_t cap_sent;
	bool cap_done; /* the client asked to stop (or we stop) */
	bool end_queued;
};

struct cs_server {
	struct nf_engine *eng;
	struct cs_hotplug_ops hp;
	bool have_hp;
	char umid[64];
	char path[108];
	int listen_fd, ep_fd, stop_fd;
	pthread_t thread;
	bool running;
	struct cs_client cl[CS_MAX_CLIENTS];
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output buffer ---- */

static void out_append(struct cs_client *c, const void *data, size_t n)
{
	if (c->out_failed)
		return;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		if (c->out_off) { /* compact first */
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + n)
			cap *= 2;
		uint8_t *p = cap <= CS_OUT_MAX + NF_CAP_SNAP_MAX ? realloc(c->out, cap) : NULL;
		if (!p) {
			c->out_failed = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

static void out_printf(struct cs_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct cs_client *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_append(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void reply_err(struct cs_client *c, int err, const char *text)
{
	/* One line: whatever the reason says, a newline in it ends it. */
	char line[512];
	snprintf(line, sizeof(line), "%s", text);
	line[strcspn(line, "\n")] = '\0';
	out_printf(c, "err %s %s\n", csp_errname(err), line);
}

static void set_mask(struct cs_server *cs, struct cs_client *c, uint32_t mask)
{
	if (c->epmask == mask)
		return;
	struct epoll_event ev = {.events = mask, .data.u32 = (uint32_t)(c - cs->cl)};
	epoll_ctl(cs->ep_fd, EPOLL_CTL_MOD, c->fd, &ev);
	c->epmask = mask;
}

static void client_free(struct cs_server *cs, struct cs_client *c)
{
	(void)cs;
	if (c->state == CL_FREE)
		return;
	if (c->cap)
		nf_info("vec%u: capture detached (%llu frames sent, %llu missed)", c->cap_index,
			(unsigned long long)c->cap_sent,
			(unsigned long long)nf_capture_missed(c->cap));
	nf_capture_free(c->cap);
	close(c->fd); /* also leaves the epoll set */
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->state = CL_FREE;
	c->fd = -1;
}

/* Sends what is queued. Returns false if the client is gone (freed). */
static bool client_flush(struct cs_server *cs, struct cs_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			client_free(cs, c);
			return false;
		}
		c->out_off += (size_t)w;
	}
	bool pending = c->out_off < c->out_len;
	bool done = !pending && (c->state == CL_REPLY || (c->state == CL_CAPTURE && c->end_queued));
	if (done) {
		client_free(cs, c);
		return false;
	}
	uint32_t mask = pending ? EPOLLOUT : 0;
	if (c->state == CL_REQ || (c->state == CL_CAPTURE && !c->cap_done))
		mask |= EPOLLIN; /* a capture client's EOF means "stop" */
	set_mask(cs, c, mask);
	return true;
}

/* ---- requests ---- */

struct stats_ctx {
	struct cs_client *c;
	bool first;
};

static void sink_word(struct stats_ctx *s, const char *key, const char *val)
{
	char esc[1024];
	csp_escape(val, esc, sizeof(esc));
	out_printf(s->c, "%s%s=%s", s->first ? "" : " ", key, esc);
	s->first = false;
}

static void sink_num(void *ctx, const char *key, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	sink_word(ctx, key, buf);
}

static void sink_str(void *ctx, const char *key, const char *v)
{
	sink_word(ctx, key, v);
}

static void sink_hist(void *ctx, const char *key, const uint64_t v[NF_HIST_BUCKETS])
{
	char buf[NF_HIST_BUCKETS * 21];
	size_t n = 0;
	for (unsigned b = 0; b < NF_HIST_BUCKETS; b++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%llu", b ? "," : "",
				      (unsigned long long)v[b]);
	sink_word(ctx, key, buf);
}

static void req_stats(struct cs_server *cs, struct cs_client *c)
{
	static const struct nf_report_sink sink = {sink_num, sink_str, sink_hist};
	unsigned n = nf_engine_ndevs(cs->eng);
	out_printf(c, "ok %u\n", n);
	for (unsigned i = 0; i < n; i++) {
		struct stats_ctx s = {c, true};
		nf_engine_report(cs->eng, i, &sink, &s);
		out_append(c, "\n", 1);
	}
	out_append(c, ".\n", 2);
}

static void req_capture(struct cs_server *cs, struct cs_client *c, const struct csp_req *r)
{
	struct nf_capture_params p = {.dirs = 0, .snaplen = 0};
	struct nf_bpf_insn *prog = NULL;
	char err[256];
	int rc;

	if (csp_dev_parse(r->args[0], &p.index) < 0) {
		reply_err(c, EINVAL, "capture: expected a device vecN");
		return;
	}
	for (unsigned a = 1; a < r->nargs; a++) {
		const char *arg = r->args[a];
		if (strncmp(arg, "dir=", 4) == 0) {
			p.dirs = csp_dir_parse(arg + 4);
		} else if (strncmp(arg, "snap=", 5) == 0) {
			char *end;
			unsigned long v = strtoul(arg + 5, &end, 10);
			p.snaplen = *end || end == arg + 5 || v > NF_CAP_SNAP_MAX ? 0 : (uint32_t)v;
		} else if (strncmp(arg, "bpf=", 4) == 0 && !prog) {
			prog = malloc(NF_BPF_MAX_INSNS * sizeof(*prog));
			rc = prog ? csp_bpf_decode(arg + 4, prog, NF_BPF_MAX_INSNS) : -ENOMEM;
			if (rc < 0) {
				reply_err(c, -rc, "capture: bpf= is not a hex BPF program");
				free(prog);
				return;
			}
			p.prog = prog;
			p.nprog = (unsigned)rc;
		} else {
			reply_err(c, EINVAL, "capture: unknown argument");
			free(prog);
			return;
		}
	}
	if (!p.dirs || p.snaplen < NF_CAP_SNAP_MIN) {
		snprintf(err, sizeof(err), "capture: needs dir=rx|tx|both and snap=%u..%u",
			 NF_CAP_SNAP_MIN, NF_CAP_SNAP_MAX);
		reply_err(c, EINVAL, err);
		free(prog);
		return;
	}
	rc = nf_capture_start(cs->eng, &p, &c->cap, err, sizeof(err));
	free(prog);
	if (rc < 0) {
		reply_err(c, -rc, err);
		return;
	}
	c->state = CL_CAPTURE;
	c->cap_index = p.index;
	c->deadline = 0;
	out_printf(c, "ok snap=%u\n", p.snaplen);
	nf_info("vec%u: capture attached (%s, snap %u%s)", p.index,
		p.dirs == (CAP_DIR_RX | CAP_DIR_TX) ? "both directions"
		: p.dirs == CAP_DIR_RX		    ? "rx"
						    : "tx",
		p.snaplen, p.nprog ? ", filtered" : "");
}

static void req_hotplug(struct cs_server *cs, struct cs_client *c, const struct csp_req *r)
{
	char reply[1024] = "";
	unsigned index = 0;
	int rc;

	if (!cs->have_hp) {
		reply_err(c, EOPNOTSUPP, "hot-plug is not available in this uml-nf");
		return;
	}
	if (r->verb != CSP_ATTACH && csp_dev_parse(r->args[0], &index) < 0) {
		reply_err(c, EINVAL, "expected a device vecN");
		return;
	}
	switch (r->verb) {
	case CSP_ATTACH: {
		/* The words back into one spec: they were split at single
		 * spaces, so this is the line as sent. */
		char spec[CSP_REQ_MAX];
		size_t n = 0;
		for (unsigned a = 0; a < r->nargs && n < sizeof(spec); a++)
			n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s%s", a ? " " : "",
					      r->args[a]);
		rc = cs->hp.attach(cs->hp.ctx, spec, reply, sizeof(reply));
		break;
	}
	case CSP_DETACH:
		rc = cs->hp.detach(cs->hp.ctx, index, reply, sizeof(reply));
		break;
	default:
		rc = cs->hp.query(cs->hp.ctx, index, reply, sizeof(reply));
		break;
	}
	reply[strcspn(reply, "\n")] = '\0';
	if (rc < 0)
		reply_err(c, -rc, reply);
	else
		out_printf(c, "ok%s%s\n", reply[0] ? " " : "", reply);
}

static void handle_request(struct cs_server *cs, struct cs_client *c, size_t len)
{
	struct csp_req r;
	char err[256];
	int rc = csp_req_parse(c->in, len, &r, err, sizeof(err));

	c->state = CL_REPLY;
	c->deadline = now_ms() + CS_REPLY_MS;
	if (rc < 0) {
		reply_err(c, -rc, err);
		return;
	}
	switch (r.verb) {
	case CSP_VERSION_REQ:
		out_printf(c, "ok %d pid=%d umid=%s devices=%u\n", CSP_VERSION, (int)getpid(),
			   cs->umid, nf_engine_ndevs(cs->eng));
		break;
	case CSP_STATS:
		req_stats(cs, c);
		break;
	case CSP_CAPTURE:
		req_capture(cs, c, &r);
		break;
	case CSP_ATTACH:
	case CSP_DETACH:
	case CSP_QUERY:
		req_hotplug(cs, c, &r);
		break;
	}
	if (c->out_failed) {
		c->out_len = c->out_off = 0;
		c->out_failed = false;
		reply_err(c, ENOSPC, "reply too large");
	}
}

/* ---- connections ---- */

static void client_accept(struct cs_server *cs)
{
	for (;;) {
		int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* The socket's mode already keeps others out; the peer check
		 * holds even if the directory's permissions were loosened. */
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    (cred.uid != geteuid() && cred.uid != 0)) {
			nf_warn("control socket: refused a connection from uid %d",
				clen == sizeof(cred) ? (int)cred.uid : -1);
			close(fd);
			continue;
		}
		struct cs_client *c = NULL;
		for (unsigned i = 0; i < CS_MAX_CLIENTS && !c; i++)
			if (cs->cl[i].state == CL_FREE)
				c = &cs->cl[i];
		if (!c) {
			static const char busy[] = "err EBUSY too many control connections\n";
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->in = malloc(CSP_REQ_MAX);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - cs->cl)};
		if (!c->in || epoll_ctl(cs->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			c->in = NULL;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = CL_REQ;
		c->epmask = EPOLLIN;
		c->deadline = now_ms() + CSP_TIMEOUT_MS;
	}
}

static void client_readable(struct cs_server *cs, struct cs_client *c)
{
	if (c->state == CL_CAPTURE) {
		/* Anything, or the end of the stream, from a capture client
		 * means stop. */
		char buf[256];
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		nf_capture_stop(c->cap);
		c->cap_done = true;
		client_flush(cs, c);
		return;
	}
	if (c->state != CL_REQ)
		return;
	ssize_t n = recv(c->fd, c->in + c->in_len, CSP_REQ_MAX - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(cs, c);
		return;
	}
	char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
	c->in_len += (size_t)n;
	if (nl) {
		handle_request(cs, c, (size_t)(nl - c->in) + 1);
	} else if (c->in_len == CSP_REQ_MAX) {
		c->state = CL_REPLY;
		c->deadline = now_ms() + CS_REPLY_MS;
		reply_err(c, EINVAL, "request too long");
	} else {
		return;
	}
	client_flush(cs, c);
}

/* Moves stored frames from a capture's ring to its client's queue, and the
 * end record once the capture has stopped and the ring is empty. */
static void capture_drain(struct cs_client *c)
{
	const struct cap_rec *r;
	while (c->out_len - c->out_off < CS_CAP_QUEUE && (r = nf_capture_peek(c->cap))) {
		struct csp_cap_hdr h = {CSP_REC_FRAME, r->wirelen, r->caplen, r->dir, r->ts_ns};
		out_append(c, &h, sizeof(h));
		out_append(c, r->data, r->caplen);
		nf_capture_pop(c->cap);
		c->cap_sent++;
	}
	if (c->cap_done && !c->end_queued && !nf_capture_peek(c->cap)) {
		struct csp_cap_end e = {c->cap_sent, nf_capture_missed(c->cap)};
		struct csp_cap_hdr h = {CSP_REC_END, 0, sizeof(e), 0, 0};
		out_append(c, &h, sizeof(h));
		out_append(c, &e, sizeof(e));
		c->end_queued = true;
	}
}

static void *server_main(void *arg)
{
	struct cs_server *cs = arg;
	struct epoll_event evs[CS_MAX_CLIENTS + 2];

	for (;;) {
		long long now = now_ms(), next = 0;
		bool capturing = false;
		for (unsigned i = 0; i < CS_MAX_CLIENTS; i++) {
			struct cs_client *c = &cs->cl[i];
			if (c->state == CL_CAPTURE)
				capturing = true;
			else if (c->state != CL_FREE && (!next || c->deadline < next))
				next = c->deadline;
		}
		int timeout = capturing ? CS_DRAIN_MS
			      : next	? (int)(next > now ? next - now : 0)
					: -1;
		int n = epoll_wait(cs->ep_fd, evs, (int)NF_ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			nf_err("control socket: epoll_wait: %s", strerror(errno));
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;
			if (id == EP_STOP) {
				stop = true;
			} else if (id == EP_LISTEN) {
				client_accept(cs);
			} else if (id < CS_MAX_CLIENTS && cs->cl[id].state != CL_FREE) {
				struct cs_client *c = &cs->cl[id];
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					client_readable(cs, c);
				if (c->state != CL_FREE && (evs[i].events & EPOLLOUT))
					client_flush(cs, c);
			}
		}
		if (stop)
			break;
		now = now_ms();
		for (unsigned i = 0; i < CS_MAX_CLIENTS; i++) {
			struct cs_client *c = &cs->cl[i];
			if (c->state == CL_CAPTURE) {
				capture_drain(c);
				client_flush(cs, c);
			} else if (c->state != CL_FREE && c->deadline && now >= c->deadline) {
				client_free(cs, c); /* too slow to ask, or to read the answer */
			}
		}
	}
	/* Shutting down: captures end properly, if their clients keep up. */
	long long until = now_ms() + 500;
	for (unsigned i = 0; i < CS_MAX_CLIENTS; i++) {
		struct cs_client *c = &cs->cl[i];
		if (c->state != CL_CAPTURE)
			continue;
		nf_capture_stop(c->cap);
		c->cap_done = true;
	}
	for (bool busy = true; busy && now_ms() < until;) {
		busy = false;
		for (unsigned i = 0; i < CS_MAX_CLIENTS; i++) {
			struct cs_client *c = &cs->cl[i];
			if (c->state != CL_CAPTURE)
				continue;
			capture_drain(c);
			if (client_flush(cs, c))
				busy = true;
		}
		if (busy)
			usleep(2000);
	}
	for (unsigned i = 0; i < CS_MAX_CLIENTS; i++)
		client_free(cs, &cs->cl[i]);
	return NULL;
}

/* ---- lifecycle ---- */

int cs_open(struct cs_server **out, const char *path, struct nf_engine *eng, const char *umid,
	    const struct cs_hotplug_ops *hp, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct cs_server *cs;
	struct stat st;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, errlen, "control socket: out of memory");
		return -ENOMEM;
	}
	cs->eng = eng;
	cs->listen_fd = cs->ep_fd = cs->stop_fd = -1;
	for (unsigned i = 0; i < CS_MAX_CLIENTS; i++)
		cs->cl[i].fd = -1;
	if (hp) {
		cs->hp = *hp;
		cs->have_hp = true;
	}
	snprintf(cs->umid, sizeof(cs->umid), "%s", umid);
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	/* Left by a uml-nf that was killed: the instance directory was
	 * reclaimed, so a socket here is stale. Anything else is not ours. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a socket",
				 path);
			rc = -EEXIST;
			goto err_free;
		}
		unlink(path);
	}
	cs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->listen_fd < 0 || bind(cs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto err_free;
	}
	if (chmod(path, 0600) < 0 || listen(cs->listen_fd, CS_MAX_CLIENTS) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	cs->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	cs->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event lev = {.events = EPOLLIN, .data.u32 = EP_LISTEN};
	struct epoll_event sev = {.events = EPOLLIN, .data.u32 = EP_STOP};
	if (cs->ep_fd < 0 || cs->stop_fd < 0 ||
	    epoll_ctl(cs->ep_fd, EPOLL_CTL_ADD, cs->listen_fd, &lev) < 0 ||
	    epoll_ctl(cs->ep_fd, EPOLL_CTL_ADD, cs->stop_fd, &sev) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto err_unlink;
	}
	*out = cs;
	return 0;

err_unlink:
	unlink(path);
err_free:
	if (cs->listen_fd >= 0)
		close(cs->listen_fd);
	if (cs->ep_fd >= 0)
		close(cs->ep_fd);
	if (cs->stop_fd >= 0)
		close(cs->stop_fd);
	free(cs);
	return rc;
}

int cs_start(struct cs_server *cs)
{
	int rc = pthread_create(&cs->thread, NULL, server_main, cs);
	if (rc)
		return -rc;
	pthread_setname_np(cs->thread, "nf-ctlsock");
	cs->running = true;
	return 0;
}

void cs_close(struct cs_server *cs)
{
	if (!cs)
		return;
	if (cs->running) {
		uint64_t one = 1;
		(void)!write(cs->stop_fd, &one, sizeof(one));
		pthread_join(cs->thread, NULL);
	}
	for (unsigned i = 0; i < CS_MAX_CLIENTS; i++)
		client_free(cs, &cs->cl[i]);
	close(cs->listen_fd);
	close(cs->ep_fd);
	close(cs->stop_fd);
	unlink(cs->path);
	free(cs);
}
