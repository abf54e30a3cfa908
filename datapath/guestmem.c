#include "guestmem.h"

#include <errno.h>
#include <string.h>

void gm_init(struct guestmem *m)
{
	memset(m, 0, sizeof(*m));
}

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int gm_add(struct guestmem *m, uint64_t gpa, uint64_t size, uint64_t uva, uint8_t *host)
{
	if (m->nregions >= VU_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || gpa + size < gpa || uva + size < uva || !host)
		return -EINVAL;
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct gm_region *r = &m->regions[i];
		if (ranges_overlap(gpa, size, r->gpa, r->size) ||
		    ranges_overlap(uva, size, r->uva, r->size))
			return -EINVAL;
	}
	m->regions[m->nregions++] = (struct gm_region){ gpa, size, uva, host };
	return 0;
}

/* The check is written as "offset + len <= size" with the offset already
 * known to be inside the region, so no sum can wrap around. */
static void *lookup(const struct guestmem *m, uint64_t addr, uint64_t len, int by_uva)
{
	if (len == 0)
		len = 1;
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct gm_region *r = &m->regions[i];
		uint64_t start = by_uva ? r->uva : r->gpa;
		if (addr < start)
			continue;
		uint64_t off = addr - start;
		if (off >= r->size)
			continue;
		if (len > r->size - off)
			return NULL;
		return r->host + off;
	}
	return NULL;
}

void *gm_gpa(const struct guestmem *m, uint64_t gpa, uint64_t len)
{
	return lookup(m, gpa, len, 0);
}

void *gm_uva(const struct guestmem *m, uint64_t uva, uint64_t len)
{
	return lookup(m, uva, len, 1);
}
