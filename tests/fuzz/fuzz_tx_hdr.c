/* libFuzzer target: the check of the guest's transmit virtio-net header
 * (tx_check_hdr / tx_pkt_from_chain in datapath/tx.c, included to reach
 * them). The input is
 *
 *   0      1                9      10           22
 *   +------+----------------+------+------------+-----------------------
 *   | caps | acked features | cuts | virtio-net | frame ...
 *   |      | (u64, LE)      |      | header (12)|
 *   +------+----------------+------+------------+-----------------------
 *
 * caps bit 0: the port takes vnet headers, bit 1: and GSO. The header and
 * frame are one buffer cut into up to 8 readable descriptors at offsets
 * the cuts byte seeds. Whatever the check lets through must be something
 * the host may be given: only negotiated offloads, the checksum field
 * inside the frame, a sane gso_size, and for GSO a real TCP frame whose
 * headers the rewritten hdr_len covers exactly. Anything else traps.
 */
#include <stdint.h>
#include <string.h>

#include "tx.c"

/* tx_run and ctrl_run (not fuzzed here) call into engine.c. */
void dev_call_guest(struct nf_dev *d, unsigned q)
{
	(void)d, (void)q;
}

void dev_update_port_interest(struct nf_dev *d)
{
	(void)d;
}

void dev_port_error(struct nf_dev *d, const char *what, int err)
{
	(void)d, (void)what, (void)err;
}

/* Never called: no capture is attached here. */
void cap_batch(struct nf_dev *d, unsigned dir, const struct nf_pkt *pkts, unsigned n)
{
	(void)d, (void)dir, (void)pkts, (void)n;
}

#define FRAME_MAX (TX_FRAME_MAX + 64)

static uint8_t buf[VNET_HDR_LEN + FRAME_MAX];
static struct nf_dev dev;
static struct nf_port port;
static struct virtio_net_hdr_v1 hdr_slot;
static struct vq_chain chain;
static struct iovec pkt_iov[PKT_IOV_MAX];

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void check_passed(const struct virtio_net_hdr_v1 *h, uint32_t frame)
{
	const struct vu_dev *vu = &dev.vu;
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	check(!(h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM));
	if (!(port.caps & NF_CAP_VNET_HDR)) {
		check(h->flags == 0 && h->gso_type == 0);
		return;
	}
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		check(vu_has(vu, VIRTIO_NET_F_CSUM) &&
		      (uint32_t)h->csum_start + h->csum_offset + 2 <= frame);
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		check(h->gso_size == 0 && h->hdr_len == 0);
		return;
	}
	check(gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6);
	check(vu_has(vu, gso == VIRTIO_NET_HDR_GSO_TCPV4 ? VIRTIO_NET_F_HOST_TSO4
							  : VIRTIO_NET_F_HOST_TSO6));
	check(!(h->gso_type & VIRTIO_NET_HDR_GSO_ECN) || vu_has(vu, VIRTIO_NET_F_HOST_ECN));
	check(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	check(h->gso_size >= OFL_MIN_MSS);
	/* The whole frame, not just the peeked headers, must agree. */
	struct ofl_l34 l;
	check(ofl_parse_tcp(buf + VNET_HDR_LEN, frame, &l) == 0);
	check(l.ipv6 == (gso == VIRTIO_NET_HDR_GSO_TCPV6));
	check(l.ip_end == frame && h->csum_start == l.l4_off && h->csum_offset == 16);
	check(h->hdr_len == l.payload_off && h->hdr_len < frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 10)
		return 0;
	port.caps = data[0] & 3;
	memcpy(&dev.vu.acked, data + 1, 8);
	unsigned cuts = data[9];
	size_t len = size - 10 < sizeof(buf) ? size - 10 : sizeof(buf);
	memcpy(buf, data + 10, len);
	dev.port = &port;
	dev.tx_hdrs = &hdr_slot;

	/* Cut the buffer into up to 8 descriptors. */
	unsigned n = 0;
	size_t off = 0;
	uint32_t seed = cuts * 2654435761u;
	while (off < len && n < 8) {
		size_t piece = len - off;
		if (n < (cuts & 7)) {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + seed % (piece < 128 ? piece : 128);
		}
		chain.iov[n++] = (struct iovec){ buf + off, piece };
		off += piece;
	}
	if (off < len) /* the rest in the last one */
		chain.iov[n - 1].iov_len += len - off;
	chain.nout = (uint16_t)n;
	chain.nin = 0;
	chain.out_len = (uint32_t)len;
	chain.in_len = 0;

	struct nf_pkt pkt = { .iov = pkt_iov };
	if (tx_pkt_from_chain(&dev, &chain, 0, &pkt) != TX_OK)
		return 0;
	uint32_t frame = (uint32_t)len - VNET_HDR_LEN;
	check(frame >= ETH_MIN_FRAME && frame <= TX_FRAME_MAX && pkt.len == frame);
	size_t total = 0;
	for (unsigned k = 0; k < pkt.iovcnt; k++)
		total += pkt.iov[k].iov_len;
	if (port.caps & NF_CAP_VNET_HDR) {
		check(pkt.iov[0].iov_base == (void *)&hdr_slot &&
		      pkt.iov[0].iov_len == VNET_HDR_LEN_LEGACY);
		check(total == VNET_HDR_LEN_LEGACY + frame);
		check_passed(&hdr_slot, frame);
	} else {
		struct virtio_net_hdr_v1 h;
		memcpy(&h, buf, sizeof(h));
		check(total == frame);
		check_passed(&h, frame);
	}
	return 0;
}
