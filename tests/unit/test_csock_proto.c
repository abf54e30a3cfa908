/* The control socket protocol (launcher/csock_proto.c): request lines as a
 * hostile or broken client would send them, value escaping, BPF hex, and
 * capture record checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csock_proto.h"

static int parse(const char *text, struct csp_req *r, char *buf, size_t buflen, char *err)
{
	size_t n = strlen(text);
	assert_true(n < buflen);
	memcpy(buf, text, n);
	return csp_req_parse(buf, n, r, err, 256);
}

static int ctl_parse_len(char *line, struct csp_req *r, char *err)
{
	return csp_req_parse(line, strlen(line), r, err, 256);
}

static void test_req_valid(void **state)
{
	(void)state;
	struct csp_req r;
	char buf[512], err[256] = "";

	assert_int_equal(parse("umlnf-ctl 1 stats\n", &r, buf, sizeof(buf), err), 0);
	assert_int_equal(r.verb, CSP_STATS);
	assert_int_equal(r.version, 1);
	assert_int_equal(r.nargs, 0);

	assert_int_equal(parse("umlnf-ctl 1 capture vec3 dir=rx snap=1500 bpf=0028000000000000\n",
			       &r, buf, sizeof(buf), err),
			 0);
	assert_int_equal(r.verb, CSP_CAPTURE);
	assert_int_equal(r.nargs, 4);
	assert_string_equal(r.args[0], "vec3");
	assert_string_equal(r.args[3], "bpf=0028000000000000");

	assert_int_equal(parse("umlnf-ctl 1 attach vec2:transport=raw,ifname=p-veth2\n", &r, buf,
			       sizeof(buf), err),
			 0);
	assert_int_equal(r.verb, CSP_ATTACH);
	assert_string_equal(r.args[0], "vec2:transport=raw,ifname=p-veth2");
	assert_int_equal(parse("umlnf-ctl 1 detach vec2\n", &r, buf, sizeof(buf), err), 0);
	assert_int_equal(r.verb, CSP_DETACH);
	assert_int_equal(parse("umlnf-ctl 1 version\n", &r, buf, sizeof(buf), err), 0);
	assert_int_equal(r.verb, CSP_VERSION_REQ);
}

static void test_req_refused(void **state)
{
	(void)state;
	struct csp_req r;
	char buf[512], err[256];
	static const struct {
		const char *line;
		int rc;
		const char *msg;
	} cases[] = {
	    {"umlnf-ctl 1 stats", -EINVAL, "one line"},		/* no newline */
	    {"\n", -EINVAL, "expected"},			/* empty */
	    {"umlnf-ctl 1\n", -EINVAL, "expected"},		/* no verb */
	    {"umlnf-ctl  1 stats\n", -EINVAL, "single spaces"}, /* double space */
	    {" umlnf-ctl 1 stats\n", -EINVAL, "single spaces"}, /* leading space */
	    {"umlnf-ctl 1 stats \n", -EINVAL, "trailing space"},
	    {"umlnf-ctl 1 st\tats\n", -EINVAL, "printable"},
	    {"umlnf-ctl 1 stats\r\n", -EINVAL, "printable"},
	    {"umlnf-ctl 1 st\x80s\n", -EINVAL, "printable"},
	    {"umlnf-ctl 2 stats\n", -EPROTO, "version 2 not supported"},
	    {"umlnf-ctl 01x stats\n", -EPROTO, "not supported"},
	    {"GET / HTTP/1.1\n", -EPROTO, "not a uml-nf"},
	    {"umlnf-ctl 1 reboot\n", -EINVAL, "unknown request"},
	    {"umlnf-ctl 1 stats vec0\n", -EINVAL, "arguments"},
	    {"umlnf-ctl 1 attach\n", -EINVAL, "arguments"},
	    {"umlnf-ctl 1 detach vec1 vec2\n", -EINVAL, "arguments"},
	    {"umlnf-ctl 1 capture vec0\n", -EINVAL, "arguments"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		int rc = parse(cases[i].line, &r, buf, sizeof(buf), err);
		if (rc != cases[i].rc || !strstr(err, cases[i].msg))
			fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
	}
	/* More words than any request has. */
	char many[512] = "umlnf-ctl 1 attach";
	for (int i = 0; i < CSP_MAX_ARGS + 1; i++)
		strcat(many, " w");
	strcat(many, "\n");
	assert_int_equal(ctl_parse_len(many, &r, err), -EINVAL);
	assert_non_null(strstr(err, "too many"));
	/* attach takes the rest of the line: a bpf= expression has spaces. */
	assert_int_equal(parse("umlnf-ctl 1 attach vec2:transport=raw,ifname=x,bpf=tcp port 22\n", &r,
			       buf, sizeof(buf), err),
			 0);
	assert_int_equal(r.nargs, 3);
	assert_string_equal(r.args[2], "22");
	/* A NUL inside the line. */
	memcpy(buf, "umlnf-ctl 1 st\0ts\n", 18);
	assert_int_equal(csp_req_parse(buf, 18, &r, err, sizeof(err)), -EINVAL);
	/* Longer than the limit. */
	static char big[CSP_REQ_MAX + 8];
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(csp_req_parse(big, sizeof(big), &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(csp_req_parse(big, 0, &r, err, sizeof(err)), -EINVAL);
}

static void test_req_format(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(csp_req_format("detach vec2", out, sizeof(out)), 24);
	assert_string_equal(out, "umlnf-ctl 1 detach vec2\n");
	assert_int_equal(csp_req_format("detach  vec2", out, sizeof(out)), -EINVAL);
	assert_int_equal(csp_req_format("detach vec2 ", out, sizeof(out)), -EINVAL);
	assert_int_equal(csp_req_format("a\nb", out, sizeof(out)), -EINVAL);
	assert_int_equal(csp_req_format("", out, sizeof(out)), -EINVAL);
	assert_int_equal(
	    csp_req_format("attach vec2:transport=raw,ifname=a-very-long-name", out, 20), -ENOSPC);
	/* What it formats, the parser takes back. */
	struct csp_req r;
	char err[128];
	int n = csp_req_format("query vec7", out, sizeof(out));
	assert_int_equal(csp_req_parse(out, (size_t)n, &r, err, sizeof(err)), 0);
	assert_int_equal(r.verb, CSP_QUERY);
}

static void test_escape_roundtrip(void **state)
{
	(void)state;
	char esc[256], key[32], val[256];
	const char *p;

	csp_escape("guest memory file shrank (SIGBUS) 100%=bad\x01", esc, sizeof(esc));
	assert_string_equal(esc, "guest%20memory%20file%20shrank%20(SIGBUS)%20100%25%3Dbad%01");
	char line[300];
	snprintf(line, sizeof(line), "dev=vec0 broken=%s rx_packets=12", esc);
	p = line;
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), 1);
	assert_string_equal(key, "dev");
	assert_string_equal(val, "vec0");
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), 1);
	assert_string_equal(key, "broken");
	assert_string_equal(val, "guest memory file shrank (SIGBUS) 100%=bad\x01");
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), 1);
	assert_string_equal(val, "12");
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), 0);

	/* An empty value is fine; a word without '=' or a bad escape is not. */
	p = "a= b";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), 1);
	assert_string_equal(val, "");
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), -EINVAL);
	p = "a=%4";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), -EINVAL);
	p = "a=%zz";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), -EINVAL);
	p = "=x";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), -EINVAL);
	/* Values and keys longer than the caller's buffers are refused. */
	p = "k=0123456789";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, 5), -EINVAL);
	p = "averyveryverylongkeyname_more_than_32_bytes=1";
	assert_int_equal(csp_kv_next(&p, key, sizeof(key), val, sizeof(val)), -EINVAL);
	/* Truncation never cuts an escape in half. */
	csp_escape("a b", esc, 4);
	assert_string_equal(esc, "a");
}

