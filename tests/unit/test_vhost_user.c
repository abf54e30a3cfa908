/* vhost-user protocol core (datapath/vhost_user.c) driven by the scripted
 * fake frontend (fake_frontend.h) in synchronous mode: the device listens on
 * a path in a temp directory, the test connects, and for each message
 * writes it (fds attached with SCM_RIGHTS), calls vu_dev_handle() in the
 * same thread, then reads and checks the reply. Guest RAM is a memfd mapped
 * by both sides (layout in fake_frontend.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_frontend.h"
#include "log.h"
#include "vhost_user.h"

#define OFFERED                                                                      \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_MAC) |                   \
	 (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_F_EVENT_IDX) |               \
	 (1ull << VIRTIO_F_VERSION_1))
#define PROTO_WANTED FF_PROTO_WANTED

static const struct virtio_net_config net_config = {
	.mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 },
	.status = VIRTIO_NET_S_LINK_UP,
	.mtu = 1500,
};

/* ---- recording hooks ------------------------------------------------------------ */

#define REC_MAX 32
struct hook_call {
	unsigned q;
	int fd;
};
static struct {
	unsigned nwatch, nunwatch, nchanged;
	struct hook_call watch[REC_MAX], unwatch[REC_MAX];
} rec;

static void hook_kick_watch(struct vu_dev *dev, unsigned q, int fd)
{
	(void)dev;
	if (rec.nwatch < REC_MAX)
		rec.watch[rec.nwatch] = (struct hook_call){ q, fd };
	rec.nwatch++;
}

static void hook_kick_unwatch(struct vu_dev *dev, unsigned q, int fd)
{
	(void)dev;
	if (rec.nunwatch < REC_MAX)
		rec.unwatch[rec.nunwatch] = (struct hook_call){ q, fd };
	rec.nunwatch++;
}

static void hook_changed(struct vu_dev *dev)
{
	(void)dev;
	rec.nchanged++;
}

static const struct vu_dev_ops hooks = {
	.kick_watch = hook_kick_watch,
	.kick_unwatch = hook_kick_unwatch,
	.changed = hook_changed,
};

/* ---- the fixture -------------------------------------------------------------------- */

struct fe {
	char dir[64];
	char path[128];
	struct vu_dev dev;
	bool dev_up;
	struct ff ff;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int fe_setup(void **state)
{
	struct fe *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	memset(&rec, 0, sizeof(rec));
	f->ff.sock = f->ff.memfd = f->ff.slave = -1;
	*state = f;

	snprintf(f->dir, sizeof(f->dir), "/tmp/uml-nf-unit.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/vu.sock", f->dir);
	if (vu_dev_init(&f->dev, "vec0", f->path, &hooks, OFFERED, &net_config) < 0)
		return -1;
	f->dev_up = true;
	if (ff_open(&f->ff, f->path) < 0 || vu_dev_accept(&f->dev) < 0 || f->dev.conn_fd < 0)
		return -1;
	f->ff.sync = &f->dev;
	return 0;
}

static int fe_teardown(void **state)
{
	struct fe *f = *state;
	if (f->dev_up)
		vu_dev_deinit(&f->dev);
	ff_close(&f->ff);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Boot and driver-bind phases up to and including SET_MEM_TABLE. */
static void fe_boot(struct fe *f)
{
	ff_boot(&f->ff, ~0ull);
	assert_int_equal(f->ff.offered, OFFERED | (1ull << VU_F_PROTOCOL_FEATURES));
	assert_int_equal(f->dev.acked, OFFERED | (1ull << VU_F_PROTOCOL_FEATURES));
}

/* Everything virtio_uml does before the guest's first packet. */
static void fe_bring_up(struct fe *f)
{
	fe_boot(f);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		ff_vring_config(&f->ff, q, FF_RING_GPA(q));
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		ff_vring_kick(&f->ff, q);
		ff_vring_enable(&f->ff, q, 1);
	}
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		assert_true(f->dev.vrings[q].ready);
}

/* ---- the happy path ---------------------------------------------------------------- */

static void test_handshake(void **state)
{
	struct fe *f = *state;
	struct vu_msg r;
	int sp[2];

	/* boot: SET_OWNER carries no NEED_REPLY and gets no reply */
	ff_send(&f->ff, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), 0);
	ff_no_reply(&f->ff);

