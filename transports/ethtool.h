/* Host interface offload state, read over ethtool netlink (libmnl).
 *
 * Transports that attach to a host interface (raw, and tap/hybrid later)
 * read it at open to tell the user how the guest's gro= setting meets the
 * host: which offloads the host kernel finishes in software, and which
 * frames uml-nf must fix up itself.
 */
#ifndef NF_ETHTOOL_H
#define NF_ETHTOOL_H

#include <stdbool.h>

struct nf_if_offloads {
	bool rx_gro;      /* "rx-gro": the interface builds GSO frames on receive */
	bool rx_lro;      /* "rx-lro" */
	bool tx_tso;      /* "tx-tcp-segmentation" */
	bool tx_gso;      /* "tx-generic-segmentation" */
	bool tx_csum;     /* "tx-checksum-ip-generic" or "tx-checksum-ipv4"/"-ipv6" */
	bool rx_csum;     /* "rx-checksum" */
};

/* Reads the active features of ifname (in the caller's network namespace).
 * Returns 0, or -errno (e.g. -ENODEV, -EOPNOTSUPP without ethtool netlink). */
int nf_ethtool_offloads(const char *ifname, struct nf_if_offloads *out);

/* Applies one named feature bit to *out (unknown names are ignored); the
 * netlink parser's back end, exposed for tests. */
void nf_ethtool_apply_bit(struct nf_if_offloads *out, const char *name, bool on);

#endif
