/* Guest memory map: translates guest physical addresses (and the frontend's
 * user addresses used for ring locations) into pointers in our mappings of
 * the guest's memory regions. Every translation checks that the whole range
 * [addr, addr + len) lies inside one region; nothing the guest hands us is
 * dereferenced before passing through here.
 *
 * Pure bookkeeping: mapping and unmapping is the caller's business.
 */
#ifndef NF_GUESTMEM_H
#define NF_GUESTMEM_H

#include <stdint.h>

#include "wire.h"

struct gm_region {
	uint64_t gpa;  /* guest physical start */
	uint64_t size; /* bytes */
	uint64_t uva;  /* frontend user address of gpa */
	uint8_t *host; /* our pointer to gpa (borrowed; caller maps/unmaps) */
};

struct guestmem {
	unsigned nregions;
	struct gm_region regions[VU_MAX_REGIONS];
};

/* Empty map. */
void gm_init(struct guestmem *m);

/* Adds a region. Returns 0, -ENOSPC when full, -EINVAL for a zero size,
 * address overflow, or overlap with an existing region. */
int gm_add(struct guestmem *m, uint64_t gpa, uint64_t size, uint64_t uva, uint8_t *host);

/* Host pointer for guest physical range [gpa, gpa+len), or NULL if any byte
 * of it lies outside a single region. len 0 is treated as 1. */
void *gm_gpa(const struct guestmem *m, uint64_t gpa, uint64_t len);

/* Same for a frontend user address (SET_VRING_ADDR ring locations). */
void *gm_uva(const struct guestmem *m, uint64_t uva, uint64_t len);

#endif
