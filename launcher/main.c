/* uml-nf: boot a UML network-function appliance whose vecN NICs are served by
 * our vhost-user datapath, or run one of its subcommands.
 *
 *   uml-nf [--kernel PATH] [--cpus SPEC | --no-pin] [--poll USECS] [-v] vecN:transport=NAME,k=v,... [kernel args...]
 *   uml-nf SUBCOMMAND ...     (the subcmds table below)
 *
 * vecN arguments are ours; everything else goes to the guest kernel
 * unchanged and in order, preceded by one virtio_uml.device=SOCKET:1 per
 * device in vec index order (so vec0 is the guest's eth0).
 */
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpfflash.h"
#include "cow.h"
#include "cpus.h"
#include "ctl.h"
#include "broker.h"
#include "csock_proto.h"
#include "csock_server.h"
#include "engine.h"
#include "hotplug.h"
#include "image.h"
#include "instance.h"
#include "kernel.h"
#include "log.h"
#include "ls.h"
#include "lpj.h"
#include "notify.h"
#include "options.h"
#include "port.h"
#include "privs.h"
#include "privsock.h"
#include "stats_cmd.h"
#include "supervise.h"
#include "transport.h"
#include "util.h"
#include "wire.h"

#define EXIT_USAGE 2
#define MAX_DEVICES 64
#define HALT_TIMEOUT_MS 15000
#define SUN_PATH_MAX 107

struct launch {
	const char *kernel_override;
	unsigned poll_us; /* --poll: timed polling period, 0 = off */
	unsigned spares;  /* --spare-nics: hot-plug spares after the devices */
	bool pin;
	const char *cpus_spec; /* --cpus, or NULL */
	bool which_kernel;
	unsigned ndevs;
	struct nf_devcfg devs[MAX_DEVICES];
	int nguest;
	char **guest_args; /* pass-through, in order */
	const char *umid;  /* from umid= or generated */
	const char *uml_dir;
	char umid_buf[64];
	struct inst inst;  /* instance directory */
	char kernel[4096];
	char notify_path[108]; /* our notify socket, given to the guest; "" if none */
	unsigned long lpj;     /* lpj= given to the guest (lpj.h); 0: none */
};

static int help_main(int argc, char **argv);

/* Subcommands: the first argument, matched exactly. Anything else is an
 * appliance boot. --help lists them from here. A new one is a file
 * launcher/NAME.c whose header declares `int NAME_main(int argc, char
 * **argv)` (argv[0] is NAME; it returns the exit status, 2 for usage
 * errors), one entry below (alphabetical), its #include above and its .c in
 * the Makefile's LIB_SRCS. */
static const struct subcmd {
	const char *name;
	int (*main)(int argc, char **argv); /* argv[0] is the name; returns the exit status */
	const char *args;                   /* for the usage line */
	const char *summary;
} subcmds[] = {
	{ "cow", cow_main, "create|info|merge ...", "UML copy-on-write disks (uml_mkcow/uml_moo)" },
	{ "ctl", ctl_main, "UMID COMMAND [ARGS] [--json]", "a running appliance's mconsole" },
	{ "help", help_main, "[SUBCOMMAND]", "this help, or a subcommand's" },
	{ "image", nf_image_main, "build PRESET -o FILE [...]", "build an appliance image" },
	{ "ls", ls_main, "[--json]", "list running appliances" },
	{ "stats", nf_stats_main, "UMID [--json] [--watch [SECS]]", "a running appliance's counters" },
	{ "capture", nf_capture_main, "UMID vecN [-w FILE] [-c N] [-i rx|tx|both] [FILTER]",
	  "live capture of a device's frames to pcap" },
};

static const struct subcmd *find_subcmd(const char *name)
{
	for (size_t i = 0; i < NF_ARRAY_SIZE(subcmds); i++)
		if (strcmp(subcmds[i].name, name) == 0)
			return &subcmds[i];
	return NULL;
}

/* Kernel arguments that are bare words (no '=' or ':'), which may come first
 * on a boot command line. */
static const char *const bare_kernel_args[] = { "ro", "rw", "quiet", "debug", "single",
						"emergency", "nosmp", "noreboot" };

/* A first argument that looks like a subcommand: a bare word, lower case,
 * that is not one of the kernel's own. */
static bool looks_like_subcmd(const char *a)
{
	if (!(a[0] >= 'a' && a[0] <= 'z') || strpbrk(a, "=:/,."))
		return false;
	for (size_t i = 0; i < NF_ARRAY_SIZE(bare_kernel_args); i++)
		if (strcmp(a, bare_kernel_args[i]) == 0)
			return false;
	return true;
}

