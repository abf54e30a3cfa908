/* Running the guest kernel as a supervised child.
 *
 * The kernel runs as the first process of its own PID namespace when we may
 * create one (root): when that process dies, the host kernel kills every UML
 * helper with it, so nothing is orphaned even if uml-nf itself is SIGKILLed
 * (the guest gets SIGKILL through PR_SET_PDEATHSIG). Without that privilege
 * uml-nf becomes a child subreaper and kills leftover helpers by PID.
 */
#ifndef NF_SUPERVISE_H
#define NF_SUPERVISE_H

#include <sys/types.h>

struct sv_guest {
	pid_t pid;
	int cpu;                /* pin the guest here; < 0: no pinning */
	const char *mc_sock;    /* guest mconsole socket, for a clean halt */
	const char *mc_client;  /* where our mconsole client binds */
	int halt_timeout_ms;    /* after this, SIGKILL */
	void (*on_usr1)(void);  /* SIGUSR1: dump state (optional) */
	void (*on_halt)(void);  /* before asking the guest to halt (optional) */
};

/* Blocks the signals the supervisor handles; call before starting threads so
 * every thread inherits the mask. */
void sv_block_signals(void);

/* Starts argv[0] with argv. Returns 0 with g->pid set, or -errno. */
int sv_spawn(struct sv_guest *g, char *const argv[]);

/* Waits for the guest to exit, turning SIGINT/SIGTERM/SIGHUP into a clean
 * mconsole halt and escalating to SIGKILL after the timeout (or a second
 * signal). Reaps every helper. Returns the exit status for uml-nf: the
 * guest's own, or 128 + signal if it was killed. */
int sv_wait(struct sv_guest *g);

#endif
