/* The guest's mconsole notify channel (`mconsole=notify:PATH`).
 *
 * uml-nf binds a datagram socket in the instance directory and gives its
 * path to the guest kernel, which then sends (shared/reference/
 * cow-and-mconsole.md, "Notify socket"):
 *
 *   +-----------+---------+--------+-------+----------------+
 *   | 0xCAFEBABE| version | type   | len   | data (len)     |
 *   | u32       | u32 = 2 | u32    | u32   | <= 512 bytes   |
 *   +-----------+---------+--------+-------+----------------+
 *
 *   type 0 SOCKET: the mconsole socket is ready (data: its path)
 *        1 PANIC:  the kernel panicked (data: the panic text)
 *        2 HANG
 *        3 USER_NOTIFY: guest userspace wrote data to /proc/mconsole
 *
 * The guest is untrusted: every datagram is checked (magic, version, length
 * against what arrived) and anything malformed is ignored and counted.
 */
#ifndef NF_NOTIFY_H
#define NF_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

enum nt_type { NT_SOCKET = 0, NT_PANIC = 1, NT_HANG = 2, NT_USER = 3 };

#define NT_DATA_MAX 512

struct nt_msg {
	uint32_t type;
	uint32_t len;              /* data bytes, without a trailing NUL */
	char data[NT_DATA_MAX + 1]; /* NUL-terminated */
};

/* Binds a non-blocking datagram socket at path (a stale socket file there
 * is replaced; anything else is refused). Returns the fd or -errno. */
int nt_open(const char *path);

/* Parses one received datagram. Returns 0 with *m filled, -EBADMSG when it
 * is not a well-formed notification. Pure. */
int nt_parse(const void *buf, size_t n, struct nt_msg *m);

/* Reads one pending datagram from fd and parses it. Returns 0, -EAGAIN when
 * none is pending, -EBADMSG for a malformed one (consumed), -errno. */
int nt_read(int fd, struct nt_msg *m);

#endif
