/* l2tpv3: Ethernet over L2TPv3 (RFC 3931 data messages, static sessions,
 * no control connection) over UDP or straight over IP (protocol 115),
 * IPv4 or IPv6 outer, with optional 32/64-bit cookies and UML's counter;
 * UML's vector l2tpv3 transport, option for option.
 *
 * Where it differs from UML on purpose (README, "Tunnels"):
 * - sessions are 32-bit values written as UML reads them (-1) or as they
 *   are (0xffffffff, which UML refuses and its guest panics on); 0 is
 *   refused (reserved for control messages);
 * - rx_cookie and tx_cookie go together, a 32-bit cookie must fit in 32
 *   bits (UML truncates), cookie64 and pin_counter need what they modify,
 *   srcport/dstport are required with udp=1 and refused without;
 * - an IPv6 literal without v6=1 (or an IPv4 one with it) is named at start;
 * - received headers are checked in full: the UDP data word (T bit and
 *   version), session, cookie, counter (duplicates and reordered datagrams
 *   dropped), source address and port; each reason counted;
 * - vec=0 transmits (UML's writev on the unconnected socket sends nothing).
 */
#include <errno.h>
#include <stdio.h>

#include "tunnel.h"
#include "util.h"

#define U32_OPT -2147483648LL, 4294967295LL

static const struct nf_optdesc l2tpv3_opts[] = {
	{ "src", NF_OPT_STRING, 0, 255, true, "local address (or name) to bind", NULL },
	{ "dst", NF_OPT_STRING, 0, 255, true, "remote endpoint's address (or name)", NULL },
	{ "srcport", NF_OPT_UINT, 1, 65535, false, "local UDP port (udp=1)", NULL },
	{ "dstport", NF_OPT_UINT, 1, 65535, false, "remote UDP port (udp=1)", NULL },
	{ "udp", NF_OPT_BOOL, 0, 1, false, "1: over UDP; default 0: IP protocol 115", NULL },
	{ "v6", NF_OPT_BOOL, 0, 1, false, "1: IPv6 outer header (src and dst IPv6), default 0",
	  NULL },
	{ "rx_session", NF_OPT_INT, U32_OPT, true, "32-bit session id received datagrams carry",
	  NULL },
	{ "tx_session", NF_OPT_INT, U32_OPT, true, "32-bit session id sent", NULL },
	{ "rx_cookie", NF_OPT_U64, 0, 0, false, "cookie received datagrams carry (with tx_cookie)",
	  NULL },
	{ "tx_cookie", NF_OPT_U64, 0, 0, false, "cookie sent (with rx_cookie)", NULL },
	{ "cookie64", NF_OPT_BOOL, 0, 1, false, "1: 64-bit cookies, default 0: 32-bit", NULL },
	{ "counter", NF_OPT_BOOL, 0, 1, false,
	  "1: send a 32-bit counter, drop duplicate and reordered datagrams", NULL },
	{ "pin_counter", NF_OPT_BOOL, 0, 1, false,
	  "1: with counter=1, send 0 every time and check none", NULL },
};

static int fail(const struct nf_devcfg *cfg, char *err, size_t errlen, const char *opt,
		const char *why)
{
	snprintf(err, errlen, "vec%u: %s: %s", cfg->index, opt, why);
	return -EINVAL;
}

static bool on(const struct nf_devcfg *cfg, const char *name)
{
	const struct nf_optval *v = nf_devcfg_topt(cfg, name);
	return v && v->num;
}

static int l2tpv3_check(const struct nf_devcfg *cfg, char *err, size_t errlen)
{
	const struct nf_optval *rc = nf_devcfg_topt(cfg, "rx_cookie");
	const struct nf_optval *tc = nf_devcfg_topt(cfg, "tx_cookie");
	bool udp = on(cfg, "udp");
	static const char *const ports[] = { "srcport", "dstport" };
	static const char *const sessions[] = { "rx_session", "tx_session" };

	for (unsigned i = 0; i < 2; i++) {
		if (udp && !nf_devcfg_topt(cfg, ports[i]))
			return fail(cfg, err, errlen, ports[i], "required with udp=1");
		if (!udp && nf_devcfg_topt(cfg, ports[i]))
			return fail(cfg, err, errlen, ports[i],
				    "only with udp=1 (L2TPv3 over IP has no ports)");
		if (tun_u32(nf_devcfg_topt(cfg, sessions[i])->num) == 0)
			return fail(cfg, err, errlen, sessions[i],
				    "0 is reserved for control messages");
	}
	if (!rc != !tc)
		return fail(cfg, err, errlen, rc ? "rx_cookie" : "tx_cookie",
			    rc ? "needs tx_cookie too (cookies go both ways)"
			       : "needs rx_cookie too (cookies go both ways)");
	if (on(cfg, "cookie64") && !rc)
		return fail(cfg, err, errlen, "cookie64", "needs rx_cookie and tx_cookie");
	if (rc && !on(cfg, "cookie64") && (rc->u64 > 0xffffffffu || tc->u64 > 0xffffffffu))
		return fail(cfg, err, errlen, rc->u64 > 0xffffffffu ? "rx_cookie" : "tx_cookie",
			    "does not fit in 32 bits (cookie64=1 for 64-bit cookies)");
	if (on(cfg, "pin_counter") && !on(cfg, "counter"))
		return fail(cfg, err, errlen, "pin_counter", "needs counter=1");
	return tun_check_addrs(cfg, err, errlen);
}

static int l2tpv3_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err,
		       size_t errlen)
{
	const struct nf_optval *rc = nf_devcfg_topt(cfg, "rx_cookie");
	const struct nf_optval *sp = nf_devcfg_topt(cfg, "srcport"), *dp = nf_devcfg_topt(cfg, "dstport");
	struct tun_params tp = {
		.name = "l2tpv3",
		.src = nf_devcfg_topt(cfg, "src")->str,
		.dst = nf_devcfg_topt(cfg, "dst")->str,
		.srcport = sp ? sp->str : NULL,
		.dstport = dp ? dp->str : NULL,
		.v6 = on(cfg, "v6"),
		.udp = on(cfg, "udp"),
		.protocol = IPPROTO_L2TP_NUM,
	};
	struct encap e = {
		.kind = ENCAP_L2TPV3,
		.udp = tp.udp,
		.rx_session = tun_u32(nf_devcfg_topt(cfg, "rx_session")->num),
		.tx_session = tun_u32(nf_devcfg_topt(cfg, "tx_session")->num),
		.cookie_len = rc ? (on(cfg, "cookie64") ? 8 : 4) : 0,
		.rx_cookie = rc ? rc->u64 : 0,
		.tx_cookie = rc ? nf_devcfg_topt(cfg, "tx_cookie")->u64 : 0,
		.seq = on(cfg, "counter"),
		.pin_seq = on(cfg, "pin_counter"),
	};
	return tun_open(cfg, &tp, &e, out, err, errlen);
}

const struct nf_transport nf_transport_l2tpv3 = {
	.name = "l2tpv3",
	.summary = "Ethernet over L2TPv3 (UDP or IP, IPv4/IPv6, cookies, counter), software GSO/GRO",
	.opts = l2tpv3_opts,
	.nopts = NF_ARRAY_SIZE(l2tpv3_opts),
	.open = l2tpv3_open,
	.close = tun_close,
	.set_filter = tun_set_filter,
	.rx_batch = tun_rx_batch,
	.tx_batch = tun_tx_batch,
	.format_stats = tun_format_stats,
	.check = l2tpv3_check,
};
