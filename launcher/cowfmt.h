/* UML's copy-on-write disk format: header, layout, bitmap and the merge rule.
 * Pure functions on buffers (no I/O), shared by `uml-nf cow` and the boot-time
 * check, unit-tested directly.
 *
 * A COW file holds a header, a bitmap with one bit per sector of the backing
 * file, and a data area laid out at the backing file's own offsets:
 *
 *   0          bitmap_offset        data_offset
 *   +--------+-+------------+-------+----------------------------------------+
 *   | header | | bitmap     |       | sector n at data_offset + n*sectorsize |
 *   +--------+-+------------+-------+----------------------------------------+
 *              ^ round_up(header, alignment)
 *              bit n (byte n/8, bit n%8, least significant first) set:
 *              sector n lives in the COW file, else in the backing file
 *
 * Version 3 (what the kernel and uml_mkcow write), big-endian, packed, 4128
 * bytes:
 *
 *   0 magic 0x4f4f4f4d | 4 version 3 | 8 mtime (u32) | 12 size (u64)
 *  20 sectorsize       | 24 alignment | 28 cow_format (0) | 32 backing path[4096]
 *
 * mtime and size are the backing file's when the COW was made; the kernel
 * refuses a COW whose backing file no longer has both.
 *
 * Read-only layouts: version 1 (host order, i.e. little-endian on the x86
 * machines UML runs on: magic, version, path[256], mtime, size, sectorsize;
 * 280 bytes), version 2 (big-endian: magic, version, path[4096], mtime, size,
 * sectorsize; 4120 bytes), both aligned to the sector size, and the "broken"
 * version 3 old 64-bit tools wrote unpacked (8-byte mtime at 8, size 16,
 * sectorsize 24, alignment 28, cow_format 32, path at 36; 4136 bytes),
 * recognised by four zero bytes where the packed layout has its path.
 */
#ifndef NF_COWFMT_H
#define NF_COWFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COW_MAGIC 0x4f4f4f4du
#define COW_PATH_MAX 4096   /* backing path field of v2/v3, NUL included */
#define COW_V3_HDR_LEN 4128 /* what cow_hdr_encode writes */
#define COW_HDR_MAX 4136    /* read this much to parse any version */
#define COW_SECTOR_SIZE 512 /* what the kernel and uml_mkcow use */
#define COW_ALIGNMENT 4096
#define COW_SECTOR_MAX 65536 /* larger sector sizes or alignments are refused */

/* "Not a COW file" (wrong magic): a plain image, for callers that probe. */
#define COW_ENOTCOW EMEDIUMTYPE

struct cow_hdr {
	unsigned version; /* 1, 2 or 3 */
	bool v3_broken;	  /* the unpacked v3 layout */
	uint32_t mtime;	  /* backing file's mtime (seconds) when the COW was made */
	uint64_t size;	  /* backing file's size in bytes */
	uint32_t sectorsize;
	uint32_t alignment;
	uint32_t cow_format; /* 0: the plain bitmap (nothing else exists) */
	char backing[COW_PATH_MAX];
	/* derived from the above */
	uint64_t header_len; /* bytes the header occupies */
	uint64_t bitmap_offset;
	uint64_t bitmap_len; /* bytes */
	uint64_t data_offset;
	uint64_t nsectors; /* bits in the bitmap: ceil(size / sectorsize) */
};

/* Parses the header at the start of a file from buf (len bytes: as many as
 * the file has, up to COW_HDR_MAX) into *h, layout included. Returns 0;
 * -COW_ENOTCOW when the magic is wrong (err: "not a COW file"); -ENODATA when
 * the file ends inside the header; -EINVAL for a header that cannot be right
 * (unknown version, zero or huge sector size or alignment, unterminated path,
 * a cow_format other than 0, sizes that overflow). err gets a one-line
 * reason without the file name. */
int cow_hdr_parse(const void *buf, size_t len, struct cow_hdr *h, char *err, size_t errlen);

/* Fills *h as the kernel does for a new COW: version 3, sector size 512,
 * alignment 4096, the backing file's size and mtime, its absolute path
 * (copied). Returns 0, or -ENAMETOOLONG (path of COW_PATH_MAX bytes or more),
 * -EINVAL (size too large). */
int cow_hdr_init(struct cow_hdr *h, const char *backing, uint64_t size, uint32_t mtime);

/* Writes h as a version 3 header: COW_V3_HDR_LEN bytes to out, the unused
 * end of the path field zeroed. */
void cow_hdr_encode(const struct cow_hdr *h, uint8_t out[COW_V3_HDR_LEN]);

/* Size of a new COW file made by cow_hdr_init: data_offset + size (the kernel
 * and uml_mkcow write its last byte, so everything but the header reads as
 * zero and is sparse). */
static inline uint64_t cow_file_size(const struct cow_hdr *h)
{
	return h->data_offset + h->size;
}

static inline bool cow_bit(const uint8_t *bitmap, uint64_t sector)
{
	return (bitmap[sector / 8] >> (sector % 8)) & 1;
}

/* Set bits among the first nbits of bitmap: sectors the COW file holds. */
uint64_t cow_bitmap_count(const uint8_t *bitmap, uint64_t nbits);

/* Whether any of bits [first, first + n) is set. */
bool cow_bitmap_any(const uint8_t *bitmap, uint64_t first, uint64_t n);

/* The highest set bit among the first nbits, or -1 when none is set. */
int64_t cow_bitmap_last(const uint8_t *bitmap, uint64_t nbits);

/* A merge writes whole sectors: floor(size / sectorsize) of them (so does
 * uml_moo; the guest never sees a partial last sector). */
static inline uint64_t cow_merge_sectors(const struct cow_hdr *h)
{
	return h->size / h->sectorsize;
}

/* The merge rule for sectors [first, first + n), ss bytes each, into one of
 * two destinations:
 *
 *   new image (in_place false): the destination starts empty (reads as
 *     zeros). out[i] = bit ? cow : backing; it is written (write[i]) unless
 *     it is all zeros, so the result stays sparse where it reads as zeros.
 *     The image's last sector (last: first + n - 1 is it) is always written,
 *     which gives the file its size.
 *   in place (merge -d, the destination is the backing file): only sectors
 *     whose bit is set change; out[i] = cow, written unless both the COW
 *     sector and the backing sector already there are all zeros.
 *
 * This is exactly what uml_moo writes, so the outputs are the same bytes and
 * the same holes. cow: the COW data of these sectors (read only where a bit
 * is set; may be NULL if none is); backing: the backing file's. Returns the
 * number of sectors to write. */
size_t cow_merge_plan(const uint8_t *bitmap, uint64_t first, size_t n, size_t ss,
		      const uint8_t *cow, const uint8_t *backing, bool in_place, bool last,
		      uint8_t *out, bool *write);

/* One argument `ubdN[flags]=FILE[,BACKING[,SERIAL]]` (',' or ':' between the
 * parts) of the guest command line, split in place into buf. */
struct cow_ubd_arg {
	unsigned index;
	bool no_cow; /* flag 'd': the kernel does not look for a COW header */
	const char *file;
	const char *backing; /* NULL when not given */
};

/* Returns 0 with *u pointing into buf, or -ENOENT when arg is not a ubd
 * device argument (ubd=..., other options), -EINVAL when it is malformed. */
int cow_ubd_parse(const char *arg, char *buf, size_t len, struct cow_ubd_arg *u);

#endif
