/* Client side of the control socket (csock_proto.h), for uml-nf stats,
 * capture and the hot-plug commands. Library code: errors are returned
 * with a one-line reason, never printed. */
#ifndef NF_CSOCK_CLIENT_H
#define NF_CSOCK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct csc_conn {
	int fd;
	uint8_t buf[65536]; /* bytes received, not consumed yet: buf[off..len) */
	size_t off, len;
};

/* Connects to the control socket of the uml-nf running with umid (its
 * instance directory under inst_base), or, when umid holds a '/', of
 * the instance directory it names. Returns 0, or -errno with err naming
 * the umid and what is wrong ("no uml-nf with umid=r1 is running ..."). */
int csc_open(struct csc_conn *c, const char *umid, char *err, size_t errlen);
void csc_close(struct csc_conn *c);

/* Sends the request "umlnf-ctl 1 VERB_ARGS\n". Returns 0 or -errno. */
int csc_send(struct csc_conn *c, const char *verb_args, char *err, size_t errlen);

/* Reads one line (without its '\n', NUL-terminated) within timeout_ms
 * (< 0: no limit). Returns its length, or -EPROTO (longer than len),
 * -ECONNRESET (the server closed first), -ETIMEDOUT, -errno. */
int csc_read_line(struct csc_conn *c, char *line, size_t len, int timeout_ms);

/* Reads exactly n bytes, waiting up to timeout_ms (< 0: no limit) at a
 * time. Returns 0, -ECONNRESET at the end of the stream, -ETIMEDOUT, or
 * -errno (-EINTR when a signal came in while waiting). */
int csc_read_exact(struct csc_conn *c, void *dst, size_t n, int timeout_ms);

/* Waits until n bytes (at most sizeof(buf)) are buffered, without consuming
 * them. Returns 0, or as csc_read_exact. */
int csc_wait(struct csc_conn *c, size_t n, int timeout_ms);

/* Reads the status line of a reply: 0 for "ok[ TEXT]" (TEXT copied to
 * text), -errno from "err CODE TEXT" (TEXT copied), -EPROTO for anything
 * else. */
int csc_read_status(struct csc_conn *c, char *text, size_t len, int timeout_ms);

/* One request, one status line: connect, send, read the status, close.
 * Returns as csc_read_status; on a local failure -errno with the reason
 * in text. */
int csc_call(const char *umid, const char *verb_args, char *text, size_t len);

#endif
