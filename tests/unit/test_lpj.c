/* lpj_measure (launcher/lpj.c): a loops_per_jiffy in the range a CPU of
 * this century gives, scaled by HZ, and nothing for HZ 0. Generous bounds:
 * the machine is shared and the runs are short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lpj.h"

static void test_measure(void **state)
{
	(void)state;
	assert_int_equal(lpj_measure(0), 0);
#if defined(__x86_64__)
	unsigned long a = lpj_measure(100), b = lpj_measure(1000);
	/* 100 MHz .. 20 GHz of one loop a cycle, per 10 ms jiffy */
	assert_true(a > 1000000ul && a < 200000000ul);
	/* ten times the HZ, a tenth of the loops (within a factor of 2) */
	assert_true(b * 5 < a && a < b * 20);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_measure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
