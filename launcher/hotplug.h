/* Hot-plug of vecN devices into a running uml-nf, as stock UML's mconsole
 * does with "config vecN:..." and "remove vecN" (see datapath/attach.h for
 * what can change under a guest that cannot hot-add a NIC).
 *
 * Client side: what `uml-nf ctl UMID config vecN:...` and `remove vecN`
 * call; it talks to the running uml-nf's control socket (csock_proto.h:
 * attach, detach, query). Server side: the handlers that socket runs.
 */
#ifndef NF_HOTPLUG_H
#define NF_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"
#include "mconsole.h"

struct nf_engine;
struct cs_hotplug_ops;

/* config: spec "vecN:transport=NAME,..." attaches that transport to vecN
 * (a spare, or a device removed earlier); spec "vecN" asks what vecN has
 * (its transport spec in reply, "" for none). Returns 0 with the answer in
 * reply, or -errno as mconsole's config does (-EINVAL bad spec or options
 * that do not fit what the guest negotiated, -ENODEV no such device,
 * -EBUSY vecN has a transport), with the reason in reply. */
int hp_config(const char *umid, const char *spec, char *reply, size_t len);

/* remove: dev "vecN" loses its transport (the guest's NIC stays, its link
 * goes down, counters are kept). Returns 0 or -errno (-ENODEV no such
 * device or nothing attached, -EBUSY a capture is attached), reason in
 * reply. */
int hp_remove(const char *umid, const char *dev, char *reply, size_t len);


/* Server side: fills ops for cs_open() (csock_server.h), serving eng. */
void hp_server_ops(struct cs_hotplug_ops *ops, struct nf_engine *eng);

/* True for the mconsole commands hot-plug takes over: "config vecN..." and
 * "remove vecN". */
bool hp_is_vec_command(const char *cmd);

/* What `uml-nf ctl` calls first with each command: 0 when it is not ours
 * (the caller sends it to the guest's mconsole), 1 when it was handled here
 * (*ans filled, as the guest would have answered: err 0, or -errno as u32),
 * -errno when the appliance cannot be reached (reason in err). vecN
 * commands never reach the guest, whose kernel may have UML's own vector
 * driver and would create a stock NIC with uml-nf's privileges. */
int hp_ctl(const struct ctl_target *t, const char *cmd, struct mc_answer *ans, char *err,
	   size_t len);

#endif
