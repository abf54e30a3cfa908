/* libFuzzer target: the control socket's request parser and the reply
 * parsers its clients use (KEY=VALUE words, BPF hex) must never crash or
 * read past what they were given, whatever a peer sends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csock_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char err[256];
	struct csp_req r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* As the server gets it: raw bytes, not NUL-terminated. */
	char *raw = malloc(size ? size : 1);
	if (raw) {
		memcpy(raw, data, size);
		int rc = csp_req_parse(raw, size, &r, err, sizeof(err));
		if (rc == 0) {
			if (r.nargs > CSP_MAX_ARGS)
				abort();
			for (unsigned i = 0; i < r.nargs; i++)
				if (!r.args[i][0] || strchr(r.args[i], ' '))
					abort();
		} else if (!err[0]) {
			abort();
		}
		free(raw);
	}
	/* As a client gets a stats line. */
	const char *p = buf;
	char key[32], val[128];
	for (int i = 0; i < 200 && csp_kv_next(&p, key, sizeof(key), val, sizeof(val)) == 1; i++)
		if (strlen(key) >= sizeof(key) || strlen(val) >= sizeof(val))
			abort();
	struct nf_bpf_insn prog[64];
	int n = csp_bpf_decode(buf, prog, 64);
	if (n > 64)
		abort();
	if (n > 0) {
		char hex[64 * CSP_BPF_HEX_LEN + 1];
		if (csp_bpf_encode(prog, (unsigned)n, hex, sizeof(hex)) != n * CSP_BPF_HEX_LEN ||
		    strcasecmp(hex, buf) != 0)
			abort(); /* decode and encode are inverses */
	}
	unsigned idx;
	if (csp_dev_parse(buf, &idx) == 0 && idx > 63)
		abort();
	free(buf);
	return 0;
}
