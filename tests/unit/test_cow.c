/* UML's COW format (launcher/cowfmt.c): header parser and writer for every
 * layout (v3 as the kernel writes it, byte for byte as observed; v2, v1 and
 * the unpacked v3 of old tools, built here field by field), the refusals,
 * bitmap helpers, the merge rule uml_moo follows, and the ubd argument
 * splitter the boot check uses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cowfmt.h"

static uint8_t buf[COW_HDR_MAX + 64];

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static void le32(uint8_t *p, uint32_t v)
{
	p[3] = (uint8_t)(v >> 24), p[2] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8),
	p[0] = (uint8_t)v;
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* The first 0x30 bytes the kernel wrote for a 1 MiB backing file (see the
 * COW reference), with a known mtime. */
static const uint8_t observed[] = {
    0x4f, 0x4f, 0x4f, 0x4d, 0x00, 0x00, 0x00, 0x03, 0x65, 0x43, 0x21, 0x0f, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    '/',  't',	'm',  'p',  '/',  'u',	'm',  'l',  '/',  'b',	'a',  'c',  'k',  '.',	'i',  'm',
};

static void test_v3_observed(void **state)
{
	(void)state;
	struct cow_hdr h;
	char err[256];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, observed, sizeof(observed));
	buf[sizeof(observed)] = 'g';
	assert_int_equal(cow_hdr_parse(buf, COW_V3_HDR_LEN, &h, err, sizeof(err)), 0);
	assert_int_equal(h.version, 3);
	assert_false(h.v3_broken);
	assert_int_equal(h.mtime, 0x6543210f);
	assert_int_equal(h.size, 1 << 20);
	assert_int_equal(h.sectorsize, 512);
	assert_int_equal(h.alignment, 4096);
	assert_string_equal(h.backing, "/tmp/uml/back.img");
	/* 2048 sectors: a 256-byte bitmap at 8192, data at 12288, and the
	 * 1060864-byte file the kernel creates. */
	assert_int_equal(h.bitmap_offset, 8192);
	assert_int_equal(h.bitmap_len, 256);
	assert_int_equal(h.data_offset, 12288);
	assert_int_equal(h.nsectors, 2048);
	assert_int_equal(cow_file_size(&h), 1060864);
}

