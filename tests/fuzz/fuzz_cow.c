/* libFuzzer target: the COW header parser (any bytes at the start of a disk
 * file a user names) must never crash, and a header it accepts must give a
 * layout a merge can use: offsets in order, a bitmap covering the sectors,
 * nothing near overflow. The ubd argument splitter gets the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cowfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cow_hdr h;
	char err[256];

	err[0] = '\0';
	if (cow_hdr_parse(data, size > COW_HDR_MAX ? COW_HDR_MAX : size, &h, err, sizeof(err)) ==
	    0) {
		if (h.sectorsize == 0 || h.alignment == 0 || h.bitmap_offset < h.header_len ||
		    h.data_offset < h.bitmap_offset + h.bitmap_len ||
		    h.nsectors > h.bitmap_len * 8 || h.data_offset + h.size < h.data_offset ||
		    !memchr(h.backing, '\0', sizeof(h.backing)))
			abort();
		if (h.version == 3 && h.nsectors * h.sectorsize < h.size)
			abort();
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}

	char *arg = malloc(size + 1), buf[512];
	struct cow_ubd_arg u;
	if (!arg)
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	if (cow_ubd_parse(arg, buf, sizeof(buf), &u) == 0 && (!u.file || !u.file[0]))
		abort();
	free(arg);
	return 0;
}
