/* Classic BPF socket filters for the vecN: options bpffile=, bpf= and
 * bpfflash=.
 *
 * A program is an array of struct sock_filter records:
 *
 *   +--------+----+----+----------+
 *   | code   | jt | jf | k        |   8 bytes, host byte order
 *   | u16    | u8 | u8 | u32      |   (a bpffile is just these, back to back)
 *   +--------+----+----+----------+
 *
 * It runs on each frame from the Ethernet header on (the virtio-net header
 * a packet socket adds is not part of what the filter sees) and returns the
 * number of bytes to keep: 0 drops the frame in the host kernel, before it
 * is queued to us or copied anywhere.
 *
 * Loading checks what can be checked without the kernel -- size, count,
 * that every jump lands inside the program and that it ends in a return --
 * so a bad file is named at start-up; attaching lets the kernel's own
 * verifier have the last word.
 */
#ifndef NF_BPF_FILTER_H
#define NF_BPF_FILTER_H

#include <linux/filter.h>
#include <stddef.h>

/* A loaded program (caller frees with bf_free). */
struct bf_prog {
	struct sock_filter *insns;
	unsigned len;
};

/* Most instructions a classic program may have (the kernel's BPF_MAXINSNS). */
#define BF_MAX_INSNS 4096u

/* Checks a program: 1..BF_MAX_INSNS instructions, jumps within it, last
 * instruction a return. Returns 0, or -EINVAL with the reason in err. */
int bf_check(const struct sock_filter *insns, unsigned len, char *err, size_t errlen);

/* Reads a bpffile. Returns 0, or -errno with a message naming the file in
 * err (not a multiple of 8 bytes, empty, too long, unreadable, bad jump...). */
int bf_load_file(const char *path, struct bf_prog *out, char *err, size_t errlen);

/* Builds a program from its bytes (a bpfflash request). As bf_load_file. */
int bf_from_bytes(const void *bytes, size_t n, struct bf_prog *out, char *err, size_t errlen);

/* Compiles a tcpdump expression for Ethernet frames with libpcap
 * (optimised; snapshot 262144). Returns 0, or -EINVAL with libpcap's
 * message in err. */
int bf_compile(const char *expr, struct bf_prog *out, char *err, size_t errlen);

/* Attaches (replacing any filter) to socket fd with SO_ATTACH_FILTER.
 * Returns 0 or -errno (-ENOTSOCK: fd is not a socket). */
int bf_attach(int fd, const struct bf_prog *p);

void bf_free(struct bf_prog *p);

#endif
