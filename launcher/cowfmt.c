#include "cowfmt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Header lengths of the layouts (cowfmt.h has the field maps). */
#define V1_LEN 280
#define V1_PATH_MAX 256
#define V2_LEN 4120
#define V3_BROKEN_LEN 4136
#define V3_BROKEN_PATH 36

/* Backing files larger than this are refused: offsets must stay far from
 * overflowing 64 bits (and off_t). */
#define COW_SIZE_MAX (1ull << 60)

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p + 4) << 32 | get_le32(p);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Copies a NUL-terminated path field of max bytes; false if it has no NUL. */
static bool copy_path(char *dst, const uint8_t *src, size_t max)
{
	const void *nul = memchr(src, '\0', max);
	if (!nul)
		return false;
	memcpy(dst, src, (size_t)((const uint8_t *)nul - src) + 1);
	return true;
}

/* Bitmap and data area from the header fields. Versions 1 and 2 size the
 * bitmap as (size + ss - 1) / (8 * ss) bytes, which can come out one byte
 * short of a bit per sector; the kernel and uml_moo read them that way, so
 * we do too. Version 3 has a bit for every started sector. */
static void layout(struct cow_hdr *h)
{
	uint64_t ss = h->sectorsize;
	h->nsectors = (h->size + ss - 1) / ss;
	if (h->version < 3) {
		h->bitmap_offset = h->header_len;
		h->bitmap_len = (h->size + ss - 1) / (8 * ss);
		h->data_offset = round_up(h->bitmap_offset + h->bitmap_len, ss);
		if (h->bitmap_len * 8 < h->nsectors)
			h->nsectors = h->bitmap_len * 8;
	} else {
		h->bitmap_offset = round_up(h->header_len, h->alignment);
		h->bitmap_len = (h->nsectors + 7) / 8;
		h->data_offset = round_up(h->bitmap_offset + h->bitmap_len, h->alignment);
	}
}

int cow_hdr_parse(const void *buf, size_t len, struct cow_hdr *h, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	size_t need;

	memset(h, 0, sizeof(*h));
	if (len < 8) {
		snprintf(err, errlen,
			 len < 4 ? "not a COW file (shorter than its magic number)"
				 : "truncated COW header (%zu bytes)",
			 len);
		return len < 4 ? -COW_ENOTCOW : -ENODATA;
	}
	/* The magic's byte order says how to read the version: v1 files are
	 * in host order, v2 and v3 big-endian. */
	if (get_le32(p) == COW_MAGIC)
		h->version = get_le32(p + 4);
	else if (get_be32(p) == COW_MAGIC)
		h->version = get_be32(p + 4);
	else {
		snprintf(err, errlen, "not a COW file (no COW magic number)");
		return -COW_ENOTCOW;
	}

	switch (h->version) {
	case 1:
		need = V1_LEN;
		break;
	case 2:
		need = V2_LEN;
		break;
	case 3:
		/* Four zero bytes where the packed layout's path begins: an
		 * unpacked header, whose path starts at 36 instead. */
		h->v3_broken = len >= 36 && get_be32(p + 32) == 0;
		need = h->v3_broken ? V3_BROKEN_LEN : COW_V3_HDR_LEN;
		break;
	default:
		snprintf(err, errlen, "unknown COW version %u (1, 2 and 3 exist)", h->version);
		return -EINVAL;
	}
	/* The broken v3 struct is padded to 4136 but its path ends at 4132. */
	size_t have_need = h->v3_broken ? V3_BROKEN_PATH + COW_PATH_MAX : need;
	if (len < have_need) {
		snprintf(err, errlen,
			 "truncated COW header (%zu of %zu bytes of a version %u header)", len,
			 have_need, h->version);
		return -ENODATA;
	}
	h->header_len = need;

	bool path_ok;
	switch (h->version) {
	case 1:
		path_ok = copy_path(h->backing, p + 8, V1_PATH_MAX);
		h->mtime = get_le32(p + 264);
		h->size = get_le64(p + 268);
		h->sectorsize = get_le32(p + 276);
		h->alignment = h->sectorsize;
		break;
	case 2:
		path_ok = copy_path(h->backing, p + 8, COW_PATH_MAX);
		h->mtime = get_be32(p + 4104);
		h->size = get_be64(p + 4108);
		h->sectorsize = get_be32(p + 4116);
		h->alignment = h->sectorsize;
		break;
	default:
		if (h->v3_broken) {
			/* A 64-bit big-endian mtime; its first four bytes are
			 * what the kernel takes. */
			h->mtime = get_be32(p + 8);
			h->size = get_be64(p + 16);
			h->sectorsize = get_be32(p + 24);
			h->alignment = get_be32(p + 28);
			h->cow_format = get_be32(p + 32);
			path_ok = copy_path(h->backing, p + V3_BROKEN_PATH, COW_PATH_MAX);
		} else {
			h->mtime = get_be32(p + 8);
			h->size = get_be64(p + 12);
			h->sectorsize = get_be32(p + 20);
			h->alignment = get_be32(p + 24);
			h->cow_format = get_be32(p + 28);
			path_ok = copy_path(h->backing, p + 32, COW_PATH_MAX);
		}
		break;
	}
	if (!path_ok) {
		snprintf(err, errlen, "COW header's backing file name is not terminated");
		return -EINVAL;
	}
	if (h->sectorsize == 0 || h->sectorsize > COW_SECTOR_MAX) {
		snprintf(err, errlen, "COW header has sector size %u (1..%u expected)",
			 h->sectorsize, COW_SECTOR_MAX);
		return -EINVAL;
	}
	if (h->alignment == 0 || h->alignment > COW_SECTOR_MAX) {
		snprintf(err, errlen, "COW header has alignment %u (1..%u expected)", h->alignment,
			 COW_SECTOR_MAX);
		return -EINVAL;
	}
	if (h->cow_format != 0) {
		snprintf(err, errlen, "COW header has bitmap format %u (only 0 exists)",
			 h->cow_format);
		return -EINVAL;
	}
	if (h->size > COW_SIZE_MAX) {
		snprintf(err, errlen, "COW header has backing size %llu, too large",
			 (unsigned long long)h->size);
		return -EINVAL;
	}
	layout(h);
	return 0;
}