	uint64_t features = ff_get_u64(&f->ff, VU_GET_FEATURES);
	assert_int_equal(features, OFFERED | (1ull << VU_F_PROTOCOL_FEATURES));
	uint64_t proto = ff_get_u64(&f->ff, VU_GET_PROTOCOL_FEATURES);
	assert_int_equal(proto, PROTO_WANTED); /* 3, 5, 9 */
	assert_false(proto & (1ull << VU_PROTO_F_INBAND_NOTIFICATIONS));

	/* Before REPLY_ACK is negotiated NEED_REPLY is not honoured... */
	ff_send(&f->ff, VU_SET_OWNER, VU_VERSION | VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), 0);
	ff_no_reply(&f->ff);
	/* ...but SET_PROTOCOL_FEATURES that turns it on is acked itself. */
	proto = PROTO_WANTED;
	ff_send(&f->ff, VU_SET_PROTOCOL_FEATURES, VU_VERSION | VU_FLAG_NEED_REPLY, &proto, 8, NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), 0);
	ff_recv(&f->ff, VU_SET_PROTOCOL_FEATURES, &r); /* checks flags == 0x5 */
	assert_int_equal(r.hdr.size, 8);
	assert_int_equal(r.payload.u64, 0);
	assert_int_equal(f->dev.protocol_features, PROTO_WANTED);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(ff_ack(&f->ff, VU_SET_SLAVE_REQ_FD, NULL, 0, &sp[1], 1), 0);
	close(sp[1]);
	f->ff.slave = sp[0];
	assert_true(f->dev.backend_fd >= 0);

	/* driver bind */
	uint64_t acked = OFFERED | (1ull << VU_F_PROTOCOL_FEATURES);
	assert_int_equal(ff_ack(&f->ff, VU_SET_FEATURES, &acked, 8, NULL, 0), 0);
	assert_int_equal(f->dev.acked, acked);

	/* GET_CONFIG prefix reads: offset 0, size 1..8, reply 12 + size. */
	for (uint32_t size = 1; size <= 8; size++) {
		struct vu_config c = { .offset = 0, .size = size, .flags = 0 };
		ff_send(&f->ff, VU_GET_CONFIG, VU_VERSION, &c, 12 + size, NULL, 0);
		assert_int_equal(vu_dev_handle(&f->dev), 0);
		ff_recv(&f->ff, VU_GET_CONFIG, &r);
		assert_int_equal(r.hdr.size, 12 + size);
		assert_int_equal(r.payload.config.offset, 0);
		assert_int_equal(r.payload.config.size, size);
		assert_memory_equal(r.payload.config.data, &net_config, size);
		if (size <= 6)
			assert_int_equal(r.payload.config.data[size - 1], net_config.mac[size - 1]);
		if (size >= 7)
			assert_int_equal(r.payload.config.data[6], VIRTIO_NET_S_LINK_UP);
		ff_no_reply(&f->ff);
	}

	struct vu_mem_table t = ff_one_region();
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 0);
	assert_true(f->dev.mem_set);
	assert_int_equal(f->dev.mem.nregions, 1);

	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		ff_vring_config(&f->ff, q, FF_RING_GPA(q));
		assert_int_equal(f->dev.vrings[q].num, FF_RING_NUM);
		assert_true(f->dev.vrings[q].addr_set);
		assert_true(f->dev.vrings[q].call_fd >= 0);
		assert_false(f->dev.vrings[q].ready);
	}
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		unsigned nwatch = rec.nwatch;
		ff_vring_kick(&f->ff, q);
		struct vu_vring *vr = &f->dev.vrings[q];
		/* kick_watch got the core's copy of our eventfd */
		assert_int_equal(rec.nwatch, nwatch + 1);
		assert_int_equal(rec.watch[nwatch].q, q);
		assert_true(vr->kick_fd >= 0);
		assert_int_equal(rec.watch[nwatch].fd, vr->kick_fd);
		/* Watched edge-triggered, never read: the core leaves the
		 * frontend's file flags alone (the file is shared with it). */
		assert_false(fcntl(vr->kick_fd, F_GETFL) & O_NONBLOCK);
		uint64_t one = 1, got = 0;
		assert_int_equal(write(f->ff.kick[q], &one, 8), 8);
		assert_int_equal(read(vr->kick_fd, &got, 8), 8);
		assert_int_equal(got, 1);
		/* bit 30 negotiated: kicked but not ready until enabled */
		assert_true(vr->started);
		assert_false(vr->ready);

		unsigned nchanged = rec.nchanged;
		ff_vring_enable(&f->ff, q, 1);
		assert_true(vr->ready);
		assert_true(rec.nchanged > nchanged);
		assert_true(vr->vq.event_idx);
		assert_int_equal(vr->vq.num, FF_RING_NUM);
		assert_null(f->dev.broken);
	}

	/* The call fd reaches the guest's end: 8 bytes per call. */
	uint64_t got = 0;
	assert_int_equal(vu_vring_call(&f->dev, 0), 0);
	assert_int_equal(read(f->ff.call[0], &got, 8), 8);
	assert_int_equal(got, 1);

	/* After DRIVER_OK the guest reads the status with an 8-byte prefix. */
	struct vu_config c = { .offset = 0, .size = 8 };
	ff_send(&f->ff, VU_GET_CONFIG, VU_VERSION, &c, 20, NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), 0);
	ff_recv(&f->ff, VU_GET_CONFIG, &r);
	assert_int_equal(r.hdr.size, 20);
	assert_int_equal(r.payload.config.data[6] | r.payload.config.data[7] << 8,
			 VIRTIO_NET_S_LINK_UP);

	/* Driver unbind: ENABLE 0 in reverse order, then GET_FEATURES. */
	for (unsigned q = VNET_NQUEUES; q-- > 0;) {
		ff_vring_enable(&f->ff, q, 0);
		assert_false(f->dev.vrings[q].ready);
	}
	assert_int_equal(ff_get_u64(&f->ff, VU_GET_FEATURES), features);
}

