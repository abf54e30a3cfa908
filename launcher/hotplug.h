/* Hot-plug of uml-nf's own devices through `uml-nf ctl`.
 *
 * `ctl UMID config vecN:transport=...` (add), `ctl UMID config vecN` (query)
 * and `ctl UMID remove vecN` name NICs that uml-nf's datapath serves, not
 * devices of the guest kernel: ctl offers every command to hp_ctl before it
 * goes to the guest's mconsole.
 */
#ifndef NF_HOTPLUG_H
#define NF_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"
#include "mconsole.h"

/* Whether cmd (mconsole command text) is one of the above. */
bool hp_is_vec_command(const char *cmd);

/* Carries out cmd if it is a hot-plug command that uml-nf handles itself.
 * Returns 1 with *ans filled as if the guest had answered (caller frees with
 * mc_answer_free), 0 when ctl should send cmd to the guest's mconsole, or
 * -errno with a one-line reason in err. Called from ctl's main thread; may
 * block for up to t->timeout_ms. */
int hp_ctl(const struct ctl_target *t, const char *cmd, struct mc_answer *ans, char *err,
	   size_t len);

#endif
