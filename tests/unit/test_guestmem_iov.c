/* Guest memory map (datapath/guestmem.c), the scatter-list helpers
 * (datapath/iov.h), the guest kernel config parser (gk_parse_config) and the
 * kernel search order of gk_find (tuned cached kernel before the stock one). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "guestmem.h"
#include "iov.h"
#include "kernel.h"

/* ---- guestmem ------------------------------------------------------------------ */

static uint8_t backing[3][4096];

static void test_gm_add(void **state)
{
	(void)state;
	struct guestmem m;

	gm_init(&m);
	assert_int_equal(m.nregions, 0);
	assert_int_equal(gm_add(&m, 0x1000, 0x1000, 0x1000, backing[0]), 0);
	/* zero size */
	assert_int_equal(gm_add(&m, 0x10000, 0, 0x10000, backing[1]), -EINVAL);
	/* overlap by gpa: inside, straddling either end, covering */
	assert_int_equal(gm_add(&m, 0x1800, 0x10, 0x90000, backing[1]), -EINVAL);
	assert_int_equal(gm_add(&m, 0x0800, 0x1000, 0x90000, backing[1]), -EINVAL);
	assert_int_equal(gm_add(&m, 0x1fff, 0x10, 0x90000, backing[1]), -EINVAL);
	assert_int_equal(gm_add(&m, 0x0, 0x10000, 0x90000, backing[1]), -EINVAL);
	/* overlap by uva alone */
	assert_int_equal(gm_add(&m, 0x90000, 0x1000, 0x1800, backing[1]), -EINVAL);
	/* address overflow, gpa or uva */
	assert_int_equal(gm_add(&m, UINT64_MAX - 0xfff, 0x1001, 0x90000, backing[1]), -EINVAL);
	assert_int_equal(gm_add(&m, 0x90000, 0x1001, UINT64_MAX - 0xfff, backing[1]), -EINVAL);
	/* no host pointer */
	assert_int_equal(gm_add(&m, 0x90000, 0x1000, 0x90000, NULL), -EINVAL);
	assert_int_equal(m.nregions, 1);
	/* touching is not overlapping */
	assert_int_equal(gm_add(&m, 0x2000, 0x1000, 0x2000, backing[1]), 0);
	assert_int_equal(gm_add(&m, 0x0, 0x1000, 0x0, backing[2]), 0);
	assert_int_equal(m.nregions, 3);
	assert_ptr_equal(gm_gpa(&m, 0x0, 1), backing[2]);
	assert_ptr_equal(gm_gpa(&m, 0x2000, 1), backing[1]);
}

static void test_gm_full(void **state)
{
	(void)state;
	struct guestmem m;

	gm_init(&m);
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++)
		assert_int_equal(gm_add(&m, 0x10000ull * i, 0x1000, 0x10000ull * i, backing[0]), 0);
	assert_int_equal(gm_add(&m, 0x1000000, 0x1000, 0x1000000, backing[0]), -ENOSPC);
	assert_int_equal(m.nregions, VU_MAX_REGIONS);
	gm_init(&m);
	assert_int_equal(m.nregions, 0);
	assert_null(gm_gpa(&m, 0, 1));
}

static void test_gm_translate(void **state)
{
	(void)state;
	struct guestmem m;
	uint8_t *a = backing[0], *b = backing[1];

	gm_init(&m);
	/* gpa and uva deliberately differ */
	assert_int_equal(gm_add(&m, 0x10000, 0x1000, 0x7f0000, a), 0);
	assert_int_equal(gm_add(&m, 0x11000, 0x1000, 0x900000, b), 0);

	assert_ptr_equal(gm_gpa(&m, 0x10000, 0x1000), a);
	assert_ptr_equal(gm_gpa(&m, 0x10fff, 1), a + 0xfff);     /* last byte in */
	assert_ptr_equal(gm_gpa(&m, 0x10fff, 0), a + 0xfff);     /* len 0 counts as 1 */
	assert_ptr_equal(gm_gpa(&m, 0x11000, 1), b);             /* next region */
	assert_null(gm_gpa(&m, 0x10fff, 2));                     /* crosses region end */
	assert_null(gm_gpa(&m, 0x10000, 0x1001));
	assert_null(gm_gpa(&m, 0x12000, 1));                     /* one past the end */
	assert_null(gm_gpa(&m, 0x12000, 0));
	assert_null(gm_gpa(&m, 0xffff, 1));                      /* one before */
	assert_null(gm_gpa(&m, 0xffff, 2));                      /* straddles the start */
	assert_null(gm_gpa(&m, 0x10800, UINT64_MAX));            /* huge length */
	assert_null(gm_gpa(&m, UINT64_MAX, 2));
	/* Adjacent regions are still two mappings: no range spans both. */
	assert_null(gm_gpa(&m, 0x10ff0, 0x20));

	assert_ptr_equal(gm_uva(&m, 0x7f0000, 16), a);
	assert_ptr_equal(gm_uva(&m, 0x900fff, 1), b + 0xfff);
	assert_null(gm_uva(&m, 0x901000, 1));
	assert_null(gm_uva(&m, 0x900fff, 2));
	assert_null(gm_uva(&m, 0x10000, 1)); /* a gpa is not a uva */
	assert_null(gm_gpa(&m, 0x7f0000, 1));
}

