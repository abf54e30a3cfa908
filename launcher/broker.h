/* The socket broker: the one part of uml-nf that keeps a privilege after
 * set-up, in a process of its own, so that hot-plug (attach.h) can open a
 * raw transport after uml-nf dropped every capability.
 *
 * It is forked before the drop, keeps only CAP_NET_RAW and CAP_NET_ADMIN
 * (permitted, effective only around the socket call), closes every fd but
 * its end of a SOCK_SEQPACKET socketpair, dies with uml-nf, and answers
 * exactly one kind of request (transports/privsock.h): "a packet socket,
 * with buffers of N bytes". What a compromised uml-nf could get from it is
 * what CAP_NET_RAW gives in uml-nf's network namespace: packet sockets.
 */
#ifndef NF_BROKER_H
#define NF_BROKER_H

#include <sys/types.h>

/* Forks the broker. Call on the main thread before any other thread
 * exists and before dropping privileges. Returns our end of the channel
 * (close-on-exec; closing it ends the broker) with *pid set, or -errno. */
int br_start(pid_t *pid);

#endif
