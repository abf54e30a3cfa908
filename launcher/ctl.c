#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hotplug.h"
#include "instance.h"
#include "json.h"
#include "log.h"
#include "mconsole.h"
#include "util.h"

#define EXIT_ERR_REPLY 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define DEFAULT_TIMEOUT_S 5
#define MAX_TIMEOUT_S 600
/* uml-nf gives a halting guest 15 s before it kills it, then stops its
 * datapath: halt waits this long for the appliance to be gone. */
#define HALT_WAIT_MS 30000

enum ctl_args {
	ARGS_NONE, /* the command alone */
	ARGS_ONE,  /* exactly one word */
	ARGS_TEXT, /* one or more words, joined with spaces */
};

/* The guest's mconsole commands, as the UML howto lists them. Names are
 * matched exactly here (the guest itself would take any prefix). */
static const struct ctl_cmd {
	const char *name;
	enum ctl_args args;
	const char *arg_name;
	const char *help;
} ctl_cmds[] = {
    {"version", ARGS_NONE, "", "the guest kernel's name, release and version"},
    {"help", ARGS_NONE, "", "the guest's own summary of these commands"},
    {"halt", ARGS_NONE, "", "halt the guest at once (no sync); uml-nf then exits: waits"},
    {"reboot", ARGS_NONE, "", "restart the guest kernel at once (no sync)"},
    {"config", ARGS_ONE, "DEV[=SPEC]", "add a device (e.g. ubd1=FILE), or show DEV's"},
    {"remove", ARGS_ONE, "DEV", "remove a device that is not in use"},
    {"sysrq", ARGS_ONE, "KEY", "run SysRq KEY; what it prints comes back"},
    {"cad", ARGS_NONE, "", "Ctrl-Alt-Del (whatever the guest's init makes of it)"},
    {"stop", ARGS_NONE, "", "pause the guest: only mconsole requests are served, until go"},
    {"go", ARGS_NONE, "", "resume a stopped guest"},
    {"log", ARGS_TEXT, "TEXT...", "write TEXT (one line) into the guest's kernel log"},
    {"proc", ARGS_ONE, "FILE", "the contents of the guest's /proc/FILE"},
    {"stack", ARGS_ONE, "PID", "dump guest task PID's stack to the guest's console"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uml-nf ctl [--json] [--timeout SECS] [--no-wait] UMID COMMAND [ARGS...]\n"
		"\n"
		"Talks to the guest kernel of the running appliance UMID over its mconsole\n"
		"(found through its instance directory; UMID may also be the path of any\n"
		"UML's mconsole socket). Commands:\n");
	for (size_t i = 0; i < NF_ARRAY_SIZE(ctl_cmds); i++) {
		const struct ctl_cmd *c = &ctl_cmds[i];
		char left[40];
		snprintf(left, sizeof(left), "%s %s", c->name, c->arg_name);
		fprintf(out, "  %-22s %s\n", left, c->help);
	}
	fprintf(out,
		"Options:\n"
		"  --json          print {\"umid\":...,\"command\":...,\"ok\":...,\"reply\":...}\n"
		"  --timeout SECS  wait this long for each part of the answer (default %d)\n"
		"  --no-wait       halt: return once the guest answered, without waiting for\n"
		"                  the appliance to exit\n"
		"config vecN:... and remove vecN hot-plug uml-nf's own devices (--spare-nics)\n"
		"and never reach the guest. The reply is printed as the guest sends it. Exit\n"
		"status: 0 OK, 1 the guest answered with an error, 2 usage or a config/remove\n"
		"refused as invalid, 3 no such appliance or no answer.\n",
		DEFAULT_TIMEOUT_S);
}

static const struct ctl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NF_ARRAY_SIZE(ctl_cmds); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

static void cmd_names(char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NF_ARRAY_SIZE(ctl_cmds) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", ctl_cmds[i].name);
}

/* One-line error; with --json also the JSON object (ok false, reply null). */
static void report_error(bool json, const char *umid, const char *cmd, const char *msg)
{
	nf_err("ctl %s: %s", umid, msg);
	if (!json)
		return;
	printf("{\"umid\":");
	js_str(stdout, umid);
	printf(",\"command\":");
	if (cmd)
		js_str(stdout, cmd);
	else
		printf("null");
	printf(",\"ok\":false,\"reply\":null,\"error\":");
	js_str(stdout, msg);
	printf("}\n");
}

/* Waits for the owning uml-nf to exit after halt. */
static bool wait_gone(pid_t pid, unsigned long long start, int ms)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	for (int waited = 0; waited < ms; waited += 50) {
		if (!inst_pid_alive(pid, start))
			return true;
		nanosleep(&ts, NULL);
	}
	return !inst_pid_alive(pid, start);
}

