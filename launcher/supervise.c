#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mconsole.h"
#include "notify.h"

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
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };

	g->out_fd = g->err_fd = -1;
	g->panic[0] = '\0';
	/* The guest's console output passes through us so a panic is seen;
	 * our ends are non-blocking, its ends ordinary pipes. */
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (out[i] >= 0)
				close(out[i]);
			if (err[i] >= 0)
				close(err[i]);
		}
		return -e;
	}

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
	if (pid < 0) {
		int e = errno;
		close(out[0]), close(out[1]), close(err[0]), close(err[1]);
		return -e;
	}
	if (pid == 0) {
		/* Die with uml-nf; taking the namespace's other members along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent && getppid() != 0)
			_exit(127);
		if (g->cpus && CPU_COUNT(g->cpus) > 0) {
			sched_setaffinity(0, sizeof(*g->cpus), g->cpus);
		} else if (g->cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(g->cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		if (g->sched_batch) {
			struct sched_param sp = { 0 };
			sched_setscheduler(0, SCHED_BATCH, &sp);
		}
		/* No address space randomization for the guest: UML adds the
		 * gap between its bss and the (randomised) brk start to the
		 * guest's physical memory, 100 to 600 MB here, and the guest
		 * then initialises a struct page for every page of it: up to
		 * 9 MB of host memory per appliance for nothing. The UML
		 * kernel is a static non-PIE binary at a fixed address, so
		 * randomization hides little from anyone, and the guest is
		 * that process anyway. Inherited across execv. */
		int persona = personality(0xffffffff);
		if (persona != -1)
			personality((unsigned long)persona | ADDR_NO_RANDOMIZE);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &handled, NULL);
		/* dup2 clears close-on-exec on the copies. */
		if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		/* Only stdin/stdout/stderr are the guest's business. */
		syscall(SYS_close_range, 3u, ~0u, 0u);
		execv(argv[0], argv);
		fprintf(stderr, "uml-nf: error: cannot start %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	g->out_fd = out[0];
	g->err_fd = err[0];
	g->pid = pid;
	return 0;
}

/* ---- console pass-through and panic watch ---- */

#define PANIC_MARK "Kernel panic - not syncing: "

/* The current partial line of one stream, enough to hold a panic line. */
struct line_buf {
	char buf[256];
	size_t len;
	bool overlong; /* the line so far did not fit: skip to its end */
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* our own output is gone: keep draining the guest */
		p += w;
		n -= (size_t)w;
	}
}

/* Looks at one complete line; records the first panic reason. */
static void scan_line(struct sv_guest *g, const char *line, size_t len)
{
	const char *m = memmem(line, len, PANIC_MARK, sizeof(PANIC_MARK) - 1);
	if (!m || g->panic[0])
		return;
	const char *r = m + sizeof(PANIC_MARK) - 1;
	size_t n = (size_t)(line + len - r);
	while (n && (r[n - 1] == '\r' || r[n - 1] == ' '))
		n--;
	if (n >= sizeof(g->panic))
		n = sizeof(g->panic) - 1;
	memcpy(g->panic, r, n);
	g->panic[n] = '\0';
	if (!g->panic[0])
		snprintf(g->panic, sizeof(g->panic), "(no reason given)");
}

static void feed(struct sv_guest *g, struct line_buf *lb, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\n') {
			if (!lb->overlong)
				scan_line(g, lb->buf, lb->len);
			lb->len = 0;
			lb->overlong = false;
		} else if (lb->len < sizeof(lb->buf)) {
			lb->buf[lb->len++] = c;
		} else {
			/* Keep the start: the mark sits near the front of the
			 * line, after at most a timestamp. */
			if (!lb->overlong)
				scan_line(g, lb->buf, lb->len);
			lb->overlong = true;
		}
	}
}

/* Handles the notifications waiting on g->notify_fd (a bounded number per
 * call: a guest flooding /proc/mconsole must not starve the rest). */
