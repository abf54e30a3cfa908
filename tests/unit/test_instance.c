/* The instance directory (launcher/instance.c) in a scratch BASE: exclusive
 * while its owner lives, reclaimed after the owner dies without cleaning up
 * (a child that _exit()s stands in for kill -9: the kernel drops its lock
 * either way), refused while a guest still answers on its mconsole or when
 * it holds a file that is not ours, and one winner among racing starters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "instance.h"
#include "log.h"

#define UMID "t1"

static char base[64];

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/umlnf-test-inst.XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static bool exists(const char *rel)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	return lstat(p, &st) == 0;
}

/* A socket file nobody listens on, as a dead process leaves it. When keep,
 * the bound socket stays open (a live listener) and its fd is returned. */
static int sock_file(const char *rel, int type, bool keep)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", base, rel);
	int fd = socket(AF_UNIX, type, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (type == SOCK_STREAM)
		listen(fd, 1);
	if (keep)
		return fd;
	close(fd);
	return -1;
}

static void write_file(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Everything a running uml-nf and its guest leave in the directory. */
static void fill_like_a_run(void)
{
	char p[256];
	sock_file(UMID "/vec0.sock", SOCK_STREAM, false);
	sock_file(UMID "/vec1.sock", SOCK_STREAM, false);
	sock_file(UMID "/mconsole.client", SOCK_DGRAM, false);
	snprintf(p, sizeof(p), "%s/" UMID "/" UMID, base);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file(UMID "/" UMID "/pid", "1\n");
	sock_file(UMID "/" UMID "/mconsole", SOCK_DGRAM, false);
}

/* A child that creates the instance, fills it, and dies without removing it. */
static void killed_owner(pid_t *pid_out)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct inst in;
		char err[512];
		if (inst_create(&in, base, UMID, NULL, err, sizeof(err)) < 0)
			_exit(1);
		fill_like_a_run();
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (pid_out)
		*pid_out = pid;
}

/* Nothing but the instance directory (if want) in base: no .new/.old. */
static void assert_base_holds(bool want)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = '%s'", base, want ? UMID : "");
	assert_int_equal(system(cmd), 0);
}

static void test_create_exclusive_remove(void **state)
{
	(void)state;
	struct inst a, b;
	char err[512], want[64];
	assert_int_equal(inst_create(&a, base, UMID, NULL, err, sizeof(err)), 0);
	assert_true(exists(UMID "/uml-nf.lock"));
	assert_true(exists(UMID "/uml-nf.pid"));
	assert_base_holds(true);

	/* The lock is per open file: a second start in this process is
	 * refused like one from another process, naming our pid. */
	assert_int_equal(inst_create(&b, base, UMID, NULL, err, sizeof(err)), -EBUSY);
	snprintf(want, sizeof(want), "(pid %d)", (int)getpid());
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "is running"));

	fill_like_a_run();
	inst_remove(&a);
	assert_false(exists(UMID));
	assert_base_holds(false);
}

static void test_reclaim_after_kill(void **state)
{
	(void)state;
	struct inst in;
	char err[512];
	pid_t dead;
	killed_owner(&dead);
	assert_true(exists(UMID "/vec0.sock"));
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), 0);
	assert_false(exists(UMID "/vec0.sock"));
	assert_false(exists(UMID "/vec1.sock"));
	assert_false(exists(UMID "/mconsole.client"));
	assert_false(exists(UMID "/" UMID));
	assert_true(exists(UMID "/uml-nf.lock"));
	/* The pid file is ours now. */
	char p[256];
	int pid = 0;
	snprintf(p, sizeof(p), "%s/" UMID "/uml-nf.pid", base);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	assert_int_equal(pid, getpid());
	inst_remove(&in);
	assert_base_holds(false);
}

static void test_unknown_file_refused(void **state)
{
	(void)state;
	struct inst in;
	char err[512];
	killed_owner(NULL);
	write_file(UMID "/notes.txt", "mine\n");
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), -ENOTEMPTY);
	assert_non_null(strstr(err, "notes.txt"));
	/* Untouched. */
	assert_true(exists(UMID "/vec0.sock"));
	assert_true(exists(UMID "/" UMID "/mconsole"));
	assert_true(exists(UMID "/notes.txt"));

	/* Inside UML's directory too. */
	char p[256];
	snprintf(p, sizeof(p), "%s/" UMID "/notes.txt", base);
	unlink(p);
	write_file(UMID "/" UMID "/core", "x");
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), -ENOTEMPTY);
	assert_non_null(strstr(err, UMID "/core"));
	assert_true(exists(UMID "/vec0.sock"));
}

