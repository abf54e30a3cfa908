/* CPU placement of one appliance: which CPUs the guest kernel (with its
 * helpers), the datapath thread and the vhost-user control thread may run
 * on. From --cpus, or the default: guest and datapath on two different
 * CPUs of those uml-nf may use, chosen from the umid so that many
 * appliances on one host spread over its CPUs instead of piling up on the
 * first two.
 *
 *   --cpus LIST                      everything on LIST (the scheduler
 *                                    places each thread within it)
 *   --cpus guest=LIST,datapath=LIST[,control=LIST]
 *                                    per role; a role not named is not
 *                                    pinned, except control, which follows
 *                                    guest (it answers while the guest waits)
 *
 * LIST is the kernel's cpuset syntax: 3, 0-3, 0,2,4-7. In the keyed form a
 * bare element continues the list of the key before it
 * ("guest=0,2,datapath=1": guest on 0 and 2).
 */
#ifndef NF_CPUS_H
#define NF_CPUS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

/* An empty set means "not pinned". */
struct cpu_plan {
	cpu_set_t guest, datapath, control;
};

/* Parses a --cpus value. Every CPU named must be in allowed (the affinity
 * uml-nf was started with). Returns 0, or -EINVAL with a one-line reason
 * naming the offending part in err ("CPU 5 is not available ..."). */
int cpus_parse(const char *spec, const cpu_set_t *allowed, struct cpu_plan *out, char *err,
	       size_t errlen);

/* The default plan: with two or more allowed CPUs, the guest on the
 * (h mod n)-th and the datapath on the (h+1 mod n)-th, h a hash of umid,
 * control with the guest; with fewer, nothing pinned. */
void cpus_default(const cpu_set_t *allowed, const char *umid, struct cpu_plan *out);

/* Writes set in cpuset syntax ("0-2,5"; "none" if empty) into buf. */
void cpus_format(const cpu_set_t *set, char *buf, size_t len);

#endif
