/* Classic BPF loaders (bpf/filter.c): checks, files, libpcap compilation,
 * and a compiled filter attached to a real socket dropping what it should. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "filter.h"

static const struct sock_filter accept_all[] = { BPF_STMT(BPF_RET | BPF_K, 0x40000) };
/* Drops IPv4 ICMP: ldh [12]; jeq 0x800; ldb [23]; jeq 1 -> ret 0; ret all. */
static const struct sock_filter no_icmp[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 3),
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0),
	BPF_STMT(BPF_RET | BPF_K, 0x40000),
};

static void test_check(void **state)
{
	(void)state;
	char err[128];
	assert_int_equal(bf_check(no_icmp, 6, err, sizeof(err)), 0);
	assert_int_equal(bf_check(accept_all, 0, err, sizeof(err)), -EINVAL);
	/* Cut after the jump: it now points past the end. */
	assert_int_equal(bf_check(no_icmp, 4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "jumps past the end"));
	/* Ends in a load, not a return. */
	assert_int_equal(bf_check(no_icmp, 3, err, sizeof(err)), -EINVAL);
	struct sock_filter ja[] = { BPF_STMT(BPF_JMP | BPF_JA, 1), BPF_STMT(BPF_RET | BPF_K, 0) };
	assert_int_equal(bf_check(ja, 2, err, sizeof(err)), -EINVAL);
	ja[0].k = 0;
	assert_int_equal(bf_check(ja, 2, err, sizeof(err)), 0);
	struct sock_filter *big = calloc(BF_MAX_INSNS + 1, sizeof(*big));
	assert_non_null(big);
	for (unsigned i = 0; i <= BF_MAX_INSNS; i++)
		big[i] = accept_all[0];
	assert_int_equal(bf_check(big, BF_MAX_INSNS, err, sizeof(err)), 0);
	assert_int_equal(bf_check(big, BF_MAX_INSNS + 1, err, sizeof(err)), -EINVAL);
	free(big);
}

static char *write_tmp(const void *data, size_t n)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/uml-nf-bpf.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	return path;
}

static void test_files(void **state)
{
	(void)state;
	char err[256];
	struct bf_prog p;
	char *path = write_tmp(no_icmp, sizeof(no_icmp));
	assert_int_equal(bf_load_file(path, &p, err, sizeof(err)), 0);
	assert_int_equal(p.len, 6);
	assert_memory_equal(p.insns, no_icmp, sizeof(no_icmp));
	bf_free(&p);
	unlink(path);

	path = write_tmp(no_icmp, 7);
	assert_int_equal(bf_load_file(path, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a whole number"));
	assert_null(p.insns);
	unlink(path);

	path = write_tmp("", 0);
	assert_int_equal(bf_load_file(path, &p, err, sizeof(err)), -EINVAL);
	unlink(path);

	assert_int_equal(bf_load_file("/nonexistent/f.bpf", &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/f.bpf"));
	assert_int_equal(bf_load_file("/tmp", &p, err, sizeof(err)), -EINVAL);
}

static void test_compile(void **state)
{
	(void)state;
	char err[256];
	struct bf_prog p;
	assert_int_equal(bf_compile("icmp or arp", &p, err, sizeof(err)), 0);
	assert_true(p.len > 2);
	bf_free(&p);
	assert_int_equal(bf_compile("ip[2:2] = 40, or tcp", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(bf_compile("tcp port 80 and (", &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tcp port 80 and ("));
	assert_null(p.insns);
}

/* Frames through a datagram socketpair with a filter on the receiving end. */
static size_t frame(uint8_t *f, uint16_t type, uint8_t proto)
{
	memset(f, 0, 64);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	f[14] = 0x45;
	f[23] = proto;
	return 64;
}

static int delivered(int tx, int rx, uint16_t type, uint8_t proto)
{
	uint8_t f[64], g[64];
	size_t n = frame(f, type, proto);
	assert_int_equal(send(tx, f, n, 0), (ssize_t)n);
	return recv(rx, g, sizeof(g), MSG_DONTWAIT) == (ssize_t)n;
}

static void test_attach(void **state)
{
	(void)state;
	int sv[2];
	char err[256];
	struct bf_prog p;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	assert_true(delivered(sv[0], sv[1], 0x800, 1));
	assert_int_equal(bf_compile("not icmp", &p, err, sizeof(err)), 0);
	assert_int_equal(bf_attach(sv[1], &p), 0);
	bf_free(&p);
	assert_false(delivered(sv[0], sv[1], 0x800, 1)); /* ICMP dropped */
	assert_true(delivered(sv[0], sv[1], 0x800, 6));  /* TCP passes */
	assert_true(delivered(sv[0], sv[1], 0x806, 0));  /* ARP passes */
	/* A file-loaded program replaces it. */
	assert_int_equal(bf_from_bytes(accept_all, sizeof(accept_all), &p, err, sizeof(err)), 0);
	assert_int_equal(bf_attach(sv[1], &p), 0);
	assert_true(delivered(sv[0], sv[1], 0x800, 1));
	/* Not a socket. */
	int fd = open("/dev/null", O_RDONLY);
	assert_int_equal(bf_attach(fd, &p), -ENOTSOCK);
	close(fd);
	bf_free(&p);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_compile),
		cmocka_unit_test(test_attach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