static void test_live_guest_refused(void **state)
{
	(void)state;
	struct inst in;
	char err[512];
	killed_owner(NULL);
	/* A guest still bound to its mconsole socket. */
	char p[256];
	snprintf(p, sizeof(p), "%s/" UMID "/" UMID "/mconsole", base);
	unlink(p);
	int fd = sock_file(UMID "/" UMID "/mconsole", SOCK_DGRAM, true);
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "still runs"));
	assert_true(exists(UMID "/vec0.sock"));
	close(fd); /* the guest is gone: its socket file refuses connections */
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), 0);
	inst_remove(&in);
	assert_base_holds(false);
}

static void test_reclaim_without_lock_file(void **state)
{
	(void)state;
	struct inst in;
	char err[512], p[256];
	/* As an older uml-nf left it: no lock file, no pid file. */
	killed_owner(NULL);
	snprintf(p, sizeof(p), "%s/" UMID "/uml-nf.lock", base);
	unlink(p);
	snprintf(p, sizeof(p), "%s/" UMID "/uml-nf.pid", base);
	unlink(p);
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), 0);
	assert_false(exists(UMID "/vec0.sock"));
	inst_remove(&in);
	assert_base_holds(false);
}

/* The info file: written whole, read back key by key; `ls` and `ctl` see a
 * live owner through its lock (without taking it) and a killed one as
 * stale; a ctl client's socket left behind does not block reclaiming. */
static void test_info_probe(void **state)
{
	(void)state;
	struct inst in;
	struct inst_probe p;
	char err[512], v[64];
	assert_int_equal(inst_probe(base, UMID, &p), -ENOENT);
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), 0);
	assert_int_equal(inst_info_write(&in, "# comment=no\numid=t1\ndevices=vec0 vec1\n"
					      "vec0.ifname=p-veth0\nvec0=odd\n"), 0);
	assert_true(exists(UMID "/uml-nf.info"));
	assert_int_equal(inst_probe(base, UMID, &p), 0);
	assert_true(p.running);
	assert_int_equal(p.pid, getpid());
	assert_string_equal(inst_info_get(p.info, "devices", v, sizeof(v)), "vec0 vec1");
	assert_string_equal(inst_info_get(p.info, "vec0.ifname", v, sizeof(v)), "p-veth0");
	assert_string_equal(inst_info_get(p.info, "vec0", v, sizeof(v)), "odd");
	assert_null(inst_info_get(p.info, "comment", v, sizeof(v)));
	assert_null(inst_info_get(p.info, "vec", v, sizeof(v)));
	assert_string_equal(inst_info_get(p.info, "devices", v, 5), "vec0");
	assert_true(inst_pid_alive(p.pid, p.pid_start));
	assert_false(inst_pid_alive(p.pid, p.pid_start + 1));
	/* Rewritten whole. */
	assert_int_equal(inst_info_write(&in, "umid=t1\n"), 0);
	assert_int_equal(inst_probe(base, UMID, &p), 0);
	assert_null(inst_info_get(p.info, "devices", v, sizeof(v)));
	inst_remove(&in);
	assert_base_holds(false);

	pid_t dead;
	killed_owner(&dead);
	sock_file(UMID "/ctl.4242.sock", SOCK_DGRAM, false);
	assert_int_equal(inst_probe(base, UMID, &p), 0);
	assert_false(p.running);
	assert_int_equal(p.pid, dead);
	assert_int_equal(inst_create(&in, base, UMID, NULL, err, sizeof(err)), 0);
	assert_false(exists(UMID "/ctl.4242.sock"));
	inst_remove(&in);
	assert_base_holds(false);

	/* Not an instance directory. */
	char d[256];
	snprintf(d, sizeof(d), "%s/plain", base);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(inst_probe(base, "plain", &p), -ENOTDIR);
	rmdir(d);
}

/* Racing starters, new or over a stale directory: exactly one wins. */
static void race(bool stale)
{
	enum { N = 8 };
	int go[2], won = 0;
	pid_t kids[N];
	if (stale)
		killed_owner(NULL);
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct inst in;
			char err[512], c;
			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			int rc = inst_create(&in, base, UMID, NULL, err, sizeof(err));
			if (rc == 0) {
				usleep(500000); /* hold it while the others try */
				inst_remove(&in);
				_exit(0);
			}
			_exit(rc == -EBUSY ? 1 : 2);
		}
	}
	close(go[0]);
	close(go[1]); /* everyone starts now */
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_true(WEXITSTATUS(st) <= 1);
		won += WEXITSTATUS(st) == 0;
	}
	assert_int_equal(won, 1);
	assert_base_holds(false);
}

static void test_race_fresh(void **state)
{
	(void)state;
	race(false);
}

static void test_race_stale(void **state)
{
	(void)state;
	race(true);
}

int main(void)
{
	nf_log_level = NF_LOG_WARN; /* no "reclaimed" lines between cmocka's */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_exclusive_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reclaim_after_kill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_file_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_guest_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reclaim_without_lock_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_info_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_race_fresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_race_stale, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