/* A chain the guest puts in the tx ring comes out of vq_pop with the bytes the
 * guest wrote, through the core's own mapping of the memfd; used elements
 * the backend publishes show up in the guest's view. */
static void test_tx_end_to_end(void **state)
{
	struct fe *f = *state;
	struct vq_chain c;
	static const char frame[] = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
				    "an ethernet frame";

	fe_bring_up(f);
	memcpy(f->ff.ram + FF_DATA_GPA, frame, sizeof(frame));
	const struct ff_buf b[] = { { FF_DATA_GPA, sizeof(frame), false },
				  { FF_DATA_GPA + 0x1000, 64, true } };
	ff_post_at(&f->ff, VNET_Q_TX, 5, b, 2);

	struct vq *q = &f->dev.vrings[VNET_Q_TX].vq;
	assert_int_equal(vq_pop(q, &c), 1);
	assert_int_equal(c.head, 5);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 1);
	assert_int_equal(c.out_len, sizeof(frame));
	assert_int_equal(c.in_len, 64);
	/* the core's pointer, not ours, and the same bytes */
	assert_ptr_not_equal(c.iov[0].iov_base, f->ff.ram + FF_DATA_GPA);
	assert_memory_equal(c.iov[0].iov_base, frame, sizeof(frame));
	memcpy(c.iov[1].iov_base, "reply", 5);
	assert_memory_equal(f->ff.ram + FF_DATA_GPA + 0x1000, "reply", 5);

	vq_push(q, c.head, 5);
	vq_flush(q);
	struct vring_used *used = (struct vring_used *)(f->ff.ram + FF_RING_GPA(VNET_Q_TX) + 0x2000);
	assert_int_equal(used->idx, 1);
	assert_int_equal(used->ring[0].id, 5);
	assert_int_equal(used->ring[0].len, 5);
	assert_int_equal(vq_pop(q, &c), 0);
	assert_null(q->broken);
}