int cow_hdr_init(struct cow_hdr *h, const char *backing, uint64_t size, uint32_t mtime)
{
	memset(h, 0, sizeof(*h));
	if (strlen(backing) >= COW_PATH_MAX)
		return -ENAMETOOLONG;
	if (size > COW_SIZE_MAX)
		return -EINVAL;
	strcpy(h->backing, backing);
	h->version = 3;
	h->mtime = mtime;
	h->size = size;
	h->sectorsize = COW_SECTOR_SIZE;
	h->alignment = COW_ALIGNMENT;
	h->header_len = COW_V3_HDR_LEN;
	layout(h);
	return 0;
}

void cow_hdr_encode(const struct cow_hdr *h, uint8_t out[COW_V3_HDR_LEN])
{
	memset(out, 0, COW_V3_HDR_LEN);
	put_be32(out, COW_MAGIC);
	put_be32(out + 4, 3);
	put_be32(out + 8, h->mtime);
	put_be64(out + 12, h->size);
	put_be32(out + 20, h->sectorsize);
	put_be32(out + 24, h->alignment);
	put_be32(out + 28, h->cow_format);
	memcpy(out + 32, h->backing, strnlen(h->backing, COW_PATH_MAX - 1));
}

uint64_t cow_bitmap_count(const uint8_t *bitmap, uint64_t nbits)
{
	uint64_t n = 0, whole = nbits / 8;
	for (uint64_t i = 0; i < whole; i++)
		n += (uint64_t)__builtin_popcount(bitmap[i]);
	if (nbits % 8)
		n += (uint64_t)__builtin_popcount(bitmap[whole] & ((1u << (nbits % 8)) - 1));
	return n;
}

bool cow_bitmap_any(const uint8_t *bitmap, uint64_t first, uint64_t n)
{
	uint64_t i = first, end = first + n;
	for (; i < end && i % 8; i++)
		if (cow_bit(bitmap, i))
			return true;
	for (; i + 8 <= end; i += 8)
		if (bitmap[i / 8])
			return true;
	for (; i < end; i++)
		if (cow_bit(bitmap, i))
			return true;
	return false;
}

int64_t cow_bitmap_last(const uint8_t *bitmap, uint64_t nbits)
{
	for (uint64_t i = nbits; i > 0; i--) {
		uint64_t b = i - 1;
		if (b % 8 == 7 && !bitmap[b / 8]) {
			i -= 7; /* a whole zero byte */
			continue;
		}
		if (cow_bit(bitmap, b))
			return (int64_t)b;
	}
	return -1;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	/* Word at a time; sector buffers are at least 8-byte aligned in size. */
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (w)
			return false;
	}
	for (; i < n; i++)
		if (p[i])
			return false;
	return true;
}

size_t cow_merge_plan(const uint8_t *bitmap, uint64_t first, size_t n, size_t ss,
		      const uint8_t *cow, const uint8_t *backing, bool in_place, bool last,
		      uint8_t *out, bool *write)
{
	size_t nw = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = backing + i * ss;
		uint8_t *o = out + i * ss;
		bool bit = cow_bit(bitmap, first + i);
		if (bit)
			memcpy(o, cow + i * ss, ss);
		else
			memcpy(o, b, ss);
		if (in_place)
			write[i] = bit && !(all_zero(o, ss) && all_zero(b, ss));
		else
			write[i] = !all_zero(o, ss) || (last && i == n - 1);
		nw += write[i];
	}
	return nw;
}

int cow_ubd_parse(const char *arg, char *buf, size_t len, struct cow_ubd_arg *u)
{
	const char *p = arg;
	memset(u, 0, sizeof(*u));
	if (strncmp(p, "ubd", 3) != 0)
		return -ENOENT;
	p += 3;
	/* The unit: a number or one letter (ubd0 = ubda). */
	if (*p >= '0' && *p <= '9') {
		unsigned n = 0;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (unsigned)(*p++ - '0');
			if (n > 255)
				return -EINVAL;
		}
		u->index = n;
	} else if (*p >= 'a' && *p <= 'z' && p[1] && (p[1] == '=' || strchr("rsdct", p[1]))) {
		u->index = (unsigned)(*p++ - 'a');
	} else {
		return -ENOENT; /* ubd=sync and the like */
	}
	for (; *p && *p != '='; p++) {
		if (!strchr("rsdct", *p))
			return -EINVAL;
		if (*p == 'd')
			u->no_cow = true;
	}
	if (*p != '=')
		return -ENOENT;
	p++;
	if ((size_t)snprintf(buf, len, "%s", p) >= len)
		return -ENAMETOOLONG;
	char *sep = strpbrk(buf, ",:");
	u->file = buf;
	if (sep) {
		*sep = '\0';
		u->backing = sep + 1;
		char *sep2 = strpbrk(sep + 1, ",:");
		if (sep2)
			*sep2 = '\0';
		if (!*u->backing)
			u->backing = NULL;
	}
	return *u->file ? 0 : -EINVAL;
}
