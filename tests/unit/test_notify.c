/* The guest's mconsole notify datagrams (launcher/notify.c): well-formed
 * ones of each type parse, every malformed shape is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notify.h"

static size_t make(uint8_t *buf, uint32_t magic, uint32_t version, uint32_t type,
		   const void *data, uint32_t len, uint32_t claimed)
{
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &version, 4);
	memcpy(buf + 8, &type, 4);
	memcpy(buf + 12, &claimed, 4);
	memcpy(buf + 16, data, len);
	return 16 + len;
}

static void test_good(void **state)
{
	(void)state;
	uint8_t buf[600];
	struct nt_msg m;
	size_t n = make(buf, 0xcafebabe, 2, NT_SOCKET, "/run/x/mconsole", 16, 16);
	assert_int_equal(nt_parse(buf, n, &m), 0);
	assert_int_equal(m.type, NT_SOCKET);
	assert_string_equal(m.data, "/run/x/mconsole");
	assert_int_equal(m.len, 15);

	const char *p = "VFS: Unable to mount root fs";
	n = make(buf, 0xcafebabe, 2, NT_PANIC, p, (uint32_t)strlen(p) + 1, (uint32_t)strlen(p) + 1);
	assert_int_equal(nt_parse(buf, n, &m), 0);
	assert_int_equal(m.type, NT_PANIC);
	assert_string_equal(m.data, p);

	/* USER_NOTIFY: no NUL, a trailing newline from echo. */
	n = make(buf, 0xcafebabe, 2, NT_USER, "hello\n", 6, 6);
	assert_int_equal(nt_parse(buf, n, &m), 0);
	assert_string_equal(m.data, "hello");

	/* An embedded NUL ends the text; the maximum length is accepted. */
	n = make(buf, 0xcafebabe, 2, NT_USER, "ab\0cd", 5, 5);
	assert_int_equal(nt_parse(buf, n, &m), 0);
	assert_string_equal(m.data, "ab");
	uint8_t big[NT_DATA_MAX];
	memset(big, 'x', sizeof(big));
	n = make(buf, 0xcafebabe, 2, NT_USER, big, NT_DATA_MAX, NT_DATA_MAX);
	assert_int_equal(nt_parse(buf, n, &m), 0);
	assert_int_equal(m.len, NT_DATA_MAX);
}

static void test_bad(void **state)
{
	(void)state;
	uint8_t buf[600];
	struct nt_msg m;
	size_t n = make(buf, 0xcafebabf, 2, NT_USER, "x", 1, 1);
	assert_int_equal(nt_parse(buf, n, &m), -EBADMSG);   /* magic */
	n = make(buf, 0xcafebabe, 1, NT_USER, "x", 1, 1);
	assert_int_equal(nt_parse(buf, n, &m), -EBADMSG);   /* version */
	n = make(buf, 0xcafebabe, 2, NT_USER, "xyz", 3, 4);
	assert_int_equal(nt_parse(buf, n, &m), -EBADMSG);   /* claims more than came */
	n = make(buf, 0xcafebabe, 2, NT_USER, "x", 1, NT_DATA_MAX + 1);
	assert_int_equal(nt_parse(buf, n, &m), -EBADMSG);   /* claims too much */
	n = make(buf, 0xcafebabe, 2, NT_USER, "", 0, 0);
	assert_int_equal(nt_parse(buf, n - 1, &m), -EBADMSG); /* short header */
	assert_int_equal(nt_parse(buf, 0, &m), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
