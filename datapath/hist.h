/* Batch size histograms: how many frames each transport rx_batch/tx_batch
 * call moved, in power-of-two buckets.
 *
 *   bucket   0    1    2     3     4      5       ...  11
 *   frames   0    1    2-3   4-7   8-15   16-31   ...  1024 (and more)
 *
 * Counted on the datapath thread with plain increments under the device
 * lock it already holds (no atomics, no extra lock); readers copy the
 * counters under that lock (see stats.h).
 */
#ifndef NF_HIST_H
#define NF_HIST_H

#include <stdint.h>

#define NF_HIST_BUCKETS 12

/* The bucket of a batch of n frames. */
static inline unsigned nf_hist_bucket(unsigned n)
{
	if (n == 0)
		return 0;
	unsigned b = 32u - (unsigned)__builtin_clz(n); /* 1 + floor(log2(n)) */
	return b < NF_HIST_BUCKETS ? b : NF_HIST_BUCKETS - 1;
}

static inline void nf_hist_add(uint64_t hist[NF_HIST_BUCKETS], unsigned n)
{
	hist[nf_hist_bucket(n)]++;
}

/* Smallest batch size bucket b counts (0, 1, 2, 4, ...). */
static inline unsigned nf_hist_low(unsigned b)
{
	return b == 0 ? 0 : 1u << (b - 1);
}

#endif