static void read_notify(struct sv_guest *g)
{
	static unsigned long bad;
	struct nt_msg m;
	for (int i = 0; i < 32; i++) {
		int rc = nt_read(g->notify_fd, &m);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			if (bad++ == 0)
				nf_warn("ignoring a malformed notification from the guest");
			continue;
		}
		switch (m.type) {
		case NT_SOCKET:
			nf_dbg("guest mconsole ready at %s", m.data);
			break;
		case NT_PANIC:
			/* The kernel's own text: better than the console's,
			 * which may not reach us at all. */
			if (!g->panic[0]) {
				const char *why = m.data[0] ? m.data : "(no reason given)";
				size_t n = strnlen(why, sizeof(g->panic) - 1);
				memcpy(g->panic, why, n);
				g->panic[n] = '\0';
			}
			break;
		case NT_HANG:
			nf_warn("the guest reports a hang");
			break;
		case NT_USER:
			if (g->on_notify)
				g->on_notify(m.data);
			break;
		default:
			break;
		}
	}
}

/* Copies what the guest wrote on *fd to out. Returns false at EOF. */
static bool pump(struct sv_guest *g, int *fd, int out, struct line_buf *lb)
{
	char buf[4096];
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		if (n > 0) {
			write_all(out, buf, (size_t)n);
			feed(g, lb, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		close(*fd);
		*fd = -1;
		return false;
	}
	return true;
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
	long long deadline = -1, panic_kill = -1;
	int status = -1, signals = 0;
	bool panicked = false;
	struct line_buf lout = { .len = 0 }, lerr = { .len = 0 };

	if (sfd < 0)
		nf_err("signalfd: %s", strerror(errno));
	while (status < 0) {
		long long next = deadline;
		if (panic_kill >= 0 && (next < 0 || panic_kill < next))
			next = panic_kill;
		/* Every event we wait for has a descriptor (SIGCHLD comes
		 * through the signalfd), so an idle appliance sleeps until
		 * one fires; only without a signalfd do we look once a second. */
		int timeout = sfd >= 0 ? -1 : 1000;
		if (next >= 0)
			timeout = next > now_ms() ? (int)(next - now_ms()) : 0;
		struct pollfd pfds[4] = { { sfd, POLLIN, 0 }, { g->out_fd, POLLIN, 0 },
					  { g->err_fd, POLLIN, 0 }, { g->notify_fd, POLLIN, 0 } };
		int rc = poll(pfds, 4, timeout);
		if (rc > 0 && (pfds[3].revents & POLLIN))
			read_notify(g);
		if (rc > 0 && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			pump(g, &g->out_fd, 1, &lout);
		if (rc > 0 && (pfds[2].revents & (POLLIN | POLLHUP | POLLERR)))
			pump(g, &g->err_fd, 2, &lerr);
		if (g->panic[0] && !panicked) {
			panicked = true;
			if (g->panic_reboots) {
				nf_err("guest kernel panic: %s (panic= is set: the guest restarts)",
				       g->panic);
				g->panic[0] = '\0', panicked = false;
			} else {
				nf_err("guest kernel panic: %s", g->panic);
				panic_kill = now_ms() + SV_PANIC_GRACE_MS;
			}
		}
		if (panic_kill >= 0 && now_ms() >= panic_kill) {
			kill(g->pid, SIGKILL);
			panic_kill = -1;
		}
		if (rc > 0 && (pfds[0].revents & POLLIN)) {
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
	/* What the guest wrote last (its helpers may hold the pipes open). */
	if (g->out_fd >= 0)
		pump(g, &g->out_fd, 1, &lout);
	if (g->err_fd >= 0)
		pump(g, &g->err_fd, 2, &lerr);
	if (g->out_fd >= 0)
		close(g->out_fd);
	if (g->err_fd >= 0)
		close(g->err_fd);
	g->out_fd = g->err_fd = -1;
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
	if (panicked)
		return SV_EXIT_PANIC;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
