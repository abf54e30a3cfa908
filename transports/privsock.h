/* Sockets that need a privilege uml-nf gives up once it has set up.
 *
 * Transports open their packet sockets through nf_packet_socket(): while
 * uml-nf still holds its capabilities it makes the socket itself; after it
 * dropped them (a hot-plug, see datapath/attach.h) it asks the socket
 * broker (launcher/broker.c), a helper process forked before the drop that
 * keeps CAP_NET_RAW and CAP_NET_ADMIN and does nothing but make packet
 * sockets and pass them back. Only uml-nf runs with --spare-nics has one.
 *
 * The broker protocol, on a SOCK_SEQPACKET socketpair (one message each
 * way per socket):
 *
 *   request  { u32 magic NF_SOCK_MAGIC, u32 op NF_SOCK_OP_PACKET, i32 bufsize }
 *   reply    { i32 err (0 or an errno) } + the socket (SCM_RIGHTS) when 0
 */
#ifndef NF_PRIVSOCK_H
#define NF_PRIVSOCK_H

#include <stdint.h>

#define NF_SOCK_MAGIC 0x6e66736bu /* "nfsk" */
#define NF_SOCK_OP_PACKET 1u
#define NF_SOCK_BUF_MAX (16 << 20)

struct nf_sock_req {
	uint32_t magic;
	uint32_t op;
	int32_t bufsize;
};

struct nf_sock_reply {
	int32_t err;
};

/* An AF_PACKET/SOCK_RAW socket, protocol 0 (bind it to receive), with
 * SOCK_NONBLOCK and SOCK_CLOEXEC, and socket buffers of bufsize bytes each
 * way where the privilege to force them is held (the system maximum
 * otherwise). Returns the fd (caller owns it) or -errno (-EPERM: no
 * CAP_NET_RAW). Any thread; one at a time. */
int nf_packet_socket(int bufsize);

/* Raises fd's socket buffers to size: the FORCE variants where we may
 * (CAP_NET_ADMIN), else as far as rmem_max/wmem_max allow; never lowers
 * them. */
void nf_sock_set_bufs(int fd, int size);

/* From now on nf_packet_socket asks the broker at fd (borrowed: it stays
 * open as long as uml-nf may hot-plug). -1: make sockets directly. */
void nf_sock_use_broker(int fd);

#endif
