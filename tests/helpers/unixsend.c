/* unixsend PATH [-d MS] [-n] [-c MS]: connects to the unix stream socket
 * PATH, waits MS milliseconds (-d), sends standard input (nothing with -n),
 * shuts down its sending side, and copies whatever comes back to standard
 * output until the server closes (at most 10 s). Exits 0 when the server
 * closed, 3 when it did not within 10 s, 1 on a local error. With -c MS it
 * sends nothing and only waits up to MS ms for the server to close on it,
 * printing "closed after N ms" (exit 0) or "still open" (exit 3). For
 * poking the control socket with requests no uml-nf client would send.
 * Test helper only. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	long delay_ms = 0, close_ms = -1;
	int send_input = 1;
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			delay_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			close_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-n") == 0)
			send_input = 0;
		else
			path = argv[i];
	}
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: unixsend PATH [-d MS] [-n] < request\n");
		return 1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "unixsend: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (close_ms >= 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct pollfd p = {fd, POLLIN, 0};
		char c;
		if (poll(&p, 1, (int)close_ms) == 1 && recv(fd, &c, 1, 0) <= 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("closed after %ld ms\n",
			       (long)((t1.tv_sec - t0.tv_sec) * 1000 +
				      (t1.tv_nsec - t0.tv_nsec) / 1000000));
			return 0;
		}
		printf("still open\n");
		return 3;
	}
	if (delay_ms > 0) {
		struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	char buf[65536];
	ssize_t n;
	while (send_input && (n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			break; /* the server may close early: read what it said */
	shutdown(fd, SHUT_WR);
	for (int waited = 0; waited < 10000;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 100) == 0) {
			waited += 100;
			continue;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return 0;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	return 3;
}