static void test_get_vring_base(void **state)
{
	struct fe *f = *state;
	struct vq_chain c;
	struct vu_msg r;

	fe_bring_up(f);
	for (uint16_t i = 0; i < 3; i++)
		ff_post_at(&f->ff, VNET_Q_TX, i, (struct ff_buf[]){ { FF_DATA_GPA, 60, false } }, 1);
	struct vq *q = &f->dev.vrings[VNET_Q_TX].vq;
	assert_int_equal(vq_pop(q, &c), 1);
	assert_int_equal(vq_pop(q, &c), 1);

	struct vu_vring_state st = { VNET_Q_TX, 0 };
	ff_send(&f->ff, VU_GET_VRING_BASE, VU_VERSION, &st, sizeof(st), NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), 0);
	ff_recv(&f->ff, VU_GET_VRING_BASE, &r);
	assert_int_equal(r.hdr.size, sizeof(st));
	assert_int_equal(r.payload.state.index, VNET_Q_TX);
	assert_int_equal(r.payload.state.num, 2);
	ff_no_reply(&f->ff);
	assert_false(f->dev.vrings[VNET_Q_TX].ready); /* stopped */
	assert_true(f->dev.vrings[VNET_Q_RX].ready);  /* others untouched */

	/* A new kick restarts it where it stopped: the third chain is next. */
	ff_vring_kick(&f->ff, VNET_Q_TX);
	assert_true(f->dev.vrings[VNET_Q_TX].ready);
	assert_int_equal(vq_pop(q, &c), 1);
	assert_int_equal(c.head, 2);
	assert_int_equal(vq_pop(q, &c), 0);
}

/* Without bit 30 in the last SET_FEATURES, no ENABLE comes: a ring runs once
 * kicked (virtio-uml.md §5). */
static void test_no_protocol_features_bit(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	uint64_t acked = OFFERED; /* second SET_FEATURES without bit 30 */
	assert_int_equal(ff_ack(&f->ff, VU_SET_FEATURES, &acked, 8, NULL, 0), 0);
	ff_vring_config(&f->ff, VNET_Q_RX, FF_RING_GPA(VNET_Q_RX));
	assert_false(f->dev.vrings[VNET_Q_RX].ready);
	ff_vring_kick(&f->ff, VNET_Q_RX);
	assert_true(f->dev.vrings[VNET_Q_RX].ready);
}

/* ---- refusals that keep the connection ------------------------------------------------ */

static void test_unknown_request(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	uint64_t junk = 0x1234;
	assert_int_equal(ff_ack(&f->ff, 63, &junk, 8, NULL, 0), 1);
	assert_int_equal(ff_ack(&f->ff, VU_SET_LOG_BASE, &junk, 8, NULL, 0), 1);
	assert_int_equal(ff_ack(&f->ff, VU_SET_CONFIG, &junk, 8, NULL, 0), 1);
	assert_true(f->dev.conn_fd >= 0);
	assert_int_equal(ff_get_u64(&f->ff, VU_GET_FEATURES), OFFERED | (1ull << VU_F_PROTOCOL_FEATURES));
}

