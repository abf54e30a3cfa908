#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"
#include "util.h"

/* Common options, in --help order. The index of each entry is fixed by the
 * enum below, which is how parsed values reach struct nf_devcfg. */
enum { C_DEPTH, C_MAC, C_GRO, C_MTU, C_HEADROOM, C_VEC, C_MRG, C_COALESCE, C_BPFFILE, C_BPF, C_BPFFLASH, C_COUNT };

static const struct nf_optdesc common_opts[C_COUNT] = {
	[C_DEPTH] = { "depth", NF_OPT_UINT, 1, 1024, false,
		      "packets per batch (recvmmsg/sendmmsg vector), default 64", NULL },
	[C_MAC] = { "mac", NF_OPT_MAC, 0, 0, false,
		    "guest MAC xx:xx:xx:xx:xx:xx (unicast); default derived from umid and N", NULL },
	[C_GRO] = { "gro", NF_OPT_BOOL, 0, 1, false,
		    "1: GSO/TSO frames end to end through virtio-net headers, default 0", NULL },
	[C_MTU] = { "mtu", NF_OPT_UINT, 576, 65534, false,
		    "guest MTU (virtio-net config), default 1500 (gre, l2tpv3: the path MTU "
		    "minus the encapsulation, at most 1500)", NULL },
	/* UML reserves headroom bytes in front of each received frame. Here
	 * the guest's receive buffers are virtio_net's, which keeps its own
	 * headroom, and a tunnel's header is a separate iovec of ours, never
	 * written in front of the frame: accepted, checked, no effect. */
	[C_HEADROOM] = { "headroom", NF_OPT_UINT, 0, 256, false,
			 "accepted for UML compatibility, no effect (virtio_net keeps its "
			 "own headroom; tunnel headers are separate iovecs)", NULL },
	[C_VEC] = { "vec", NF_OPT_BOOL, 0, 1, false,
		    "0: one packet per syscall instead of vector I/O, default 1", NULL },
	[C_MRG] = { "mrg", NF_OPT_BOOL, 0, 1, false,
		    "1: offer mergeable rx buffers (copied into); default 0: one guest "
		    "buffer per frame, zero copy (uml-nf extension)", NULL },
	[C_COALESCE] = { "coalesce", NF_OPT_UINT, 0, 10000, false,
			 "at most one receive interrupt per N microseconds, default 0 "
			 "(uml-nf extension)", NULL },
	[C_BPFFILE] = { "bpffile", NF_OPT_STRING, 0, 4096, false,
			"classic BPF receive filter: a file of 8-byte sock_filter records", NULL },
	[C_BPF] = { "bpf", NF_OPT_STRING, 0, 4096, false,
		    "receive filter as a tcpdump expression, compiled with libpcap; must come "
		    "last: its value runs to the end of the spec, commas and '=' included "
		    "(uml-nf extension)", NULL },
	[C_BPFFLASH] = { "bpfflash", NF_OPT_BOOL, 0, 1, false,
			 "1: the guest may replace the receive filter (uml-nf-bpfflash in the "
			 "guest); default 0", NULL },
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool nf_opt_is_device(const char *arg)
{
	if (strncmp(arg, "vec", 3) != 0 || !isdigit((unsigned char)arg[3]))
		return false;
	const char *p = arg + 3;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == ':';
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return false;
		char hex[3] = { s[0], s[1], 0 };
		mac[i] = (uint8_t)strtoul(hex, NULL, 16);
		s += 2;
		if (i < 5 && *s++ != ':')
			return false;
	}
	return *s == '\0';
}

/* Validates one value against its descriptor; fills *v. */
static int parse_value(const char *dev, const struct nf_optdesc *d, const char *val,
		       struct nf_optval *v, char *err, size_t errlen)
{
	char *end;

