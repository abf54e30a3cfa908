/* Finding and checking the guest kernel (a Linux binary built for ARCH=um).
 *
 * Order: an explicit --kernel path, then $UMLNF_KERNEL, then the NF-tuned
 * kernel built by `make guest-kernel` (guest-kernel/build.sh), then the stock
 * Debian kernel from the user-mode-linux package. The check reads the
 * kernel's own `--showconfig` and `--version` output.
 *
 * The tuned kernel is found through the stable symlink that build.sh updates
 * after every successful build and check:
 *
 *   ${UMLNF_CACHE:-$HOME/.cache/uml-nf}/kernel/current -> <ver>-<hash>/linux
 *
 * When that link is absent or dangling, or not executable, gk_find falls back
 * to the stock kernel without complaint: the tuned kernel is optional.
 */
#ifndef NF_GUEST_KERNEL_H
#define NF_GUEST_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#define GK_STOCK_PATH "/usr/bin/linux.uml"
/* The tuned kernel's link, relative to the cache directory. */
#define GK_CACHED_LINK "kernel/current"

struct gk_info {
	char version[64];
	bool virtio_uml;  /* CONFIG_VIRTIO_UML=y */
	char virtio_net;  /* 'y', 'm', or 0 when absent */
	bool mconsole;    /* CONFIG_MCONSOLE=y (clean halt) */
	unsigned hz;      /* CONFIG_HZ, 0 if not found */
};

/* Picks the kernel path into path (order above). Returns 0 or -errno with a
 * message in err. */
int gk_find(const char *override, char *path, size_t len, char *err, size_t errlen);

/* Runs the kernel with --showconfig/--version and fills *info. Returns 0 when
 * the kernel can serve uml-nf's devices; otherwise -errno and a message
 * that says what is missing. */
int gk_check(const char *path, struct gk_info *info, char *err, size_t errlen);

/* Writes the tuned kernel's link path, ${UMLNF_CACHE:-$HOME/.cache/uml-nf}/
 * kernel/current, into path whether or not it exists. Returns 0, or -ENOENT
 * when neither $UMLNF_CACHE nor $HOME is set, or -ENAMETOOLONG. */
int gk_cached_path(char *path, size_t len);

/* Parses --showconfig text into *info (pure; exposed for tests). */
void gk_parse_config(const char *text, struct gk_info *info);

#endif
