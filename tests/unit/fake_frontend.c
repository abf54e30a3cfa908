/* The fake vhost-user frontend and guest driver: see fake_frontend.h. */
#include "fake_frontend.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

long long ff_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ff_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int ff_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

int ff_open(struct ff *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->sock = f->memfd = f->slave = -1;
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		f->kick[q] = f->call[q] = -1;
	f->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (f->memfd < 0 || ftruncate(f->memfd, (off_t)FF_RAM_SIZE) < 0)
		return -errno;
	void *p = mmap(NULL, FF_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	f->ram = p;
	f->sock = ff_connect(path);
	return f->sock < 0 ? -errno : 0;
}

void ff_hangup(struct ff *f)
{
	close_fd(&f->sock);
}

void ff_close(struct ff *f)
{
	close_fd(&f->sock);
	close_fd(&f->memfd);
	close_fd(&f->slave);
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		close_fd(&f->kick[q]);
		close_fd(&f->call[q]);
	}
	if (f->ram)
		munmap(f->ram, FF_RAM_SIZE);
	f->ram = NULL;
}

/* ---- messages ---- */

ssize_t ff_send_bytes(struct ff *f, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 16);
	if (nfds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(f->sock, &mh, MSG_NOSIGNAL);
}

void ff_send(struct ff *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	     const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct vu_hdr) + 1024];
	struct vu_hdr hdr = { req, flags, size };
	size_t len = sizeof(hdr);

	memcpy(buf, &hdr, sizeof(hdr));
	if (payload) {
		assert_true(size <= sizeof(buf) - sizeof(hdr));
		memcpy(buf + sizeof(hdr), payload, size);
		len += size;
	}
	assert_int_equal(ff_send_bytes(f, buf, len, fds, nfds), (ssize_t)len);
}

bool ff_readable(struct ff *f, int timeout_ms)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	return poll(&p, 1, timeout_ms) == 1;
}

void ff_recv(struct ff *f, uint32_t req, struct vu_msg *r)
{
	assert_true(ff_readable(f, FF_WAIT_MS));
	assert_int_equal(recv(f->sock, &r->hdr, sizeof(r->hdr), MSG_WAITALL), sizeof(r->hdr));
	assert_int_equal(r->hdr.request, req);
	assert_int_equal(r->hdr.flags, VU_VERSION | VU_FLAG_REPLY);
	assert_true(r->hdr.size <= sizeof(r->payload));
	if (r->hdr.size)
		assert_int_equal(recv(f->sock, r->payload.raw, r->hdr.size, MSG_WAITALL),
				 r->hdr.size);
}

void ff_no_reply(struct ff *f)
{
	assert_false(ff_readable(f, 0));
}

void ff_pump(struct ff *f)
{
	if (f->sync)
		assert_int_equal(vu_dev_handle(f->sync), 0);
}

uint64_t ff_ack(struct ff *f, uint32_t req, const void *payload, uint32_t size,
		const int *fds, unsigned nfds)
{
	struct vu_msg r;
	ff_send(f, req, VU_VERSION | VU_FLAG_NEED_REPLY, payload, size, fds, nfds);
	ff_pump(f);
	ff_recv(f, req, &r);
	assert_int_equal(r.hdr.size, 8);
	ff_no_reply(f);
	return r.payload.u64;
}

uint64_t ff_get_u64(struct ff *f, uint32_t req)
{
	struct vu_msg r;
	ff_send(f, req, VU_VERSION, NULL, 0, NULL, 0);
	ff_pump(f);
	ff_recv(f, req, &r);
	assert_int_equal(r.hdr.size, 8);
	ff_no_reply(f);
	return r.payload.u64;
}

/* ---- virtio_uml's sequence ---- */

struct vu_mem_table ff_one_region(void)
{
	struct vu_mem_table t = { .nregions = 1 };
	t.regions[0] = (struct vu_region){ .guest_addr = FF_REGION_GPA,
					   .size = FF_REGION_SIZE,
					   .user_addr = FF_REGION_GPA,
					   .mmap_offset = FF_REGION_GPA };
	return t;
}