	if (d->unsupported)
		return fail(err, errlen, "%s: %s: %s", dev, d->name, d->unsupported);
	if (*val == '\0')
		return fail(err, errlen, "%s: %s: empty value", dev, d->name);
	v->str = val;
	switch (d->type) {
	case NF_OPT_BOOL:
		if (strcmp(val, "0") && strcmp(val, "1"))
			return fail(err, errlen, "%s: %s: expected 0 or 1, got \"%s\"", dev,
				    d->name, val);
		v->num = val[0] == '1';
		break;
	case NF_OPT_UINT:
		errno = 0;
		if (!isdigit((unsigned char)val[0]))
			goto bad_number;
		v->num = strtoll(val, &end, 10);
		if (errno || *end)
			goto bad_number;
		if (v->num < d->min || v->num > d->max)
			return fail(err, errlen, "%s: %s: %s is out of range %lld..%lld", dev,
				    d->name, val, d->min, d->max);
		break;
	case NF_OPT_INT:
		errno = 0;
		v->num = strtoll(val, &end, 0);
		if (errno || *end || end == val)
			goto bad_number;
		if (v->num < d->min || v->num > d->max)
			return fail(err, errlen, "%s: %s: %s is out of range %lld..%lld", dev,
				    d->name, val, d->min, d->max);
		break;
	case NF_OPT_U64:
		errno = 0;
		if (!isdigit((unsigned char)val[0]))
			goto bad_number;
		v->u64 = strtoull(val, &end, 0);
		if (errno || *end)
			goto bad_number;
		break;
	case NF_OPT_MAC:
		if (!parse_mac(val, v->mac))
			return fail(err, errlen,
				    "%s: %s: expected six hex octets like 02:00:00:00:00:01, got \"%s\"",
				    dev, d->name, val);
		if (v->mac[0] & 1)
			return fail(err, errlen, "%s: %s: %s is a multicast address", dev,
				    d->name, val);
		if (!(v->mac[0] | v->mac[1] | v->mac[2] | v->mac[3] | v->mac[4] | v->mac[5]))
			return fail(err, errlen, "%s: %s: the all-zero address is not usable",
				    dev, d->name);
		break;
	case NF_OPT_IFNAME:
		if (strlen(val) > 15)
			return fail(err, errlen,
				    "%s: %s: \"%s\" is longer than 15 characters", dev, d->name, val);
		for (const char *p = val; *p; p++)
			if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
				return fail(err, errlen,
					    "%s: %s: \"%s\" is not a valid interface name", dev,
					    d->name, val);
		break;
	case NF_OPT_STRING:
		if ((long long)strlen(val) > d->max)
			return fail(err, errlen, "%s: %s: longer than %lld characters", dev,
				    d->name, d->max);
		break;
	}
	v->set = true;
	return 0;

bad_number:
	return fail(err, errlen, "%s: %s: expected a number, got \"%s\"", dev, d->name, val);
}

static int find_opt(const struct nf_optdesc *table, unsigned n, const char *key)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(table[i].name, key) == 0)
			return (int)i;
	return -1;
}

static void list_names(char *buf, size_t len, const struct nf_transport *t)
{
	size_t off = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < C_COUNT && off < len; i++)
		if (!common_opts[i].unsupported)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
						common_opts[i].name);
	for (unsigned i = 0; t && i < t->nopts && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, ", %s", t->opts[i].name);
}

/* Finds transport=NAME among the pairs before anything else, so that the
 * other keys can be checked against the right table. */
static int pick_transport(const char *dev, char *spec, struct nf_devcfg *cfg, char *err,
			  size_t errlen)
{
	const char *name = NULL;
	for (char *p = spec; p && *p;) {
		if (strncmp(p, "bpf=", 4) == 0)
			break; /* the rest is a filter expression */
		if (strncmp(p, "transport=", 10) == 0) {
			if (name)
				return fail(err, errlen, "%s: transport: given twice", dev);
			name = p + 10;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!name)
		return fail(err, errlen, "%s: transport: missing (e.g. transport=raw)", dev);
	size_t len = strcspn(name, ",");
	char buf[32];
	if (len == 0)
		return fail(err, errlen, "%s: transport: empty value", dev);
	snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), name);
	cfg->transport = nf_transport_find(buf);
	if (cfg->transport)
		return 0;
	char avail[128] = "";
	for (unsigned i = 0, off = 0; i < nf_ntransports && off < sizeof(avail); i++)
		off += (unsigned)snprintf(avail + off, sizeof(avail) - off, "%s%s", i ? ", " : "",
					  nf_transports[i]->name);
	return fail(err, errlen, "%s: transport: unknown transport \"%s\" (available: %s)", dev, buf,
		    avail);
}

