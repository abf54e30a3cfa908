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

#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

/* After a panic line, how long the guest may go on printing (its trace). */
#define SV_PANIC_GRACE_MS 1500
/* uml-nf's exit status when the guest kernel panicked. */
#define SV_EXIT_PANIC 3

struct sv_guest {
	pid_t pid;
	int cpu;                /* pin the guest here; < 0: no pinning */
	bool sched_batch;       /* run the guest under SCHED_BATCH (no wakeup preemption) */
	const cpu_set_t *cpus;  /* or to this set, if not NULL and not empty (wins over cpu) */
	const char *mc_sock;    /* guest mconsole socket, for a clean halt */
	const char *mc_client;  /* where our mconsole client binds */
	int halt_timeout_ms;    /* after this, SIGKILL */
	void (*on_usr1)(void);  /* SIGUSR1: dump state (optional) */
	void (*on_halt)(void);  /* before asking the guest to halt (optional) */
	bool panic_reboots;     /* the guest has panic=N (N != 0): it restarts itself */
	int notify_fd;          /* the guest's mconsole notify socket (notify.h), or -1 */
	/* A USER_NOTIFY from the guest (text it wrote to /proc/mconsole);
	 * optional. Main thread. */
	void (*on_notify)(const char *text);
	/* set by sv_spawn/sv_wait */
	int out_fd, err_fd;     /* read ends of the guest's stdout and stderr */
	char panic[160];        /* the reason of a guest kernel panic, or "" */
};

/* Blocks the signals the supervisor handles; call before starting threads so
 * every thread inherits the mask. */
void sv_block_signals(void);

/* Starts argv[0] with argv. Its stdout and stderr are pipes to us, copied
 * through unchanged to ours by sv_wait, which reads them for a kernel panic.
 * Returns 0 with g->pid set, or -errno. */
int sv_spawn(struct sv_guest *g, char *const argv[]);

/* Waits for the guest to exit, turning SIGINT/SIGTERM/SIGHUP into a clean
 * mconsole halt and escalating to SIGKILL after the timeout (or a second
 * signal). A guest kernel panic (a PANIC notification on notify_fd, or
 * "Kernel panic - not syncing: REASON" on its stdout or stderr) is reported in one line and, unless panic_reboots,
 * the guest is killed SV_PANIC_GRACE_MS later (UML as the first process of
 * a PID namespace cannot abort and would spin); g->panic holds REASON.
 * Reaps every helper. Returns the exit status for uml-nf: the guest's own,
 * 128 + signal if it was killed, SV_EXIT_PANIC after a panic. */
int sv_wait(struct sv_guest *g);

#endif
