/* `uml-nf ctl UMID COMMAND [ARGS...] [--json]`: a running appliance's guest
 * mconsole, found through its instance directory (instance.h), spoken to
 * directly (mconsole.h). Commands are the mconsole's own: version, help,
 * halt, reboot, config, remove, sysrq, cad, stop, go, log, proc, stack.
 * UMID may also be the path of any UML's mconsole socket.
 */
#ifndef NF_CTL_H
#define NF_CTL_H

#include <sys/types.h>

/* An appliance as ctl addresses it; handed to hooks such as hp_ctl. */
struct ctl_target {
	const char *umid;     /* as given on the command line */
	const char *inst_dir; /* BASE/UMID; NULL when a socket path was given */
	const char *info;     /* its uml-nf.info text ("" if none; instance.h) */
	const char *mconsole; /* the guest's mconsole socket */
	const char *client;   /* where a client socket of ours may be bound */
	pid_t pid;	      /* the owning uml-nf, 0 when unknown */
	int timeout_ms;	      /* how long to wait for an answer */
};

/* argv[0] is "ctl". Returns the exit status: 0 the guest answered OK, 1 it
 * answered with an error (or halt did not end the appliance), 2 usage, 3 no
 * such appliance, or it does not answer. */
int ctl_main(int argc, char **argv);

#endif
