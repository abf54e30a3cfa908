/* Building blocks for transports whose host descriptor can hang up, fail or
 * be replaced while the port lives (bess, fd): an event set that gives the
 * engine stable descriptors, and frame batches over message sockets.
 *
 * Event set. The engine registers a port's rx_fd and tx_fd once, when the
 * device is added, and epoll reports EPOLLHUP/EPOLLERR of a registered
 * descriptor whatever its mask: a hung-up socket registered there directly
 * would wake the datapath for ever, and a socket replaced by a new
 * connection would not be watched at all. Such a port therefore hands the
 * engine two descriptors of its own that never hang up:
 *
 *   engine epoll --- rx_fd ---> epoll set: socket IN (| OUT), timer, listener
 *                `-- tx_fd ---> eventfd gate: writable, except while shut
 *
 * rx_fd is readable while anything in the set is ready. tx_fd is writable
 * unless transmit waits for room in the socket: the port then shuts the
 * gate and watches the socket's EPOLLOUT in the set; rx_batch, woken by
 * that, opens the gate and the engine resumes transmitting. (rx_batch runs
 * while the guest has receive buffers; a guest short of them waits for them
 * first, as it refills while it reads.)
 *
 * Message I/O. Frame batches over a message-preserving socket (unix
 * seqpacket or datagram, packet): recvmmsg/sendmmsg with MSG_DONTWAIT, or one
 * recvmsg/sendmsg per frame with vec=0. Never O_NONBLOCK: the descriptor may
 * be shared with another process, whose blocking I/O it would change.
 *
 * Everything here runs on the thread that owns the port: the main thread in
 * open/close, the datapath thread in rx_batch/tx_batch.
 */
#ifndef NF_PORTIO_H
#define NF_PORTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "transport.h"

struct nf_evset {
	int epfd; /* the port's rx_fd */
	int gate; /* the port's tx_fd */
	bool shut; /* gate shut: transmit waits for the socket */
};

/* Creates the set and the (open) gate. Returns 0 or -errno; on error
 * nothing is left open. */
int nf_evset_open(struct nf_evset *es);

/* Closes both descriptors (what was watched stays open). */
void nf_evset_close(struct nf_evset *es);

/* Adds fd to the set, reporting events with tag in data.u64; changes its
 * events; removes it. 0 or -errno. */
int nf_evset_add(struct nf_evset *es, int fd, uint32_t events, uint64_t tag);
int nf_evset_mod(struct nf_evset *es, int fd, uint32_t events, uint64_t tag);
void nf_evset_del(struct nf_evset *es, int fd);

/* What is ready in the set now (never waits): up to max events, 0 if none. */
int nf_evset_poll(struct nf_evset *es, struct epoll_event *evs, int max);

/* Shuts the gate (the engine then waits for tx_fd writable) or opens it. */
void nf_evset_shut(struct nf_evset *es);
void nf_evset_open_gate(struct nf_evset *es);

/* Receives up to max frames from a message socket into pkts[i].iov, setting
 * len and flags (NF_PKT_TRUNC: the message was larger than the buffers).
 * msgs: scratch of at least max entries. Returns the number received (0:
 * none waiting), or -errno. *empty is set when one of them was zero bytes
 * long: on a seqpacket socket that is also how end of file looks. */
int nf_msg_rx(int fd, struct mmsghdr *msgs, struct nf_pkt *pkts, unsigned max, bool vec,
	      bool *empty);

/* Sends n frames. Returns how many were consumed; a frame the socket
 * refuses on its own (too big, no buffer memory) is consumed and counted in
 * *drops. Stops early when the socket is full (*err = -EAGAIN) or has lost
 * its peer (*err = -EPIPE, -ECONNRESET, ...: see nf_msg_peer_gone); else
 * *err = 0. */
unsigned nf_msg_tx(int fd, struct mmsghdr *msgs, struct nf_pkt *pkts, unsigned n, bool vec,
		   uint64_t *drops, int *err);

/* After nf_msg_rx reported an empty message on a seqpacket socket: -1 if
 * the connection is still open (it was a real empty message), else the
 * number of the n received that came before the end of file. */
int nf_msg_eof(int fd, const struct nf_pkt *pkts, int n);

/* True for a send or receive error that means the connection is gone. */
bool nf_msg_peer_gone(int err);

#endif
