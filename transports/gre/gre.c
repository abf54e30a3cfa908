/* gre: Ethernet over GRE (transparent Ethernet bridging, protocol 0x6558)
 * to a remote endpoint, IPv4 or IPv6 outer, with optional key and sequence
 * numbers; UML's vector gre transport, option for option.
 *
 * Where it differs from UML on purpose (README, "Tunnels"):
 * - keys are 32-bit values written as UML reads them (-1) or as they are
 *   (0xffffffff, which UML refuses and its guest panics on); rx_key and
 *   tx_key go together, and so do pin_sequence and sequence: a lone one is
 *   an error instead of being ignored or panicking the guest;
 * - an IPv6 literal without v6=1 (or an IPv4 one with it) is named at start
 *   instead of failing at ifup;
 * - received sequence numbers are checked (duplicates and reordered packets
 *   dropped, counted), datagrams from anyone but dst dropped, counted;
 * - vec=0 transmits (UML's writev on the unconnected socket sends nothing).
 */
#include <errno.h>
#include <stdio.h>

#include "tunnel.h"
#include "util.h"

#define U32_OPT -2147483648LL, 4294967295LL

static const struct nf_optdesc gre_opts[] = {
	{ "src", NF_OPT_STRING, 0, 255, true, "local address (or name) to bind", NULL },
	{ "dst", NF_OPT_STRING, 0, 255, true, "remote endpoint's address (or name)", NULL },
	{ "v6", NF_OPT_BOOL, 0, 1, false, "1: IPv6 outer header (src and dst IPv6), default 0",
	  NULL },
	{ "rx_key", NF_OPT_INT, U32_OPT, false,
	  "32-bit key received datagrams must carry (with tx_key)", NULL },
	{ "tx_key", NF_OPT_INT, U32_OPT, false, "32-bit key sent (with rx_key)", NULL },
	{ "sequence", NF_OPT_BOOL, 0, 1, false,
	  "1: send sequence numbers, drop duplicate and reordered datagrams", NULL },
	{ "pin_sequence", NF_OPT_BOOL, 0, 1, false,
	  "1: with sequence=1, send 0 every time and check none", NULL },
};

static int gre_check(const struct nf_devcfg *cfg, char *err, size_t errlen)
{
	const struct nf_optval *rk = nf_devcfg_topt(cfg, "rx_key"), *tk = nf_devcfg_topt(cfg, "tx_key");
	const struct nf_optval *sq = nf_devcfg_topt(cfg, "sequence");
	const struct nf_optval *pin = nf_devcfg_topt(cfg, "pin_sequence");

	if (!rk != !tk) {
		snprintf(err, errlen, "vec%u: %s: needs %s too (keys go both ways)", cfg->index,
			 rk ? "rx_key" : "tx_key", rk ? "tx_key" : "rx_key");
		return -EINVAL;
	}
	if (pin && pin->num && !(sq && sq->num)) {
		snprintf(err, errlen, "vec%u: pin_sequence: needs sequence=1", cfg->index);
		return -EINVAL;
	}
	return tun_check_addrs(cfg, err, errlen);
}

static int gre_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	const struct nf_optval *v6 = nf_devcfg_topt(cfg, "v6"), *rk = nf_devcfg_topt(cfg, "rx_key");
	const struct nf_optval *sq = nf_devcfg_topt(cfg, "sequence");
	const struct nf_optval *pin = nf_devcfg_topt(cfg, "pin_sequence");
	struct tun_params tp = {
		.name = "gre",
		.src = nf_devcfg_topt(cfg, "src")->str,
		.dst = nf_devcfg_topt(cfg, "dst")->str,
		.v6 = v6 && v6->num,
		.protocol = IPPROTO_GRE_NUM,
	};
	struct encap e = {
		.kind = ENCAP_GRE,
		.key = rk != NULL,
		.rx_key = rk ? tun_u32(rk->num) : 0,
		.tx_key = rk ? tun_u32(nf_devcfg_topt(cfg, "tx_key")->num) : 0,
		.seq = sq && sq->num,
		.pin_seq = pin && pin->num,
	};
	return tun_open(cfg, &tp, &e, out, err, errlen);
}

const struct nf_transport nf_transport_gre = {
	.name = "gre",
	.summary = "Ethernet over GRE (IPv4/IPv6, key, sequence), software GSO/GRO",
	.opts = gre_opts,
	.nopts = NF_ARRAY_SIZE(gre_opts),
	.open = gre_open,
	.close = tun_close,
	.set_filter = tun_set_filter,
	.rx_batch = tun_rx_batch,
	.tx_batch = tun_tx_batch,
	.format_stats = tun_format_stats,
	.check = gre_check,
};
