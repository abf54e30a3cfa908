#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mconsole.h"

static sigset_t handled;

void sv_block_signals(void)
{
	sigemptyset(&handled);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGHUP);
	sigaddset(&handled, SIGCHLD);
	sigaddset(&handled, SIGUSR1);
	sigprocmask(SIG_BLOCK, &handled, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int sv_spawn(struct sv_guest *g, char *const argv[])
{
	pid_t parent = getpid();

	/* Helpers orphaned by the guest come to us, not to init. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	/* A raw clone puts only the guest in a new PID namespace (unshare
	 * would move every later child of ours, sanitizer helpers included).
	 * The child runs only async-signal-safe calls before execv. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		nf_dbg("no PID namespace for the guest (%s); reaping helpers by PID",
		       strerror(errno));
		pid = fork();
	}
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Die with uml-nf; taking the namespace's other members along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent && getppid() != 0)
			_exit(127);
		if (g->cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(g->cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &handled, NULL);
		/* Only stdin/stdout/stderr are the guest's business. */
		syscall(SYS_close_range, 3u, ~0u, 0u);
		execv(argv[0], argv);
		fprintf(stderr, "uml-nf: error: cannot start %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	g->pid = pid;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Our remaining children (UML helpers re-parented to us). */
static int kill_children(void)
{
	char path[64], buf[512];
	pid_t me = getpid();
	int n = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		/* "pid (comm) state ppid": comm may contain spaces; skip to ')'. */
		char *rp = strrchr(buf, ')');
		int ppid;
		if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == me) {
			kill((pid_t)pid, SIGKILL);
			n++;
		}
	}
	closedir(d);
	return n;
}

static void request_halt(struct sv_guest *g)
{
	char reply[128];
	if (g->on_halt)
		g->on_halt();
	int rc = mc_command(g->mc_sock, g->mc_client, "halt", reply, sizeof(reply), 2000);
	if (rc == 0)
		nf_info("guest is halting");
	else
		nf_warn("mconsole halt failed (%s); will kill the guest",
			rc < 0 ? strerror(-rc) : reply);
}

int sv_wait(struct sv_guest *g)
{
	int sfd = signalfd(-1, &handled, SFD_CLOEXEC);
	long long deadline = -1;
	int status = -1, signals = 0;

	if (sfd < 0)
		nf_err("signalfd: %s", strerror(errno));
	while (status < 0) {
		int timeout = deadline < 0 ? 1000 : (int)(deadline - now_ms());
		if (timeout < 0)
			timeout = 0;
		struct pollfd pfd = { sfd, POLLIN, 0 };
		int rc = poll(&pfd, 1, timeout);
		if (rc > 0) {
			struct signalfd_siginfo si;
			ssize_t got = read(sfd, &si, sizeof(si));
			if (got == sizeof(si) && si.ssi_signo == SIGUSR1) {
				if (g->on_usr1)
					g->on_usr1();
			} else if (got == sizeof(si) && si.ssi_signo != SIGCHLD) {
				signals++;
				if (signals == 1) {
					nf_info("signal %d: halting the guest", (int)si.ssi_signo);
					deadline = now_ms() + g->halt_timeout_ms;
					request_halt(g);
				} else {
					nf_warn("second signal: killing the guest");
					deadline = now_ms();
				}
			}
		}
		if (deadline >= 0 && now_ms() >= deadline) {
			nf_warn("guest did not stop in time; sending SIGKILL");
			kill(g->pid, SIGKILL);
			deadline = -1;
		}
		/* Reap whatever exited; the guest's status is what we keep. */
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);
			if (p <= 0)
				break;
			if (p == g->pid)
				status = st;
		}
	}
	/* Helpers left behind (only without a PID namespace). */
	for (int i = 0; i < 50 && kill_children() > 0; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(20000);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (sfd >= 0)
		close(sfd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
