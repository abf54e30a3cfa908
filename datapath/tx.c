/* Guest -> host: tx chains become transport batches; and the control queue. */
#include <errno.h>
#include <string.h>

#include "dev.h"
#include "iov.h"
#include "log.h"


/* Points pkt at the frame of a tx chain: the guest's 12-byte header becomes
 * the transport's 10-byte one (num_buffers dropped) or disappears. Returns
 * false for a chain that cannot be a frame. */
static bool tx_pkt_from_chain(struct nf_dev *dev, struct vq_chain *c, struct nf_pkt *pkt)
{
	unsigned n = 0;
	if (c->out_len < VNET_HDR_LEN + ETH_MIN_FRAME)
		return false;
	if (dev->port->caps & NF_CAP_VNET_HDR) {
		n = iov_slice(c->iov, c->nout, 0, VNET_HDR_LEN_LEGACY, pkt->iov, 0, PKT_IOV_MAX);
	} else {
		struct virtio_net_hdr_v1 h;
		iov_read(c->iov, c->nout, 0, &h, sizeof(h));
		/* Not offered without vnet headers; a guest that does it anyway
		 * would put bad checksums on the wire. */
		if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE || (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
			return false;
	}
	n = iov_slice(c->iov, c->nout, VNET_HDR_LEN, SIZE_MAX, pkt->iov, n, PKT_IOV_MAX);
	pkt->iovcnt = n;
	pkt->len = c->out_len - VNET_HDR_LEN;
	return true;
}

/* Returns true if the queue still has work (budget exhausted). */
bool tx_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_TX].vq;

	for (unsigned b = 0; b < BATCH_BUDGET; b++) {
		unsigned n = 0, m = 0;
		while (n < dev->depth && vq_pop(q, &dev->chains[n]) == 1)
			n++;
		if (q->broken)
			return false;
		if (n == 0) {
			if (vq_kick_enable(q))
				continue;
			dev->kicked[VNET_Q_TX] = false;
			return false;
		}
		vq_kick_disable(q);
		for (unsigned i = 0; i < n; i++) {
			struct nf_pkt *pkt = &dev->pkts[m];
			pkt->iov = &dev->iovs[m * PKT_IOV_MAX];
			if (tx_pkt_from_chain(dev, &dev->chains[i], pkt))
				dev->pkt_chain[m++] = i;
		}
		int sent = m ? dev->port->transport->tx_batch(dev->port, dev->pkts, m) : 0;
		if (sent < 0) {
			nf_err("%s: transmit failed: %s", dev->vu.name, strerror(-sent));
			sent = (int)m; /* drop the batch rather than spin on it */
			dev->st.tx_dropped += m;
		}
		/* Chains up to the first unsent frame are done (malformed ones
		 * are returned empty); the rest go back to the ring. */
		unsigned done = (unsigned)sent < m ? dev->pkt_chain[sent] : n;
		unsigned k = 0;
		for (unsigned i = 0; i < done; i++) {
			if (k < (unsigned)sent && dev->pkt_chain[k] == i) {
				dev->st.tx_packets++;
				dev->st.tx_bytes += dev->pkts[k].len;
				k++;
			} else {
				dev->st.tx_dropped++;
			}
			vq_push(q, dev->chains[i].head, 0);
		}
		vq_unpop(q, n - done);
		dev_call_guest(dev, VNET_Q_TX);
		if (done < n) {
			dev->tx_blocked = true;
			dev_update_port_interest(dev);
			return false;
		}
	}
	return true;
}

/* ---- control queue ---- */

/* The guest busy-waits for each control command with RTNL held, so answer
 * everything at once. Filtering requests are acknowledged: the transport
 * already hands every frame it sees to the guest. */
static uint8_t ctrl_command(uint8_t cls, uint8_t cmd)
{
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		return cmd <= 5 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		return cmd <= 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_VLAN:
		return cmd <= 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		return cmd == 0 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	default:
		return VIRTIO_NET_ERR;
	}
}

void ctrl_run(struct nf_dev *dev)
{
	struct vq *q = &dev->vu.vrings[VNET_Q_CTRL].vq;
	struct vq_chain *c = &dev->chains[0];
	bool any = false;

	while (vq_pop(q, c) == 1) {
		uint8_t hdr[2] = { 0xff, 0xff }, ack = VIRTIO_NET_ERR;
		if (iov_read(c->iov, c->nout, 0, hdr, 2) == 2)
			ack = ctrl_command(hdr[0], hdr[1]);
		uint32_t len = (uint32_t)iov_write(c->iov + c->nout, c->nin, 0, &ack, 1);
		vq_push(q, c->head, len);
		dev->st.ctrl_cmds++;
		any = true;
	}
	vq_kick_enable(q);
	if (any)
		dev_call_guest(dev, VNET_Q_CTRL);
	dev->kicked[VNET_Q_CTRL] = false;
}
