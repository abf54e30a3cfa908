/* The datapath engine: one vhost-user device per vecN, each bridged to an
 * open host transport port, served by two threads:
 *
 *   control thread   vhost-user sockets: accepts frontends, answers every
 *                    message promptly (the guest is frozen while it waits);
 *   datapath thread  epoll over kick fds and transport fds; moves batches
 *                    between virtqueues and the transport, suppressing
 *                    notifications both ways (EVENT_IDX).
 */
#ifndef NF_ENGINE_H
#define NF_ENGINE_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"
#include "transport.h"

struct nf_engine;

/* Creates an empty engine. Returns 0 or -errno. */
int nf_engine_create(struct nf_engine **out);

/* Adds device cfg->index served through port (ownership of port passes to
 * the engine), listening on sock_path with the given guest MAC. Must be
 * called before nf_engine_start. On error nothing is kept (port closed). */
int nf_engine_add(struct nf_engine *eng, const struct nf_devcfg *cfg, struct nf_port *port,
		  const char *sock_path, const uint8_t mac[6], char *err, size_t errlen);

/* Adds a hot-plug spare vecN: a guest NIC whose link reads down and which
 * has no transport until one is attached (attach.h). The guest negotiates
 * its features as for raw with gro=1, mrg=0, mtu 1500; its buffers take a
 * depth of up to NF_SPARE_DEPTH_MAX. Must be called before nf_engine_start. */
#define NF_SPARE_DEPTH_MAX 256
int nf_engine_add_spare(struct nf_engine *eng, unsigned index, const char *sock_path,
			const uint8_t mac[6], char *err, size_t errlen);

/* Starts the control and datapath threads; cpu < 0 leaves a thread unpinned
 * (unless nf_engine_set_cpus gave it a set). */
int nf_engine_start(struct nf_engine *eng, int control_cpu, int datapath_cpu);

/* Pins the control and datapath threads to these CPU sets when they start
 * (NULL or an empty set: that thread is left alone). Copied; call before
 * nf_engine_start, which then ignores its own CPU arguments for a thread
 * given a set here. */
void nf_engine_set_cpus(struct nf_engine *eng, const cpu_set_t *control,
			const cpu_set_t *datapath);

/* Timed polling: while frames flow (at least 8 per 2 ms), the datapath
 * thread naps for poll_us between passes instead of sleeping on events, so
 * the frames and guest kicks of each period cost one wakeup. 0 (default) =
 * event-driven only. Call before nf_engine_start. */
#define NF_POLL_MAX_US 1000
void nf_engine_set_poll(struct nf_engine *eng, unsigned poll_us);

/* The datapath thread runs under SCHED_BATCH: woken by a kick or a
 * socket it does not preempt what runs on its CPU, i.e. the guest when
 * both share one CPU, and finds a whole batch when it gets to run. Call
 * before nf_engine_start. */
void nf_engine_set_sched_batch(struct nf_engine *eng, bool on);

/* Stops the threads (idempotent). */
void nf_engine_stop(struct nf_engine *eng);

/* The guest is about to be halted: every device stops touching guest
 * memory before this returns (the datapath finishes its batch first), since
 * a halting UML kernel frees its receive buffers and rings without telling
 * the device (virtio_uml sends nothing at a reset, and disables the rings
 * only after freeing the buffers). Any thread but the datapath's. */
void nf_engine_guest_halting(struct nf_engine *eng);

/* Writes per-device counters, one key=value line per device. */
void nf_engine_print_stats(struct nf_engine *eng, FILE *out);

/* Writes each device's ring positions (for debugging a stall; racy reads
 * from another thread, good enough to see who waits for whom). */
void nf_engine_dump(struct nf_engine *eng, FILE *out);

/* Stops, closes ports and sockets, frees. NULL is fine. */
void nf_engine_destroy(struct nf_engine *eng);

#endif