int nf_opt_parse(const char *arg, struct nf_devcfg *cfg, char *err, size_t errlen)
{
	struct nf_optval common[C_COUNT] = { 0 };
	char dev[32];
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!nf_opt_is_device(arg))
		return fail(err, errlen, "\"%.40s%s\": expected vecN:transport=NAME,...", arg,
			    strlen(arg) > 40 ? "..." : "");
	const char *colon = strchr(arg, ':');
	snprintf(dev, sizeof(dev), "%.*s", (int)(colon - arg < 31 ? colon - arg : 31), arg);
	errno = 0;
	char *end;
	unsigned long unit = strtoul(arg + 3, &end, 10);
	if (errno || unit > 63 || (arg[3] == '0' && end - (arg + 3) > 1))
		return fail(err, errlen, "%s: device number must be 0..63 written in decimal", dev);
	cfg->index = (unsigned)unit;

	cfg->spec = strdup(colon + 1);
	if (!cfg->spec)
		return fail(err, errlen, "%s: out of memory", dev);
	rc = pick_transport(dev, cfg->spec, cfg, err, errlen);
	if (rc)
		goto err_free;
	const struct nf_transport *t = cfg->transport;

	/* Split in place: "k=v,k=v". Stricter than UML, which silently drops
	 * malformed pairs: here every pair must be key=value, once. */
	for (char *pair = cfg->spec, *next; pair; pair = next) {
		/* bpf= takes the rest of the spec: expressions have commas
		 * ("ip[2:2]") and '=' ("ether[12:2] = 0x800"). */
		bool rest = strncmp(pair, "bpf=", 4) == 0;
		next = rest ? NULL : strchr(pair, ',');
		if (next)
			*next++ = '\0';
		if (*pair == '\0') {
			rc = fail(err, errlen, "%s: empty option (stray ',')", dev);
			goto err_free;
		}
		char *eq = strchr(pair, '=');
		if (!eq) {
			rc = fail(err, errlen, "%s: %s: expected %s=VALUE", dev, pair, pair);
			goto err_free;
		}
		*eq = '\0';
		const char *key = pair, *val = eq + 1;
		if (!rest && strchr(val, '=')) {
			rc = fail(err, errlen, "%s: %s: value may not contain '='", dev, key);
			goto err_free;
		}
		if (strcmp(key, "transport") == 0)
			continue;
		struct nf_optval *slot;
		const struct nf_optdesc *d;
		int i = find_opt(common_opts, C_COUNT, key);
		if (i >= 0) {
			d = &common_opts[i];
			slot = &common[i];
		} else if ((i = find_opt(t->opts, t->nopts, key)) >= 0) {
			d = &t->opts[i];
			slot = &cfg->topt[i];
		} else {
			char names[512];
			list_names(names, sizeof(names), t);
			rc = fail(err, errlen, "%s: %s: unknown option for transport %s (known: %s)",
				  dev, key, t->name, names);
			goto err_free;
		}
		if (slot->set) {
			rc = fail(err, errlen, "%s: %s: given twice", dev, key);
			goto err_free;
		}
		rc = parse_value(dev, d, val, slot, err, errlen);
		if (rc)
			goto err_free;
	}
	for (unsigned i = 0; i < t->nopts; i++)
		if (t->opts[i].required && !cfg->topt[i].set) {
			rc = fail(err, errlen, "%s: %s: required by transport %s", dev,
				  t->opts[i].name, t->name);
			goto err_free;
		}

	cfg->depth = common[C_DEPTH].set ? (unsigned)common[C_DEPTH].num : NF_DEFAULT_DEPTH;
	cfg->gro = common[C_GRO].set && common[C_GRO].num;
	cfg->mtu = common[C_MTU].set ? (unsigned)common[C_MTU].num : NF_DEFAULT_MTU;
	cfg->mtu_set = common[C_MTU].set;
	cfg->headroom = common[C_HEADROOM].set ? (unsigned)common[C_HEADROOM].num
					       : NF_DEFAULT_HEADROOM;
	cfg->vec = !common[C_VEC].set || common[C_VEC].num;
	cfg->mrg = common[C_MRG].set && common[C_MRG].num;
	cfg->coalesce_us = common[C_COALESCE].set ? (unsigned)common[C_COALESCE].num : 0;
	cfg->mac_set = common[C_MAC].set;
	memcpy(cfg->mac, common[C_MAC].mac, 6);
	if (common[C_BPFFILE].set && common[C_BPF].set) {
		rc = fail(err, errlen, "%s: bpf: give bpffile= or bpf=, not both", dev);
		goto err_free;
	}
	cfg->bpffile = common[C_BPFFILE].set ? common[C_BPFFILE].str : NULL;
	cfg->bpf_expr = common[C_BPF].set ? common[C_BPF].str : NULL;
	cfg->bpfflash = common[C_BPFFLASH].set && common[C_BPFFLASH].num;
	if (t->check && (rc = t->check(cfg, err, errlen)) < 0)
		goto err_free;
	return 0;

err_free:
	free(cfg->spec);
	cfg->spec = NULL;
	return rc;
}

void nf_devcfg_release(struct nf_devcfg *cfg)
{
	free(cfg->spec);
	cfg->spec = NULL;
}

const struct nf_optval *nf_devcfg_topt(const struct nf_devcfg *cfg, const char *name)
{
	const struct nf_transport *t = cfg->transport;
	int i = t ? find_opt(t->opts, t->nopts, name) : -1;
	return i >= 0 && cfg->topt[i].set ? &cfg->topt[i] : NULL;
}

static void print_opt(FILE *out, const struct nf_optdesc *d)
{
	if (d->unsupported)
		fprintf(out, "    %-10s %s\n", d->name, "(not supported yet)");
	else
		fprintf(out, "    %-10s %s%s\n", d->name, d->help, d->required ? " (required)" : "");
}

void nf_opt_print_help(FILE *out)
{
	fprintf(out, "Devices: vecN:transport=NAME,key=value,... (N = 0, 1, ... -> guest ethN)\n");
	fprintf(out, "  Common options:\n");
	for (unsigned i = 0; i < C_COUNT; i++)
		print_opt(out, &common_opts[i]);
	for (unsigned i = 0; i < nf_ntransports; i++) {
		const struct nf_transport *t = nf_transports[i];
		fprintf(out, "  transport=%s: %s\n", t->name, t->summary);
		for (unsigned j = 0; j < t->nopts; j++)
			print_opt(out, &t->opts[j]);
	}
}
