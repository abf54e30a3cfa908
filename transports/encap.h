/* Tunnel encapsulation headers, GRE and L2TPv3: building the header we send
 * and checking every received one (layouts in wire.h).
 *
 * Pure code shared by transports/gre and transports/l2tpv3 through the
 * socket side in tunnel.c: no syscalls, no allocation, no logging, so the
 * unit tests and the decapsulation fuzzer drive exactly what the datapath
 * runs.
 */
#ifndef NF_ENCAP_H
#define NF_ENCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum encap_kind { ENCAP_GRE, ENCAP_L2TPV3 };

/* One tunnel's header settings. Fill the settings, then encap_init. */
struct encap {
	enum encap_kind kind;
	bool udp;                /* L2TPv3 over UDP (else IP protocol 115) */
	bool key;                /* GRE: K bit with rx_key / tx_key */
	uint32_t rx_key, tx_key;
	bool seq;                /* GRE sequence=1 / L2TPv3 counter=1 */
	bool pin_seq;            /* send 0 every time; do not check received ones */
	uint32_t rx_session, tx_session;
	unsigned cookie_len;     /* L2TPv3: 0, 4 or 8 */
	uint64_t rx_cookie, tx_cookie;
	/* set by encap_init */
	unsigned hdr_len;        /* header bytes, the same both ways */
	unsigned seq_off;        /* offset of the sequence/counter word (seq) */
	uint32_t gre_word0;      /* GRE: flags, version and protocol, host order */
};

/* Why a received datagram was dropped (ENC_OK: it was not). */
enum encap_reason {
	ENC_OK,
	ENC_SHORT,   /* shorter than the headers plus an Ethernet header */
	ENC_OUTER,   /* outer IPv4 header: options, wrong protocol or length */
	ENC_HDR,     /* GRE flags/version/protocol, or L2TPv3 T bit/version, not ours */
	ENC_KEY,     /* GRE key is not rx_key */
	ENC_SESSION, /* L2TPv3 session is not rx_session */
	ENC_COOKIE,  /* L2TPv3 cookie is not rx_cookie */
	ENC_SEQ,     /* sequence number/counter of a duplicate or reordered packet */
	ENC_PEER,    /* not from dst (tunnel.c's check) */
	ENC_NREASONS
};

/* Receive state for sequence numbers. A number within ENCAP_SEQ_WINDOW
 * before the one expected next is a duplicate or a reordered packet and is
 * dropped; any other (ahead: packets were lost; far behind: the peer
 * restarted) is taken and the expectation moves to it + 1. */
#define ENCAP_SEQ_WINDOW 1024u
struct encap_rx {
	bool have;
	uint32_t next;
};

/* Derives hdr_len, seq_off and gre_word0 from the settings. */
void encap_init(struct encap *e);

/* Writes our header (e->hdr_len bytes) to buf, with sequence number seq
 * (ignored without e->seq; 0 is sent with e->pin_seq). */
void encap_build(const struct encap *e, uint8_t *buf, uint32_t seq);

/* Checks the headers of a received datagram of len bytes, of which the
 * first have are at buf: the outer IPv4 header first when outer4 (what a
 * raw IPv4 socket hands over; it must be a plain 20-byte header of our
 * protocol whose total length is at least len), then ours. Nothing at or past have is
 * read. On ENC_OK, *frame_off is where the Ethernet frame starts and rx
 * has taken the sequence number. */
enum encap_reason encap_check(const struct encap *e, struct encap_rx *rx, const uint8_t *buf,
			      size_t have, size_t len, bool outer4, size_t *frame_off);

/* Bytes in front of the Ethernet frame in what the socket hands over. */
static inline unsigned encap_rx_prefix(const struct encap *e, bool outer4)
{
	return (outer4 ? IPV4_HDR_MIN : 0) + e->hdr_len;
}

/* A run of datagrams the host handed over as one buffer (UDP GRO): the
 * datagrams lie back to back, each seg bytes but the last, which may be
 * shorter. A buffer without a segment size (seg 0, or seg >= len: the host
 * did not coalesce) is one datagram, and so is an empty one (a zero-length
 * datagram, which encap_check then refuses as short):
 *
 *   0        seg       2*seg            len
 *   +---------+---------+----------------+
 *   | dgram 0 | dgram 1 | ... | last <= seg
 *   +---------+---------+----------------+
 */
struct encap_run {
	size_t len, seg; /* seg >= 1 once set up */
	size_t i, n;     /* the next datagram's index, how many there are */
};

/* Sets r up to cut a buffer of len bytes into datagrams of seg bytes. */
void encap_run_init(struct encap_run *r, size_t len, size_t seg);

/* The next datagram of the run: returns true with its offset and length,
 * or false when the run is used up. */
bool encap_run_next(struct encap_run *r, size_t *off, size_t *len);

/* True when the run has datagrams left. */
static inline bool encap_run_left(const struct encap_run *r)
{
	return r->i < r->n;
}

/* The counter name of a reason for this kind of tunnel ("rx_bad_key", or
 * "rx_bad_counter" for L2TPv3's ENC_SEQ), NULL for reasons the kind never
 * counts. */
const char *encap_reason_name(enum encap_kind kind, enum encap_reason r);

#endif