/* ---- iov ----------------------------------------------------------------------- */

static char s0[4], s1[6], s2[5];
static const struct iovec list[] = { { s0, sizeof(s0) }, { s1, sizeof(s1) }, { s2, sizeof(s2) } };

static void fill_list(void)
{
	memcpy(s0, "abcd", 4);
	memcpy(s1, "efghij", 6);
	memcpy(s2, "klmno", 5);
}

static void test_iov_read(void **state)
{
	(void)state;
	char buf[32];

	fill_list();
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iov_read(list, 3, 0, buf, 15), 15);
	assert_string_equal(buf, "abcdefghijklmno");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iov_read(list, 3, 3, buf, 8), 8); /* spans all three */
	assert_string_equal(buf, "defghijk");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iov_read(list, 3, 4, buf, 6), 6); /* exactly the second */
	assert_string_equal(buf, "efghij");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iov_read(list, 3, 12, buf, 10), 3); /* short at the end */
	assert_string_equal(buf, "mno");
	assert_int_equal(iov_read(list, 3, 15, buf, 1), 0);
	assert_int_equal(iov_read(list, 3, 100, buf, 1), 0);
	assert_int_equal(iov_read(list, 3, 0, buf, 0), 0);
	assert_int_equal(iov_read(list, 0, 0, buf, 5), 0);
}

static void test_iov_write(void **state)
{
	(void)state;

	fill_list();
	assert_int_equal(iov_write(list, 3, 2, "0123456789", 10), 10);
	assert_memory_equal(s0, "ab01", 4);
	assert_memory_equal(s1, "234567", 6);
	assert_memory_equal(s2, "89mno", 5);
	fill_list();
	assert_int_equal(iov_write(list, 3, 13, "XYZ", 3), 2); /* only two bytes left */
	assert_memory_equal(s2, "klmXY", 5);
	assert_memory_equal(s0, "abcd", 4);
	assert_memory_equal(s1, "efghij", 6);
}

