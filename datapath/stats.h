/* Reading a running engine's per-device counters and state (uml-nf stats).
 *
 * Consistency and cost: the counters are plain integers that only the
 * datapath thread writes, under the device lock it holds while it moves
 * frames. A report copies them (and the device's state) under that lock --
 * a memcpy of well under a kilobyte -- and formats them after releasing it.
 * The reader may wait up to one datapath turn for the lock; the datapath
 * waits at most for that copy, and the datapath never waits for a reader's
 * output. Calls and the rest of the report go through a sink so the
 * engine alone knows its counters' names.
 */
#ifndef NF_STATS_H
#define NF_STATS_H

#include <stdint.h>

#include "hist.h"

struct nf_engine;

/* Receives one device's report, key by key, in a fixed order (any thread;
 * called after the device lock was released). Keys are lower-case
 * identifiers; string values may hold spaces (the broken reason). */
struct nf_report_sink {
	void (*num)(void *ctx, const char *key, uint64_t v);
	void (*str)(void *ctx, const char *key, const char *v);
	/* A histogram: NF_HIST_BUCKETS counts (hist.h). */
	void (*hist)(void *ctx, const char *key, const uint64_t v[NF_HIST_BUCKETS]);
};

/* Devices the engine serves; their indexes are 0 .. n-1. */
unsigned nf_engine_ndevs(const struct nf_engine *eng);

/* Reports device vecN through sink: identity and state first (dev,
 * transport, ifname, link, guest, ...), then counters, histograms and the
 * negotiated features. Returns 0, or -ENODEV. Any thread except the
 * datapath's. */
int nf_engine_report(struct nf_engine *eng, unsigned index, const struct nf_report_sink *sink,
		     void *ctx);

/* Short name of a virtio / virtio-net feature bit ("csum", "guest_tso4",
 * "event_idx", ...), or NULL for a bit we do not name. */
const char *nf_feature_name(unsigned bit);

#endif
