#include "filter.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BF_SNAPLEN 262144

void bf_free(struct bf_prog *p)
{
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
}

/* Instruction classes and jump kinds, from the classic BPF encoding. */
#define CLASS(c) ((c) & 0x07)
#define C_JMP 0x05
#define C_RET 0x06
#define OP(c) ((c) & 0xf0)
#define JA 0x00

int bf_check(const struct sock_filter *insns, unsigned len, char *err, size_t errlen)
{
	if (len == 0 || len > BF_MAX_INSNS) {
		snprintf(err, errlen, "%u instructions (1..%u allowed)", len, BF_MAX_INSNS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < len; i++) {
		const struct sock_filter *f = &insns[i];
		if (CLASS(f->code) != C_JMP)
			continue;
		/* Targets are relative to the next instruction. */
		unsigned long long left = len - i - 1;
		if (OP(f->code) == JA ? f->k >= left : (f->jt >= left || f->jf >= left)) {
			snprintf(err, errlen, "instruction %u jumps past the end", i);
			return -EINVAL;
		}
	}
	if (CLASS(insns[len - 1].code) != C_RET) {
		snprintf(err, errlen, "the last instruction is not a return");
		return -EINVAL;
	}
	return 0;
}

int bf_from_bytes(const void *bytes, size_t n, struct bf_prog *out, char *err, size_t errlen)
{
	char why[96];
	out->insns = NULL;
	out->len = 0;
	if (n == 0 || n % sizeof(struct sock_filter)) {
		snprintf(err, errlen, "%zu bytes: not a whole number of 8-byte instructions", n);
		return -EINVAL;
	}
	if (n / sizeof(struct sock_filter) > BF_MAX_INSNS) {
		snprintf(err, errlen, "%zu instructions (at most %u)", n / sizeof(struct sock_filter),
			 BF_MAX_INSNS);
		return -EINVAL;
	}
	unsigned len = (unsigned)(n / sizeof(struct sock_filter));
	struct sock_filter *insns = malloc(n);
	if (!insns) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(insns, bytes, n);
	if (bf_check(insns, len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		free(insns);
		return -EINVAL;
	}
	out->insns = insns;
	out->len = len;
	return 0;
}

int bf_load_file(const char *path, struct bf_prog *out, char *err, size_t errlen)
{
	char why[128];
	struct stat st;
	int rc;
	out->insns = NULL;
	out->len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > (off_t)(BF_MAX_INSNS * sizeof(struct sock_filter))) {
		snprintf(err, errlen, "%s: %lld bytes, more than %u instructions", path,
			 (long long)st.st_size, BF_MAX_INSNS);
		close(fd);
		return -EINVAL;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	rc = got == n ? bf_from_bytes(buf, n, out, why, sizeof(why)) : -EIO;
	if (got != n)
		snprintf(why, sizeof(why), "short read");
	free(buf);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, why);
	return rc;
}

int bf_compile(const char *expr, struct bf_prog *out, char *err, size_t errlen)
{
	struct bpf_program bp;
	out->insns = NULL;
	out->len = 0;
	pcap_t *p = pcap_open_dead(DLT_EN10MB, BF_SNAPLEN);
	if (!p) {
		snprintf(err, errlen, "libpcap: cannot open a dead handle");
		return -ENOMEM;
	}
	if (pcap_compile(p, &bp, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "\"%s\": %s", expr, pcap_geterr(p));
		pcap_close(p);
		return -EINVAL;
	}
	pcap_close(p);
	/* struct bpf_insn and struct sock_filter share one layout. */
	_Static_assert(sizeof(struct bpf_insn) == sizeof(struct sock_filter), "bpf insn size");
	int rc = bf_from_bytes(bp.bf_insns, (size_t)bp.bf_len * sizeof(struct bpf_insn), out, err,
			       errlen);
	pcap_freecode(&bp);
	return rc;
}

int bf_attach(int fd, const struct bf_prog *p)
{
	int type;
	socklen_t tl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	struct sock_fprog fp = { .len = (unsigned short)p->len, .filter = p->insns };
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0)
		return -errno;
	return 0;
}
