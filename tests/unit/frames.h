/* Test frames: Ethernet + IPv4/IPv6 + TCP with a counting payload, and
 * plain Ethernet frames, built into the caller's buffer.
 *
 *   0        14          34 (IPv4) / 54 (IPv6)   +20
 *   +--------+-----------+-----------------------+----------------
 *   | MACs,  | IP header | TCP header (no opts)  | payload: byte k = (seq + k) & 0xff
 *   | type   |           |                       |
 *   +--------+-----------+-----------------------+----------------
 *
 * The payload pattern follows the sequence number, so segments cut from
 * one frame and the frame itself can be compared byte for byte.
 */
#ifndef FT_FRAMES_H
#define FT_FRAMES_H

#include <stdint.h>
#include <string.h>

#include "offload.h"
#include "wire.h"

#define FT_TCP4_HDRS (14u + 20u + 20u)
#define FT_TCP6_HDRS (14u + 40u + 20u)
#define FT_ACK 0x10u
#define FT_PSH 0x08u

static inline void ft_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ft_put32(uint8_t *p, uint32_t v)
{
	ft_put16(p, (uint16_t)(v >> 16));
	ft_put16(p + 2, (uint16_t)v);
}

static inline uint32_t ft_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ft_eth(uint8_t *f, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	memcpy(f, macs, 12);
	ft_put16(f + 12, type);
}

static inline void ft_tcp(uint8_t *th, uint32_t seq, uint8_t flags, uint32_t payload)
{
	memset(th, 0, 20);
	ft_put16(th, 40000);
	ft_put16(th + 2, 80);
	ft_put32(th + 4, seq);
	ft_put32(th + 8, 1);
	th[12] = 5 << 4;
	th[13] = flags;
	ft_put16(th + 14, 0xffff);
	for (uint32_t k = 0; k < payload; k++)
		th[20 + k] = (uint8_t)(seq + k);
}

/* IPv4 TCP frame with payload bytes; returns its length. An IP total
 * length above 65535 is written as 0 (what BIG TCP does). */
static inline uint32_t ft_tcp4(uint8_t *f, uint32_t payload, uint32_t seq, uint8_t flags,
			       uint16_t id)
{
	uint8_t *ip = f + 14;
	uint32_t tot = 20 + 20 + payload;
	ft_eth(f, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ft_put16(ip + 2, tot > 0xffff ? 0 : (uint16_t)tot);
	ft_put16(ip + 4, id);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 6;
	ft_put32(ip + 12, 0x0a000001);
	ft_put32(ip + 16, 0x0a000002);
	ft_put16(ip + 10, (uint16_t)~ofl_csum_fold(ofl_csum_add(0, ip, 20)));
	ft_tcp(ip + 20, seq, flags, payload);
	return 14 + tot;
}

/* IPv6 TCP frame with payload bytes; returns its length. */
static inline uint32_t ft_tcp6(uint8_t *f, uint32_t payload, uint32_t seq, uint8_t flags)
{
	uint8_t *ip = f + 14;
	ft_eth(f, 0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	ft_put16(ip + 4, (uint16_t)(20 + payload));
	ip[6] = 6;
	ip[7] = 64;
	ip[23] = 1;
	ip[39] = 2;
	ft_tcp(ip + 40, seq, flags, payload);
	return FT_TCP6_HDRS + payload;
}

/* A non-IP frame of len bytes (len >= 14): byte k = k * 7 + salt. */
static inline uint32_t ft_plain(uint8_t *f, uint32_t len, uint8_t salt)
{
	for (uint32_t k = 14; k < len; k++)
		f[k] = (uint8_t)(k * 7 + salt);
	ft_eth(f, 0x88b5); /* IEEE local experimental */
	return len;
}

/* The virtio-net header of a host TCP GSO frame, as AF_PACKET gives it. */
static inline struct virtio_net_hdr_v1 ft_gso_hdr(uint8_t type, uint16_t mss, uint16_t l4_off)
{
	return (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = type,
		.hdr_len = (uint16_t)(l4_off + 20),
		.gso_size = mss,
		.csum_start = l4_off,
		.csum_offset = 16,
	};
}

#endif
