/* `uml-nf ls [--json]`: the appliances whose instance directories
 * (instance.h) are under this user's base, running or stale. */
#ifndef NF_LS_H
#define NF_LS_H

/* argv[0] is "ls". Returns the exit status (0; 1 when the base cannot be
 * read; 2 usage). */
int ls_main(int argc, char **argv);

#endif
