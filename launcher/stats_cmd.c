/* uml-nf stats UMID [--json] [--watch [SECS]]: a running uml-nf's
 * per-device counters, from its control socket (csock_proto.h "stats"). */
#include "stats_cmd.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csock_client.h"
#include "csock_proto.h"
#include "hist.h"
#include "util.h"

#define REP_KEYS 96
#define REP_KEY 32
#define REP_VAL 512
#define MAX_DEVS 64

struct report {
	unsigned n;
	char key[REP_KEYS][REP_KEY];
	char val[REP_KEYS][REP_VAL];
};

struct snapshot {
	unsigned ndevs;
	struct report dev[MAX_DEVS];
	double t; /* CLOCK_MONOTONIC seconds */
	time_t wall;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static const char *rep_get(const struct report *r, const char *key)
{
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

static uint64_t rep_num(const struct report *r, const char *key)
{
	const char *v = rep_get(r, key);
	return v ? strtoull(v, NULL, 10) : 0;
}

static const char *rep_str(const struct report *r, const char *key)
{
	const char *v = rep_get(r, key);
	return v ? v : "-";
}

/* Fetches one snapshot. Returns 0 or -errno with err set. */
static int fetch(const char *umid, struct snapshot *s, char *err, size_t errlen)
{
	struct csc_conn *c = malloc(sizeof(*c));
	char text[256];
	static char line[CSP_REQ_MAX];
	int rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = csc_open(c, umid, err, errlen);
	if (rc < 0)
		goto out;
	rc = csc_send(c, "stats", err, errlen);
	if (rc < 0)
		goto out_close;
	rc = csc_read_status(c, text, sizeof(text), 5000);
	if (rc < 0) {
		snprintf(err, errlen, "umid=%s: %s", umid, text);
		goto out_close;
	}
	char *end;
	unsigned long n = strtoul(text, &end, 10);
	if (*end || end == text || n > MAX_DEVS) {
		snprintf(err, errlen, "umid=%s: malformed stats answer", umid);
		rc = -EPROTO;
		goto out_close;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	s->wall = time(NULL);
	s->ndevs = (unsigned)n;
	for (unsigned d = 0; d < s->ndevs; d++) {
		struct report *r = &s->dev[d];
		rc = csc_read_line(c, line, sizeof(line), 5000);
		if (rc < 0)
			goto out_proto;
		const char *p = line;
		r->n = 0;
		while (r->n < REP_KEYS) {
			int k = csp_kv_next(&p, r->key[r->n], REP_KEY, r->val[r->n], REP_VAL);
			if (k < 0)
				goto out_proto;
			if (k == 0)
				break;
			r->n++;
		}
	}
	rc = csc_read_line(c, line, sizeof(line), 5000);
	if (rc < 0 || strcmp(line, ".") != 0)
		goto out_proto;
	rc = 0;
	goto out_close;

out_proto:
	snprintf(err, errlen, "umid=%s: malformed stats answer", umid);
	rc = -EPROTO;
out_close:
	csc_close(c);
out:
	free(c);
	return rc;
}

static void hist_label(unsigned b, char *buf, size_t len)
{
	unsigned lo = nf_hist_low(b);
	if (b == 0 || b == 1)
		snprintf(buf, len, "%u", lo);
	else if (b == NF_HIST_BUCKETS - 1)
		snprintf(buf, len, "%u+", lo);
	else
		snprintf(buf, len, "%u-%u", lo, 2 * lo - 1);
}

/* Parses a comma list of NF_HIST_BUCKETS counts; false if it is not one. */
static bool hist_parse(const char *s, uint64_t v[NF_HIST_BUCKETS])
{
	for (unsigned b = 0; b < NF_HIST_BUCKETS; b++) {
		char *end;
		v[b] = strtoull(s, &end, 10);
		if (end == s || (b + 1 < NF_HIST_BUCKETS ? *end != ',' : *end != '\0'))
			return false;
		s = end + 1;
	}
	return true;
}

static void print_hist(const char *title, const char *list)
{
	uint64_t v[NF_HIST_BUCKETS];
	printf("  %-10s", title);
	if (!list || !hist_parse(list, v)) {
		printf(" -\n");
		return;
	}
	bool any = false;
	for (unsigned b = 0; b < NF_HIST_BUCKETS; b++) {
		char l[16];
		if (!v[b])
			continue;
		hist_label(b, l, sizeof(l));
		printf(" %s:%llu", l, (unsigned long long)v[b]);
		any = true;
	}
	printf("%s\n", any ? "" : " (no calls yet)");
}

/* Keys shown as per-second rates with --watch. */
static const char *const rate_keys[] = {"rx_packets", "rx_bytes",   "tx_packets",
					"tx_bytes",   "rx_dropped", "tx_dropped"};

static const struct report *prev_dev(const struct snapshot *prev, const struct report *r)
{
	if (!prev)
		return NULL;
	for (unsigned d = 0; d < prev->ndevs; d++)
		if (strcmp(rep_str(&prev->dev[d], "dev"), rep_str(r, "dev")) == 0)
			return &prev->dev[d];
	return NULL;
}

static double rate(const struct report *r, const struct report *p, double dt, const char *key)
{
	uint64_t a = rep_num(r, key), b = rep_num(p, key);
	return a >= b && dt > 0 ? (double)(a - b) / dt : 0;
}

static void print_text(const char *umid, const struct snapshot *s, const struct snapshot *prev)
{
	char when[32];
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&s->wall));
	printf("uml-nf stats umid=%s at %s: %u device%s\n", umid, when, s->ndevs,
	       s->ndevs == 1 ? "" : "s");
	for (unsigned d = 0; d < s->ndevs; d++) {
		const struct report *r = &s->dev[d];
		const char *ifn = rep_get(r, "ifname");
		printf("%s  %s%s%s  link %s  guest %s (link %s)  mac %s  mtu %s  depth %s  gro %s  "
		       "capture %s\n",
		       rep_str(r, "dev"), rep_str(r, "transport"), ifn ? " " : "", ifn ? ifn : "",
		       rep_str(r, "link"), rep_str(r, "guest"), rep_str(r, "guest_link"),
		       rep_str(r, "mac"), rep_str(r, "mtu"), rep_str(r, "depth"), rep_str(r, "gro"),
		       rep_str(r, "capture"));
		if (rep_get(r, "broken"))
			printf("  BROKEN: %s\n", rep_get(r, "broken"));
		printf("  rx         host->guest packets %s bytes %s dropped %s (oversize %s, "
		       "host socket %s)\n",
		       rep_str(r, "rx_packets"), rep_str(r, "rx_bytes"), rep_str(r, "rx_dropped"),
		       rep_str(r, "rx_oversize"), rep_str(r, "host_rx_drops"));
		printf("  tx         guest->host packets %s bytes %s dropped %s (bad_hdr %s, "
		       "bad_frame "
		       "%s, host_down %s) host errors %s port downs %s\n",
		       rep_str(r, "tx_packets"), rep_str(r, "tx_bytes"), rep_str(r, "tx_dropped"),
		       rep_str(r, "tx_bad_hdr"), rep_str(r, "tx_bad_frame"),
		       rep_str(r, "tx_host_down"), rep_str(r, "host_tx_errors"),
		       rep_str(r, "port_downs"));
		printf(
		    "  offloads   rx gso %s csum %s segmented %s split %s coalesced %s; tx gso %s "
		    "csum %s\n",
		    rep_str(r, "rx_gso"), rep_str(r, "rx_csum"), rep_str(r, "rx_segmented"),
		    rep_str(r, "rx_split"), rep_str(r, "rx_coalesced"), rep_str(r, "tx_gso"),
		    rep_str(r, "tx_csum"));
		printf("  guest      kicks %s calls %s recalls %s call_errors %s rx_waits %s "
		       "ctrl_cmds "
		       "%s\n",
		       rep_str(r, "kicks"), rep_str(r, "calls"), rep_str(r, "recalls"),
		       rep_str(r, "call_errors"), rep_str(r, "rx_waits"), rep_str(r, "ctrl_cmds"));
		print_hist("rx batch", rep_get(r, "rx_batch_hist"));
		print_hist("tx batch", rep_get(r, "tx_batch_hist"));
		printf("  features   %s: %s\n", rep_str(r, "features"),
		       rep_str(r, "feature_names"));
		const struct report *p = prev_dev(prev, r);
		if (p) {
			double dt = s->t - prev->t;
			printf("  rate       rx %.1f pps %.3f Mbit/s; tx %.1f pps %.3f Mbit/s; "
			       "drops rx "
			       "%.1f/s tx %.1f/s\n",
			       rate(r, p, dt, "rx_packets"), rate(r, p, dt, "rx_bytes") * 8 / 1e6,
			       rate(r, p, dt, "tx_packets"), rate(r, p, dt, "tx_bytes") * 8 / 1e6,
			       rate(r, p, dt, "rx_dropped"), rate(r, p, dt, "tx_dropped"));
		}
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static bool all_digits(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void json_value(const char *key, const char *v)
{
	size_t kl = strlen(key);
	uint64_t h[NF_HIST_BUCKETS];
	if (kl > 5 && strcmp(key + kl - 5, "_hist") == 0 && hist_parse(v, h)) {
		putchar('{');
		for (unsigned b = 0; b < NF_HIST_BUCKETS; b++) {
			char l[16];
			hist_label(b, l, sizeof(l));
			printf("%s\"%s\":%llu", b ? "," : "", l, (unsigned long long)h[b]);
		}
		putchar('}');
	} else if (strcmp(key, "feature_names") == 0) {
		putchar('[');
		const char *p = v;
		bool first = true;
		while (*p) {
			size_t n = strcspn(p, ",");
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), p);
			if (!first)
				putchar(',');
			json_str(name);
			first = false;
			p += n;
			if (*p == ',')
				p++;
		}
		putchar(']');
	} else if (all_digits(v)) {
		fputs(v, stdout);
	} else {
		json_str(v);
	}
}

static void print_json(const char *umid, const struct snapshot *s, const struct snapshot *prev)
{
	printf("{\"umid\":");
	json_str(umid);
	printf(",\"time\":%lld,\"devices\":[", (long long)s->wall);
	for (unsigned d = 0; d < s->ndevs; d++) {
		const struct report *r = &s->dev[d];
		printf("%s{", d ? "," : "");
		for (unsigned k = 0; k < r->n; k++) {
			printf("%s", k ? "," : "");
			json_str(r->key[k]);
			putchar(':');
			json_value(r->key[k], r->val[k]);
		}
		const struct report *p = prev_dev(prev, r);
		if (p) {
			double dt = s->t - prev->t;
			printf(",\"rates\":{");
			for (size_t i = 0; i < NF_ARRAY_SIZE(rate_keys); i++)
				printf("%s\"%s\":%.3f", i ? "," : "", rate_keys[i],
				       rate(r, p, dt, rate_keys[i]));
			printf(",\"interval\":%.3f}", dt);
		}
		putchar('}');
	}
	printf("]}\n");
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uml-nf stats UMID [--json] [--watch [SECS]]\n"
		"\n"
		"Per-device counters of the uml-nf running with umid=UMID (or of the instance\n"
		"directory UMID, when it holds a '/'), read from its control socket: frames and\n"
		"bytes each way, drops by reason, offloads, guest notifications, batch size\n"
		"histograms (frames per transport call), negotiated virtio features, link state.\n"
		"\n"
		"  --json          one JSON object (with --watch: one per line)\n"
		"  --watch [SECS]  refresh every SECS (default 1, 0.1..3600) with per-second\n"
		"                  rates, until interrupted\n");
}

int nf_stats_main(int argc, char **argv)
{
	const char *umid = NULL;
	bool json = false, watch = false;
	double every = 1.0;
	char err[512];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--watch") == 0 || strncmp(a, "--watch=", 8) == 0) {
			watch = true;
			const char *v = a[7] == '=' ? a + 8 : NULL;
			if (!v && i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9')
				v = argv[++i];
			if (v) {
				char *end;
				every = strtod(v, &end);
				if (*end || end == v || !isfinite(every) || every < 0.1 ||
				    every > 3600) {
					fprintf(stderr,
						"uml-nf: error: stats: --watch: expected seconds "
						"0.1..3600, got \"%s\"\n",
						v);
					return 2;
				}
			}
		} else if (a[0] == '-') {
			fprintf(stderr,
				"uml-nf: error: stats: unknown option \"%s\" (see uml-nf stats "
				"--help)\n",
				a);
			return 2;
		} else if (!umid) {
			umid = a;
		} else {
			fprintf(stderr, "uml-nf: error: stats: unexpected argument \"%s\"\n", a);
			return 2;
		}
	}
	if (!umid) {
		fprintf(stderr, "uml-nf: error: stats: which appliance? (uml-nf stats UMID)\n");
		return 2;
	}
	struct snapshot *cur = malloc(sizeof(*cur)), *prev = malloc(sizeof(*prev));
	if (!cur || !prev) {
		fprintf(stderr, "uml-nf: error: out of memory\n");
		return 1;
	}
	bool have_prev = false;
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int status = 0;
	bool tty = isatty(1);
	while (!stop_flag) {
		int rc = fetch(umid, cur, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "uml-nf: error: stats: %s\n", err);
			status = 1;
			break;
		}
		if (watch && !json && tty)
			fputs("\033[H\033[J", stdout);
		if (json)
			print_json(umid, cur, have_prev ? prev : NULL);
		else
			print_text(umid, cur, have_prev ? prev : NULL);
		fflush(stdout);
		if (!watch)
			break;
		struct snapshot *t = prev;
		prev = cur;
		cur = t;
		have_prev = true;
		struct timespec nap = {(time_t)every,
				       (long)((every - (double)(time_t)every) * 1e9)};
		while (!stop_flag && nanosleep(&nap, &nap) < 0 && errno == EINTR)
			;
	}
	free(cur);
	free(prev);
	return status;
}