int ctl_main(int argc, char **argv)
{
	bool json = false, no_wait = false;
	int timeout_s = DEFAULT_TIMEOUT_S, npos = 0, status;
	const char **pos = calloc((size_t)argc + 1, sizeof(char *));
	char cmd[MC_CMD_MAX + 2] = "", msg[1024], base_buf[256], mc_buf[512], client[PATH_MAX + 32];
	char tmpdir[PATH_MAX] = "";
	static struct inst_probe probe;
	struct ctl_target t = {0};
	struct mc_answer ans = {0};
	bool opts_done = false;

	if (!pos) {
		nf_err("ctl: out of memory");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		/* Options go before COMMAND's own words; "--" ends them. */
		if (!opts_done && npos < 2 && a[0] == '-') {
			if (!strcmp(a, "--")) {
				opts_done = true;
			} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				usage(stdout);
				free(pos);
				return 0;
			} else if (!strcmp(a, "--json")) {
				json = true;
			} else if (!strcmp(a, "--no-wait")) {
				no_wait = true;
			} else if (!strcmp(a, "--timeout")) {
				char *end;
				long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
				if (i + 1 >= argc || *end || end == argv[i + 1] || v < 1 ||
				    v > MAX_TIMEOUT_S) {
					nf_err("ctl: --timeout: expected seconds 1..%d, got \"%s\"",
					       MAX_TIMEOUT_S, i + 1 < argc ? argv[i + 1] : "");
					free(pos);
					return EXIT_USAGE;
				}
				timeout_s = (int)v;
				i++;
			} else {
				nf_err("ctl: unknown option %s", a);
				free(pos);
				return EXIT_USAGE;
			}
			continue;
		}
		/* --json after the command's words, as in "ctl r1 version --json". */
		if (!opts_done && npos >= 2 && !strcmp(a, "--json")) {
			json = true;
			continue;
		}
		pos[npos++] = a;
	}
	if (npos < 2) {
		char names[256];
		cmd_names(names, sizeof(names));
		nf_err("ctl: expected UMID COMMAND (commands: %s)", names);
		free(pos);
		return EXIT_USAGE;
	}
	const char *umid = pos[0];
	const struct ctl_cmd *c = find_cmd(pos[1]);
	if (!c) {
		char names[256];
		cmd_names(names, sizeof(names));
		nf_err("ctl: unknown command \"%s\" (commands: %s)", pos[1], names);
		free(pos);
		return EXIT_USAGE;
	}
	int nargs = npos - 2;
	if ((c->args == ARGS_NONE && nargs) || (c->args == ARGS_ONE && nargs != 1) ||
	    (c->args == ARGS_TEXT && nargs < 1)) {
		nf_err("ctl: %s takes %s", c->name,
		       c->args == ARGS_NONE ? "no arguments" : c->arg_name);
		free(pos);
		return EXIT_USAGE;
	}
	if (!strcmp(c->name, "sysrq") && strlen(pos[2]) != 1) {
		nf_err("ctl: sysrq: expected one key (e.g. sysrq m), got \"%s\"", pos[2]);
		free(pos);
		return EXIT_USAGE;
	}
	if (!strcmp(c->name, "stack") && strspn(pos[2], "0123456789") != strlen(pos[2])) {
		nf_err("ctl: stack: expected a guest PID, got \"%s\"", pos[2]);
		free(pos);
		return EXIT_USAGE;
	}
	size_t len = (size_t)snprintf(cmd, sizeof(cmd), "%s", c->name);
	for (int i = 2; i < npos && len < sizeof(cmd); i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " %s", pos[i]);
	free(pos);
	/* The guest logs TEXT as given: without a newline it would sit in the
	 * kernel's log buffer as an unfinished line. */
	if (!strcmp(c->name, "log") && len < sizeof(cmd) - 1)
		cmd[len++] = '\n', cmd[len] = '\0';
	if (len > MC_CMD_MAX) {
		nf_err("ctl: the command is longer than the %d bytes mconsole takes", MC_CMD_MAX);
		return EXIT_USAGE;
	}

	/* Where the guest listens and where we wait for its answer. */
	t.umid = umid;
	t.timeout_ms = timeout_s * 1000;
	t.info = "";
	if (strchr(umid, '/')) {
		struct stat st;
		t.mconsole = umid;
		const char *tmp = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/uml-nf-ctl.XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(tmpdir)) {
			snprintf(msg, sizeof(msg), "cannot create a directory for the reply: %s",
				 strerror(errno));
			tmpdir[0] = '\0';
			report_error(json, umid, cmd, msg);
			return EXIT_UNREACHABLE;
		}
		/* A guest of another user must be able to reach our socket. */
		if (geteuid() == 0 && stat(umid, &st) == 0 && st.st_uid != 0 &&
		    chown(tmpdir, st.st_uid, st.st_gid) < 0)
			nf_dbg("chown %s: %s", tmpdir, strerror(errno));
		snprintf(client, sizeof(client), "%s/ctl.sock", tmpdir);
	} else {
		const char *base = inst_base(base_buf, sizeof(base_buf));
		int rc = inst_probe(base, umid, &probe);
		if (rc < 0 || !probe.running) {
			if (rc == -ENOENT)
				snprintf(msg, sizeof(msg),
					 "no appliance with this umid (no %s/%s; "
					 "`uml-nf ls` lists the running ones)",
					 base, umid);
			else if (rc == -ENOTDIR)
				snprintf(msg, sizeof(msg),
					 "%s/%s is not a uml-nf instance directory", base, umid);
			else if (rc < 0)
				snprintf(msg, sizeof(msg), "cannot read %s/%s: %s", base, umid,
					 strerror(-rc));
			else if (probe.pid)
				snprintf(msg, sizeof(msg),
					 "not running: %s is stale, left by uml-nf "
					 "pid %d, which is gone",
					 probe.dir, (int)probe.pid);
			else
				snprintf(msg, sizeof(msg), "not running: %s is stale", probe.dir);
			report_error(json, umid, cmd, msg);
			return EXIT_UNREACHABLE;
		}
		if (!inst_info_get(probe.info, "mconsole", mc_buf, sizeof(mc_buf)))
			snprintf(mc_buf, sizeof(mc_buf), "%s/%s/mconsole", probe.dir, umid);
		t.mconsole = mc_buf;
		t.inst_dir = probe.dir;
		t.info = probe.info;
		t.pid = probe.pid;
		snprintf(client, sizeof(client), "%s/ctl.%d.sock", probe.dir, (int)getpid());
	}
	t.client = client;

	char err[512] = "";
	int rc = 0;
	if (!strcmp(c->name, "halt") && t.pid && inst_pid_alive(t.pid, probe.pid_start) &&
	    kill(t.pid, SIGTERM) == 0) {
		/* Through the owning uml-nf, which sends the guest the same
		 * mconsole halt once its devices have stopped touching guest
		 * memory (nf_engine_guest_halting): a guest halted behind its
		 * back frees rings the datapath may still be serving. */
		ans.text = strdup("");
		ans.len = 0;
		rc = ans.text ? 1 : -ENOMEM;
		if (rc < 0)
			snprintf(err, sizeof(err), "out of memory");
	} else {
		rc = hp_ctl(&t, cmd, &ans, err, sizeof(err));
	}
	if (rc < 0) {
		report_error(json, umid, cmd, err);
		status = EXIT_UNREACHABLE;
		goto out;
	}
	if (rc == 0) {
		int l = mc_listening(t.mconsole);
		if (l == 0) {
			snprintf(msg, sizeof(msg),
				 "no guest listens on its mconsole %s (still "
				 "booting, or halting)",
				 t.mconsole);
			report_error(json, umid, cmd, msg);
			status = EXIT_UNREACHABLE;
			goto out;
		}
		rc = mc_request(t.mconsole, t.client, cmd, t.timeout_ms, &ans);
		if (rc == -ETIMEDOUT)
			snprintf(msg, sizeof(msg),
				 "no answer to \"%s\" within %d s (a guest stuck "
				 "in the kernel still answers help, sysrq, log and go)",
				 cmd, timeout_s);
		else if (rc < 0)
			snprintf(msg, sizeof(msg), "cannot talk to %s: %s", t.mconsole,
				 strerror(-rc));
		if (rc < 0) {
			report_error(json, umid, cmd, msg);
			status = EXIT_UNREACHABLE;
			goto out;
		}
	}

	bool ok = ans.err == 0;
	if (json) {
		printf("{\"umid\":");
		js_str(stdout, umid);
		printf(",\"command\":");
		js_str(stdout, cmd);
		printf(",\"ok\":%s,\"reply\":", ok ? "true" : "false");
		js_strn(stdout, ans.text, ans.len);
		printf("}\n");
	} else if (ok) {
		fwrite(ans.text, 1, ans.len, stdout);
		if (ans.len && ans.text[ans.len - 1] != '\n')
			putchar('\n');
	} else {
		/* config/remove answer -errno: say which. */
		int e = (int)ans.err;
		char code[64] = "";
		if (e < 0)
			snprintf(code, sizeof(code), " (%s)", strerror(-e));
		nf_err("ctl %s: %s: %s%s", umid, cmd, ans.text, code);
	}
	/* A config/remove refused as bad input (-EINVAL) is the caller's
	 * mistake, like a bad command line. */
	status = ok ? 0 : (int)ans.err == -EINVAL ? EXIT_USAGE : EXIT_ERR_REPLY;
	fflush(stdout);

	if (ok && !strcmp(c->name, "halt") && t.pid && !no_wait &&
	    !wait_gone(t.pid, probe.pid_start, HALT_WAIT_MS)) {
		nf_err("ctl %s: halt: uml-nf (pid %d) still runs %d s later", umid, (int)t.pid,
		       HALT_WAIT_MS / 1000);
		status = EXIT_ERR_REPLY;
	}
out:
	mc_answer_free(&ans);
	if (tmpdir[0])
		rmdir(tmpdir);
	return status;
}