static void subcmd_names(char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NF_ARRAY_SIZE(subcmds) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", subcmds[i].name);
}

/* The one-line error for a subcommand-looking word where a boot's
 * arguments are: unknown, or a subcommand after options. */
static void refuse_subcmd_word(const char *a)
{
	char names[256];
	if (find_subcmd(a)) {
		nf_err("%s: a subcommand comes first (uml-nf %s ...), before any option", a, a);
		return;
	}
	subcmd_names(names, sizeof(names));
	nf_err("unknown subcommand \"%s\" (subcommands: %s; a kernel argument without \"=\" "
	       "cannot come first)", a, names);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: uml-nf [OPTIONS] vecN:transport=NAME,key=value,... [GUEST KERNEL ARGS...]\n");
	for (size_t i = 0; i < NF_ARRAY_SIZE(subcmds); i++)
		fprintf(out, "       uml-nf %s %s\n", subcmds[i].name, subcmds[i].args);
	fprintf(out,
		"\n"
		"Boots a User Mode Linux guest whose vecN devices are virtio-net NICs served\n"
		"by uml-nf's vhost-user datapath (guest eth0, eth1, ... in vec order).\n"
		"Every argument that is not ours is passed to the guest kernel unchanged.\n"
		"A COW disk (ubdN=COW[,BACKING]) whose backing file changed since the COW\n"
		"was made is refused before anything starts.\n"
		"\n"
		"Subcommands (uml-nf help SUBCOMMAND):\n");
	for (size_t i = 0; i < NF_ARRAY_SIZE(subcmds); i++)
		fprintf(out, "  %-8s %s\n", subcmds[i].name, subcmds[i].summary);
	fprintf(out,
		"\n"
		"Options:\n"
		"  --kernel PATH    guest kernel (default: $UMLNF_KERNEL, else the tuned kernel\n"
		"                   from `make guest-kernel` if built, else %s)\n"
		"  --which-kernel   print the kernel that would boot, check it, and exit\n"
		"  --cpus SPEC      CPU placement: a CPU list (0-3, 0,2) for the whole\n"
		"                   appliance, or guest=LIST,datapath=LIST[,control=LIST]\n"
		"                   per role (control follows guest unless named; roles\n"
		"                   not named are not pinned). Default: guest and datapath\n"
		"                   on two different allowed CPUs picked from the umid\n"
		"  --no-pin         do not pin anything\n"
		"  --poll USECS     while traffic flows (8 frames or more per 2 ms), handle\n"
		"                   frames and guest kicks every USECS in one batch instead\n"
		"                   of waking per event (less CPU per frame at moderate\n"
		"                   rates, up to USECS more latency per hop; lone packets\n"
		"                   stay event-driven); 0 (default) = off, at most %u\n"
		"  --spare-nics N   N more guest NICs (after the vecN devices: eth<ndevs>...)\n"
		"                   with no transport and their link down, for hot-plug with\n"
		"                   `uml-nf ctl UMID config vecN:transport=...`; each costs a\n"
		"                   vhost-user socket and a guest virtio-net device; with N > 0 a\n"
		"                   helper process keeps CAP_NET_RAW to open raw sockets later\n"
		"                   (default 0, at most %d devices in all)\n"
		"  -v, --verbose    debug logging (vhost-user messages)\n"
		"  -h, --help       this help\n"
		"\n",
		GK_STOCK_PATH, NF_POLL_MAX_US, MAX_DEVICES);
	nf_opt_print_help(out);
	fprintf(out,
		"\nExample:\n"
		"  uml-nf vec0:transport=raw,ifname=p-veth0,depth=128,gro=1 \\\n"
		"         vec1:transport=raw,ifname=p-veth1,gro=1 \\\n"
		"         mem=256M ubd0=router.img root=/dev/ubda con=null con0=fd:0,fd:1 umid=r1\n");
}

static int help_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct subcmd *sc = find_subcmd(argv[1]);
	if (!sc || sc->main == help_main) {
		nf_err("help: unknown subcommand \"%s\"", argv[1]);
		return EXIT_USAGE;
	}
	char *args[] = { (char *)sc->name, "--help", NULL };
	return sc->main(2, args);
}

static const char *arg_value(const char *arg, const char *key)
{
	size_t n = strlen(key);
	return strncmp(arg, key, n) == 0 ? arg + n : NULL;
}

