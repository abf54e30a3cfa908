/* The vecN:transport=NAME,k=v,... parser (transports/options.c) with the
 * real registry and the raw transport's option table. Every refusal is
 * checked by its exact text: the message is the user interface. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "options.h"
#include "transport.h"

/* ---- valid lines ------------------------------------------------------------ */

static void test_defaults(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[256] = "";

	assert_int_equal(nf_opt_parse("vec0:transport=raw,ifname=veth0", &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.index, 0);
	assert_non_null(cfg.transport);
	assert_ptr_equal(cfg.transport, nf_transport_find("raw"));
	assert_int_equal(cfg.depth, 64);
	assert_int_equal(cfg.mtu, 1500);
	assert_false(cfg.gro);
	assert_true(cfg.vec);
	assert_false(cfg.mrg);
	assert_int_equal(cfg.coalesce_us, 0);
	assert_int_equal(cfg.headroom, NF_DEFAULT_HEADROOM);
	assert_false(cfg.mac_set);

	const struct nf_optval *ifname = nf_devcfg_topt(&cfg, "ifname");
	assert_non_null(ifname);
	assert_true(ifname->set);
	assert_string_equal(ifname->str, "veth0");
	assert_null(nf_devcfg_topt(&cfg, "nosuch"));
	nf_devcfg_release(&cfg);
	assert_null(cfg.spec);
}

static void test_explicit_values(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[256] = "";

	/* transport= need not come first; mixed-case hex in the MAC. */
	assert_int_equal(nf_opt_parse("vec63:depth=1024,gro=1,mtu=9000,vec=0,mrg=1,coalesce=250,ifname=p-veth1,"
				      "transport=raw,mac=02:Ab:cD:00:10:fe",
				      &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.index, 63);
	assert_int_equal(cfg.depth, 1024);
	assert_true(cfg.gro);
	assert_int_equal(cfg.mtu, 9000);
	assert_false(cfg.vec);
	assert_true(cfg.mrg);
	assert_int_equal(cfg.coalesce_us, 250);
	assert_true(cfg.mac_set);
	const uint8_t mac[6] = { 0x02, 0xab, 0xcd, 0x00, 0x10, 0xfe };
	assert_memory_equal(cfg.mac, mac, 6);
	assert_string_equal(nf_devcfg_topt(&cfg, "ifname")->str, "p-veth1");
	nf_devcfg_release(&cfg);

	/* Range ends are inclusive; a 15-character ifname is the longest. */
	assert_int_equal(nf_opt_parse("vec7:transport=raw,depth=1,mtu=576,gro=0,vec=1,"
				      "ifname=abcdefghijklmno",
				      &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.index, 7);
	assert_int_equal(cfg.depth, 1);
	assert_int_equal(cfg.mtu, 576);
	assert_false(cfg.gro);
	assert_true(cfg.vec);
	assert_string_equal(nf_devcfg_topt(&cfg, "ifname")->str, "abcdefghijklmno");
	nf_devcfg_release(&cfg);

	assert_int_equal(nf_opt_parse("vec10:transport=raw,ifname=x,mtu=65534", &cfg, err,
				      sizeof(err)),
			 0);
	assert_int_equal(cfg.index, 10);
	assert_int_equal(cfg.mtu, 65534);
	nf_devcfg_release(&cfg);
}

/* The parser splits its own copy; the caller's string is never touched. */
static void test_input_untouched(void **state)
{
	(void)state;
	char line[] = "vec2:transport=raw,ifname=eth0,gro=1";
	char copy[sizeof(line)];
	struct nf_devcfg cfg;
	char err[256];

	memcpy(copy, line, sizeof(line));
	assert_int_equal(nf_opt_parse(line, &cfg, err, sizeof(err)), 0);
	assert_memory_equal(line, copy, sizeof(line));
	assert_ptr_not_equal(cfg.spec, line);
	nf_devcfg_release(&cfg);
}

/* ---- refusals ---------------------------------------------------------------- */

struct bad_case {
	const char *arg;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "vec1:transport=raw,ifname=v0,gro=yes", "vec1: gro: expected 0 or 1, got \"yes\"" },
	{ "vec1:transport=raw,ifname=v0,gro=10", "vec1: gro: expected 0 or 1, got \"10\"" },
	{ "vec1:transport=raw,ifname=v0,depth=0", "vec1: depth: 0 is out of range 1..1024" },
	{ "vec1:transport=raw,ifname=v0,depth=1025", "vec1: depth: 1025 is out of range 1..1024" },
	{ "vec1:transport=raw,ifname=v0,depth=abc", "vec1: depth: expected a number, got \"abc\"" },
	{ "vec1:transport=raw,ifname=v0,depth=-1", "vec1: depth: expected a number, got \"-1\"" },
	{ "vec1:transport=raw,ifname=v0,depth=12k", "vec1: depth: expected a number, got \"12k\"" },
	{ "vec1:transport=raw,ifname=v0,depth=99999999999999999999",
	  "vec1: depth: expected a number, got \"99999999999999999999\"" },
	{ "vec1:transport=raw,ifname=v0,mtu=100", "vec1: mtu: 100 is out of range 576..65534" },
	{ "vec1:transport=raw,ifname=v0,mac=01:00:00:00:00:01",
	  "vec1: mac: 01:00:00:00:00:01 is a multicast address" },
	{ "vec1:transport=raw,ifname=v0,mac=00:00:00:00:00:00",
	  "vec1: mac: the all-zero address is not usable" },
	{ "vec1:transport=raw,ifname=v0,mac=zz",
	  "vec1: mac: expected six hex octets like 02:00:00:00:00:01, got \"zz\"" },
	{ "vec1:transport=raw,ifname=v0,mac=02:00:00:00:00",
	  "vec1: mac: expected six hex octets like 02:00:00:00:00:01, got \"02:00:00:00:00\"" },
	{ "vec1:transport=raw,ifname=v0,mac=02:00:00:00:00:01:02",
	  "vec1: mac: expected six hex octets like 02:00:00:00:00:01, got "
	  "\"02:00:00:00:00:01:02\"" },
	{ "vec1:transport=raw,ifname=v0,mac=2:00:00:00:00:01",
	  "vec1: mac: expected six hex octets like 02:00:00:00:00:01, got \"2:00:00:00:00:01\"" },
	{ "vec1:transport=raw,ifname=v0,colour=blue",
	  "vec1: colour: unknown option for transport raw (known: depth, mac, gro, mtu, headroom, vec, mrg, coalesce, "
	  "bpffile, bpf, bpfflash, ifname, ring, ifup)" },
	{ "vec1:transport=tap,colour=blue",
	  "vec1: colour: unknown option for transport tap (known: depth, mac, gro, mtu, headroom, vec, mrg, coalesce, "
	  "bpffile, bpf, bpfflash, ifname, ifup)" },
	{ "vec1:transport=raw,ifname=v0,gro=1,gro=0", "vec1: gro: given twice" },
	{ "vec1:transport=raw,ifname=v0,ifname=v1", "vec1: ifname: given twice" },
	{ "vec1:ifname=v0,gro=1", "vec1: transport: missing (e.g. transport=raw)" },
	{ "vec1:", "vec1: transport: missing (e.g. transport=raw)" },
	{ "vec1:transport=raw,transport=raw,ifname=v0", "vec1: transport: given twice" },
	{ "vec1:transport=,ifname=v0", "vec1: transport: empty value" },
	{ "vec1:transport=wibble,ifname=v0",
	  "vec1: transport: unknown transport \"wibble\" (available: raw, tap, hybrid, bess, fd, gre, l2tpv3)" },
	/* Names are matched exactly, never by prefix. */
	{ "vec1:transport=ra,ifname=v0", "vec1: transport: unknown transport \"ra\" (available: raw, tap, hybrid, bess, fd, gre, l2tpv3)" },
	{ "vec1:transport=rawx,ifname=v0",
	  "vec1: transport: unknown transport \"rawx\" (available: raw, tap, hybrid, bess, fd, gre, l2tpv3)" },
	{ "vec1:transport=l2tpv3", "vec1: src: required by transport l2tpv3" },
	{ "vec1:transport=tapx", "vec1: transport: unknown transport \"tapx\" (available: raw, tap, hybrid, bess, fd, gre, l2tpv3)" },
	{ "vec1:transport=hybrid,ifname=tap0,ifup=", "vec1: ifup: empty value" },
	{ "vec1:transport=tap,ifname=tap0/x", "vec1: ifname: \"tap0/x\" is not a valid interface name" },
	{ "vec1:transport=tap,ifup=a,ifup=b", "vec1: ifup: given twice" },
	{ "vec1:transport=raw", "vec1: ifname: required by transport raw" },
	{ "vec1:transport=raw,gro=1", "vec1: ifname: required by transport raw" },
	{ "vec1:transport=raw,ifname=abcdefghijklmnop",
	  "vec1: ifname: \"abcdefghijklmnop\" is longer than 15 characters" },
	{ "vec1:transport=raw,ifname=a/b", "vec1: ifname: \"a/b\" is not a valid interface name" },
	{ "vec1:transport=raw,ifname=a:b", "vec1: ifname: \"a:b\" is not a valid interface name" },
	{ "vec1:transport=raw,ifname=a b", "vec1: ifname: \"a b\" is not a valid interface name" },
	{ "vec1:transport=raw,ifname=v0,gro", "vec1: gro: expected gro=VALUE" },
	{ "vec1:transport=raw,ifname=v0,mtu=", "vec1: mtu: empty value" },
	{ "vec1:transport=raw,ifname=", "vec1: ifname: empty value" },
	{ "vec1:transport=raw,,ifname=v0", "vec1: empty option (stray ',')" },
	{ "vec1:transport=raw,ifname=v0,", "vec1: empty option (stray ',')" },
	{ "vec1:,transport=raw,ifname=v0", "vec1: empty option (stray ',')" },
	{ "vec1:transport=raw,ifname=v0,gro=1=0", "vec1: gro: value may not contain '='" },
	{ "vec1:transport=raw,ifname=v0,headroom=257",
	  "vec1: headroom: 257 is out of range 0..256" },
	{ "vec1:transport=raw,ifname=v0,bpffile=/f,bpf=icmp",
	  "vec1: bpf: give bpffile= or bpf=, not both" },
	{ "vec1:transport=raw,ifname=v0,bpfflash=yes", "vec1: bpfflash: expected 0 or 1, got \"yes\"" },
	{ "vec1:transport=raw,ifname=v0,bpf=", "vec1: bpf: empty value" },
	/* After bpf= everything is the expression: ifname is not seen. */
	{ "vec1:transport=raw,bpf=icmp,ifname=v0", "vec1: ifname: required by transport raw" },
	{ "vec01:transport=raw,ifname=v0",
	  "vec01: device number must be 0..63 written in decimal" },
	{ "vec00:transport=raw,ifname=v0",
	  "vec00: device number must be 0..63 written in decimal" },
	{ "vec64:transport=raw,ifname=v0",
	  "vec64: device number must be 0..63 written in decimal" },
	{ "vec99999999999999999999999:transport=raw,ifname=v0",
	  "vec99999999999999999999999: device number must be 0..63 written in decimal" },
	{ "eth0=tuntap,,,", "\"eth0=tuntap,,,\": expected vecN:transport=NAME,..." },
	{ "vec:transport=raw", "\"vec:transport=raw\": expected vecN:transport=NAME,..." },
};

static void test_refusals(void **state)
{
	(void)state;
	unsigned failures = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct nf_devcfg cfg;
		char err[512] = "";

		memset(&cfg, 0xa5, sizeof(cfg));
		int rc = nf_opt_parse(c->arg, &cfg, err, sizeof(err));
		/* A refused line leaves nothing to free. */
		if (rc != -EINVAL || strcmp(err, c->msg) != 0 || cfg.spec != NULL) {
			print_error("%s\n  want: %d \"%s\"\n  got:  %d \"%s\"%s\n", c->arg, -EINVAL,
				    c->msg, rc, err, cfg.spec ? " (spec not freed)" : "");
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* bpf= takes the rest of the spec, commas and '=' included. */
static void test_bpf_rest(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[256] = "";
	assert_int_equal(nf_opt_parse("vec2:transport=raw,ifname=v0,bpfflash=1,"
				      "bpf=ip[2:2] = 40, or transport=x", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.bpf_expr, "ip[2:2] = 40, or transport=x");
	assert_null(cfg.bpffile);
	assert_true(cfg.bpfflash);
	assert_string_equal(cfg.transport->name, "raw");
	nf_devcfg_release(&cfg);
	assert_int_equal(nf_opt_parse("vec2:transport=raw,bpffile=/x/f.bpf,ifname=v0", &cfg, err,
				      sizeof(err)), 0);
	assert_string_equal(cfg.bpffile, "/x/f.bpf");
	assert_false(cfg.bpfflash);
	nf_devcfg_release(&cfg);
}

/* A short error buffer truncates but stays a terminated string. */
static void test_short_error_buffer(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[12];

	memset(err, 'x', sizeof(err));
	assert_int_equal(nf_opt_parse("vec1:transport=raw,ifname=v0,gro=yes", &cfg, err,
				      sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "vec1: gro: ");
}

static void test_is_device(void **state)
{
	(void)state;
	assert_true(nf_opt_is_device("vec0:"));
	assert_true(nf_opt_is_device("vec12:x"));
	assert_true(nf_opt_is_device("vec0:transport=raw"));
	/* Syntactically ours; the number is checked by nf_opt_parse. */
	assert_true(nf_opt_is_device("vec01:"));
	assert_true(nf_opt_is_device("vec64:"));
	assert_false(nf_opt_is_device("vec:"));
	assert_false(nf_opt_is_device("vecx:"));
	assert_false(nf_opt_is_device("vec1x:"));
	assert_false(nf_opt_is_device("mem=256M"));
	assert_false(nf_opt_is_device("vec0"));
	assert_false(nf_opt_is_device("vec"));
	assert_false(nf_opt_is_device(""));
	assert_false(nf_opt_is_device("Vec0:"));
	assert_false(nf_opt_is_device(" vec0:"));
	assert_false(nf_opt_is_device("eth0=vec0:"));
}

static void test_registry(void **state)
{
	(void)state;
	assert_true(nf_ntransports >= 1);
	const struct nf_transport *raw = nf_transport_find("raw");
	assert_non_null(raw);
	assert_string_equal(raw->name, "raw");
	assert_null(nf_transport_find("RAW"));
	assert_null(nf_transport_find("ra"));
	assert_null(nf_transport_find(""));
	assert_null(nf_transport_find("ta"));
	assert_null(nf_transport_find("gretap"));
	for (unsigned i = 0; i < nf_ntransports; i++)
		assert_ptr_equal(nf_transport_find(nf_transports[i]->name), nf_transports[i]);
	/* raw's table: ifname, required; ring; ifup. */
	assert_int_equal(raw->nopts, 3);
	assert_string_equal(raw->opts[0].name, "ifname");
	assert_true(raw->opts[0].required);
	assert_int_equal(raw->opts[0].type, NF_OPT_IFNAME);
	assert_string_equal(raw->opts[1].name, "ring");
	assert_false(raw->opts[1].required);
	assert_string_equal(raw->opts[2].name, "ifup");
	/* tap and hybrid: ifname optional (a tap is created without it). */
	const char *const taps[] = { "tap", "hybrid" };
	for (unsigned i = 0; i < 2; i++) {
		const struct nf_transport *t = nf_transport_find(taps[i]);
		assert_non_null(t);
		assert_int_equal(t->nopts, 2);
		assert_string_equal(t->opts[0].name, "ifname");
		assert_false(t->opts[0].required);
		assert_string_equal(t->opts[1].name, "ifup");
		assert_int_equal(t->opts[1].type, NF_OPT_STRING);
	}
}

/* The tap transports' lines: ifname optional, ifup a program path. */
static void test_tap_lines(void **state)
{
	(void)state;
	struct nf_devcfg cfg;
	char err[256] = "";

	assert_int_equal(nf_opt_parse("vec0:transport=tap", &cfg, err, sizeof(err)), 0);
	assert_ptr_equal(cfg.transport, nf_transport_find("tap"));
	assert_null(nf_devcfg_topt(&cfg, "ifname"));
	assert_null(nf_devcfg_topt(&cfg, "ifup"));
	nf_devcfg_release(&cfg);

	assert_int_equal(nf_opt_parse("vec2:transport=hybrid,ifname=tapu1,ifup=/usr/local/bin/up.sh,"
				      "gro=1,depth=128,vec=0",
				      &cfg, err, sizeof(err)),
			 0);
	assert_ptr_equal(cfg.transport, nf_transport_find("hybrid"));
	assert_string_equal(nf_devcfg_topt(&cfg, "ifname")->str, "tapu1");
	assert_string_equal(nf_devcfg_topt(&cfg, "ifup")->str, "/usr/local/bin/up.sh");
	assert_true(cfg.gro);
	assert_false(cfg.vec);
	assert_int_equal(cfg.depth, 128);
	nf_devcfg_release(&cfg);

	assert_int_equal(nf_opt_parse("vec0:transport=raw,ifname=p0,ifup=up", &cfg, err, sizeof(err)),
			 0);
	assert_string_equal(nf_devcfg_topt(&cfg, "ifup")->str, "up");
	nf_devcfg_release(&cfg);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep cmocka lines whole next to stderr */
	nf_log_level = -1;                /* the cores' log lines are not under test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit_values),
		cmocka_unit_test(test_input_untouched),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bpf_rest),
		cmocka_unit_test(test_short_error_buffer),
		cmocka_unit_test(test_is_device),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_tap_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