static void test_v3_round_trip(void **state)
{
	(void)state;
	struct cow_hdr h, back;
	uint8_t out[COW_V3_HDR_LEN];
	char err[256];
	assert_int_equal(cow_hdr_init(&h, "/tmp/uml/back.img", 1 << 20, 0x6543210f), 0);
	cow_hdr_encode(&h, out);
	/* The same bytes the kernel writes, and nothing after the path. */
	assert_memory_equal(out, observed, sizeof(observed));
	for (size_t i = 32 + strlen("/tmp/uml/back.img"); i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(cow_hdr_parse(out, sizeof(out), &back, err, sizeof(err)), 0);
	assert_int_equal(back.data_offset, h.data_offset);
	assert_string_equal(back.backing, h.backing);

	/* A size that is not a whole number of sectors: ceil everywhere. */
	assert_int_equal(cow_hdr_init(&h, "/b", (1 << 20) + 100, 1), 0);
	assert_int_equal(h.nsectors, 2049);
	assert_int_equal(h.bitmap_len, 257);
	assert_int_equal(cow_file_size(&h), 12288 + (1 << 20) + 100);
	/* 64 MiB (the router image): 16 KiB bitmap, data at 24576. */
	assert_int_equal(cow_hdr_init(&h, "/b", 64ull << 20, 1), 0);
	assert_int_equal(h.bitmap_len, 16384);
	assert_int_equal(h.data_offset, 24576);

	char longpath[COW_PATH_MAX + 1];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(cow_hdr_init(&h, longpath, 1, 1), -ENAMETOOLONG);
}

static void test_v2(void **state)
{
	(void)state;
	struct cow_hdr h;
	char err[256];
	memset(buf, 0, sizeof(buf));
	be32(buf, COW_MAGIC);
	be32(buf + 4, 2);
	strcpy((char *)buf + 8, "/images/base.img");
	be32(buf + 4104, 1234567);
	be64(buf + 4108, 1 << 20);
	be32(buf + 4116, 512);
	assert_int_equal(cow_hdr_parse(buf, 4120, &h, err, sizeof(err)), 0);
	assert_int_equal(h.version, 2);
	assert_string_equal(h.backing, "/images/base.img");
	assert_int_equal(h.mtime, 1234567);
	assert_int_equal(h.size, 1 << 20);
	assert_int_equal(h.alignment, 512);
	assert_int_equal(h.bitmap_offset, 4120);
	assert_int_equal(h.bitmap_len, 256);
	assert_int_equal(h.data_offset, 4608); /* round_up(4120 + 256, 512) */
	assert_int_equal(cow_hdr_parse(buf, 4119, &h, err, sizeof(err)), -ENODATA);

	/* Its bitmap comes out a byte short for 4608 bytes (9 sectors):
	 * the ninth sector has no bit. */
	be64(buf + 4108, 4608);
	assert_int_equal(cow_hdr_parse(buf, 4120, &h, err, sizeof(err)), 0);
	assert_int_equal(h.bitmap_len, 1);
	assert_int_equal(h.nsectors, 8);
}

static void test_v1(void **state)
{
	(void)state;
	struct cow_hdr h;
	char err[256];
	memset(buf, 0, sizeof(buf));
	le32(buf, COW_MAGIC);
	le32(buf + 4, 1);
	strcpy((char *)buf + 8, "/old/root_fs");
	le32(buf + 264, 999);
	le64(buf + 268, 8 << 20);
	le32(buf + 276, 512);
	assert_int_equal(cow_hdr_parse(buf, 280, &h, err, sizeof(err)), 0);
	assert_int_equal(h.version, 1);
	assert_string_equal(h.backing, "/old/root_fs");
	assert_int_equal(h.mtime, 999);
	assert_int_equal(h.size, 8 << 20);
	assert_int_equal(h.bitmap_offset, 280);
	assert_int_equal(h.bitmap_len, 2048);
	assert_int_equal(h.data_offset, 2560); /* round_up(280 + 2048, 512) */
	assert_int_equal(cow_hdr_parse(buf, 279, &h, err, sizeof(err)), -ENODATA);
}

static void test_v3_unpacked(void **state)
{
	(void)state;
	struct cow_hdr h;
	char err[256];
	memset(buf, 0, sizeof(buf));
	be32(buf, COW_MAGIC);
	be32(buf + 4, 3);
	be64(buf + 8, (uint64_t)0x11223344 << 32); /* the kernel takes the first 4 bytes */
	be64(buf + 16, 1 << 20);
	be32(buf + 24, 512);
	be32(buf + 28, 4096);
	be32(buf + 32, 0);
	strcpy((char *)buf + 36, "/x/back");
	assert_int_equal(cow_hdr_parse(buf, COW_HDR_MAX, &h, err, sizeof(err)), 0);
	assert_true(h.v3_broken);
	assert_int_equal(h.mtime, 0x11223344);
	assert_int_equal(h.size, 1 << 20);
	assert_string_equal(h.backing, "/x/back");
	assert_int_equal(h.bitmap_offset, 8192);
	assert_int_equal(h.data_offset, 12288);
}

static void test_refusals(void **state)
{
	(void)state;
	struct cow_hdr h;
	uint8_t out[COW_V3_HDR_LEN];
	char err[256];

	memset(buf, 0, sizeof(buf));
	memcpy(buf,
	       "\x7f"
	       "ELF",
	       4);
	assert_int_equal(cow_hdr_parse(buf, sizeof(buf), &h, err, sizeof(err)), -COW_ENOTCOW);
	assert_non_null(strstr(err, "not a COW file"));
	assert_int_equal(cow_hdr_parse(buf, 2, &h, err, sizeof(err)), -COW_ENOTCOW);

	assert_int_equal(cow_hdr_init(&h, "/b", 1 << 20, 1), 0);
	cow_hdr_encode(&h, out);
	assert_int_equal(cow_hdr_parse(out, 100, &h, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(cow_hdr_parse(out, 6, &h, err, sizeof(err)), -ENODATA);

	uint8_t bad[COW_V3_HDR_LEN];
	memcpy(bad, out, sizeof(bad));
	be32(bad + 4, 7);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version 7"));
	memcpy(bad, out, sizeof(bad));
	be32(bad + 20, 0);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
	memcpy(bad, out, sizeof(bad));
	be32(bad + 24, 0);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
	memcpy(bad, out, sizeof(bad));
	be32(bad + 28, 1);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
	memcpy(bad, out, sizeof(bad));
	memset(bad + 32, 'x', sizeof(bad) - 32);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not terminated"));
	memcpy(bad, out, sizeof(bad));
	be64(bad + 12, UINT64_MAX);
	assert_int_equal(cow_hdr_parse(bad, sizeof(bad), &h, err, sizeof(err)), -EINVAL);
}

static void test_bitmap(void **state)
{
	(void)state;
	uint8_t bm[4] = {0xff, 0x00, 0x30, 0x81};
	assert_true(cow_bit(bm, 0));
	assert_true(cow_bit(bm, 7));
	assert_false(cow_bit(bm, 8));
	assert_true(cow_bit(bm, 20)); /* byte 2, bit 4: least significant first */
	assert_true(cow_bit(bm, 21));
	assert_false(cow_bit(bm, 22));
	assert_int_equal(cow_bitmap_count(bm, 32), 12);
	assert_int_equal(cow_bitmap_count(bm, 25), 11); /* bit 24 counts, 31 not */
	assert_int_equal(cow_bitmap_count(bm, 3), 3);
	assert_false(cow_bitmap_any(bm, 8, 12));
	assert_true(cow_bitmap_any(bm, 8, 13));
	assert_true(cow_bitmap_any(bm, 6, 1));
	assert_false(cow_bitmap_any(bm, 22, 2));
	assert_int_equal(cow_bitmap_last(bm, 32), 31);
	assert_int_equal(cow_bitmap_last(bm, 31), 24);
	assert_int_equal(cow_bitmap_last(bm, 24), 21);
	uint8_t none[3] = {0};
	assert_int_equal(cow_bitmap_last(none, 24), -1);
	assert_int_equal(cow_bitmap_count(none, 24), 0);
}

#define SS 16 /* small sectors keep the buffers readable */

static void test_merge_new_image(void **state)
{
	(void)state;
	/* sectors: 0 COW data, 1 COW zeros over backing data, 2 backing
	 * data, 3 backing zeros, 4 (last) backing zeros. */
	uint8_t bm[1] = {0x03}, cow[5 * SS], back[5 * SS], out[5 * SS];
	bool wr[5];
	memset(cow, 0, sizeof(cow));
	memset(back, 0, sizeof(back));
	memset(cow, 'C', SS);
	memset(back, 'B', 3 * SS);
	size_t n = cow_merge_plan(bm, 0, 5, SS, cow, back, false, true, out, wr);
	assert_int_equal(n, 3);
	assert_true(wr[0]);
	assert_false(wr[1]); /* zeros from the COW: a hole in the new image */
	assert_true(wr[2]);
	assert_false(wr[3]);
	assert_true(wr[4]); /* the last sector, which gives the file its size */
	assert_int_equal(out[0], 'C');
	assert_int_equal(out[SS], 0);
	assert_int_equal(out[2 * SS], 'B');
	/* Not the last chunk: no forced write. */
	n = cow_merge_plan(bm, 0, 5, SS, cow, back, false, false, out, wr);
	assert_int_equal(n, 2);
	assert_false(wr[4]);
}

static void test_merge_in_place(void **state)
{
	(void)state;
	/* 0 COW data; 1 COW zeros over backing data (must be written);
	 * 2 COW zeros over backing zeros (nothing to do); 3 unmarked. */
	uint8_t bm[1] = {0x07}, cow[4 * SS], back[4 * SS], out[4 * SS];
	bool wr[4];
	memset(cow, 0, sizeof(cow));
	memset(back, 0, sizeof(back));
	memset(cow, 'C', SS);
	memset(back + SS, 'B', SS);
	memset(back + 3 * SS, 'B', SS);
	size_t n = cow_merge_plan(bm, 0, 4, SS, cow, back, true, true, out, wr);
	assert_int_equal(n, 2);
	assert_true(wr[0]);
	assert_true(wr[1]);
	assert_int_equal(out[SS], 0);
	assert_false(wr[2]);
	assert_false(wr[3]);
	/* A chunk further on: bits are read at first + i. */
	uint8_t bm2[2] = {0x00, 0x01};
	n = cow_merge_plan(bm2, 8, 1, SS, cow, back, true, false, out, wr);
	assert_int_equal(n, 1);
}

static void test_ubd_parse(void **state)
{
	(void)state;
	char b[256];
	struct cow_ubd_arg u;
	assert_int_equal(cow_ubd_parse("ubd0=r1.cow,base.img", b, sizeof(b), &u), 0);
	assert_int_equal(u.index, 0);
	assert_string_equal(u.file, "r1.cow");
	assert_string_equal(u.backing, "base.img");
	assert_false(u.no_cow);
	assert_int_equal(cow_ubd_parse("ubd12rc=/a/x.cow:/b/y.img:serial7", b, sizeof(b), &u), 0);
	assert_int_equal(u.index, 12);
	assert_string_equal(u.file, "/a/x.cow");
	assert_string_equal(u.backing, "/b/y.img");
	assert_int_equal(cow_ubd_parse("ubdb=disk.img", b, sizeof(b), &u), 0);
	assert_int_equal(u.index, 1);
	assert_null(u.backing);
	assert_int_equal(cow_ubd_parse("ubd1d=plain.img", b, sizeof(b), &u), 0);
	assert_true(u.no_cow);
	assert_int_equal(cow_ubd_parse("ubd=sync", b, sizeof(b), &u), -ENOENT);
	assert_int_equal(cow_ubd_parse("ubd_foo=1", b, sizeof(b), &u), -ENOENT);
	assert_int_equal(cow_ubd_parse("mem=256M", b, sizeof(b), &u), -ENOENT);
	assert_int_equal(cow_ubd_parse("ubd0q=x", b, sizeof(b), &u), -EINVAL);
	assert_int_equal(cow_ubd_parse("ubd0=", b, sizeof(b), &u), -EINVAL);
	assert_int_equal(cow_ubd_parse("ubd0=a,", b, sizeof(b), &u), 0);
	assert_null(u.backing);
	assert_int_equal(cow_ubd_parse("ubd0=r1.cow,base.img", b, 8, &u), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v3_observed),
	    cmocka_unit_test(test_v3_round_trip),
	    cmocka_unit_test(test_v2),
	    cmocka_unit_test(test_v1),
	    cmocka_unit_test(test_v3_unpacked),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_bitmap),
	    cmocka_unit_test(test_merge_new_image),
	    cmocka_unit_test(test_merge_in_place),
	    cmocka_unit_test(test_ubd_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