static void test_set_features_unoffered(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	uint64_t before = f->dev.acked;
	uint64_t v = OFFERED | (1ull << VIRTIO_F_RING_PACKED);
	assert_int_equal(ff_ack(&f->ff, VU_SET_FEATURES, &v, 8, NULL, 0), 1);
	assert_int_equal(f->dev.acked, before);
	v = 1ull << VU_PROTO_F_INBAND_NOTIFICATIONS;
	assert_int_equal(ff_ack(&f->ff, VU_SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 1);
	assert_int_equal(f->dev.protocol_features, PROTO_WANTED);
	/* too short a payload */
	assert_int_equal(ff_ack(&f->ff, VU_SET_FEATURES, &v, 4, NULL, 0), 1);
	assert_int_equal(f->dev.acked, before);
}

static void test_vring_args(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	struct vu_vring_state st = { 7, FF_RING_NUM };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st = (struct vu_vring_state){ 0, 0 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st.num = VRING_MAX_SIZE + 1;
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st.num = 100; /* split rings are a power of two */
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	assert_int_equal(f->dev.vrings[0].num, 0);
	st = (struct vu_vring_state){ VNET_NQUEUES, 1 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 1);
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 1);
	struct vu_vring_addr a = { .index = 200 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);

	/* kick for a vring that does not exist: refused and its fd not kept */
	int fds_before = ff_count_fds();
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 7;
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_KICK, &v, 8, &efd, 1), 1);
	/* "no fd" flag set but an fd attached */
	v = 0 | VU_VRING_NOFD_MASK;
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_CALL, &v, 8, &efd, 1), 1);
	close(efd);
	assert_int_equal(ff_count_fds(), fds_before);
	assert_int_equal(rec.nwatch, 0);
	assert_true(f->dev.conn_fd >= 0);
}

static void test_mem_table_bad(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	const struct gm_region before = f->dev.mem.regions[0];
	int extra = memfd_create("extra", MFD_CLOEXEC);
	assert_true(extra >= 0);
	int fds_before = ff_count_fds();
	struct vu_mem_table t = ff_one_region();

	t.nregions = 0;
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* nine regions cannot be described; the message stays within size */
	t.nregions = 9;
	int nine[8] = { f->ff.memfd, extra, f->ff.memfd, extra, f->ff.memfd, extra, f->ff.memfd, extra };
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, sizeof(t), nine, 8), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* one region, two fds */
	t = ff_one_region();
	int two[2] = { f->ff.memfd, extra };
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, two, 2), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* two regions, one fd */
	t.nregions = 2;
	t.regions[1] = (struct vu_region){ 0x800000, 0x1000, 0x800000, 0 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* one region, no fd */
	t = ff_one_region();
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, NULL, 0), 1);

	/* overlapping regions: mapped, then refused and unmapped */
	t.nregions = 2;
	t.regions[1] = t.regions[0];
	int same[2] = { f->ff.memfd, f->ff.memfd };
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, same, 2), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* the table header promises more regions than the payload carries */
	t = ff_one_region();
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, 8 + 16, &f->ff.memfd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_before);

	/* The old map survived every refusal. */
	assert_true(f->dev.mem_set);
	assert_int_equal(f->dev.mem.nregions, 1);
	assert_memory_equal(&f->dev.mem.regions[0], &before, sizeof(before));
	close(extra);
	assert_true(f->dev.conn_fd >= 0);
}

