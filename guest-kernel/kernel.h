/* Finding and checking the guest kernel (a Linux binary built for ARCH=um).
 *
 * Order: an explicit --kernel path, then $UMLNF_KERNEL, then the stock
 * Debian kernel from the user-mode-linux package. The check reads the
 * kernel's own `--showconfig` and `--version` output.
 */
#ifndef NF_GUEST_KERNEL_H
#define NF_GUEST_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#define GK_STOCK_PATH "/usr/bin/linux.uml"

struct gk_info {
	char version[64];
	bool virtio_uml;  /* CONFIG_VIRTIO_UML=y */
	char virtio_net;  /* 'y', 'm', or 0 when absent */
	bool mconsole;    /* CONFIG_MCONSOLE=y (clean halt) */
};

/* Picks the kernel path into path. Returns 0 or -errno with a message. */
int gk_find(const char *override, char *path, size_t len, char *err, size_t errlen);

/* Runs the kernel with --showconfig/--version and fills *info. Returns 0 when
 * the kernel can serve uml-nf's devices; otherwise -errno and a message
 * that says what is missing. */
int gk_check(const char *path, struct gk_info *info, char *err, size_t errlen);

/* Parses --showconfig text into *info (pure; exposed for tests). */
void gk_parse_config(const char *text, struct gk_info *info);

#endif
