/* `uml-nf cow create|info|merge`: UML copy-on-write disks (the format is in
 * cowfmt.h), and the check uml-nf makes of every COW disk before it boots.
 *
 *   uml-nf cow create [-f] -b BACKING COW     (or: cow create [-f] COW BACKING,
 *                                              uml_mkcow's order)
 *   uml-nf cow info [-b BACKING] [--json] COW
 *   uml-nf cow merge [-b BACKING] COW NEW_IMAGE
 *   uml-nf cow merge [-b BACKING] -d COW       (in place, into the backing file)
 *
 * Files come out byte for byte as uml_mkcow and uml_moo make them, holes
 * included. Nothing is changed on bad input, and a new file only appears
 * complete (written next to its name and renamed).
 */
#ifndef NF_COW_H
#define NF_COW_H

#include <stdbool.h>
#include <stddef.h>

/* argv[0] is "cow". Returns the exit status: 0, 1 (the operation failed), 2
 * (usage). Messages go to stderr. */
int cow_main(int argc, char **argv);

/* Creates COW over BACKING as the kernel and uml_mkcow do (version 3, 512-byte
 * sectors, 4096 alignment, BACKING's size, mtime and absolute path). An
 * existing COW is refused unless force (and even then while a UML has it
 * open). Returns 0, or -errno with a one-line reason in err; nothing is left
 * behind on failure. */
int cow_create(const char *cow, const char *backing, bool force, char *err, size_t len);

/* Looks at one guest kernel argument before boot. For `ubdN[flags]=FILE[,BACKING]`
 * where FILE is an existing COW file, finds the backing file the guest kernel
 * would use (its rules: BACKING if it matches the COW, else the one the header
 * names) and checks that it still has the size and mtime the COW recorded and
 * that no other UML has FILE open; where FILE does not exist yet (the kernel
 * creates it), that BACKING exists. Returns 0 (nothing to say; also for
 * arguments that are not ubd disks or not COW files), 1 with a warning in msg,
 * or -errno with a one-line error in msg: the guest kernel would refuse the
 * disk. msg names the argument, the files and what changed. */
int cow_check_ubd(const char *arg, char *msg, size_t len);

#endif
