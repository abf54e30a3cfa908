#include "ls.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "json.h"
#include "log.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
	fprintf(out, "Usage: uml-nf ls [--json]\n"
		     "\n"
		     "Lists the appliances of this user (root: every uml-nf started as root)\n"
		     "from their instance directories: umid, state, uml-nf's pid, uptime, guest\n"
		     "kernel, devices with their transport and host interface. An instance\n"
		     "directory whose uml-nf is gone (killed) shows as stale, never as running;\n"
		     "the next start with its umid reclaims it. $UMLNF_RUNDIR overrides where\n"
		     "they are looked for.\n");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "1d02h", "3h04m", "5m07s", "42s". */
static void fmt_uptime(long long s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s >= 86400)
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
}

/* A device as the info file describes it. */
struct dev_view {
	char name[32], transport[32], ifname[64], mac[32], socket[256];
};

/* The devices the info's "devices" key lists, at most max. */
static int devices_of(const char *info, struct dev_view *out, int max)
{
	char list[512], key[64];
	int n = 0;
	if (!inst_info_get(info, "devices", list, sizeof(list)))
		return 0;
	for (char *save = NULL, *d = strtok_r(list, " ", &save); d && n < max;
	     d = strtok_r(NULL, " ", &save)) {
		struct dev_view *v = &out[n++];
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s", d);
		snprintf(key, sizeof(key), "%s.transport", d);
		inst_info_get(info, key, v->transport, sizeof(v->transport));
		snprintf(key, sizeof(key), "%s.ifname", d);
		inst_info_get(info, key, v->ifname, sizeof(v->ifname));
		snprintf(key, sizeof(key), "%s.mac", d);
		inst_info_get(info, key, v->mac, sizeof(v->mac));
		snprintf(key, sizeof(key), "%s.socket", d);
		inst_info_get(info, key, v->socket, sizeof(v->socket));
	}
	return n;
}

#define MAX_DEVS 64

/* Seconds since the owner started, from its start time in uml-nf.pid (clock
 * ticks after boot), for instances without an info file; -1 if unknown. */
static long long uptime_from_pid(const struct inst_probe *p)
{
	double up;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/uptime", "re");
	if (!f)
		return -1;
	int n = fscanf(f, "%lf", &up);
	fclose(f);
	if (n != 1 || !p->pid_start || hz <= 0)
		return -1;
	return (long long)up - (long long)(p->pid_start / (unsigned long long)hz);
}

static void print_json(const char *umid, const struct inst_probe *p, long long up, bool first)
{
	char v[4096];
	struct dev_view devs[MAX_DEVS];
	int n = devices_of(p->info, devs, MAX_DEVS);

	printf("%s{\"umid\":", first ? "" : ",");
	js_str(stdout, umid);
	printf(",\"state\":\"%s\",\"pid\":", p->running ? "running" : "stale");
	if (p->pid)
		printf("%d", (int)p->pid);
	else
		printf("null");
	printf(",\"dir\":");
	js_str(stdout, p->dir);
	static const char *const keys[] = {"started", "kernel", "kernel_version", "mconsole"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		printf(",\"%s\":", keys[i]);
		if (!inst_info_get(p->info, keys[i], v, sizeof(v)))
			printf("null");
		else if (i == 0)
			printf("%lld", strtoll(v, NULL, 10));
		else
			js_str(stdout, v);
	}
	printf(",\"uptime_s\":");
	if (up >= 0 && p->running)
		printf("%lld", up);
	else
		printf("null");
	printf(",\"devices\":[");
	for (int i = 0; i < n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		js_str(stdout, devs[i].name);
		const char *f[] = {devs[i].transport, devs[i].ifname, devs[i].mac, devs[i].socket};
		const char *names[] = {"transport", "ifname", "mac", "socket"};
		for (int k = 0; k < 4; k++) {
			printf(",\"%s\":", names[k]);
			if (f[k][0])
				js_str(stdout, f[k]);
			else
				printf("null");
		}
		printf("}");
	}
	printf("]}");
}

static void print_row(const char *umid, const struct inst_probe *p, long long up)
{
	char pid[16] = "-", upt[32] = "-", kernel[64] = "?", devices[1024] = "";
	struct dev_view devs[MAX_DEVS];
	int n = devices_of(p->info, devs, MAX_DEVS);
	size_t len = 0;

	if (p->running && p->pid)
		snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	if (p->running)
		fmt_uptime(up, upt, sizeof(upt));
	if (!inst_info_get(p->info, "kernel_version", kernel, sizeof(kernel)))
		snprintf(kernel, sizeof(kernel), "?");
	for (int i = 0; i < n && len < sizeof(devices); i++)
		len += (size_t)snprintf(devices + len, sizeof(devices) - len, "%s%s=%s%s%s",
					i ? " " : "", devs[i].name, devs[i].transport,
					devs[i].ifname[0] ? ":" : "", devs[i].ifname);
	if (!p->running && p->pid && len < sizeof(devices))
		snprintf(devices + len, sizeof(devices) - len, "%s(uml-nf pid %d is gone)",
			 len ? " " : "", (int)p->pid);
	printf("%-24s %-8s %-8s %-8s %-16s %s\n", umid, p->running ? "running" : "stale", pid, upt,
	       kernel, devices[0] ? devices : "-");
}

int ls_main(int argc, char **argv)
{
	bool json = false;
	char buf[256];
	static struct inst_probe p;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			nf_err("ls: unexpected argument \"%s\" (uml-nf ls [--json])", argv[i]);
			return EXIT_USAGE;
		}
	}
	const char *base = inst_base(buf, sizeof(buf));
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(base);
	if (!d && errno != ENOENT) {
		nf_err("ls: cannot read %s: %s", base, strerror(errno));
		return 1;
	}
	for (struct dirent *e; d && (e = readdir(d));) {
		/* .UMID.new-PID and .UMID.old-PID: being created or removed. */
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);

	time_t now = time(NULL);
	bool first = true;
	if (json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		char v[32];
		if (inst_probe(base, names[i], &p) < 0)
			continue; /* not an instance directory, or not ours to read */
		long long up = inst_info_get(p.info, "started", v, sizeof(v))
				   ? (long long)now - strtoll(v, NULL, 10)
				   : uptime_from_pid(&p);
		if (json) {
			print_json(names[i], &p, up, first);
		} else {
			if (first)
				printf("%-24s %-8s %-8s %-8s %-16s %s\n", "UMID", "STATE", "PID",
				       "UPTIME", "KERNEL", "DEVICES");
			print_row(names[i], &p, up);
		}
		first = false;
	}
	if (json)
		printf("]\n");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}
