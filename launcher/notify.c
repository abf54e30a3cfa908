#include "notify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NT_MAGIC 0xcafebabeu
#define NT_VERSION 2u
#define NT_HDR 16u

int nt_open(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4); /* host byte order, as UML writes it */
	return v;
}

int nt_parse(const void *buf, size_t n, struct nt_msg *m)
{
	const uint8_t *p = buf;
	if (n < NT_HDR || rd32(p) != NT_MAGIC || rd32(p + 4) != NT_VERSION)
		return -EBADMSG;
	uint32_t len = rd32(p + 12);
	if (len > NT_DATA_MAX || len > n - NT_HDR)
		return -EBADMSG;
	m->type = rd32(p + 8);
	memcpy(m->data, p + NT_HDR, len);
	/* SOCKET and PANIC carry their NUL; USER_NOTIFY may not. */
	while (len && (m->data[len - 1] == '\0' || m->data[len - 1] == '\n'))
		len--;
	m->data[len] = '\0';
	m->len = (uint32_t)strnlen(m->data, len);
	return 0;
}

int nt_read(int fd, struct nt_msg *m)
{
	uint8_t buf[NT_HDR + NT_DATA_MAX + 16];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n > sizeof(buf))
		return -EBADMSG; /* longer than any notification can be */
	return nt_parse(buf, (size_t)n, m);
}