/* Splits argv into our options, devices and the guest's arguments. */
static int parse_args(struct launch *L, int argc, char **argv)
{
	char err[8192];
	bool seen[MAX_DEVICES] = { false };

	L->pin = true;
	L->guest_args = calloc((size_t)argc + 1, sizeof(char *));
	if (!L->guest_args)
		return -ENOMEM;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--kernel") == 0) {
			if (++i >= argc) {
				nf_err("--kernel needs a PATH");
				return -EINVAL;
			}
			L->kernel_override = argv[i];
		} else if ((v = arg_value(a, "--kernel="))) {
			L->kernel_override = v;
		} else if (strcmp(a, "--which-kernel") == 0) {
			L->which_kernel = true;
		} else if (strcmp(a, "--poll") == 0 || arg_value(a, "--poll=")) {
			const char *s = arg_value(a, "--poll=");
			if (!s) {
				if (++i >= argc) {
					nf_err("--poll needs a period in microseconds (1..%u, 0 = off)",
					       NF_POLL_MAX_US);
					return -EINVAL;
				}
				s = argv[i];
			}
			char *end;
			errno = 0;
			unsigned long us = strtoul(s, &end, 10);
			if (errno || end == s || *end || *s == '-' || us > NF_POLL_MAX_US) {
				nf_err("--poll: expected microseconds 0..%u, got \"%s\"",
				       NF_POLL_MAX_US, s);
				return -EINVAL;
			}
			L->poll_us = (unsigned)us;
		} else if (strcmp(a, "--spare-nics") == 0 || arg_value(a, "--spare-nics=")) {
			const char *s = arg_value(a, "--spare-nics=");
			if (!s) {
				if (++i >= argc) {
					nf_err("--spare-nics needs a count (0..%d)", MAX_DEVICES);
					return -EINVAL;
				}
				s = argv[i];
			}
			char *end;
			errno = 0;
			unsigned long n = strtoul(s, &end, 10);
			if (errno || end == s || *end || *s == '-' || n > MAX_DEVICES) {
				nf_err("--spare-nics: expected a count 0..%d, got \"%s\"", MAX_DEVICES, s);
				return -EINVAL;
			}
			L->spares = (unsigned)n;
		} else if (strcmp(a, "--no-pin") == 0) {
			L->pin = false;
		} else if (strcmp(a, "--cpus") == 0 || arg_value(a, "--cpus=")) {
			const char *s = arg_value(a, "--cpus=");
			if (!s && ++i >= argc) {
				nf_err("--cpus needs a CPU list or guest=LIST,datapath=LIST");
				return -EINVAL;
			}
			L->cpus_spec = s ? s : argv[i];
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			nf_log_level = NF_LOG_DEBUG;
		} else if (nf_opt_is_device(a)) {
			if (L->ndevs >= MAX_DEVICES) {
				nf_err("too many devices (max %d)", MAX_DEVICES);
				return -EINVAL;
			}
			struct nf_devcfg *cfg = &L->devs[L->ndevs];
			if (nf_opt_parse(a, cfg, err, sizeof(err)) < 0) {
				nf_err("%s", err);
				return -EINVAL;
			}
			if (seen[cfg->index]) {
				nf_err("vec%u: given twice", cfg->index);
				nf_devcfg_release(cfg);
				return -EINVAL;
			}
			seen[cfg->index] = true;
			L->ndevs++;
		} else {
			/* The first word after our options, too, must not be a
			 * subcommand a kernel would boot with. */
			if (L->ndevs == 0 && L->nguest == 0 && looks_like_subcmd(a)) {
				refuse_subcmd_word(a);
				return -EINVAL;
			}
			if ((v = arg_value(a, "umid=")))
				L->umid = v;
			else if ((v = arg_value(a, "uml_dir=")))
				L->uml_dir = v;
			else if (arg_value(a, "virtio_uml.device="))
				nf_warn("%s: an extra virtio_uml device shifts the guest's NIC numbering", a);
			else if (arg_value(a, "ubd")) {
				int rc = cow_check_ubd(a, err, sizeof(err));
				if (rc < 0) {
					nf_err("%s", err);
					return -EINVAL;
				}
				if (rc > 0)
					nf_warn("%s", err);
			}
			L->guest_args[L->nguest++] = argv[i];
		}
	}
	if (L->ndevs + L->spares > MAX_DEVICES) {
		nf_err("--spare-nics %u: %u devices and %u spares are more than %d", L->spares,
		       L->ndevs, L->spares, MAX_DEVICES);
		return -EINVAL;
	}
	/* Guests number virtio NICs in order, so vecN must be the Nth. */
	for (unsigned i = 0; i < L->ndevs; i++)
		if (!seen[i]) {
			nf_err("vec%u: missing; devices must be numbered vec0, vec1, ... without gaps "
			       "(the guest names them eth0, eth1, ... in that order)", i);
			return -EINVAL;
		}
	return 0;
}