/* A region that wraps or has no size is refused. */
static void test_mem_table_bad_region(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	int fds_before = ff_count_fds();
	struct vu_mem_table t = ff_one_region();
	t.regions[0].size = 0;
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	t = ff_one_region();
	t.regions[0].guest_addr = UINT64_MAX - 0xfff;
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	t = ff_one_region();
	t.regions[0].mmap_offset = UINT64_MAX - 0xfff;
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	/* past the end of the file (touching it would raise SIGBUS) */
	t = ff_one_region();
	t.regions[0].size = FF_RAM_SIZE - FF_REGION_GPA + 0x1000;
	assert_int_equal(ff_ack(&f->ff, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->ff.memfd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_before);
	assert_true(f->dev.mem_set);
}

static void test_ring_outside_memory(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	/* desc in memory, used ring past the end of the region */
	ff_vring_config(&f->ff, VNET_Q_RX, FF_REGION_GPA + FF_REGION_SIZE - 0x2000);
	ff_vring_kick(&f->ff, VNET_Q_RX);
	assert_null(f->dev.broken);
	unsigned nchanged = rec.nchanged;
	/* The message that breaks the device is refused (ack 1). */
	struct vu_vring_state st = { VNET_Q_RX, 1 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 1);
	assert_non_null(f->dev.broken);
	assert_false(f->dev.vrings[VNET_Q_RX].ready);
	assert_true(rec.nchanged > nchanged);

	/* Broken stays broken for the session: a good ring does not start. */
	ff_vring_config(&f->ff, VNET_Q_TX, FF_RING_GPA(VNET_Q_TX));
	ff_vring_kick(&f->ff, VNET_Q_TX);
	ff_vring_enable(&f->ff, VNET_Q_TX, 1);
	assert_false(f->dev.vrings[VNET_Q_TX].ready);
	assert_true(f->dev.conn_fd >= 0);
}

static void test_ring_misaligned(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	ff_vring_config(&f->ff, VNET_Q_RX, FF_RING_GPA(VNET_Q_RX) + 8); /* desc needs 16 */
	ff_vring_kick(&f->ff, VNET_Q_RX);
	struct vu_vring_state st = { VNET_Q_RX, 1 };
	assert_int_equal(ff_ack(&f->ff, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 1);
	assert_non_null(f->dev.broken);
	assert_false(f->dev.vrings[VNET_Q_RX].ready);
}

/* ---- session ends ---------------------------------------------------------------------- */

static void assert_session_gone(struct fe *f)
{
	assert_int_equal(f->dev.conn_fd, -1);
	assert_int_equal(f->dev.backend_fd, -1);
	assert_false(f->dev.mem_set);
	assert_int_equal(f->dev.mem.nregions, 0);
	assert_int_equal(f->dev.protocol_features, 0);
	assert_null(f->dev.broken);
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		const struct vu_vring *vr = &f->dev.vrings[q];
		assert_false(vr->ready);
		assert_false(vr->enabled);
		assert_false(vr->started);
		assert_int_equal(vr->num, 0);
		assert_int_equal(vr->kick_fd, -1);
		assert_int_equal(vr->call_fd, -1);
	}
	/* Our end sees the close (a reset when unread bytes were dropped). */
	char c;
	assert_true(ff_readable(&f->ff, 1000));
	ssize_t n = recv(f->ff.sock, &c, 1, 0);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static void test_oversize_message(void **state)
{
	struct fe *f = *state;

	fe_bring_up(f);
	uint8_t big[VU_PAYLOAD_MAX + 1] = { 0 };
	ff_send(&f->ff, VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_NEED_REPLY, big, sizeof(big),
		&f->ff.memfd, 1);
	assert_true(vu_dev_handle(&f->dev) < 0);
	assert_session_gone(f);
	assert_int_equal(rec.nunwatch, VNET_NQUEUES);
}

static void test_bad_version(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	ff_send(&f->ff, VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	assert_int_equal(vu_dev_handle(&f->dev), -EPROTO);
	assert_session_gone(f);
}

static void test_eof(void **state)
{
	struct fe *f = *state;

	int fds_idle = ff_count_fds();
	fe_bring_up(f);
	int kick_fds[VNET_NQUEUES];
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		kick_fds[q] = f->dev.vrings[q].kick_fd;
	assert_int_equal(rec.nunwatch, 0);

	/* The guest goes away: its fds close with it. */
	close_fd(&f->ff.sock);
	close_fd(&f->ff.slave);
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		close_fd(&f->ff.kick[q]);
		close_fd(&f->ff.call[q]);
	}
	unsigned nchanged = rec.nchanged;
	assert_int_equal(vu_dev_handle(&f->dev), -ECONNRESET);
	assert_true(rec.nchanged > nchanged);
	assert_int_equal(rec.nunwatch, VNET_NQUEUES);
	for (unsigned i = 0; i < VNET_NQUEUES; i++) {
		bool seen = false;
		for (unsigned j = 0; j < VNET_NQUEUES; j++)
			seen |= rec.unwatch[j].q == i && rec.unwatch[j].fd == kick_fds[i];
		assert_true(seen);
	}
	assert_int_equal(f->dev.conn_fd, -1);
	assert_false(f->dev.mem_set);
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		assert_false(f->dev.vrings[q].ready);
		assert_int_equal(f->dev.vrings[q].num, 0);
		assert_int_equal(f->dev.vrings[q].kick_fd, -1);
		assert_int_equal(f->dev.vrings[q].call_fd, -1);
	}
	/* Nothing of the session is left open: idle had sock + conn_fd. */
	assert_int_equal(ff_count_fds(), fds_idle - 2);

	/* A new frontend can connect and start over. */
	f->ff.sock = ff_connect(f->path);
	assert_true(f->ff.sock >= 0);
	assert_int_equal(vu_dev_accept(&f->dev), 0);
	assert_int_equal(f->dev.acked, 0); /* kept for statistics until a new frontend */
	fe_bring_up(f);
	assert_null(f->dev.broken);
}

static void test_second_frontend(void **state)
{
	struct fe *f = *state;

	int other = ff_connect(f->path);
	assert_true(other >= 0);
	assert_int_equal(vu_dev_accept(&f->dev), -EBUSY);
	char c;
	assert_int_equal(recv(other, &c, 1, 0), 0); /* refused: closed */
	close(other);
	/* nothing pending: accept is a no-op */
	assert_int_equal(vu_dev_accept(&f->dev), 0);
	assert_int_equal(ff_get_u64(&f->ff, VU_GET_FEATURES), OFFERED | (1ull << VU_F_PROTOCOL_FEATURES));
}

/* A message that does not arrive whole within VU_IO_TIMEOUT_MS of its first
 * byte ends the session cleanly; a wakeup with nothing to read does not. The
 * stack is dirtied first so that a reader that parsed control data the
 * kernel never wrote would trip over it. */
static __attribute__((noinline)) void dirty_stack(void)
{
	uint64_t junk[2048];
	for (unsigned i = 0; i < 2048; i++)
		junk[i] = 0x0000000100000001ull; /* cmsg_len huge, SOL_SOCKET/SCM_RIGHTS */
	__asm__ volatile("" : : "r"(junk) : "memory"); /* keep the stores */
}

static void test_read_error(void **state)
{
	struct fe *f = *state;

	fe_boot(f);
	dirty_stack();
	assert_int_equal(vu_dev_handle(&f->dev), 0); /* nothing there: nothing happens */
	assert_true(f->dev.conn_fd >= 0);
	/* Half a header, then silence. */
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
	assert_int_equal(write(f->ff.sock, &h, 5), 5);
	dirty_stack();
	assert_int_equal(vu_dev_handle(&f->dev), -ETIMEDOUT);
	assert_session_gone(f);
}

static void test_init_errors(void **state)
{
	(void)state;
	struct vu_dev dev;
	char path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(vu_dev_init(&dev, "vec0", path, &hooks, OFFERED, &net_config),
			 -ENAMETOOLONG);
	assert_int_equal(dev.listen_fd, -1);
	assert_int_equal(vu_dev_init(&dev, "vec0", "/nonexistent-dir/vu.sock", &hooks, OFFERED,
				     &net_config),
			 -ENOENT);
	assert_int_equal(dev.listen_fd, -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fe_setup, fe_teardown)

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	nf_log_level = getenv("UNIT_VERBOSE") ? NF_LOG_DEBUG : -1;
	const struct CMUnitTest tests[] = {
		T(test_handshake),
		T(test_tx_end_to_end),
		T(test_get_vring_base),
		T(test_no_protocol_features_bit),
		T(test_unknown_request),
		T(test_set_features_unoffered),
		T(test_vring_args),
		T(test_mem_table_bad),
		T(test_mem_table_bad_region),
		T(test_ring_outside_memory),
		T(test_ring_misaligned),
		T(test_oversize_message),
		T(test_bad_version),
		T(test_eof),
		T(test_second_frontend),
		T(test_read_error),
		cmocka_unit_test(test_init_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
