#include "bpfflash.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A decimal number of at most 5 digits ending at a space or the end. */
static const char *number(const char *p, unsigned *out)
{
	unsigned v = 0, n = 0;
	while (isdigit((unsigned char)*p) && n < 6) {
		v = v * 10 + (unsigned)(*p++ - '0');
		n++;
	}
	if (n == 0 || n == 6 || (*p && *p != ' '))
		return NULL;
	*out = v;
	return p;
}

int bx_parse(const char *line, struct bx_req *r, char *err, size_t errlen)
{
	if (strncmp(line, "bpfflash ", 9) != 0)
		return 0;
	const char *p = line + 9;
	if (strncmp(p, "eth", 3) != 0 || !(p = number(p + 3, &r->eth)) || *p != ' ') {
		snprintf(err, errlen, "expected \"bpfflash ethK data|commit|clear ...\"");
		return -EINVAL;
	}
	p++;
	if (strncmp(p, "data ", 5) == 0) {
		r->op = BX_DATA;
		r->hex = p + 5;
		r->hexlen = strlen(r->hex);
		if (r->hexlen == 0 || r->hexlen % 2) {
			snprintf(err, errlen, "data: an even number of hex digits expected");
			return -EINVAL;
		}
		for (size_t i = 0; i < r->hexlen; i++)
			if (hexval(r->hex[i]) < 0) {
				snprintf(err, errlen, "data: '%c' is not a hex digit", r->hex[i]);
				return -EINVAL;
			}
		return 1;
	}
	if (strncmp(p, "commit ", 7) == 0) {
		r->op = BX_COMMIT;
		const char *e = number(p + 7, &r->count);
		if (!e || *e) {
			snprintf(err, errlen, "commit: an instruction count expected");
			return -EINVAL;
		}
		return 1;
	}
	if (strcmp(p, "clear") == 0) {
		r->op = BX_CLEAR;
		return 1;
	}
	snprintf(err, errlen, "unknown bpfflash request \"%.20s\"", p);
	return -EINVAL;
}

int bx_append(struct bx_buf *b, const struct bx_req *r)
{
	size_t n = r->hexlen / 2;
	if (b->overflow || n > sizeof(b->bytes) - b->len) {
		b->overflow = true;
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		b->bytes[b->len + i] =
			(unsigned char)(hexval(r->hex[2 * i]) << 4 | hexval(r->hex[2 * i + 1]));
	b->len += n;
	return 0;
}

int bx_commit(struct bx_buf *b, unsigned count, struct bf_prog *out, char *err, size_t errlen)
{
	int rc;
	if (b->overflow) {
		snprintf(err, errlen, "more than %u instructions sent", BF_MAX_INSNS);
		rc = -EINVAL;
	} else if ((size_t)count * 8 != b->len) {
		snprintf(err, errlen, "commit of %u instructions, but %zu bytes arrived", count, b->len);
		rc = -EINVAL;
	} else {
		rc = bf_from_bytes(b->bytes, b->len, out, err, errlen);
	}
	b->len = 0;
	b->overflow = false;
	return rc;
}
