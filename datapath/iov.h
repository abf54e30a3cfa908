/* Scatter-list helpers for moving bytes in and out of descriptor chains. */
#ifndef NF_IOV_H
#define NF_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* Appends to dst the part [off, off+len) of the scatter list src (len
 * SIZE_MAX: to the end). Returns the new dst count, never more than max. */
static inline unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len,
				 struct iovec *dst, unsigned cnt, unsigned max)
{
	for (unsigned i = 0; i < n && len && cnt < max; i++) {
		size_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = l - off < len ? l - off : len;
		dst[cnt++] = (struct iovec){ (uint8_t *)src[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return cnt;
}

/* Copies len bytes at offset off of the scatter list into buf. Returns the
 * number of bytes copied (short when the list ends). */
static inline size_t iov_read(const struct iovec *iov, unsigned n, size_t off, void *buf,
			      size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = l - off < len - done ? l - off : len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, take);
		done += take;
		off = 0;
	}
	return done;
}

/* Copies len bytes from buf to offset off of the scatter list. */
static inline size_t iov_write(const struct iovec *iov, unsigned n, size_t off, const void *buf,
			       size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = l - off < len - done ? l - off : len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, take);
		done += take;
		off = 0;
	}
	return done;
}

#endif
