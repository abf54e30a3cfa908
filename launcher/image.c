#include "image.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cow.h"
#include "log.h"

#define BUILDER_REL "/../configs/router/build-image.sh"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uml-nf image build PRESET -o FILE [--size SIZE] [--base busybox|debian]\n"
		"                         [--hostname NAME] [--root-password PASSWORD]\n"
		"                         [--cow COW]...\n"
		"\n"
		"Builds a sparse ext4 appliance image without root privileges or mounts.\n"
		"Presets: router (forwarding between eth0..ethN, config in /etc/router.conf;\n"
		"         static or DHCP addresses, optional NAT with nft or iptables-legacy),\n"
		"         firewall (router + stateful ruleset: nftables /etc/firewall.nft on\n"
		"         the tuned kernel, iptables-legacy /etc/firewall.iptables on the\n"
		"         stock one),\n"
		"         bridge (Ethernet bridge br0 of eth0..ethN, bridge-family nftables\n"
		"         filter /etc/bridge.nft; both kernels).\n"
		"  --size SIZE        image size (default 64M; 1G with --base debian, sparse)\n"
		"  --base busybox     static busybox userland (default; seconds, a few MB)\n"
		"  --base debian      minimal Debian userland (nftables, iproute2, ethtool,\n"
		"                     tcpdump, iperf3) from mmdebstrap; the first build takes\n"
		"                     minutes and the package mirror ($UMLNF_DEBIAN_MIRROR),\n"
		"                     later ones reuse ~/.cache/uml-nf/base ($UMLNF_BASE_CACHE)\n"
		"  --hostname NAME    guest host name\n"
		"  --root-password P  root password (for a console login)\n"
		"  --cow COW          (repeatable) make FILE a shared read-only base: once it is\n"
		"                     built, chmod a-w it and create each COW over it (as\n"
		"                     `uml-nf cow create -b FILE COW`); boot one appliance per\n"
		"                     COW with ubd0=COW. Existing COW files are refused.\n");
}

/* The builder sits in the source tree next to the binary's build/ directory;
 * $UMLNF_IMAGE_BUILDER overrides. */
static int find_builder(char *path, size_t len)
{
	const char *env = getenv("UMLNF_IMAGE_BUILDER");
	char exe[PATH_MAX];

	if (env && *env) {
		snprintf(path, len, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -errno;
		exe[n] = '\0';
		if ((size_t)snprintf(path, len, "%s" BUILDER_REL, dirname(exe)) >= len)
			return -ENAMETOOLONG;
	}
	return access(path, R_OK) == 0 ? 0 : -ENOENT;
}

#define MAX_COWS 64

/* Runs the builder and waits for it. Returns its exit status. */
static int run_builder(const char *const *args)
{
	pid_t pid = fork();
	if (pid < 0) {
		nf_err("image build: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp("bash", (char *const *)args);
		nf_err("image build: cannot run bash: %s", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The built image becomes the read-only base of each COW. */
static int make_cows(const char *out, const char **cows, int ncows)
{
	char err[PATH_MAX + 256];
	struct stat st;
	/* Any write to the base would make every COW over it invalid: the
	 * kernel checks its size and mtime. */
	if (stat(out, &st) < 0 || chmod(out, st.st_mode & ~(mode_t)0222) < 0) {
		nf_err("image build: cannot make %s read-only: %s", out, strerror(errno));
		return 1;
	}
	for (int i = 0; i < ncows; i++) {
		if (cow_create(cows[i], out, false, err, sizeof(err)) < 0) {
			nf_err("image build: --cow: %s", err);
			for (int j = 0; j < i; j++)
				unlink(cows[j]);
			return 1;
		}
		printf("image build: %s: COW over %s (boot it with ubd0=%s)\n", cows[i], out, cows[i]);
	}
	printf("image build: %s is read-only now: the shared base of %d COW%s\n", out, ncows,
	       ncows == 1 ? "" : "s");
	return 0;
}

int nf_image_main(int argc, char **argv)
{
	const char *preset = NULL, *out = NULL, *size = NULL, *base = "busybox";
	const char *hostname = NULL, *password = NULL;
	const char *cows[MAX_COWS];
	int ncows = 0;
	char builder[PATH_MAX];

	if (argc < 2 || strcmp(argv[1], "build") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return 0;
		}
		nf_err("image: expected \"image build PRESET -o FILE\"");
		usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (!strcmp(a, "-o") || !strcmp(a, "--output"))
			slot = &out;
		else if (!strcmp(a, "--size"))
			slot = &size;
		else if (!strcmp(a, "--base"))
			slot = &base;
		else if (!strcmp(a, "--hostname"))
			slot = &hostname;
		else if (!strcmp(a, "--root-password"))
			slot = &password;
		else if (!strcmp(a, "--cow")) {
			if (ncows == MAX_COWS) {
				nf_err("image build: at most %d --cow", MAX_COWS);
				return 2;
			}
			slot = &cows[ncows++];
		}
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			nf_err("image build: unknown option %s", a);
			return 2;
		} else if (!preset) {
			preset = a;
			continue;
		} else {
			nf_err("image build: unexpected argument \"%s\"", a);
			return 2;
		}
		if (++i >= argc) {
			nf_err("image build: %s needs a value", a);
			return 2;
		}
		*slot = argv[i];
	}
	if (!preset || !out) {
		nf_err("image build: %s is required", !preset ? "PRESET" : "-o FILE");
		usage(stderr);
		return 2;
	}
	if (strcmp(preset, "router") != 0 && strcmp(preset, "firewall") != 0 &&
	    strcmp(preset, "bridge") != 0) {
		nf_err("image build: unknown preset \"%s\" (router, firewall, bridge)", preset);
		return 2;
	}
	if (strcmp(base, "busybox") != 0 && strcmp(base, "debian") != 0) {
		nf_err("image build: --base %s: unknown base (busybox, debian)", base);
		return 2;
	}
	for (int i = 0; i < ncows; i++) {
		struct stat st;
		if (lstat(cows[i], &st) == 0) {
			nf_err("image build: --cow %s: exists (remove it, or replace it later with "
			       "`uml-nf cow create -f`)", cows[i]);
			return 2;
		}
		if (!strcmp(cows[i], out)) {
			nf_err("image build: --cow %s: that is the image itself", cows[i]);
			return 2;
		}
	}
	if (find_builder(builder, sizeof(builder)) < 0) {
		nf_err("image build: image builder not found (expected %s; set "
		       "UMLNF_IMAGE_BUILDER)", builder);
		return 1;
	}

	const char *args[16];
	int n = 0;
	args[n++] = "bash";
	args[n++] = builder;
	args[n++] = out;
	args[n++] = "--preset";
	args[n++] = preset;
	args[n++] = "--base";
	args[n++] = base;
	if (size) {
		args[n++] = "--size";
		args[n++] = size;
	}
	if (hostname) {
		args[n++] = "--hostname";
		args[n++] = hostname;
	}
	if (password) {
		args[n++] = "--root-password";
		args[n++] = password;
	}
	args[n] = NULL;
	if (ncows == 0) {
		execvp("bash", (char *const *)args);
		nf_err("image build: cannot run bash: %s", strerror(errno));
		return 1;
	}
	int rc = run_builder(args);
	return rc ? rc : make_cows(out, cows, ncows);
}
