#include "mconsole.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MC_MAGIC 0xcafebabeu
#define MC_VERSION 2
#define MC_MAX 512
/* A reply longer than this (many chunks) is cut off: /proc files and sysrq
 * output stay far below. */
#define MC_ANSWER_MAX (4u << 20)

struct mc_wire_request {
	uint32_t magic;
	uint32_t version;
	uint32_t len;
	char data[MC_MAX];
};

struct mc_wire_reply {
	uint32_t err;
	uint32_t more;
	uint32_t len;
	char data[MC_MAX];
};

_Static_assert(sizeof(struct mc_wire_request) == 12 + MC_MAX, "mconsole request layout");
_Static_assert(sizeof(struct mc_wire_reply) == 12 + MC_MAX, "mconsole reply layout");

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* As root, hand the client socket to the owner of its directory: the guest
 * runs as that user and needs write permission on it to reply. */
static void give_to_dir_owner(const char *client_path)
{
	char dir[PATH_MAX];
	struct stat st;
	if (geteuid() != 0)
		return;
	snprintf(dir, sizeof(dir), "%s", client_path);
	if (stat(dirname(dir), &st) == 0 && st.st_uid != 0)
		if (chown(client_path, st.st_uid, st.st_gid) < 0)
			return; /* the guest may still be root: try anyway */
}

/* Whether a datagram came from the guest's socket. The name it is bound at
 * may be spelt differently from ours (uml_dir= with a trailing '/', a
 * relative path): a sender counts unless it is another socket file. */
static bool from_guest(const struct sockaddr_un *from, socklen_t flen, const char *sock_path)
{
	struct stat a, b;
	if (flen <= offsetof(struct sockaddr_un, sun_path) || from->sun_path[0] == '\0')
		return true;
	char name[sizeof(from->sun_path) + 1];
	size_t n = flen - offsetof(struct sockaddr_un, sun_path);
	memcpy(name, from->sun_path, n);
	name[n] = '\0';
	if (strcmp(name, sock_path) == 0 || stat(name, &a) < 0 || stat(sock_path, &b) < 0)
		return true;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void mc_answer_free(struct mc_answer *ans)
{
	free(ans->text);
	ans->text = NULL;
	ans->len = 0;
}

/* Appends one chunk's text to ans. */
static int answer_append(struct mc_answer *ans, const char *p, size_t n)
{
	if (ans->len + n > MC_ANSWER_MAX)
		return 0; /* cut off */
	char *t = realloc(ans->text, ans->len + n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t + ans->len, p, n);
	ans->len += n;
	t[ans->len] = '\0';
	ans->text = t;
	return 0;
}

int mc_request(const char *sock_path, const char *client_path, const char *cmd, int timeout_ms,
	       struct mc_answer *ans)
{
	struct sockaddr_un me, uml, from;
	struct mc_wire_request req = { MC_MAGIC, MC_VERSION, 0, { 0 } };
	struct mc_wire_reply rep;
	bool first = true;
	int fd, rc;

	ans->err = 0;
	ans->text = NULL;
	ans->len = 0;
	if (fill_sun(&me, client_path) || fill_sun(&uml, sock_path))
		return -ENAMETOOLONG;
	req.len = (uint32_t)strlen(cmd);
	if (req.len > MC_CMD_MAX)
		return -E2BIG;
	memcpy(req.data, cmd, req.len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(client_path);
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		rc = -errno;
		goto out_close;
	}
	give_to_dir_owner(client_path);
	if (sendto(fd, &req, 12 + req.len, 0, (struct sockaddr *)&uml, sizeof(uml)) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	if (answer_append(ans, "", 0) < 0) {
		rc = -ENOMEM;
		goto out_unlink;
	}
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int left = (int)(deadline - now_ms());
		rc = poll(&pfd, 1, left > 0 ? left : 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			rc = rc == 0 ? -ETIMEDOUT : -errno;
			goto out_free;
		}
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, &rep, sizeof(rep), 0, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			rc = -errno;
			goto out_free;
		}
		if (!from_guest(&from, flen, sock_path))
			continue;
		/* len counts the text and its NUL and must fit the datagram. */
		if (n < 12 || rep.len > MC_MAX || rep.len > (size_t)n - 12) {
			rc = -EPROTO;
			goto out_free;
		}
		size_t tl = rep.len;
		while (tl && rep.data[tl - 1] == '\0')
			tl--;
		if (first)
			ans->err = rep.err;
		first = false;
		rc = answer_append(ans, rep.data, tl);
		if (rc < 0)
			goto out_free;
		if (!rep.more)
			break;
		deadline = now_ms() + timeout_ms; /* the next chunk's turn */
	}
	rc = 0;
	goto out_unlink;

out_free:
	mc_answer_free(ans);
out_unlink:
	unlink(client_path);
out_close:
	close(fd);
	return rc;
}

int mc_command(const char *sock_path, const char *client_path, const char *cmd, char *reply,
	       size_t len, int timeout_ms)
{
	struct mc_answer ans;
	int rc = mc_request(sock_path, client_path, cmd, timeout_ms, &ans);
	if (rc < 0)
		return rc;
	if (reply && len)
		snprintf(reply, len, "%s", ans.text);
	rc = ans.err ? 1 : 0;
	mc_answer_free(&ans);
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
