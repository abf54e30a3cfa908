/* Host interface offload reading: the name mapping, and one real ethtool
 * netlink query against the loopback interface (read-only). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ethtool.h"

static void test_apply_bit(void **state)
{
	(void)state;
	struct nf_if_offloads o;
	memset(&o, 0, sizeof(o));
	nf_ethtool_apply_bit(&o, "rx-gro", true);
	nf_ethtool_apply_bit(&o, "tx-tcp-segmentation", true);
	nf_ethtool_apply_bit(&o, "tx-checksum-ipv4", true);
	nf_ethtool_apply_bit(&o, "rx-checksum", false); /* off stays off */
	nf_ethtool_apply_bit(&o, "no-such-feature", true);
	assert_true(o.rx_gro);
	assert_true(o.tx_tso);
	assert_true(o.tx_csum);
	assert_false(o.rx_csum);
	assert_false(o.rx_lro);
	assert_false(o.tx_gso);
}

static void test_loopback(void **state)
{
	(void)state;
	struct nf_if_offloads o;
	/* lo segments and checksums nothing on the wire, so the kernel marks
	 * TSO and tx checksumming on for it. */
	assert_int_equal(nf_ethtool_offloads("lo", &o), 0);
	assert_true(o.tx_tso);
	assert_true(o.tx_csum);
}

static void test_missing_interface(void **state)
{
	(void)state;
	struct nf_if_offloads o;
	assert_int_equal(nf_ethtool_offloads("nf-no-such-if", &o), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_bit),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_missing_interface),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
