/* Wire definitions shared by the backend and its test peers: vhost-user
 * messages, split virtqueue layout, virtio-net header and config space.
 *
 * Everything is little-endian on the wire; uml-nf only runs on little-endian
 * hosts (x86-64, arm64), which the static assert at the bottom of this file
 * keeps honest. Layouts are pinned with _Static_assert.
 */
#ifndef NF_WIRE_H
#define NF_WIRE_H

#include <stdint.h>

/* ---- vhost-user framing ------------------------------------------------
 *
 *   0        4        8        12
 *   +--------+--------+--------+---------------------+
 *   | request| flags  | size   | payload (size bytes)|
 *   +--------+--------+--------+---------------------+
 *
 * flags: bits 0-1 version (1), bit 2 REPLY, bit 3 NEED_REPLY.
 */
#define VU_VERSION 0x1u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_VERSION_MASK 0x3u
#define VU_MAX_FDS 8
#define VU_MAX_REGIONS 8

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_SLAVE_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_REQUEST_MAX = 64,
};

/* Backend-to-frontend requests on the channel from SET_SLAVE_REQ_FD. */
enum vu_backend_request {
	VU_BACKEND_CONFIG_CHANGE_MSG = 2,
	VU_BACKEND_VRING_CALL = 4,
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
#define VU_PROTO_F_MQ 0
#define VU_PROTO_F_REPLY_ACK 3
#define VU_PROTO_F_SLAVE_REQ 5
#define VU_PROTO_F_CONFIG 9
#define VU_PROTO_F_INBAND_NOTIFICATIONS 14

/* Feature bit 30 is reused by vhost-user to announce protocol features. */
#define VU_F_PROTOCOL_FEATURES 30

/* SET_VRING_KICK/CALL/ERR payload: bits 0-7 index, bit 8 "no fd attached". */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD_MASK 0x100u

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_REGIONS];
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

#define VU_CONFIG_MAX 256
struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_CONFIG_MAX];
} __attribute__((packed));

/* Largest payload any request may carry (a full config access); bigger
 * messages are protocol errors. */
#define VU_PAYLOAD_MAX ((uint32_t)sizeof(struct vu_config))
_Static_assert(sizeof(struct vu_mem_table) <= sizeof(struct vu_config), "payload max");

struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_config config;
		uint8_t raw[VU_PAYLOAD_MAX];
	} payload;
} __attribute__((packed));

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_region) == 32, "vhost-user region");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vhost-user vring addr");
_Static_assert(sizeof(struct vu_mem_table) == 8 + 8 * 32, "vhost-user mem table");

/* ---- virtio transport feature bits -------------------------------------- */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

/* ---- split virtqueue -------------------------------------------------------
 *
 *  desc table: num x { u64 addr; u32 len; u16 flags; u16 next }
 *  avail ring: u16 flags | u16 idx | u16 ring[num] | u16 used_event
 *  used ring:  u16 flags | u16 idx | {u32 id; u32 len}[num] | u16 avail_event
 */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_MAX_SIZE 32768

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

_Static_assert(sizeof(struct vring_desc) == 16, "vring desc");
_Static_assert(sizeof(struct vring_used_elem) == 8, "vring used elem");

/* Bytes each ring part occupies for a queue of num entries (incl. event idx). */
#define VRING_AVAIL_BYTES(num) (4u + 2u * (num) + 2u)
#define VRING_USED_BYTES(num) (4u + 8u * (num) + 2u)

/* ---- virtio-net ----------------------------------------------------------- */
#define VIRTIO_ID_NET 1

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18

#define VIRTIO_NET_S_LINK_UP 1

/* Header in front of every frame, both directions (12-byte modern form).
 *
 *   0      1        2        4         6          8           10
 *   +------+--------+--------+---------+----------+-----------+-------------+
 *   |flags |gso_type|hdr_len |gso_size |csum_start|csum_offset|num_buffers  |
 *   +------+--------+--------+---------+----------+-----------+-------------+
 *
 * The first 10 bytes are the legacy header that AF_PACKET (PACKET_VNET_HDR)
 * and tap (IFF_VNET_HDR) speak, with the same meaning, so translation to a
 * host transport is "drop num_buffers" and back "add num_buffers = 1".
 */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* UDP segmentation (host -> us only, never offered) */
