#include "ethtool.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void nf_ethtool_apply_bit(struct nf_if_offloads *out, const char *name, bool on)
{
	static const struct {
		const char *name;
		size_t field;
	} map[] = {
		{ "rx-gro", offsetof(struct nf_if_offloads, rx_gro) },
		{ "rx-lro", offsetof(struct nf_if_offloads, rx_lro) },
		{ "tx-tcp-segmentation", offsetof(struct nf_if_offloads, tx_tso) },
		{ "tx-generic-segmentation", offsetof(struct nf_if_offloads, tx_gso) },
		{ "tx-checksum-ip-generic", offsetof(struct nf_if_offloads, tx_csum) },
		{ "tx-checksum-ipv4", offsetof(struct nf_if_offloads, tx_csum) },
		{ "rx-checksum", offsetof(struct nf_if_offloads, rx_csum) },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(name, map[i].name) == 0 && on)
			*(bool *)((char *)out + map[i].field) = true;
}

/* One request/response exchange; cb sees each reply message. */
static int exchange(struct mnl_socket *nl, struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	/* A verbose feature reply (every feature named, four bitsets) is
	 * larger than one page. */
	static _Thread_local char buf[65536];
	unsigned portid = mnl_socket_get_portid(nl);
	unsigned seq = req->nlmsg_seq;
	int rc;

	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (rc <= MNL_CB_STOP)
			return rc < 0 ? -errno : 0;
	}
}

static struct nlmsghdr *genl_req(char *buf, uint16_t type, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ACK ends the exchange */
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
			*(uint16_t *)data = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

/* ETHTOOL_A_FEATURES_ACTIVE, verbose form:
 *   BITSET { NOMASK?, SIZE, BITS { BIT { INDEX, NAME, VALUE? } ... } }
 * With NOMASK every listed bit is set; otherwise VALUE says so. */
static void parse_bitset(const struct nlattr *set, struct nf_if_offloads *out)
{
	const struct nlattr *a, *bits = NULL;
	bool nomask = false;

	mnl_attr_for_each_nested(a, set) {
		if (mnl_attr_get_type(a) == ETHTOOL_A_BITSET_NOMASK)
			nomask = true;
		else if (mnl_attr_get_type(a) == ETHTOOL_A_BITSET_BITS)
			bits = a;
	}
	if (!bits)
		return;
	mnl_attr_for_each_nested(a, bits) {
		const struct nlattr *f;
		const char *name = NULL;
		bool value = nomask;
		if (mnl_attr_get_type(a) != ETHTOOL_A_BITSET_BITS_BIT)
			continue;
		mnl_attr_for_each_nested(f, a) {
			if (mnl_attr_get_type(f) == ETHTOOL_A_BITSET_BIT_NAME &&
			    mnl_attr_validate(f, MNL_TYPE_NUL_STRING) == 0)
				name = mnl_attr_get_str(f);
			else if (mnl_attr_get_type(f) == ETHTOOL_A_BITSET_BIT_VALUE)
				value = true;
		}
		if (name)
			nf_ethtool_apply_bit(out, name, value);
	}
}

static int features_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
		if (mnl_attr_get_type(a) == ETHTOOL_A_FEATURES_ACTIVE)
			parse_bitset(a, data);
	return MNL_CB_OK;
}

int nf_ethtool_offloads(const char *ifname, struct nf_if_offloads *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t family = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out_close;
	}
	struct nlmsghdr *nlh = genl_req(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME);
	rc = exchange(nl, nlh, family_cb, &family);
	if (rc < 0 || !family) {
		rc = rc < 0 ? rc : -EOPNOTSUPP;
		goto out_close;
	}
	nlh = genl_req(buf, family, ETHTOOL_MSG_FEATURES_GET, ETHTOOL_GENL_VERSION);
	struct nlattr *hdr = mnl_attr_nest_start(nlh, ETHTOOL_A_FEATURES_HEADER);
	mnl_attr_put_strz(nlh, ETHTOOL_A_HEADER_DEV_NAME, ifname);
	mnl_attr_nest_end(nlh, hdr);
	rc = exchange(nl, nlh, features_cb, out);
out_close:
	mnl_socket_close(nl);
	return rc;
}
