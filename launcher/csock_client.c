#include "csock_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "csock_proto.h"
#include "instance.h"

int csc_open(struct csc_conn *c, const char *umid, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char base_buf[256], path[sizeof(sa.sun_path) + 64];
	int rc;

	c->fd = -1;
	c->off = c->len = 0;
	if (!*umid) {
		snprintf(err, errlen, "empty umid");
		return -EINVAL;
	}
	if (strchr(umid, '/'))
		snprintf(path, sizeof(path), "%s/%s", umid, CSP_SOCK_NAME);
	else
		snprintf(path, sizeof(path), "%s/%s/%s", inst_base(base_buf, sizeof(base_buf)),
			 umid, CSP_SOCK_NAME);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "umid=%s: %s: path too long", umid, path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		if (errno == ENOENT)
			snprintf(err, errlen,
				 "umid=%s: no uml-nf with this umid is running (no %s)", umid,
				 path);
		else if (errno == ECONNREFUSED)
			snprintf(err, errlen, "umid=%s: nobody answers on %s (uml-nf killed?)",
				 umid, path);
		else
			snprintf(err, errlen, "umid=%s: %s: %s", umid, path, strerror(errno));
		close(c->fd);
		c->fd = -1;
		return rc;
	}
	return 0;
}

void csc_close(struct csc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int csc_send(struct csc_conn *c, const char *verb_args, char *err, size_t errlen)
{
	static char req[CSP_REQ_MAX + 1];
	int n = csp_req_format(verb_args, req, sizeof(req));
	if (n < 0) {
		snprintf(err, errlen, "request too long or not printable ASCII");
		return n;
	}
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = send(c->fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int rc = -errno;
			snprintf(err, errlen, "control socket: %s", strerror(errno));
			return rc;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Receives more into the buffer. Returns bytes added, -ECONNRESET at EOF. */
static int fill(struct csc_conn *c, int timeout_ms)
{
	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf)) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
		if (c->len == sizeof(c->buf))
			return -ENOBUFS;
	}
	struct pollfd p = {c->fd, POLLIN, 0};
	int rc = poll(&p, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += (size_t)n;
	return (int)n;
}

int csc_read_line(struct csc_conn *c, char *line, size_t len, int timeout_ms)
{
	for (;;) {
		uint8_t *start = c->buf + c->off;
		uint8_t *nl = memchr(start, '\n', c->len - c->off);
		if (nl) {
			size_t n = (size_t)(nl - start);
			if (n >= len)
				return -EPROTO;
			memcpy(line, start, n);
			line[n] = '\0';
			c->off += n + 1;
			return (int)n;
		}
		if (c->len - c->off >= len)
			return -EPROTO;
		int rc = fill(c, timeout_ms);
		if (rc < 0)
			return rc == -ENOBUFS ? -EPROTO : rc;
	}
}

int csc_read_exact(struct csc_conn *c, void *dst, size_t n, int timeout_ms)
{
	uint8_t *d = dst;
	while (n) {
		size_t have = c->len - c->off;
		if (have) {
			size_t take = have < n ? have : n;
			memcpy(d, c->buf + c->off, take);
			c->off += take;
			d += take;
			n -= take;
			continue;
		}
		int rc = fill(c, timeout_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int csc_wait(struct csc_conn *c, size_t n, int timeout_ms)
{
	if (n > sizeof(c->buf))
		return -EINVAL;
	while (c->len - c->off < n) {
		if (c->off && c->len + (n - (c->len - c->off)) > sizeof(c->buf)) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		int rc = fill(c, timeout_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int csc_read_status(struct csc_conn *c, char *text, size_t len, int timeout_ms)
{
	char line[1024];
	int rc = csc_read_line(c, line, sizeof(line), timeout_ms);
	if (rc < 0) {
		snprintf(text, len, "no answer from uml-nf (%s)",
			 rc == -ECONNRESET ? "it closed the connection" : strerror(-rc));
		return rc == -ECONNRESET ? -EPROTO : rc;
	}
	if (strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0) {
		snprintf(text, len, "%s", line[2] ? line + 3 : "");
		return 0;
	}
	if (strncmp(line, "err ", 4) == 0) {
		char code[32] = "";
		const char *p = line + 4, *sp = strchr(p, ' ');
		size_t cl = sp ? (size_t)(sp - p) : strlen(p);
		if (cl < sizeof(code)) {
			memcpy(code, p, cl);
			code[cl] = '\0';
		}
		snprintf(text, len, "%s", sp ? sp + 1 : "");
		return -csp_errnum(code);
	}
	snprintf(text, len, "malformed answer from uml-nf");
	return -EPROTO;
}

int csc_call(const char *umid, const char *verb_args, char *text, size_t len)
{
	struct csc_conn c;
	int rc = csc_open(&c, umid, text, len);
	if (rc < 0)
		return rc;
	rc = csc_send(&c, verb_args, text, len);
	if (rc == 0)
		rc = csc_read_status(&c, text, len, 30000);
	csc_close(&c);
	return rc;
}
