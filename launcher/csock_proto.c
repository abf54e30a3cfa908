/* The control socket protocol (see csock_proto.h): pure functions shared by
 * the server in uml-nf and its clients. */
#include "csock_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const struct {
	enum csp_verb verb;
	const char *name;
	unsigned min_args, max_args;
} verbs[] = {
	{ CSP_VERSION_REQ, "version", 0, 0 },
	{ CSP_STATS, "stats", 0, 0 },
	{ CSP_CAPTURE, "capture", 3, 4 },
	{ CSP_ATTACH, "attach", 1, CSP_MAX_ARGS }, /* the spec: a bpf= expression has spaces */
	{ CSP_DETACH, "detach", 1, 1 },
	{ CSP_QUERY, "query", 1, 1 },
};

int csp_req_parse(char *buf, size_t len, struct csp_req *req, char *err, size_t errlen)
{
	char *words[CSP_MAX_ARGS + 3];
	unsigned n = 0;

	memset(req, 0, sizeof(*req));
	if (len == 0 || len > CSP_REQ_MAX || buf[len - 1] != '\n') {
		snprintf(err, errlen, "a request is one line of at most %u bytes", CSP_REQ_MAX);
		return -EINVAL;
	}
	buf[len - 1] = '\0';
	/* Printable ASCII and single spaces only: nothing a terminal or a
	 * log line could be fooled by, and one way to split it. */
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch < 0x20 || ch > 0x7e) {
			snprintf(err, errlen,
				 "byte 0x%02x at offset %zu: requests are printable ASCII", ch, i);
			return -EINVAL;
		}
	}
	for (char *p = buf; *p;) {
		if (*p == ' ') {
			snprintf(err, errlen, "words must be separated by single spaces");
			return -EINVAL;
		}
		if (n == NF_ARRAY_SIZE(words)) {
			snprintf(err, errlen, "too many words");
			return -EINVAL;
		}
		words[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
		if (!*p) {
			snprintf(err, errlen, "trailing space");
			return -EINVAL;
		}
	}
	if (n < 3) {
		snprintf(err, errlen, "expected \"%s VERSION VERB ...\"", CSP_MAGIC);
		return n && strcmp(words[0], CSP_MAGIC) ? -EPROTO : -EINVAL;
	}
	if (strcmp(words[0], CSP_MAGIC) != 0) {
		snprintf(err, errlen, "not a uml-nf control request");
		return -EPROTO;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(words[1], &end, 10);
	if (errno || *end || end == words[1] || v != CSP_VERSION) {
		snprintf(err, errlen,
			 "protocol version %.16s not supported (this uml-nf speaks %d)", words[1],
			 CSP_VERSION);
		return -EPROTO;
	}
	req->version = (unsigned)v;
	for (size_t i = 0; i < NF_ARRAY_SIZE(verbs); i++) {
		if (strcmp(words[2], verbs[i].name) != 0)
			continue;
		unsigned nargs = n - 3;
		if (nargs < verbs[i].min_args || nargs > verbs[i].max_args) {
			snprintf(err, errlen, "%s: expected %u to %u arguments, got %u",
				 verbs[i].name, verbs[i].min_args, verbs[i].max_args, nargs);
			return -EINVAL;
		}
		req->verb = verbs[i].verb;
		req->nargs = nargs;
		for (unsigned a = 0; a < nargs; a++)
			req->args[a] = words[3 + a];
		return 0;
	}
	snprintf(err, errlen, "unknown request \"%.32s\"", words[2]);
	return -EINVAL;
}

int csp_req_format(const char *verb_args, char *out, size_t outlen)
{
	size_t n = strlen(verb_args);
	if (n == 0 || verb_args[0] == ' ' || verb_args[n - 1] == ' ' || strstr(verb_args, "  "))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)verb_args[i] < 0x20 || (unsigned char)verb_args[i] > 0x7e)
			return -EINVAL;
	int w = snprintf(out, outlen, "%s %d %s\n", CSP_MAGIC, CSP_VERSION, verb_args);
	if (w < 0 || (size_t)w >= outlen || (size_t)w > CSP_REQ_MAX)
		return -ENOSPC;
	return w;
}

static bool needs_escape(unsigned char ch)
{
	return ch <= 0x20 || ch > 0x7e || ch == '%' || ch == '=';
}

