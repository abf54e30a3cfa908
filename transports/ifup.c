#include "ifup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Polls for the child's exit (10 ms steps) rather than waiting on SIGCHLD:
 * the launcher keeps SIGCHLD blocked for its own supervisor loop. */
static int wait_bounded(pid_t pid, int *status)
{
	const struct timespec step = { 0, 10 * 1000 * 1000 };
	for (unsigned i = 0; i < NF_IFUP_TIMEOUT_S * 100u; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -ETIMEDOUT;
}

int nf_ifup_run(const struct nf_devcfg *cfg, const char *ifname, char *err, size_t errlen)
{
	const struct nf_optval *prog = nf_devcfg_topt(cfg, "ifup");
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int status = 0, rc;

	if (!prog)
		return 0;
	char *argv[] = { (char *)prog->str, (char *)ifname, NULL };

	/* The launcher blocks the signals it supervises with and ignores
	 * SIGPIPE; PROG gets a clean slate. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, prog->str, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		snprintf(err, errlen, "vec%u: ifup: cannot run \"%s\": %s", cfg->index, prog->str,
			 strerror(rc));
		return -rc;
	}
	rc = wait_bounded(pid, &status);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "vec%u: ifup: \"%s %s\" still running after %d s (killed)",
			 cfg->index, prog->str, ifname, NF_IFUP_TIMEOUT_S);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: ifup: waiting for \"%s %s\": %s", cfg->index,
			 prog->str, ifname, strerror(-rc));
		return rc;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(err, errlen, "vec%u: ifup: \"%s %s\" exited with status %d", cfg->index,
			 prog->str, ifname, WEXITSTATUS(status));
	else
		snprintf(err, errlen, "vec%u: ifup: \"%s %s\" killed by signal %d", cfg->index,
			 prog->str, ifname, WTERMSIG(status));
	return -ECHILD;
}
