/* Hot-plug: giving a running device a transport, or taking it away.
 *
 * virtio_uml cannot add or remove a guest device at runtime, so the guest
 * NIC always stays; what changes is the host side behind it and the link
 * status in its config space, which the guest is told about with a
 * CONFIG_CHANGE_MSG on the vhost-user backend channel (virtio-net then
 * turns the carrier on or off). A detached device keeps its counters, its
 * guest rings and its place; the datapath drops (and counts as
 * tx_host_down) what the guest sends meanwhile.
 *
 * The guest negotiated the device's virtio features when it booted, so a
 * transport is attached only if the device it makes offers exactly those
 * features, the same MTU and MAC, and fits the device's buffers (depth).
 *
 * Threads: any one thread but the datapath's (the control socket thread);
 * the swap is done under the device lock, so the datapath sees the old
 * port or the new one between two batches, never a mix.
 */
#ifndef NF_ATTACH_H
#define NF_ATTACH_H

#include <stddef.h>

struct nf_engine;
struct nf_devcfg;
struct nf_port;

/* Attaches port (opened from cfg) to device cfg->index, which must have
 * no transport, and sets its link up. Ownership of port passes to the
 * engine in every case (closed on failure); of cfg only on success (the
 * engine releases and frees it at detach or destroy). Returns 0 with a
 * one-line description in msg, or -ENODEV (no such device), -EBUSY (it has
 * a transport), -EINVAL (it would not match what the guest negotiated),
 * -errno, with the reason in msg. */
int nf_engine_attach(struct nf_engine *eng, struct nf_devcfg *cfg, struct nf_port *port, char *msg,
		     size_t len);

/* Takes vecN's transport away: link down, port closed, counters kept.
 * Returns 0 with a one-line summary in msg, or -ENODEV (no such device, or
 * no transport attached), -EBUSY (a capture is attached to it). */
int nf_engine_detach(struct nf_engine *eng, unsigned index, char *msg, size_t len);

/* The options vecN fixes for anything attached to it (the guest
 * negotiated them at boot), as "gro=G,mrg=M,mtu=N": a hot-plug spec that
 * leaves them out gets these. Returns 0 or -ENODEV. */
int nf_engine_fixed_opts(struct nf_engine *eng, unsigned index, char *buf, size_t len);

/* The transport spec of vecN ("transport=raw,ifname=p-veth0,..."), ""
 * when it has none. Returns 0 or -ENODEV. */
int nf_engine_spec(struct nf_engine *eng, unsigned index, char *buf, size_t len);

#endif
