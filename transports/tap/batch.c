#include "batch.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

size_t tap_iov_room(const struct iovec *iov, unsigned n)
{
	size_t room = 0;
	for (unsigned i = 0; i < n; i++)
		room += iov[i].iov_len;
	return room;
}

size_t tap_iov_copy(const struct iovec *dst, unsigned dn, const struct iovec *src, unsigned sn,
		    size_t len)
{
	size_t done = 0, doff = 0, soff = 0;
	unsigned d = 0, s = 0;

	while (done < len && d < dn && s < sn) {
		size_t dl = dst[d].iov_len - doff, sl = src[s].iov_len - soff;
		size_t take = dl < sl ? dl : sl;
		if (take > len - done)
			take = len - done;
		memcpy((uint8_t *)dst[d].iov_base + doff, (const uint8_t *)src[s].iov_base + soff,
		       take);
		done += take;
		doff += take;
		soff += take;
		if (doff == dst[d].iov_len) {
			d++;
			doff = 0;
		}
		if (soff == src[s].iov_len) {
			s++;
			soff = 0;
		}
	}
	return done;
}

unsigned tap_batch_compact(struct nf_pkt *pkts, const int *res, unsigned n, int *hard_err)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		if (res[i] <= 0) {
			if (res[i] < 0 && res[i] != -EAGAIN && res[i] != -EINTR && !*hard_err)
				*hard_err = res[i];
			continue;
		}
		size_t len = (size_t)res[i];
		size_t src_room = tap_iov_room(pkts[i].iov, pkts[i].iovcnt);
		if (i != k) {
			/* Slot k held no frame: its buffers are free to take
			 * this one. Only what the read actually stored moves. */
			tap_iov_copy(pkts[k].iov, pkts[k].iovcnt, pkts[i].iov, pkts[i].iovcnt,
				     len < src_room ? len : src_room);
		}
		size_t room = tap_iov_room(pkts[k].iov, pkts[k].iovcnt);
		pkts[k].len = (uint32_t)len;
		pkts[k].flags = (len > room || len > src_room) ? NF_PKT_TRUNC : 0;
		k++;
	}
	return k;
}
