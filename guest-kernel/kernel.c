#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int gk_cached_path(char *path, size_t len)
{
	const char *cache = getenv("UMLNF_CACHE");
	const char *home = getenv("HOME");
	int n;

	if (cache && *cache)
		n = snprintf(path, len, "%s/" GK_CACHED_LINK, cache);
	else if (home && *home)
		n = snprintf(path, len, "%s/.cache/uml-nf/" GK_CACHED_LINK, home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gk_find(const char *override, char *path, size_t len, char *err, size_t errlen)
{
	const char *p = override;
	const char *why = "--kernel";
	char cached[4096];

	if (!p) {
		p = getenv("UMLNF_KERNEL");
		why = "$UMLNF_KERNEL";
	}
	/* The tuned kernel is only taken when it is really there; a missing or
	 * stale link silently means "use the stock kernel". */
	if ((!p || !*p) && gk_cached_path(cached, sizeof(cached)) == 0 &&
	    access(cached, X_OK) == 0) {
		p = cached;
		why = "the tuned kernel";
	}
	if (!p || !*p) {
		p = GK_STOCK_PATH;
		why = "the stock kernel";
	}
	if (access(p, X_OK) < 0) {
		int e = errno;
		if (p == (const char *)GK_STOCK_PATH || strcmp(p, GK_STOCK_PATH) == 0)
			snprintf(err, errlen,
				 "guest kernel %s not found (%s): install Debian's user-mode-linux "
				 "package (make deps) or pass --kernel PATH", p, strerror(e));
		else
			snprintf(err, errlen, "guest kernel %s (from %s): %s", p, why, strerror(e));
		return -e;
	}
	if (strlen(p) >= len) {
		snprintf(err, errlen, "guest kernel path too long");
		return -ENAMETOOLONG;
	}
	strcpy(path, p);
	return 0;
}

/* Runs "path arg" and returns its stdout (caller frees), or NULL. */
static char *run_capture(const char *path, const char *arg)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(pfd[1], STDOUT_FILENO);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (buf && len + 4096 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			} else {
				buf = nb;
			}
		}
		char scratch[4096];
		ssize_t n = read(pfd[0], buf ? buf + len : scratch, 4095);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf)
			len += (size_t)n;
	}
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!buf || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static bool line_is(const char *line, size_t n, const char *want)
{
	return n == strlen(want) && strncmp(line, want, n) == 0;
}

void gk_parse_config(const char *text, struct gk_info *info)
{
	info->virtio_uml = false;
	info->virtio_net = 0;
	info->mconsole = false;
	info->hz = 0;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (line_is(line, n, "CONFIG_VIRTIO_UML=y"))
			info->virtio_uml = true;
		else if (line_is(line, n, "CONFIG_VIRTIO_NET=y"))
			info->virtio_net = 'y';
		else if (line_is(line, n, "CONFIG_VIRTIO_NET=m"))
			info->virtio_net = 'm';
		else if (line_is(line, n, "CONFIG_MCONSOLE=y"))
			info->mconsole = true;
		else if (n > 10 && n < 16 && strncmp(line, "CONFIG_HZ=", 10) == 0) {
			unsigned hz = 0;
			size_t i = 10;
			while (i < n && line[i] >= '0' && line[i] <= '9')
				hz = hz * 10 + (unsigned)(line[i++] - '0');
			info->hz = i == n && hz > 0 && hz <= 10000 ? hz : 0;
		}
		line = nl ? nl + 1 : NULL;
	}
}

int gk_check(const char *path, struct gk_info *info, char *err, size_t errlen)
{
	memset(info, 0, sizeof(*info));
	char *ver = run_capture(path, "--version");
	if (!ver) {
		snprintf(err, errlen, "guest kernel %s: --version failed; is it a UML kernel?", path);
		return -ENOEXEC;
	}
	snprintf(info->version, sizeof(info->version), "%.*s", (int)strcspn(ver, "\n"), ver);
	free(ver);

	char *cfg = run_capture(path, "--showconfig");
	if (!cfg) {
		snprintf(err, errlen, "guest kernel %s: --showconfig failed", path);
		return -ENOEXEC;
	}
	gk_parse_config(cfg, info);
	free(cfg);
	if (!info->virtio_uml || !info->virtio_net) {
		snprintf(err, errlen, "guest kernel %s (%s) cannot serve uml-nf devices: missing %s%s%s",
			 path, info->version, info->virtio_uml ? "" : "CONFIG_VIRTIO_UML=y",
			 !info->virtio_uml && !info->virtio_net ? " and " : "",
			 info->virtio_net ? "" : "CONFIG_VIRTIO_NET=y or =m");
		return -ENOTSUP;
	}
	return 0;
}
