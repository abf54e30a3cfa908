/* Minimal mconsole client (UML management console, protocol version 2):
 * enough to ask a guest to halt cleanly. */
#ifndef NF_MCONSOLE_H
#define NF_MCONSOLE_H

#include <stddef.h>

/* Sends cmd to the guest's mconsole socket at sock_path, from a datagram
 * socket bound at client_path (created and removed here), and waits up to
 * timeout_ms for the first reply chunk. Returns 0 with the reply text in
 * reply (if non-NULL) when the guest answered OK, 1 when it answered with an
 * error, -errno when it could not be reached or did not answer in time. */
int mc_command(const char *sock_path, const char *client_path, const char *cmd, char *reply,
	       size_t len, int timeout_ms);

/* Whether a guest listens on the mconsole socket at sock_path: connect()s a
 * datagram socket to it (nothing is sent). Returns 1 when it connects, 0 when
 * nobody listens (ECONNREFUSED: the socket file outlived its guest) or there
 * is no socket (ENOENT), -errno when it cannot tell. */
int mc_listening(const char *sock_path);

#endif
