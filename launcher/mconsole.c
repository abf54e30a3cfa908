#include "mconsole.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MC_MAGIC 0xcafebabeu
#define MC_VERSION 2
#define MC_MAX 512

struct mc_request {
	uint32_t magic;
	uint32_t version;
	uint32_t len;
	char data[MC_MAX];
};

struct mc_reply {
	uint32_t err;
	uint32_t more;
	uint32_t len;
	char data[MC_MAX];
};

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

int mc_command(const char *sock_path, const char *client_path, const char *cmd, char *reply,
	       size_t len, int timeout_ms)
{
	struct sockaddr_un me, uml;
	struct mc_request req = { MC_MAGIC, MC_VERSION, 0, { 0 } };
	struct mc_reply rep;
	int fd, rc;

	if (fill_sun(&me, client_path) || fill_sun(&uml, sock_path))
		return -ENAMETOOLONG;
	req.len = (uint32_t)strlen(cmd);
	if (req.len >= MC_MAX)
		return -E2BIG;
	memcpy(req.data, cmd, req.len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(client_path);
	/* UML answers with sendto() to our address, so we must have one. */
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (sendto(fd, &req, 12 + req.len, 0, (struct sockaddr *)&uml, sizeof(uml)) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	struct pollfd pfd = { fd, POLLIN, 0 };
	rc = poll(&pfd, 1, timeout_ms);
	if (rc <= 0) {
		rc = rc == 0 ? -ETIMEDOUT : -errno;
		goto out_unlink;
	}
	ssize_t n = recv(fd, &rep, sizeof(rep), 0);
	if (n < 12) {
		rc = n < 0 ? -errno : -EPROTO;
		goto out_unlink;
	}
	if (reply && len) {
		size_t tl = rep.len < MC_MAX && rep.len <= (size_t)n - 12 ? rep.len : 0;
		snprintf(reply, len, "%.*s", (int)tl, rep.data);
	}
	rc = rep.err ? 1 : 0;
out_unlink:
	unlink(client_path);
out_close:
	close(fd);
	return rc;
}

int mc_listening(const char *sock_path)
{
	struct sockaddr_un uml;
	int fd, rc;

	if (fill_sun(&uml, sock_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A datagram connect() to a unix socket checks that a socket is bound
	 * at the path right now: a file left by a dead guest is refused. */
	if (connect(fd, (struct sockaddr *)&uml, sizeof(uml)) == 0)
		rc = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		rc = 0;
	else
		rc = -errno;
	close(fd);
	return rc;
}