static void test_bpf_hex(void **state)
{
	(void)state;
	const struct nf_bpf_insn prog[3] = {
	    {0x28, 0, 0, 12}, {0x15, 0, 1, 0x800}, {0x6, 0, 0, 0xffffffffu}};
	struct nf_bpf_insn back[4];
	char hex[64];

	assert_int_equal(csp_bpf_encode(prog, 3, hex, sizeof(hex)), 48);
	assert_string_equal(hex, "002800000000000c001500010000080000060000ffffffff");
	assert_int_equal(csp_bpf_decode(hex, back, 4), 3);
	assert_memory_equal(prog, back, sizeof(prog));
	assert_int_equal(csp_bpf_encode(prog, 3, hex, 48), -ENOSPC);
	assert_int_equal(csp_bpf_decode("", back, 4), -EINVAL);
	assert_int_equal(csp_bpf_decode("0028000000000", back, 4), -EINVAL);	/* short */
	assert_int_equal(csp_bpf_decode("002800000000000g", back, 4), -EINVAL); /* non-hex */
	assert_int_equal(csp_bpf_decode("002800000000000c002800000000000c", back, 1), -EINVAL);
}

static void test_small_parsers(void **state)
{
	(void)state;
	unsigned i = 99;
	assert_int_equal(csp_dev_parse("vec0", &i), 0);
	assert_int_equal(i, 0);
	assert_int_equal(csp_dev_parse("vec63", &i), 0);
	assert_int_equal(i, 63);
	const char *bad[] = {"vec64", "vec", "vec01", "vec-1", "eth0", "vec1x", "vec99999999999"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(csp_dev_parse(bad[k], &i), -EINVAL);
	assert_int_equal(csp_dir_parse("rx"), CAP_DIR_RX);
	assert_int_equal(csp_dir_parse("both"), CAP_DIR_RX | CAP_DIR_TX);
	assert_int_equal(csp_dir_parse("in"), 0);
	assert_string_equal(csp_errname(-EBUSY), "EBUSY");
	assert_int_equal(csp_errnum("ENODEV"), ENODEV);
	assert_int_equal(csp_errnum("EWHATEVER"), EIO);
}

static void test_cap_check(void **state)
{
	(void)state;
	struct csp_cap_hdr h = {CSP_REC_FRAME, 1514, 1514, CAP_DIR_TX, 1};
	assert_int_equal(csp_cap_check(&h, 65535), 0);
	assert_int_equal(csp_cap_check(&h, 1000), -EPROTO); /* more than the snap length */
	h.caplen = 1515;
	assert_int_equal(csp_cap_check(&h, 65535), -EPROTO); /* more than the frame */
	h.caplen = 60;
	h.dir = 3;
	assert_int_equal(csp_cap_check(&h, 65535), -EPROTO);
	struct csp_cap_hdr e = {CSP_REC_END, 0, sizeof(struct csp_cap_end), 0, 0};
	assert_int_equal(csp_cap_check(&e, 64), 0);
	e.caplen = 8;
	assert_int_equal(csp_cap_check(&e, 64), -EPROTO);
	e.type = 7;
	assert_int_equal(csp_cap_check(&e, 64), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_req_valid),  cmocka_unit_test(test_req_refused),
	    cmocka_unit_test(test_req_format), cmocka_unit_test(test_escape_roundtrip),
	    cmocka_unit_test(test_bpf_hex),    cmocka_unit_test(test_small_parsers),
	    cmocka_unit_test(test_cap_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
