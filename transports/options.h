/* The `vecN:transport=NAME,key=value,...` device syntax, table driven.
 *
 * One parser serves every transport: the common options (depth, mac, gro,
 * mtu, headroom, vec, ...) are described by one table here, each transport
 * adds its own table in its ops struct, and --help prints from the same
 * tables. Errors name the device and the option, e.g.
 *     vec1: gro: expected 0 or 1, got "yes"
 */
#ifndef NF_OPTIONS_H
#define NF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct nf_transport;

enum nf_opt_type {
	NF_OPT_BOOL,   /* exactly "0" or "1" */
	NF_OPT_UINT,   /* decimal, within [min, max] */
	NF_OPT_INT,    /* signed 32-bit, decimal or 0x hex; within [min, max] */
	NF_OPT_U64,    /* unsigned 64-bit, decimal or 0x hex */
	NF_OPT_MAC,    /* six hex octets separated by ':', unicast, non-zero */
	NF_OPT_IFNAME, /* 1..15 chars, no '/', ':' or whitespace */
	NF_OPT_STRING, /* any non-empty value up to max characters */
};

struct nf_optdesc {
	const char *name;
	enum nf_opt_type type;
	long long min, max;      /* NF_OPT_UINT/INT range; NF_OPT_STRING max length */
	bool required;
	const char *help;        /* one line for --help */
	const char *unsupported; /* non-NULL: known UML option we refuse, and why */
};

/* A parsed option value. */
struct nf_optval {
	bool set;
	const char *str; /* the value as written (points into nf_devcfg.spec) */
	long long num;   /* BOOL/UINT/INT */
	uint64_t u64;    /* U64 */
	uint8_t mac[6];  /* MAC */
};

#define NF_MAX_TOPTS 16

struct nf_devcfg {
	unsigned index;                       /* N of vecN */
	const struct nf_transport *transport;
	/* common options, defaults applied */
	unsigned depth;
	bool gro;
	unsigned mtu;
	bool mtu_set;   /* mtu= given (tunnels otherwise pick one from the path) */
	unsigned headroom;
	bool vec;
	bool mrg;
	unsigned coalesce_us;
	bool mac_set;
	uint8_t mac[6];
	const char *bpffile;  /* bpffile=PATH, or NULL (points into spec) */
	const char *bpf_expr; /* bpf=EXPRESSION (tcpdump syntax), or NULL */
	bool bpfflash;        /* the guest may replace the filter */
	/* transport options, indexed like the transport's table */
	struct nf_optval topt[NF_MAX_TOPTS];
	char *spec; /* owned copy of the text after "vecN:" */
};

/* Common option defaults (UML's). */
#define NF_DEFAULT_DEPTH 64
#define NF_DEFAULT_MTU 1500
#define NF_DEFAULT_HEADROOM 2

/* True if arg looks like a device spec ("vec" followed by digits and ':'),
 * i.e. it is ours and not the guest kernel's. */
bool nf_opt_is_device(const char *arg);

/* Parses one "vecN:..." argument into *cfg (zeroed first). On error returns
 * -EINVAL and writes a one-line message naming device and option to err.
 * On success the caller owns cfg->spec (free with nf_devcfg_release). */
int nf_opt_parse(const char *arg, struct nf_devcfg *cfg, char *err, size_t errlen);

void nf_devcfg_release(struct nf_devcfg *cfg);

/* Looks a transport option up by name; NULL when absent or not given. */
const struct nf_optval *nf_devcfg_topt(const struct nf_devcfg *cfg, const char *name);

/* Prints the transports and options (from the same tables) for --help. */
void nf_opt_print_help(FILE *out);

#endif
