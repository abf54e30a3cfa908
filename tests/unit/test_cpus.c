/* --cpus parsing and the default placement (launcher/cpus.c) against a
 * made-up allowed set, so the results do not depend on this machine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cpus.h"

static cpu_set_t allowed_0_3_8;

static int setup(void **state)
{
	(void)state;
	CPU_ZERO(&allowed_0_3_8);
	for (int c = 0; c <= 3; c++)
		CPU_SET(c, &allowed_0_3_8);
	CPU_SET(8, &allowed_0_3_8);
	return 0;
}

static const char *fmt(const cpu_set_t *s)
{
	static char buf[4][64];
	static int i;
	i = (i + 1) % 4;
	cpus_format(s, buf[i], sizeof(buf[i]));
	return buf[i];
}

static void parse_ok(const char *spec, const char *guest, const char *dp, const char *ctl)
{
	struct cpu_plan p;
	char err[256] = "";
	int rc = cpus_parse(spec, &allowed_0_3_8, &p, err, sizeof(err));
	if (rc != 0)
		print_error("spec \"%s\": %s\n", spec, err);
	assert_int_equal(rc, 0);
	assert_string_equal(fmt(&p.guest), guest);
	assert_string_equal(fmt(&p.datapath), dp);
	assert_string_equal(fmt(&p.control), ctl);
}

static void parse_bad(const char *spec, const char *want)
{
	struct cpu_plan p;
	char err[256] = "";
	assert_int_equal(cpus_parse(spec, &allowed_0_3_8, &p, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		print_error("spec \"%s\": got \"%s\", want it to contain \"%s\"\n", spec, err, want);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "--cpus"));
	assert_null(strchr(err, '\n'));
}

static void test_plain_lists(void **state)
{
	(void)state;
	parse_ok("1", "1", "1", "1");
	parse_ok("0-3", "0-3", "0-3", "0-3");
	parse_ok("0,2,8", "0,2,8", "0,2,8", "0,2,8");
	parse_ok("3,1-2", "1-3", "1-3", "1-3");
}

static void test_roles(void **state)
{
	(void)state;
	parse_ok("guest=0,datapath=1", "0", "1", "0");
	parse_ok("datapath=1,guest=0", "0", "1", "0");
	parse_ok("guest=0,datapath=1,control=2", "0", "1", "2");
	parse_ok("guest=0,2,datapath=1,3", "0,2", "1,3", "0,2");
	parse_ok("guest=0-1,datapath=8", "0-1", "8", "0-1");
	parse_ok("datapath=3", "none", "3", "none");
	parse_ok("control=2", "none", "none", "2");
}

static void test_refusals(void **state)
{
	(void)state;
	parse_bad("", "empty");
	parse_bad("4", "CPU 4 is not available to uml-nf (allowed: 0-3,8)");
	parse_bad("guest=0,datapath=5-8", "CPU 5 is not available");
	parse_bad("gest=0", "unknown role \"gest\"");
	parse_bad("guest=0,guest=1", "guest given twice");
	parse_bad("guest=", "empty CPU list element in \"guest=\"");
	parse_bad("0,,1", "empty CPU list element");
	parse_bad("1,", "empty CPU list element");
	parse_bad("2-1", "range \"2-1\" runs backwards");
	parse_bad("x", "\"x\" is not a CPU number");
	parse_bad("-1", "\"-1\" is not a CPU number");
	parse_bad("1-", "\"1-\" is not a CPU number");
	parse_bad("guest=0 ", "\"0 \" is not a CPU number");
	parse_bad("0,guest=1", "\"0\" comes before any role=");
	parse_bad("99999", "CPU numbers go up to");
}

static void test_default_spread(void **state)
{
	(void)state;
	cpu_set_t two, one;
	CPU_ZERO(&two);
	CPU_SET(0, &two);
	CPU_SET(1, &two);
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	struct cpu_plan p;
	int on[2] = { 0, 0 };
	for (int i = 1; i <= 20; i++) {
		char umid[16];
		snprintf(umid, sizeof(umid), "r%d", i);
		cpus_default(&two, umid, &p);
		assert_int_equal(CPU_COUNT(&p.guest), 1);
		assert_int_equal(CPU_COUNT(&p.datapath), 1);
		assert_false(CPU_EQUAL(&p.guest, &p.datapath));
		assert_true(CPU_EQUAL(&p.guest, &p.control));
		on[CPU_ISSET(0, &p.guest) ? 0 : 1]++;
		/* The same umid always gets the same CPUs. */
		struct cpu_plan again;
		cpus_default(&two, umid, &again);
		assert_true(CPU_EQUAL(&p.guest, &again.guest));
	}
	assert_int_equal(on[0], 10); /* r1..r20 alternate */
	assert_int_equal(on[1], 10);
	cpus_default(&one, "r1", &p);
	assert_int_equal(CPU_COUNT(&p.guest) + CPU_COUNT(&p.datapath) + CPU_COUNT(&p.control), 0);
}

static void test_format(void **state)
{
	(void)state;
	cpu_set_t s;
	CPU_ZERO(&s);
	assert_string_equal(fmt(&s), "none");
	CPU_SET(0, &s);
	CPU_SET(1, &s);
	CPU_SET(2, &s);
	CPU_SET(5, &s);
	CPU_SET(CPU_SETSIZE - 1, &s);
	char want[32];
	snprintf(want, sizeof(want), "0-2,5,%d", CPU_SETSIZE - 1);
	assert_string_equal(fmt(&s), want);
	char tiny[4];
	cpus_format(&s, tiny, sizeof(tiny)); /* truncated, still a string */
	assert_true(strlen(tiny) < sizeof(tiny));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lists),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_default_spread),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
