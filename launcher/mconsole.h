/* mconsole client (UML management console, protocol version 2).
 *
 * A request is one datagram to the guest's socket, sent from a socket bound
 * at an address of ours (UML replies with sendto() to the sender's address,
 * so an unbound client hears nothing). The reply comes as one or more
 * datagrams: all but the last have "more" set, only the first carries the
 * error code. Wire layouts (host byte order):
 *
 *   request   0 magic 0xcafebabe | 4 version 2 | 8 len (< 512) | 12 text
 *   reply     0 err | 4 more | 8 len (text bytes + NUL) | 12 text, NUL
 */
#ifndef NF_MCONSOLE_H
#define NF_MCONSOLE_H

#include <stddef.h>
#include <stdint.h>

/* Longest request text the guest takes. */
#define MC_CMD_MAX 511

/* A whole reply. */
struct mc_answer {
	uint32_t err; /* 0 OK, 1 error; config/remove answer -errno (as u32) */
	char *text;   /* every chunk's text joined, NUL-terminated; caller frees
		       * with mc_answer_free */
	size_t len;
};

/* Sends cmd to the guest's mconsole socket at sock_path from a datagram
 * socket bound at client_path (created and removed here; when we are root
 * and the directory of client_path belongs to another user, the socket is
 * given to that user so a guest running as them can reply), and collects
 * the reply, waiting up to timeout_ms for each of its datagrams. Datagrams
 * from any other sender are ignored. Returns 0 with *ans filled (look at
 * ans->err), or -errno: -ENOENT/-ECONNREFUSED nobody listens at sock_path,
 * -ETIMEDOUT no (complete) reply in time, -E2BIG cmd too long, -EPROTO a
 * malformed reply; *ans is then empty. */
int mc_request(const char *sock_path, const char *client_path, const char *cmd, int timeout_ms,
	       struct mc_answer *ans);

void mc_answer_free(struct mc_answer *ans);

/* mc_request for a short answer: returns 0 with the reply text in reply (if
 * non-NULL) when the guest answered OK, 1 when it answered with an error,
 * -errno when it could not be reached or did not answer in time. */
int mc_command(const char *sock_path, const char *client_path, const char *cmd, char *reply,
	       size_t len, int timeout_ms);

/* Whether a guest listens on the mconsole socket at sock_path: connect()s a
 * datagram socket to it (nothing is sent). Returns 1 when it connects, 0 when
 * nobody listens (ECONNREFUSED: the socket file outlived its guest) or there
 * is no socket (ENOENT), -errno when it cannot tell. */
int mc_listening(const char *sock_path);

#endif