void ff_boot(struct ff *f, uint64_t want)
{
	int sp[2];

	ff_send(f, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);
	ff_pump(f);
	f->offered = ff_get_u64(f, VU_GET_FEATURES);
	assert_true(f->offered & (1ull << VU_F_PROTOCOL_FEATURES));
	assert_int_equal(ff_get_u64(f, VU_GET_PROTOCOL_FEATURES) & FF_PROTO_WANTED,
			 FF_PROTO_WANTED);
	uint64_t proto = FF_PROTO_WANTED;
	assert_int_equal(ff_ack(f, VU_SET_PROTOCOL_FEATURES, &proto, 8, NULL, 0), 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(ff_ack(f, VU_SET_SLAVE_REQ_FD, NULL, 0, &sp[1], 1), 0);
	close(sp[1]);
	close_fd(&f->slave);
	f->slave = sp[0];

	f->acked = (f->offered & want) | (1ull << VU_F_PROTOCOL_FEATURES);
	assert_int_equal(ff_ack(f, VU_SET_FEATURES, &f->acked, 8, NULL, 0), 0);

	struct vu_mem_table t = ff_one_region();
	assert_int_equal(ff_ack(f, VU_SET_MEM_TABLE, &t, FF_MEM_TABLE_SIZE, &f->memfd, 1), 0);
}

void ff_vring_config(struct ff *f, unsigned q, uint64_t desc_gpa)
{
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	uint64_t v = q;
	assert_int_equal(ff_ack(f, VU_SET_VRING_CALL, &v, 8, &sp[1], 1), 0);
	close(sp[1]);
	close_fd(&f->call[q]);
	f->call[q] = sp[0];

	struct vu_vring_state st = { q, FF_RING_NUM };
	assert_int_equal(ff_ack(f, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 0);
	st.num = 0;
	assert_int_equal(ff_ack(f, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 0);
	struct vu_vring_addr a = { .index = q,
				   .desc = desc_gpa,
				   .avail = desc_gpa + FF_AVAIL_OFF,
				   .used = desc_gpa + FF_USED_OFF,
				   .log = ~0ull };
	assert_int_equal(ff_ack(f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	memset(&f->ring[q], 0, sizeof(f->ring[q]));
	f->ring[q].gpa = desc_gpa;
	f->ring[q].num = FF_RING_NUM;
}

void ff_vring_kick(struct ff *f, unsigned q)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	uint64_t v = q;
	assert_int_equal(ff_ack(f, VU_SET_VRING_KICK, &v, 8, &efd, 1), 0);
	close_fd(&f->kick[q]);
	f->kick[q] = efd;
}

void ff_vring_enable(struct ff *f, unsigned q, unsigned on)
{
	struct vu_vring_state st = { q, on };
	assert_int_equal(ff_ack(f, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 0);
}

void ff_bring_up(struct ff *f, uint64_t want)
{
	ff_boot(f, want);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		ff_vring_config(f, q, FF_RING_GPA(q));
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		ff_vring_kick(f, q);
		ff_vring_enable(f, q, 1);
	}
}

/* ---- the guest driver ---- */

void *ff_host(struct ff *f, uint64_t gpa)
{
	assert_true(gpa < FF_RAM_SIZE);
	return f->ram + gpa;
}

static uint64_t ring_gpa(struct ff *f, unsigned q)
{
	return f->ring[q].gpa ? f->ring[q].gpa : FF_RING_GPA(q);
}

struct vring_desc *ff_desc(struct ff *f, unsigned q)
{
	return ff_host(f, ring_gpa(f, q));
}

struct vring_avail *ff_avail(struct ff *f, unsigned q)
{
	return ff_host(f, ring_gpa(f, q) + FF_AVAIL_OFF);
}

struct vring_used *ff_used(struct ff *f, unsigned q)
{
	return ff_host(f, ring_gpa(f, q) + FF_USED_OFF);
}

void ff_publish(struct ff *f, unsigned q, uint16_t head)
{
	struct ff_ring *r = &f->ring[q];
	struct vring_avail *avail = ff_avail(f, q);
	avail->ring[r->avail_idx % FF_RING_NUM] = head;
	r->avail_idx++;
	__atomic_store_n(&avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

void ff_kick(struct ff *f, unsigned q)
{
	uint64_t one = 1;
	assert_int_equal(write(f->kick[q], &one, sizeof(one)), sizeof(one));
}

static void write_chain(struct ff *f, unsigned q, const uint16_t *ids, const struct ff_buf *b,
			unsigned n)
{
	struct vring_desc *desc = ff_desc(f, q);
	for (unsigned i = 0; i < n; i++) {
		desc[ids[i]] = (struct vring_desc){
			.addr = b[i].gpa ? b[i].gpa : FF_BUF_GPA(q, ids[i]),
			.len = b[i].len,
			.flags = (uint16_t)((b[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = i + 1 < n ? ids[i + 1] : 0,
		};
		f->ring[q].busy[ids[i]] = true;
	}
}

uint16_t ff_post(struct ff *f, unsigned q, const struct ff_buf *b, unsigned n)
{
	uint16_t ids[FF_RING_NUM];
	unsigned got = 0;

	assert_true(n > 0 && n <= FF_RING_NUM);
	for (unsigned d = 0; d < FF_RING_NUM && got < n; d++)
		if (!f->ring[q].busy[d])
			ids[got++] = (uint16_t)d;
	assert_int_equal(got, n); /* the test ran out of descriptors */
	write_chain(f, q, ids, b, n);
	ff_publish(f, q, ids[0]);
	return ids[0];
}

void ff_post_at(struct ff *f, unsigned q, uint16_t first, const struct ff_buf *b, unsigned n)
{
	uint16_t ids[FF_RING_NUM];
	assert_true(n > 0 && first + n <= FF_RING_NUM);
	for (unsigned i = 0; i < n; i++)
		ids[i] = (uint16_t)(first + i);
	write_chain(f, q, ids, b, n);
	ff_publish(f, q, first);
}

void ff_rx_fill(struct ff *f, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++)
		ff_post(f, VNET_Q_RX, &(struct ff_buf){ 0, len, true }, 1);
}

uint16_t ff_tx(struct ff *f, const struct virtio_net_hdr_v1 *h, const void *frame, uint32_t len)
{
	static const struct virtio_net_hdr_v1 zero;
	struct ff_buf b[8];
	uint16_t ids[8];
	size_t total = VNET_HDR_LEN + len, off = 0;
	unsigned n = 0, got = 0;

	for (unsigned d = 0; d < FF_RING_NUM && got < 8; d++)
		if (!f->ring[VNET_Q_TX].busy[d])
			ids[got++] = (uint16_t)d;
	/* Fill each descriptor's slot with the next part of header + frame. */
	while (off < total) {
		assert_true(n < got);
		size_t take = total - off < FF_BUF_SLOT ? total - off : FF_BUF_SLOT;
		uint8_t *dst = ff_host(f, FF_BUF_GPA(VNET_Q_TX, ids[n]));
		for (size_t k = 0; k < take; k++) {
			size_t at = off + k;
			dst[k] = at < VNET_HDR_LEN ? ((const uint8_t *)(h ? h : &zero))[at]
						   : ((const uint8_t *)frame)[at - VNET_HDR_LEN];
		}
		b[n++] = (struct ff_buf){ 0, (uint32_t)take, false };
		off += take;
	}
	write_chain(f, VNET_Q_TX, ids, b, n);
	ff_publish(f, VNET_Q_TX, ids[0]);
	return ids[0];
}

unsigned ff_used_pending(struct ff *f, unsigned q)
{
	uint16_t idx = __atomic_load_n(&ff_used(f, q)->idx, __ATOMIC_ACQUIRE);
	return (uint16_t)(idx - f->ring[q].used_seen);
}

bool ff_take_used(struct ff *f, unsigned q, struct vring_used_elem *e)
{
	struct ff_ring *r = &f->ring[q];
	if (!ff_used_pending(f, q))
		return false;
	*e = ff_used(f, q)->ring[r->used_seen % FF_RING_NUM];
	r->used_seen++;
	/* "Call me when the next one comes" (virtqueue_enable_cb). */
	__atomic_store_n(&ff_avail(f, q)->ring[FF_RING_NUM], r->used_seen, __ATOMIC_RELEASE);
	struct vring_desc *desc = ff_desc(f, q);
	unsigned d = e->id % FF_RING_NUM;
	for (unsigned k = 0; k < FF_RING_NUM && r->busy[d]; k++) {
		r->busy[d] = false;
		if (!(desc[d].flags & VRING_DESC_F_NEXT))
			break;
		d = desc[d].next % FF_RING_NUM;
	}
	return true;
}

unsigned ff_wait_used(struct ff *f, unsigned q, unsigned n)
{
	long long end = ff_now_ms() + FF_WAIT_MS;
	unsigned have;
	while ((have = ff_used_pending(f, q)) < n && ff_now_ms() < end)
		usleep(500);
	return have;
}

size_t ff_read_chain(struct ff *f, unsigned q, uint16_t head, void *buf, size_t cap)
{
	struct vring_desc *desc = ff_desc(f, q);
	size_t got = 0;
	unsigned d = head % FF_RING_NUM;
	for (unsigned k = 0; k < FF_RING_NUM && got < cap; k++) {
		size_t take = desc[d].len < cap - got ? desc[d].len : cap - got;
		memcpy((uint8_t *)buf + got, ff_host(f, desc[d].addr), take);
		got += take;
		if (!(desc[d].flags & VRING_DESC_F_NEXT))
			break;
		d = desc[d].next % FF_RING_NUM;
	}
	return got;
}