static int sort_by_index(const void *a, const void *b)
{
	return (int)((const struct nf_devcfg *)a)->index - (int)((const struct nf_devcfg *)b)->index;
}

/* A locally administered unicast MAC that stays the same across boots of the
 * same umid: 02:xx:xx:xx:xx:NN with FNV-1a of the umid in the middle. */
static void derive_mac(const char *umid, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	for (const char *p = umid; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x02;
	mac[1] = (uint8_t)(h >> 24);
	mac[2] = (uint8_t)(h >> 16);
	mac[3] = (uint8_t)(h >> 8);
	mac[4] = (uint8_t)h;
	mac[5] = (uint8_t)index;
}

/* The instance directory BASE/UMID (see instance.h), created or reclaimed
 * from a uml-nf that was killed. */
static int make_instance(struct launch *L)
{
	char buf[256], err[1024];
	const char *base = inst_base(buf, sizeof(buf));

	if (mkdir(base, 0755) < 0 && errno != EEXIST) {
		nf_err("cannot create %s: %s", base, strerror(errno));
		return -errno;
	}
	/* Longest socket we create or UML creates in BASE/UMID. */
	size_t longest = strlen(base) + 1 + strlen(L->umid) + 1 +
			 (L->uml_dir ? 0 : strlen(L->umid) + 1) + 16;
	if (longest > SUN_PATH_MAX) {
		nf_err("umid=%s: too long for socket paths under %s (use a shorter umid or "
		       "UMLNF_RUNDIR)", L->umid, base);
		return -ENAMETOOLONG;
	}
	int rc = inst_create(&L->inst, base, L->umid, L->uml_dir, err, sizeof(err));
	if (rc < 0)
		nf_err("%s", err);
	return rc;
}

/* Kernel argv: kernel, our devices, the user's args, then umid/uml_dir if
 * the user did not set them. Caller frees the array and marked strings. */
static char **build_kernel_argv(struct launch *L, char ***owned, int *nowned)
{
	int n = 0, cap = L->nguest + (int)(L->ndevs + L->spares) + 6;
	char **argv = calloc((size_t)cap, sizeof(char *));
	*owned = calloc((size_t)cap, sizeof(char *));
	*nowned = 0;
	if (!argv || !*owned)
		return NULL;
	argv[n++] = L->kernel;
	for (unsigned i = 0; i < L->ndevs + L->spares; i++) {
		char *s;
		if (asprintf(&s, "virtio_uml.device=%s/vec%u.sock:%d", L->inst.dir, i, VIRTIO_ID_NET) < 0)
			return NULL;
		argv[n++] = (*owned)[(*nowned)++] = s;
	}
	for (int i = 0; i < L->nguest; i++)
		argv[n++] = L->guest_args[i];
	char *s;
	if (!L->uml_dir) {
		if (asprintf(&s, "uml_dir=%s", L->inst.dir) < 0)
			return NULL;
		argv[n++] = (*owned)[(*nowned)++] = s;
	}
	if (L->umid == L->umid_buf) {
		if (asprintf(&s, "umid=%s", L->umid) < 0)
			return NULL;
		argv[n++] = (*owned)[(*nowned)++] = s;
	}
	if (L->notify_path[0]) {
		if (asprintf(&s, "mconsole=notify:%s", L->notify_path) < 0)
			return NULL;
		argv[n++] = (*owned)[(*nowned)++] = s;
	}
	if (L->lpj) {
		if (asprintf(&s, "lpj=%lu", L->lpj) < 0)
			return NULL;
		argv[n++] = (*owned)[(*nowned)++] = s;
	}
	argv[n] = NULL;
	return argv;
}

/* bpfflash state: what guest_notify needs of the running appliance. */
static struct {
	struct launch *L;
	struct nf_port **ports;
	struct bx_buf *buf[MAX_DEVICES]; /* allocated on a device's first request */
	bool refused_logged[MAX_DEVICES];
} flash;

static void bpfflash_request(const struct bx_req *r)
{
	char why[256];
	if (r->eth >= flash.L->ndevs) {
		nf_warn("bpfflash: the guest named eth%u; it has %u uml-nf NICs", r->eth,
			flash.L->ndevs);
		return;
	}
	const struct nf_devcfg *cfg = &flash.L->devs[r->eth];
	if (!cfg->bpfflash) {
		if (!flash.refused_logged[r->eth])
			nf_warn("vec%u: the guest asked to load a receive filter: refused "
				"(bpfflash=1 not given)", cfg->index);
		flash.refused_logged[r->eth] = true;
		return;
	}
	struct bx_buf **b = &flash.buf[r->eth];
	if (!*b && !(*b = calloc(1, sizeof(**b))))
		return;
	struct bf_prog prog = { NULL, 0 };
	static const struct sock_filter accept_all = BPF_STMT(BPF_RET | BPF_K, 0x40000);
	int rc = 0;
	switch (r->op) {
	case BX_DATA:
		if (bx_append(*b, r) < 0 && (*b)->len == sizeof((*b)->bytes))
			nf_warn("vec%u: bpfflash: the guest sent more than %u instructions",
				cfg->index, BF_MAX_INSNS);
		return;
	case BX_COMMIT:
		rc = bx_commit(*b, r->count, &prog, why, sizeof(why));
		break;
	case BX_CLEAR:
		/* Back to what the command line asked for, or to none. */
		if (cfg->bpffile)
			rc = bf_load_file(cfg->bpffile, &prog, why, sizeof(why));
		else if (cfg->bpf_expr)
			rc = bf_compile(cfg->bpf_expr, &prog, why, sizeof(why));
		else
			rc = bf_from_bytes(&accept_all, sizeof(accept_all), &prog, why, sizeof(why));
		break;
	}
	if (rc == 0)
		rc = nf_port_set_filter(flash.ports[r->eth], &prog, why, sizeof(why));
	if (rc < 0)
		nf_warn("vec%u: bpfflash: %s", cfg->index, why);
	else if (r->op == BX_COMMIT)
		nf_info("vec%u: the guest installed a receive filter of %u instructions",
			cfg->index, prog.len);
	else
		nf_info("vec%u: the guest removed its receive filter", cfg->index);
	bf_free(&prog);
}

/* Text the guest wrote to /proc/mconsole: bpfflash requests, else logged. */
static void guest_notify(const char *text)
{
	struct bx_req r;
	char why[128];
	int rc = bx_parse(text, &r, why, sizeof(why));
	if (rc == 0)
		nf_info("guest notification: %.120s", text);
	else if (rc < 0)
		nf_warn("bpfflash: malformed request from the guest: %s", why);
	else
		bpfflash_request(&r);
}

/* BASE/UMID/uml-nf.info for `uml-nf ls` and `uml-nf ctl` (keys: instance.h). */
static void write_info(struct launch *L, const struct gk_info *info, const char *mc_sock,
		       uint8_t macs[][6])
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	fprintf(f, "# uml-nf instance: key=value (uml-nf ls)\n");
	fprintf(f, "umid=%s\npid=%d\nstarted=%lld\nkernel=%s\nkernel_version=%s\nmconsole=%s\n",
		L->umid, (int)getpid(), (long long)time(NULL), L->kernel, info->version, mc_sock);
	fprintf(f, "devices=");
	for (unsigned i = 0; i < L->ndevs; i++)
		fprintf(f, "%svec%u", i ? " " : "", L->devs[i].index);
	fprintf(f, "\n");
	for (unsigned i = 0; i < L->ndevs; i++) {
		const struct nf_devcfg *cfg = &L->devs[i];
		const struct nf_optval *ifn = nf_devcfg_topt(cfg, "ifname");
		const uint8_t *m = macs[i];
		fprintf(f, "vec%u.transport=%s\n", cfg->index, cfg->transport->name);
		if (ifn && ifn->str)
			fprintf(f, "vec%u.ifname=%s\n", cfg->index, ifn->str);
		fprintf(f, "vec%u.mac=%02x:%02x:%02x:%02x:%02x:%02x\n", cfg->index, m[0], m[1], m[2],
			m[3], m[4], m[5]);
		fprintf(f, "vec%u.socket=%s/vec%u.sock\n", cfg->index, L->inst.dir, cfg->index);
	}
	if (fclose(f) == 0) {
		int rc = inst_info_write(&L->inst, text);
		if (rc < 0)
			nf_warn("cannot write %s/uml-nf.info (uml-nf ls will not show the devices): %s",
				L->inst.dir, strerror(-rc));
	}
	free(text);
}

