/* bpfflash: the guest replacing a NIC's receive filter.
 *
 * Stock UML takes `ethtool -f vecN FILE` (a firmware load) for this; under
 * virtio there is no such request, so the guest uses the mconsole notify
 * channel instead (notify.h): guest userspace writes lines to
 * /proc/mconsole, each at most 512 bytes:
 *
 *   bpfflash ethK data HEX      append program bytes (hex, even length)
 *   bpfflash ethK commit N      install the N instructions sent (8 bytes each)
 *   bpfflash ethK clear         remove the filter the guest installed
 *
 * ethK is the guest's K-th uml-nf NIC (vecN devices in N order). The guest
 * tool /usr/sbin/uml-nf-bpfflash in the router image does this.
 *
 * Only devices with bpfflash=1 accept it (the howto's security advice: it
 * lets the guest install programs in the host kernel); for the others every
 * request is refused and logged. The program is checked like a bpffile and
 * then by the kernel.
 */
#ifndef NF_BPFFLASH_H
#define NF_BPFFLASH_H

#include <stdbool.h>
#include <stddef.h>

#include "filter.h"

enum bx_op { BX_DATA, BX_COMMIT, BX_CLEAR };

struct bx_req {
	enum bx_op op;
	unsigned eth;      /* K of ethK */
	const char *hex;   /* BX_DATA: into the parsed line */
	size_t hexlen;
	unsigned count;    /* BX_COMMIT */
};

/* Parses one notification line. Returns 1 for a bpfflash request (*r
 * filled), 0 for a line that is not one, -EINVAL for a malformed request
 * (reason in err). Pure. */
int bx_parse(const char *line, struct bx_req *r, char *err, size_t errlen);

/* One device's program being received. */
struct bx_buf {
	unsigned char bytes[BF_MAX_INSNS * 8];
	size_t len;
	bool overflow;
};

/* Appends a BX_DATA request's bytes. Returns 0 or -EINVAL (bad hex, or more
 * than BF_MAX_INSNS instructions: the buffer is then poisoned until the
 * next commit or clear). */
int bx_append(struct bx_buf *b, const struct bx_req *r);

/* Turns the buffer into a program for BX_COMMIT (count must match what
 * arrived) and empties it. Returns 0 or -errno with err. */
int bx_commit(struct bx_buf *b, unsigned count, struct bf_prog *out, char *err, size_t errlen);

#endif