#define VIRTIO_NET_HDR_GSO_ECN 0x80

struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define VNET_HDR_LEN 12u       /* what the guest uses (VERSION_1) */
#define VNET_HDR_LEN_LEGACY 10u /* what AF_PACKET and tap use */
_Static_assert(sizeof(struct virtio_net_hdr_v1) == VNET_HDR_LEN, "virtio-net hdr");

/* Config space as read through GET_CONFIG. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
	uint32_t speed;
	uint8_t duplex;
	uint8_t rss_max_key_size;
	uint16_t rss_max_indirection_table_length;
	uint32_t supported_hash_types;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 24, "virtio-net config");

/* Control queue: [class u8][cmd u8][data ...] readable, then [ack u8] writable. */
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_VLAN 2
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1

/* virtio-net queue order with one queue pair. */
#define VNET_Q_RX 0
#define VNET_Q_TX 1
#define VNET_Q_CTRL 2
#define VNET_NQUEUES 3


/* ---- tunnel encapsulations (transports/gre, transports/l2tpv3) ----------
 *
 * Everything below is big-endian (network order) on the wire.
 *
 * GRE (RFC 2784; key and sequence number RFC 2890), carrying Ethernet
 * (transparent Ethernet bridging):
 *
 *   0               1               2               3
 *   +-+-+-+-+-------+-----+---------+-------------------------------+
 *   |C| |K|S| rsvd0 | ver |         protocol 0x6558               |
 *   +-+-+-+-+-------+-----+---------+-------------------------------+
 *   |                 key                    (K set)                |
 *   +---------------------------------------------------------------+
 *   |                 sequence number        (S set)                |
 *   +---------------------------------------------------------------+
 *   |                 Ethernet frame (no FCS) ...
 *
 * (a checksum word after the first one when C is set: never sent, refused.)
 *
 * L2TPv3 data messages (RFC 3931) carrying Ethernet, UML's layout:
 *
 *   UDP (udp=1)                  IP protocol 115 (udp=0)
 *   +--------------------------+
 *   | T=0 ... ver=3 | reserved |  (0x00030000)
 *   +--------------------------+ +--------------------------+
 *   | session id               | | session id               |
 *   +--------------------------+ +--------------------------+
 *   | cookie, 0, 4 or 8 bytes  | | cookie, 0, 4 or 8 bytes  |
 *   +--------------------------+ +--------------------------+
 *   | counter (counter=1)      | | counter (counter=1)      |
 *   +--------------------------+ +--------------------------+
 *   | Ethernet frame ...         | Ethernet frame ...
 *
 * UML's counter is a plain 32-bit packet counter; RFC 3931's default
 * L2-specific sublayer is the same 4 bytes (S bit 0x40000000 + 24-bit
 * sequence, or all zero without sequencing).
 *
 * A raw IPv4 socket hands over the outer IPv4 header too; IPv6 raw sockets
 * and UDP sockets do not.
 */
#define GRE_F_CSUM 0x8000u
#define GRE_F_KEY 0x2000u
#define GRE_F_SEQ 0x1000u
#define GRE_PROTO_TEB 0x6558u
#define GRE_HDR_MAX 12u
#define IPPROTO_GRE_NUM 47
#define IPPROTO_L2TP_NUM 115
#define L2TPV3_UDP_DATA 0x00030000u /* T = 0 (data), version 3 */
#define L2TPV3_HDR_MAX (4u + 4u + 8u + 4u)
#define IPV4_HDR_MIN 20u
#define IPV6_HDR_LEN 40u
#define UDP_HDR_LEN 8u
#define ENCAP_HDR_MAX 24u /* the largest of our headers, GRE or L2TPv3 */
_Static_assert(GRE_HDR_MAX <= ENCAP_HDR_MAX && L2TPV3_HDR_MAX <= ENCAP_HDR_MAX, "encap max");

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "uml-nf assumes a little-endian host (virtio and vhost-user are LE)");

#endif
