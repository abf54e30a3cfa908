// SPDX-License-Identifier: GPL-2.0
/* ring=xdp: the XDP program uml-nf attaches to a raw port's interface.
 *
 * Frames that fit an AF_XDP frame go to the port's XDP socket (the
 * xsks_map entry of the receive queue). These pass on to the host stack
 * instead, where the port's packet socket receives them with their
 * virtio-net header as usual:
 *  - larger frames (host GSO frames, jumbo frames);
 *  - TCP over IPv4 or IPv6 (no VLAN tag): a local sender with checksum
 *    offload (a veth peer, a tap) leaves its checksum partial, which only
 *    the virtio-net header can tell, and TCP gains the host's GSO/GRO
 *    frames there. Receiving a flow through one path only also keeps its
 *    frames in order;
 *  - everything while no socket is in the map, so an interface a dead
 *    uml-nf left its program on still works.
 * Built with clang -target bpf; embedded in uml-nf.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_frame.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NF_XDP_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

SEC("xdp")
int nf_xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	unsigned char *p = data;

	if (end - data > NF_XDP_FRAME_MAX)
		return XDP_PASS;
	if (data + 14 + 40 <= end) {
		__u16 type = bpf_ntohs(*(__u16 *)(p + 12));
		/* IPv4 protocol at 14 + 9, IPv6 next header at 14 + 6. */
		if (type == ETH_P_IP && p[14 + 9] == IPPROTO_TCP)
			return XDP_PASS;
		if (type == ETH_P_IPV6 && p[14 + 6] == IPPROTO_TCP)
			return XDP_PASS;
	}
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