static void test_iov_slice(void **state)
{
	(void)state;
	struct iovec dst[4];

	fill_list();
	/* middle part across all three */
	unsigned n = iov_slice(list, 3, 2, 10, dst, 0, 4);
	assert_int_equal(n, 3);
	assert_ptr_equal(dst[0].iov_base, s0 + 2);
	assert_int_equal(dst[0].iov_len, 2);
	assert_ptr_equal(dst[1].iov_base, s1);
	assert_int_equal(dst[1].iov_len, 6);
	assert_ptr_equal(dst[2].iov_base, s2);
	assert_int_equal(dst[2].iov_len, 2);

	/* to the end, appended after an existing entry */
	dst[0] = (struct iovec){ NULL, 0 };
	n = iov_slice(list, 3, 5, SIZE_MAX, dst, 1, 4);
	assert_int_equal(n, 3);
	assert_ptr_equal(dst[1].iov_base, s1 + 1);
	assert_int_equal(dst[1].iov_len, 5);
	assert_ptr_equal(dst[2].iov_base, s2);
	assert_int_equal(dst[2].iov_len, 5);

	/* capped by max */
	n = iov_slice(list, 3, 0, SIZE_MAX, dst, 0, 2);
	assert_int_equal(n, 2);
	assert_int_equal(dst[0].iov_len + dst[1].iov_len, 10);

	/* offset at or past the end, or nothing wanted: nothing appended */
	assert_int_equal(iov_slice(list, 3, 15, SIZE_MAX, dst, 0, 4), 0);
	assert_int_equal(iov_slice(list, 3, 99, 1, dst, 1, 4), 1);
	assert_int_equal(iov_slice(list, 3, 0, 0, dst, 0, 4), 0);

	/* the slice reads back as the bytes it names */
	char buf[16] = "";
	n = iov_slice(list, 3, 3, 9, dst, 0, 4);
	assert_int_equal(iov_read(dst, n, 0, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "defghijkl");
}

/* ---- gk_parse_config -------------------------------------------------------------- */

static void test_gk_parse_config(void **state)
{
	(void)state;
	struct gk_info info;

	memset(&info, 0xff, sizeof(info));
	gk_parse_config("#\n# Automatically generated file; DO NOT EDIT.\n"
			"CONFIG_UML=y\n"
			"CONFIG_VIRTIO_UML=y\n"
			"CONFIG_VIRTIO_NET=m\n"
			"CONFIG_MCONSOLE=y\n"
			"CONFIG_HZ_100=y\n"
			"CONFIG_HZ=100\n",
			&info);
	assert_true(info.virtio_uml);
	assert_int_equal(info.virtio_net, 'm');
	assert_true(info.mconsole);
	assert_int_equal(info.hz, 100);
	/* CONFIG_HZ: digits only, 1..10000; anything else leaves 0 */
	gk_parse_config("CONFIG_HZ=250", &info);
	assert_int_equal(info.hz, 250);
	gk_parse_config("CONFIG_HZ=100x\nCONFIG_HZ_1000=y\n", &info);
	assert_int_equal(info.hz, 0);
	gk_parse_config("CONFIG_HZ=0\n", &info);
	assert_int_equal(info.hz, 0);
	gk_parse_config("CONFIG_HZ=99999\n", &info);
	assert_int_equal(info.hz, 0);

	/* built in, last line without a newline */
	gk_parse_config("CONFIG_VIRTIO_NET=y\nCONFIG_VIRTIO_UML=y", &info);
	assert_int_equal(info.virtio_net, 'y');
	assert_true(info.virtio_uml);
	assert_false(info.mconsole); /* absent resets */

	/* absent, commented out, or only a prefix of the line */
	gk_parse_config("# CONFIG_VIRTIO_UML is not set\n"
			"CONFIG_VIRTIO_NET_FAILOVER=y\n"
			"CONFIG_VIRTIO_NET=n\n"
			"CONFIG_MCONSOLE=m\n"
			" CONFIG_VIRTIO_UML=y\n"
			"CONFIG_VIRTIO_UML=yes\n"
			"CONFIG_VIRTIO_UML=\n"   /* truncated lines */
			"CONFIG_VIRTIO_NET\n"
			"CONFIG_MCONSOLE",
			&info);
	assert_false(info.virtio_uml);
	assert_int_equal(info.virtio_net, 0);
	assert_false(info.mconsole);

	gk_parse_config("", &info);
	assert_false(info.virtio_uml);
	assert_int_equal(info.virtio_net, 0);
}

/* ---- gk_find ----------------------------------------------------------------------- */

static void test_gk_find_order(void **state)
{
	(void)state;
	char dir[] = "/tmp/umlnf-gk-XXXXXX";
	char sub[64], link[64], path[4096], err[256];

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/kernel", dir);
	snprintf(link, sizeof(link), "%s/kernel/current", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	setenv("UMLNF_CACHE", dir, 1);
	unsetenv("UMLNF_KERNEL");

	assert_int_equal(gk_cached_path(path, sizeof(path)), 0);
	assert_string_equal(path, link);
	assert_int_equal(gk_cached_path(path, 8), -ENAMETOOLONG);

	/* no link: the stock kernel (or its "not found" message) */
	int rc = gk_find(NULL, path, sizeof(path), err, sizeof(err));
	if (rc == 0)
		assert_string_equal(path, GK_STOCK_PATH);
	else
		assert_non_null(strstr(err, GK_STOCK_PATH));

	/* dangling link: still the stock kernel */
	assert_int_equal(symlink("missing/linux", link), 0);
	rc = gk_find(NULL, path, sizeof(path), err, sizeof(err));
	if (rc == 0)
		assert_string_equal(path, GK_STOCK_PATH);

	/* a real tuned kernel wins over the stock one ... */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/bin/true", link), 0);
	assert_int_equal(gk_find(NULL, path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, link);

	/* ... but not over $UMLNF_KERNEL or --kernel */
	setenv("UMLNF_KERNEL", "/bin/sh", 1);
	assert_int_equal(gk_find(NULL, path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/bin/sh");
	assert_int_equal(gk_find("/bin/ls", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/bin/ls");

	unsetenv("UMLNF_KERNEL");
	unsetenv("UMLNF_CACHE");
	unlink(link);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gm_add),
		cmocka_unit_test(test_gm_full),
		cmocka_unit_test(test_gm_translate),
		cmocka_unit_test(test_iov_read),
		cmocka_unit_test(test_iov_write),
		cmocka_unit_test(test_iov_slice),
		cmocka_unit_test(test_gk_parse_config),
		cmocka_unit_test(test_gk_find_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
