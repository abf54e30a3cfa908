#include "cpus.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum role { ROLE_GUEST, ROLE_DATAPATH, ROLE_CONTROL, ROLE_N };

static const char *const role_name[ROLE_N] = {
	[ROLE_GUEST] = "guest",
	[ROLE_DATAPATH] = "datapath",
	[ROLE_CONTROL] = "control",
};

static cpu_set_t *role_set(struct cpu_plan *p, enum role r)
{
	switch (r) {
	case ROLE_GUEST:
		return &p->guest;
	case ROLE_DATAPATH:
		return &p->datapath;
	default:
		return &p->control;
	}
}

void cpus_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int end = c;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set))
			end++;
		int n = end == c ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", c)
				 : snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, end);
		if (n < 0 || (size_t)n >= len - used)
			return; /* truncated: good enough for a message */
		used += (size_t)n;
		c = end;
	}
	if (!used)
		snprintf(buf, len, "none");
}

/* A CPU number: decimal digits only, below CPU_SETSIZE. */
static int parse_cpu(const char *s, size_t n, int *cpu)
{
	long v = 0;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
		if (v >= CPU_SETSIZE)
			return -ERANGE;
	}
	*cpu = (int)v;
	return 0;
}

/* Adds one element ("3" or "0-3", n bytes at s) to set. */
static int add_element(const char *spec, const char *s, size_t n, cpu_set_t *set,
		       const cpu_set_t *allowed, char *err, size_t errlen)
{
	const char *dash = memchr(s, '-', n);
	int lo, hi, rc;
	if (n == 0) {
		snprintf(err, errlen, "--cpus: an empty CPU list element in \"%s\"", spec);
		return -EINVAL;
	}
	if (dash) {
		rc = parse_cpu(s, (size_t)(dash - s), &lo);
		if (rc == 0)
			rc = parse_cpu(dash + 1, n - (size_t)(dash - s) - 1, &hi);
	} else {
		rc = parse_cpu(s, n, &lo);
		hi = lo;
	}
	if (rc == -ERANGE) {
		snprintf(err, errlen, "--cpus: \"%.*s\": CPU numbers go up to %d", (int)n, s,
			 CPU_SETSIZE - 1);
		return -EINVAL;
	}
	if (rc < 0) {
		snprintf(err, errlen, "--cpus: \"%.*s\" is not a CPU number or a range N-M", (int)n, s);
		return -EINVAL;
	}
	if (lo > hi) {
		snprintf(err, errlen, "--cpus: range \"%.*s\" runs backwards", (int)n, s);
		return -EINVAL;
	}
	for (int c = lo; c <= hi; c++) {
		if (!CPU_ISSET(c, allowed)) {
			char have[256];
			cpus_format(allowed, have, sizeof(have));
			snprintf(err, errlen, "--cpus: CPU %d is not available to uml-nf (allowed: %s)",
				 c, have);
			return -EINVAL;
		}
		CPU_SET(c, set);
	}
	return 0;
}

int cpus_parse(const char *spec, const cpu_set_t *allowed, struct cpu_plan *out, char *err,
	       size_t errlen)
{
	struct cpu_plan p;
	bool named[ROLE_N] = { false };
	bool keyed = strchr(spec, '=') != NULL;
	cpu_set_t *cur = keyed ? NULL : &p.guest;

	CPU_ZERO(&p.guest);
	CPU_ZERO(&p.datapath);
	CPU_ZERO(&p.control);
	if (!*spec) {
		snprintf(err, errlen, "--cpus: empty; expected a CPU list (0-3) or "
			 "guest=LIST,datapath=LIST[,control=LIST]");
		return -EINVAL;
	}
	for (const char *s = spec;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *eq = memchr(s, '=', n);
		if (eq) {
			size_t klen = (size_t)(eq - s);
			enum role r = ROLE_N;
			for (int i = 0; i < ROLE_N; i++)
				if (strlen(role_name[i]) == klen && memcmp(s, role_name[i], klen) == 0)
					r = (enum role)i;
			if (r == ROLE_N) {
				snprintf(err, errlen, "--cpus: unknown role \"%.*s\" (guest, datapath, "
					 "control)", (int)klen, s);
				return -EINVAL;
			}
			if (named[r]) {
				snprintf(err, errlen, "--cpus: %s given twice", role_name[r]);
				return -EINVAL;
			}
			named[r] = true;
			cur = role_set(&p, r);
			n -= klen + 1;
			s = eq + 1;
		} else if (!cur) {
			snprintf(err, errlen, "--cpus: \"%.*s\" comes before any role= (write "
				 "guest=LIST,datapath=LIST)", (int)n, s);
			return -EINVAL;
		}
		if (add_element(spec, s, n, cur, allowed, err, errlen) < 0)
			return -EINVAL;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!keyed) {
		p.datapath = p.guest;
		p.control = p.guest;
	} else if (!named[ROLE_CONTROL]) {
		p.control = p.guest;
	}
	*out = p;
	return 0;
}

void cpus_default(const cpu_set_t *allowed, const char *umid, struct cpu_plan *out)
{
	int cpus[CPU_SETSIZE], n = 0;
	CPU_ZERO(&out->guest);
	CPU_ZERO(&out->datapath);
	CPU_ZERO(&out->control);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, allowed))
			cpus[n++] = c;
	if (n < 2)
		return;
	/* FNV-1a: appliances named r1, r2, ... land on alternate CPUs. */
	uint32_t h = 2166136261u;
	for (const char *s = umid; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	int g = cpus[h % (unsigned)n], d = cpus[(h + 1) % (unsigned)n];
	CPU_SET(g, &out->guest);
	CPU_SET(g, &out->control);
	CPU_SET(d, &out->datapath);
}
