/* The control socket protocol, version 1: what a running uml-nf answers on
 * INST/control.sock (uml-nf stats, capture, ctl config/remove vecN).
 *
 * Transport: a unix stream socket, mode 0600 in the 0700 instance
 * directory; the server also checks the peer (SO_PEERCRED): only uml-nf's
 * own uid and root may talk to it. One request per connection.
 *
 * Request: one line, at most CSP_REQ_MAX bytes with its '\n', printable
 * ASCII words separated by single spaces, complete within CSP_TIMEOUT_MS of
 * connecting (else the connection is dropped):
 *
 *     umlnf-ctl VERSION VERB [ARG ...]\n
 *
 * Reply: one status line, then a body that depends on the verb:
 *
 *     ok[ TEXT]\n  BODY          success
 *     err CODE TEXT\n            failure; CODE is an errno name (EINVAL,
 *                                ENODEV, EBUSY, EPROTO, ...), TEXT one line
 *
 * A server that does not speak VERSION answers "err EPROTO ...".
 *
 * Verbs:
 *   version            ok 1 pid=PID umid=UMID devices=N
 *   stats              ok N, then N lines (one per device, vec0 first) of
 *                      KEY=VALUE words, then ".\n". Values are escaped
 *                      (csp_escape): '%', ' ', '=' and bytes outside
 *                      0x21..0x7e as %XX. Histograms are comma-separated
 *                      counts, NF_HIST_BUCKETS of them (hist.h).
 *   capture vecN dir=rx|tx|both snap=BYTES [bpf=HEX]
 *                      ok, then binary capture records (below) until the
 *                      client shuts down its sending side (or closes); the
 *                      server then sends what it still holds, an end record,
 *                      and closes. bpf: a classic BPF program (as libpcap's
 *                      pcap_compile makes for DLT_EN10MB), CSP_BPF_HEX_LEN
 *                      hex digits per instruction, at most NF_BPF_MAX_INSNS.
 *   attach vecN:transport=NAME,...   ok TEXT: hot-plugs a transport into
 *                      vecN (a spare or a detached device); the rest of the
 *                      line is the spec (a bpf= expression may hold spaces)
 *   detach vecN        ok TEXT: takes vecN's transport away (link down)
 *   query vecN         ok SPEC: the device's transport spec ("" if none)
 *
 * Capture records, host byte order (both ends run on one host):
 *
 *     0        4         8        12       16                24
 *     +--------+---------+--------+--------+-----------------+--------
 *     | type   | wirelen | caplen | dir    | ts_ns (u64)     | caplen
 *     +--------+---------+--------+--------+-----------------+ bytes
 *
 *   type 1 FRAME: dir 1 rx (host -> guest) / 2 tx (guest -> host), caplen
 *          bytes of the frame follow (caplen <= wirelen, <= snap)
 *   type 2 END:   caplen 16: u64 frames sent, u64 frames missed (the ring
 *          was full); nothing follows
 */
#ifndef NF_CSOCK_PROTO_H
#define NF_CSOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

#define CSP_MAGIC "umlnf-ctl"
#define CSP_VERSION 1
#define CSP_SOCK_NAME "control.sock"
#define CSP_TIMEOUT_MS 2000
#define CSP_BPF_HEX_LEN 16
/* The longest request: a capture with the largest filter. */
#define CSP_REQ_MAX (NF_BPF_MAX_INSNS * CSP_BPF_HEX_LEN + 256)
#define CSP_MAX_ARGS 64

enum csp_verb { CSP_VERSION_REQ, CSP_STATS, CSP_CAPTURE, CSP_ATTACH, CSP_DETACH, CSP_QUERY };

/* A parsed request; args point into the line it was parsed from. */
struct csp_req {
	enum csp_verb verb;
	unsigned version;
	unsigned nargs;
	const char *args[CSP_MAX_ARGS];
};

/* Parses a request line in place (buf[0..len), the '\n' included, is
 * split into words). Returns 0, or -EINVAL (not a well-formed request:
 * too long, no newline, bytes that are not printable ASCII, empty or
 * double spaces, unknown verb, wrong number of arguments) or -EPROTO
 * (another magic or version), with a one-line reason in err. */
int csp_req_parse(char *buf, size_t len, struct csp_req *req, char *err, size_t errlen);

/* Writes "umlnf-ctl 1 VERB ARGS\n" (verb_args: "stats", "detach vec2", ...)
 * into out. Returns its length, or -ENOSPC / -EINVAL (a byte that is not
 * printable ASCII, or not single spaces). */
int csp_req_format(const char *verb_args, char *out, size_t outlen);

/* Escapes a value for a KEY=VALUE word. Returns the length written
 * (out always NUL-terminated; truncated values are cut before an escape). */
size_t csp_escape(const char *in, char *out, size_t outlen);

/* Reads the next KEY=VALUE word of a body line at *p (advancing it),
 * unescaping the value. Returns 1 with key and val set, 0 at the end of the
 * line, -EINVAL for a malformed word (no '=', bad escape, too long). */
int csp_kv_next(const char **p, char *key, size_t keylen, char *val, size_t vallen);

/* Classic BPF programs as hex: code (4 digits), jt, jf (2 each), k (8). */
int csp_bpf_encode(const struct nf_bpf_insn *prog, unsigned n, char *out, size_t outlen);
/* Returns the number of instructions, or -EINVAL (not a multiple of 16
 * hex digits, non-hex, more than max). */
int csp_bpf_decode(const char *hex, struct nf_bpf_insn *out, unsigned max);

/* "dir=rx|tx|both" value -> CAP_DIR_* bits; 0 if unknown. */
unsigned csp_dir_parse(const char *s);

/* "vecN" -> N (0..63). Returns 0 or -EINVAL. */
int csp_dev_parse(const char *s, unsigned *index);

enum csp_rec_type { CSP_REC_FRAME = 1, CSP_REC_END = 2 };

struct csp_cap_hdr {
	uint32_t type;
	uint32_t wirelen;
	uint32_t caplen;
	uint32_t dir;
	uint64_t ts_ns;
};
_Static_assert(sizeof(struct csp_cap_hdr) == 24, "capture record header");

struct csp_cap_end {
	uint64_t frames;
	uint64_t missed;
};

/* Checks a record header from the server against the snap length asked
 * for. Returns 0 or -EPROTO. */
int csp_cap_check(const struct csp_cap_hdr *h, uint32_t snaplen);

/* errno <-> the names used as CODE ("EBUSY"); unknown names map to EIO. */
const char *csp_errname(int err);
int csp_errnum(const char *name);

#endif