static void drop_privileges(void)
{
	uint64_t eff = 0, prm = 0;
	int rc = pv_drop(0);
	if (rc < 0)
		nf_warn("could not drop capabilities: %s", strerror(-rc));
	if (pv_current(&eff, &prm) == 0)
		nf_dbg("capabilities after setup: effective 0x%llx, permitted 0x%llx",
		       (unsigned long long)eff, (unsigned long long)prm);
}

/* Where the guest and our threads run: --cpus, else the default spread
 * (cpus.h), else nothing pinned. Bad --cpus is bad input (-EINVAL). */
static int plan_cpus(const struct launch *L, struct cpu_plan *plan)
{
	cpu_set_t allowed;
	char err[512];
	CPU_ZERO(&plan->guest);
	CPU_ZERO(&plan->datapath);
	CPU_ZERO(&plan->control);
	if (L->cpus_spec && !L->pin) {
		nf_err("--cpus and --no-pin contradict each other");
		return -EINVAL;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		if (L->cpus_spec) {
			nf_err("--cpus: cannot read our CPU affinity: %s", strerror(errno));
			return -EINVAL;
		}
		return 0;
	}
	if (L->cpus_spec) {
		if (cpus_parse(L->cpus_spec, &allowed, plan, err, sizeof(err)) < 0) {
			nf_err("%s", err);
			return -EINVAL;
		}
		return 0;
	}
	if (L->pin)
		cpus_default(&allowed, L->umid, plan);
	return 0;
}