size_t csp_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (outlen == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		size_t need = needs_escape(*p) ? 3 : 1;
		if (o + need >= outlen)
			break;
		if (need == 3) {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int csp_kv_next(const char **pp, char *key, size_t keylen, char *val, size_t vallen)
{
	const char *p = *pp;
	while (*p == ' ')
		p++;
	if (*p == '\0' || *p == '\n') {
		*pp = p;
		return 0;
	}
	size_t k = 0, v = 0;
	while (*p && *p != '=' && *p != ' ' && *p != '\n') {
		if (k + 1 >= keylen)
			return -EINVAL;
		key[k++] = *p++;
	}
	if (*p != '=' || k == 0)
		return -EINVAL;
	key[k] = '\0';
	p++;
	while (*p && *p != ' ' && *p != '\n') {
		char c = *p++;
		if (c == '%') {
			int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
			if (lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (v + 1 >= vallen)
			return -EINVAL;
		val[v++] = c;
	}
	val[v] = '\0';
	*pp = p;
	return 1;
}

int csp_bpf_encode(const struct nf_bpf_insn *prog, unsigned n, char *out, size_t outlen)
{
	if ((size_t)n * CSP_BPF_HEX_LEN + 1 > outlen)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + (size_t)i * CSP_BPF_HEX_LEN, CSP_BPF_HEX_LEN + 1, "%04x%02x%02x%08x",
			 prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
	out[(size_t)n * CSP_BPF_HEX_LEN] = '\0';
	return (int)(n * CSP_BPF_HEX_LEN);
}

static int hex_field(const char *s, unsigned digits, uint32_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < digits; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -EINVAL;
		*v = *v << 4 | (uint32_t)h;
	}
	return 0;
}

int csp_bpf_decode(const char *hex, struct nf_bpf_insn *out, unsigned max)
{
	size_t len = strlen(hex);
	if (len == 0 || len % CSP_BPF_HEX_LEN || len / CSP_BPF_HEX_LEN > max)
		return -EINVAL;
	unsigned n = (unsigned)(len / CSP_BPF_HEX_LEN);
	for (unsigned i = 0; i < n; i++) {
		const char *s = hex + (size_t)i * CSP_BPF_HEX_LEN;
		uint32_t code, jt, jf, k;
		if (hex_field(s, 4, &code) || hex_field(s + 4, 2, &jt) ||
		    hex_field(s + 6, 2, &jf) || hex_field(s + 8, 8, &k))
			return -EINVAL;
		out[i] = (struct nf_bpf_insn){(uint16_t)code, (uint8_t)jt, (uint8_t)jf, k};
	}
	return (int)n;
}

unsigned csp_dir_parse(const char *s)
{
	if (strcmp(s, "rx") == 0)
		return CAP_DIR_RX;
	if (strcmp(s, "tx") == 0)
		return CAP_DIR_TX;
	if (strcmp(s, "both") == 0)
		return CAP_DIR_RX | CAP_DIR_TX;
	return 0;
}

int csp_dev_parse(const char *s, unsigned *index)
{
	if (strncmp(s, "vec", 3) != 0 || s[3] < '0' || s[3] > '9')
		return -EINVAL;
	if (s[3] == '0' && s[4] != '\0')
		return -EINVAL; /* vec01 */
	unsigned v = 0;
	for (const char *p = s + 3; *p; p++) {
		if (*p < '0' || *p > '9' || v > 6)
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 63)
		return -EINVAL;
	*index = v;
	return 0;
}

int csp_cap_check(const struct csp_cap_hdr *h, uint32_t snaplen)
{
	switch (h->type) {
	case CSP_REC_FRAME:
		if ((h->dir != CAP_DIR_RX && h->dir != CAP_DIR_TX) || h->caplen > h->wirelen ||
		    h->caplen > snaplen)
			return -EPROTO;
		return 0;
	case CSP_REC_END:
		return h->caplen == sizeof(struct csp_cap_end) ? 0 : -EPROTO;
	default:
		return -EPROTO;
	}
}

static const struct {
	int err;
	const char *name;
} errnames[] = {
    {EINVAL, "EINVAL"}, {ENODEV, "ENODEV"},	  {EBUSY, "EBUSY"},
    {EPROTO, "EPROTO"}, {ENOMEM, "ENOMEM"},	  {EPERM, "EPERM"},
    {ENOENT, "ENOENT"}, {EEXIST, "EEXIST"},	  {ENOSPC, "ENOSPC"},
    {EIO, "EIO"},	{EAGAIN, "EAGAIN"},	  {EOPNOTSUPP, "EOPNOTSUPP"},
    {EACCES, "EACCES"}, {ENETDOWN, "ENETDOWN"},	  {EMFILE, "EMFILE"},
    {ENXIO, "ENXIO"},	{ETIMEDOUT, "ETIMEDOUT"},
};

const char *csp_errname(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < NF_ARRAY_SIZE(errnames); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	return "EIO";
}

int csp_errnum(const char *name)
{
	for (size_t i = 0; i < NF_ARRAY_SIZE(errnames); i++)
		if (strcmp(errnames[i].name, name) == 0)
			return errnames[i].err;
	return EIO;
}
