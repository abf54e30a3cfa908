/* The control socket server: a thread of the running uml-nf answering the
 * requests of csock_proto.h on INST/control.sock (stats, capture, hot-plug).
 *
 * One thread, non-blocking sockets, at most CS_MAX_CLIENTS connections at
 * a time; a client that stops reading only fills its own buffers (a
 * capture's ring then counts missed frames: the datapath never waits).
 */
#ifndef NF_CSOCK_SERVER_H
#define NF_CSOCK_SERVER_H

#include <stddef.h>

struct nf_engine;
struct cs_server;

#define CS_MAX_CLIENTS 16

/* Hot-plug requests, served by the launcher (hotplug.c). Each returns 0 or
 * -errno with a one-line answer in reply. Control socket thread. */
struct cs_hotplug_ops {
	int (*attach)(void *ctx, const char *spec, char *reply, size_t len);
	int (*detach)(void *ctx, unsigned index, char *reply, size_t len);
	int (*query)(void *ctx, unsigned index, char *reply, size_t len);
	void *ctx;
};

/* Binds the socket at path (mode 0600; a stale socket file there is
 * replaced, anything else refused). hp may be NULL: hot-plug requests are
 * then refused. Returns 0 with *out, or -errno with a reason in err. */
int cs_open(struct cs_server **out, const char *path, struct nf_engine *eng, const char *umid,
	    const struct cs_hotplug_ops *hp, char *err, size_t errlen);

/* Starts serving (the thread inherits the caller's signal mask and
 * capabilities: start it after dropping privileges). Returns 0 or -errno. */
int cs_start(struct cs_server *cs);

/* Stops the thread: running captures get their end record (best effort),
 * connections are closed, the socket file is removed. NULL is fine. */
void cs_close(struct cs_server *cs);

#endif
