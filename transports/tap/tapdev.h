/* Opening a tap for the tap and hybrid transports.
 *
 * Creates a tap, or attaches to an existing one, through /dev/net/tun with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, framed for the engine
 * (NF_CAP_VNET_HDR: a 10-byte little-endian virtio_net_hdr before every
 * frame), with the offloads gro= allows.
 *
 *   ifname= absent            a tap named umlnfN is created, brought up with
 *                             the guest's MTU, and disappears when uml-nf
 *                             exits (it is not persistent)
 *   ifname= of no interface   the same, with that name
 *   ifname= of a tap          attached (one queue of it, if it is a
 *                             multi-queue tap); its link state, MTU and
 *                             addresses stay the owner's business and it
 *                             stays after uml-nf exits. Works without
 *                             privileges for a tap owned by the user
 *                             (ip tuntap add ... user U)
 *   ifname= of anything else  refused, naming what it is
 */
#ifndef NF_TAP_TAPDEV_H
#define NF_TAP_TAPDEV_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* The name the kernel completes when uml-nf creates a tap (umlnf0, ...). */
#define TAP_NAME_TEMPLATE "umlnf%d"

struct tap_dev {
	int fd;                  /* the tap queue, O_NONBLOCK; -1 when closed */
	char ifname[IFNAMSIZ];   /* the tap's name (the kernel's, if generated) */
	unsigned ifindex;
	bool created;            /* we created it: it goes away with fd */
	bool multi_queue;        /* one queue of an IFF_MULTI_QUEUE tap */
	uint64_t drops_base;     /* the tap's tx_dropped when we attached */
};

/* Opens the tap cfg's ifname= names (see above) for transport tname ("tap",
 * "hybrid": used in messages). On success td is filled and owned by the
 * caller (tap_dev_close). On failure returns -errno with a one-line message
 * naming the device and the option in err, and nothing is left behind (a tap
 * created here is gone again). Main thread. */
int tap_dev_open(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td, char *err,
		 size_t errlen);

/* Refuses receive filters (bpffile=, bpf=, bpfflash=1) for transport tname
 * before anything is opened: a tap fd takes no socket filter, and hybrid's
 * packet socket carries the direction filter that keeps the guest's own
 * frames out (a user program would replace it). Returns 0, or -EOPNOTSUPP
 * with a message naming the device and the option. */
int tap_dev_refuse_filters(const struct nf_devcfg *cfg, const char *tname, char *err,
			   size_t errlen);

/* Attaches td->fd to its tap again after the tap was deleted under it
 * (reads and writes then fail with EBADFD): to the tap of that name that
 * exists now, or, for a tap uml-nf created, to a new one (which takes the
 * privilege uml-nf may have dropped by then), configured as at open.
 * Returns 0 (also when the fd never lost its tap), -EAGAIN while there is
 * no tap of that name, or another -errno (the caller retries all the same).
 * Never blocks; any thread. */
int tap_dev_reattach(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td);

/* Closes the tap queue; a tap we created disappears with it. */
void tap_dev_close(struct tap_dev *td);

/* Frames the tap dropped on their way to us since it was opened (its
 * tx_dropped counter: queue full while the datapath lagged). Main thread. */
uint64_t tap_dev_drops(const struct tap_dev *td);

#endif