static struct nf_engine *dump_engine;

static void note_halting(void)
{
	nf_engine_guest_halting(dump_engine);
}

static void dump_state(void)
{
	nf_engine_dump(dump_engine, stderr);
	nf_engine_print_stats(dump_engine, stderr);
}

int main(int argc, char **argv)
{
	static struct launch L;
	struct nf_engine *eng = NULL;
	struct cs_server *ctl = NULL;
	int broker_fd = -1;
	struct gk_info info;
	char err[512];
	int status = 1, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2) {
		const struct subcmd *sc = find_subcmd(argv[1]);
		if (sc)
			return sc->main(argc - 1, argv + 1);
		/* Never boot a kernel for a mistyped subcommand. */
		if (looks_like_subcmd(argv[1])) {
			refuse_subcmd_word(argv[1]);
			return EXIT_USAGE;
		}
	}
	if (parse_args(&L, argc, argv) < 0)
		return EXIT_USAGE;
	qsort(L.devs, L.ndevs, sizeof(L.devs[0]), sort_by_index);

	if (gk_find(L.kernel_override, L.kernel, sizeof(L.kernel), err, sizeof(err)) < 0) {
		nf_err("%s", err);
		return EXIT_USAGE;
	}
	rc = gk_check(L.kernel, &info, err, sizeof(err));
	if (L.which_kernel) {
		char real[4096];
		printf("%s\n", L.kernel);
		if (realpath(L.kernel, real) && strcmp(real, L.kernel) != 0)
			printf("-> %s\n", real);
		if (rc == 0)
			printf("version %s, virtio_uml built in, virtio_net %s%s\n", info.version,
			       info.virtio_net == 'y' ? "built in" : "a module (the image must carry it)",
			       info.mconsole ? "" : ", no mconsole (no clean halt)");
		else
			nf_err("%s", err);
		return rc == 0 ? 0 : 1;
	}
	if (rc < 0) {
		nf_err("%s", err);
		return EXIT_USAGE;
	}
	if (L.ndevs + L.spares == 0)
		nf_warn("no vecN devices given: the guest boots without uml-nf NICs");

	if (!L.umid) {
		snprintf(L.umid_buf, sizeof(L.umid_buf), "uml-nf-%d", (int)getpid());
		L.umid = L.umid_buf;
	}
	struct cpu_plan cpus;
	if (plan_cpus(&L, &cpus) < 0) {
		status = EXIT_USAGE;
		goto out_release;
	}
	/* The guest's delay loop, calibrated here in ~15 ms instead of by the
	 * guest in ~70 ms of every boot (lpj.h), unless the user gave lpj=. */
	bool user_lpj = false;
	for (int i = 0; i < L.nguest; i++)
		user_lpj |= arg_value(L.guest_args[i], "lpj=") != NULL;
	if (!user_lpj) {
		L.lpj = lpj_measure(info.hz);
		if (L.lpj)
			nf_dbg("guest lpj=%lu (CONFIG_HZ=%u)", L.lpj, info.hz);
	}
	sv_block_signals();

	/* Open every transport before creating anything visible, so bad
	 * input starts nothing. */
	struct nf_port *ports[MAX_DEVICES] = { 0 };
	for (unsigned i = 0; i < L.ndevs; i++) {
		rc = nf_port_open(&L.devs[i], &ports[i], err, sizeof(err));
		if (rc < 0) {
			nf_err("%s", err);
			status = EXIT_USAGE; /* a device the host cannot provide is bad input */
			for (unsigned j = 0; j < i; j++)
				ports[j]->transport->close(ports[j]);
			goto out_release;
		}
	}
	if (make_instance(&L) < 0) {
		for (unsigned j = 0; j < L.ndevs; j++)
			ports[j]->transport->close(ports[j]);
		goto out_release;
	}
	rc = nf_engine_create(&eng);
	if (rc < 0) {
		nf_err("engine: %s", strerror(-rc));
		for (unsigned j = 0; j < L.ndevs; j++)
			ports[j]->transport->close(ports[j]);
		goto out_remove;
	}
	static uint8_t macs[MAX_DEVICES][6];
	for (unsigned i = 0; i < L.ndevs; i++) {
		char sock[256];
		uint8_t *mac = macs[i];
		const struct nf_devcfg *cfg = &L.devs[i];
		if (cfg->mac_set)
			memcpy(mac, cfg->mac, 6);
		else
			derive_mac(L.umid, cfg->index, mac);
		snprintf(sock, sizeof(sock), "%s/vec%u.sock", L.inst.dir, cfg->index);
		rc = nf_engine_add(eng, cfg, ports[i], sock, mac, err, sizeof(err));
		if (rc < 0) {
			nf_err("%s", err);
			for (unsigned j = i + 1; j < L.ndevs; j++)
				ports[j]->transport->close(ports[j]);
			goto out_engine;
		}
		nf_info("vec%u: transport %s, guest eth%u, mac %02x:%02x:%02x:%02x:%02x:%02x, "
			"depth %u, mtu %u, gro %d, vec %d, mrg %d", i, cfg->transport->name, i,
			mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], cfg->depth, cfg->mtu,
			cfg->gro, cfg->vec, cfg->mrg);
	}

	/* The control socket (stats, capture, hot-plug) exists before the
	 * guest boots; its thread starts with the datapath's. */
	char ctl_path[256];
	snprintf(ctl_path, sizeof(ctl_path), "%s/%s", L.inst.dir, CSP_SOCK_NAME);
	struct cs_hotplug_ops hp;
	hp_server_ops(&hp, eng);
	if (cs_open(&ctl, ctl_path, eng, L.umid, &hp, err, sizeof(err)) < 0) {
		nf_err("%s", err);
		goto out_engine;
	}

	for (unsigned i = L.ndevs; i < L.ndevs + L.spares; i++) {
		char sock[256];
		uint8_t mac[6];
		derive_mac(L.umid, i, mac);
		snprintf(sock, sizeof(sock), "%s/vec%u.sock", L.inst.dir, i);
		if (nf_engine_add_spare(eng, i, sock, mac, err, sizeof(err)) < 0) {
			nf_err("%s", err);
			goto out_engine;
		}
		nf_info("vec%u: spare, guest eth%u, mac %02x:%02x:%02x:%02x:%02x:%02x, link down until "
			"`uml-nf ctl %s config vec%u:transport=...`", i, i, mac[0], mac[1], mac[2],
			mac[3], mac[4], mac[5], L.umid, i);
	}
	/* Hot-plug after the privileges are gone: a helper keeps just what
	 * opening a raw socket takes (broker.h). */
	if (L.spares) {
		pid_t bpid;
		broker_fd = br_start(&bpid);
		if (broker_fd < 0)
			nf_warn("no socket broker (%s): hot-plugging a raw transport will fail",
				strerror(-broker_fd));
		else
			nf_dbg("socket broker: pid %d", (int)bpid);
	}

	nf_engine_set_cpus(eng, &cpus.control, &cpus.datapath);
	nf_engine_set_poll(eng, L.poll_us);
	/* Datapath and guest on one CPU (the only one we may use): keep the
	 * datapath from preempting the guest on every kick (SCHED_BATCH),
	 * so it runs once the guest's pass is done and finds a batch.
	 * UMLNF_SCHED_BATCH=off|dp|all overrides (A/B runs). */
	const char *sb = getenv("UMLNF_SCHED_BATCH");
	bool one_cpu = false;
	cpu_set_t aff;
	if (sched_getaffinity(0, sizeof(aff), &aff) == 0)
		one_cpu = CPU_COUNT(&aff) == 1;
	bool sb_dp = sb ? strcmp(sb, "dp") == 0 || strcmp(sb, "all") == 0 : one_cpu;
	bool sb_guest = sb && strcmp(sb, "all") == 0;
	nf_engine_set_sched_batch(eng, sb_dp);

	/* The guest's notify channel (panic text, /proc/mconsole), unless the
	 * user points it elsewhere. */
	int notify_fd = -1;
	bool user_notify = false;
	for (int i = 0; i < L.nguest; i++)
		if (strncmp(L.guest_args[i], "mconsole=notify:", 16) == 0)
			user_notify = true;
	if (!user_notify) {
		char path[sizeof(L.notify_path)];
		if ((size_t)snprintf(path, sizeof(path), "%.*s/notify.sock",
				     (int)(sizeof(path) - sizeof("/notify.sock")), L.inst.dir) >=
		    sizeof(path))
			path[0] = '\0';
		notify_fd = path[0] ? nt_open(path) : -ENAMETOOLONG;
		if (notify_fd >= 0)
			snprintf(L.notify_path, sizeof(L.notify_path), "%s", path);
		else
			nf_dbg("no notify socket at %s: %s", path, strerror(-notify_fd));
	}

	char **owned = NULL;
	int nowned = 0;
	char **kargv = build_kernel_argv(&L, &owned, &nowned);
	if (!kargv) {
		nf_err("out of memory");
		goto out_engine;
	}
	char mc_sock[512], mc_client[512];
	snprintf(mc_sock, sizeof(mc_sock), "%s/%s/mconsole", L.uml_dir ? L.uml_dir : L.inst.dir, L.umid);
	write_info(&L, &info, mc_sock, macs);
	snprintf(mc_client, sizeof(mc_client), "%s/mconsole.client", L.inst.dir);
	struct sv_guest g = {
		.cpu = -1,
		.cpus = &cpus.guest,
		.sched_batch = sb_guest,
		.mc_sock = mc_sock,
		.mc_client = mc_client,
		.halt_timeout_ms = HALT_TIMEOUT_MS,
		.on_usr1 = dump_state,
		.on_halt = note_halting,
		.notify_fd = notify_fd,
		.on_notify = guest_notify,
	};
	/* panic=N (N != 0): the guest reboots itself after a panic. */
	for (int i = 0; i < L.nguest; i++) {
		const char *v = arg_value(L.guest_args[i], "panic=");
		if (v)
			g.panic_reboots = strtol(v, NULL, 0) != 0;
	}
	dump_engine = eng;
	flash.L = &L;
	flash.ports = ports;
	bool pinned = CPU_COUNT(&cpus.guest) || CPU_COUNT(&cpus.datapath) || CPU_COUNT(&cpus.control);
	nf_info("booting %s (%s) umid=%s%s", L.kernel, info.version, L.umid,
		pinned ? "" : " (no CPU pinning)");
	if (pinned) {
		char gs[128], ds[128], cs[128];
		cpus_format(&cpus.guest, gs, sizeof(gs));
		cpus_format(&cpus.datapath, ds, sizeof(ds));
		cpus_format(&cpus.control, cs, sizeof(cs));
		if (L.cpus_spec)
			nf_info("CPUs: guest %s, datapath %s, control %s", gs, ds, cs);
		else
			nf_dbg("CPUs: guest %s, datapath %s, control %s", gs, ds, cs);
	}
	rc = sv_spawn(&g, kargv);
	if (rc < 0) {
		nf_err("cannot start the guest kernel: %s", strerror(-rc));
	} else {
		/* Everything that needs a privilege is done (sockets, taps,
		 * the guest's PID namespace): drop them all before the
		 * datapath threads, which touch guest memory, exist. The
		 * guest finds our sockets listening meanwhile. */
		drop_privileges();
		if (broker_fd >= 0)
			nf_sock_use_broker(broker_fd);
		rc = nf_engine_start(eng, -1, -1);
		if (rc < 0) {
			nf_err("cannot start datapath threads: %s", strerror(-rc));
			kill(g.pid, SIGKILL);
		} else if (cs_start(ctl) < 0) {
			nf_warn("cannot start the control socket thread: no stats, capture or "
				"hot-plug");
		}
		status = sv_wait(&g);
		if (rc < 0)
			status = 1;
		if (status == SV_EXIT_PANIC)
			nf_info("guest stopped after a kernel panic; exiting with status %d",
				SV_EXIT_PANIC);
		else
			nf_info("guest exited with status %d", status);
	}
	for (int i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(kargv);

	if (notify_fd >= 0) {
		close(notify_fd);
		unlink(L.notify_path);
	}

out_engine:
	cs_close(ctl);
	nf_engine_stop(eng);
	nf_sock_use_broker(-1);
	if (broker_fd >= 0)
		close(broker_fd); /* the broker exits */
	nf_engine_print_stats(eng, stderr);
	nf_engine_destroy(eng);
out_remove:
	inst_remove(&L.inst);
out_release:
	for (unsigned i = 0; i < L.ndevs; i++)
		nf_devcfg_release(&L.devs[i]);
	free(L.guest_args);
	for (unsigned i = 0; i < MAX_DEVICES; i++)
		free(flash.buf[i]);
	return status;
}
