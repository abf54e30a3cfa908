/* The engine's receive, transmit and control paths (datapath/rx.c, tx.c,
 * engine.c), one step at a time, and the malicious-guest cases that need
 * that determinism.
 *
 * A lab is a real engine (nf_engine_create/add) with two devices, vec0 (the
 * one under test, options from the test's prestate) and vec1 (well-behaved,
 * defaults), each on a fake transport (fake_port.h) and a fake frontend in
 * synchronous mode (fake_frontend.h). The engine's threads are not started:
 * dp_turn() below runs what its datapath thread does in one pass (pick up
 * ring changes, note kicks and transport readiness, serve each device, run
 * the call watchdog), with poll() in place of epoll, until nothing moves.
 * The .c files are included to reach their statics.
 *
 * Every case ends in lab_finish(): vec1 still forwards both ways, the
 * engine is destroyed, and no fd is left open (LSan checks memory at exit).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.c"
#include "rx.c"
#include "tx.c"

#include "fake_frontend.h"
#include "fake_port.h"
#include "frames.h"

/* ---- the lab ------------------------------------------------------------------ */

struct lab_opts {
	bool gro, mrg;
	unsigned coalesce_us;
	unsigned caps;    /* of vec0's port; 0 means NF_CAP_VNET_HDR | NF_CAP_GSO */
	uint64_t want;    /* features vec0's guest acks (of those offered); 0: all */
};

struct lab_dev {
	struct nf_devcfg cfg;
	struct fp_port *port;
	struct nf_dev *dev;
	struct ff fe;
	char path[128];
};

struct lab {
	char dir[64];
	struct nf_engine *eng;
	struct lab_dev d[2];
	int fds_before;
	uint8_t frame[70000], got[70000];
};

#define DEPTH 32
#define GOOD 1
#define CAPS_RAW (NF_CAP_VNET_HDR | NF_CAP_GSO)

static const struct lab_opts defaults;

/* One pass of datapath_main over every device, repeated while anything
 * moves (bounded). Kicks are read off the kick fds (the engine never reads
 * them, but edge-triggered epoll sees each write once, which a read
 * emulates); transport readiness is polled where the engine's epoll masks
 * say it listens. */
static void dp_turn(struct lab *t)
{
	for (unsigned round = 0; round < 200; round++) {
		bool busy = false;
		for (unsigned i = 0; i < t->eng->ndevs; i++) {
			struct nf_dev *dev = t->eng->devs[i];
			pthread_mutex_lock(&dev->vu.lock);
			if (atomic_exchange(&dev->changed, false)) {
				refresh(dev);
				busy = true;
			}
			for (unsigned q = 0; q < VNET_NQUEUES; q++) {
				int fd = dev->vu.vrings[q].kick_fd;
				struct pollfd p = { fd, POLLIN, 0 };
				uint64_t v;
				if (fd >= 0 && poll(&p, 1, 0) == 1 && read(fd, &v, 8) == 8) {
					note_kick(dev, q);
					busy = true;
				}
			}
			struct pollfd pr = { dev->port->rx_fd, POLLIN, 0 };
			if ((dev->rx_mask & EPOLLIN) && poll(&pr, 1, 0) == 1)
				dev->rx_readable = true;
			struct pollfd pt = { dev->port->tx_fd, POLLOUT, 0 };
			if ((dev->tx_mask & EPOLLOUT) && poll(&pt, 1, 0) == 1) {
				dev->tx_blocked = false;
				dev->kicked[VNET_Q_TX] = true;
				dev_update_port_interest(dev);
			}
			uint64_t before = dev->st.rx_packets + dev->st.tx_packets + dev->st.rx_dropped +
					  dev->st.tx_dropped + dev->st.ctrl_cmds;
			busy |= serve(dev);
			recall_check(dev, now_us());
			busy |= before != dev->st.rx_packets + dev->st.tx_packets + dev->st.rx_dropped +
						  dev->st.tx_dropped + dev->st.ctrl_cmds;
			pthread_mutex_unlock(&dev->vu.lock);
		}
		if (!busy)
			return;
	}
}

static struct nf_dev *dev_of(struct lab *t, unsigned i)
{
	return t->d[i].dev;
}

static struct ff *fe_of(struct lab *t, unsigned i)
{
	return &t->d[i].fe;
}

static int lab_setup(void **state)
{
	const struct lab_opts *o = *state ? *state : &defaults;
	struct lab *t = calloc(1, sizeof(*t));
	char err[256];

	if (!t)
		return -1;
	for (unsigned i = 0; i < 2; i++) {
		t->d[i].fe.sock = t->d[i].fe.memfd = t->d[i].fe.slave = -1;
		for (unsigned q = 0; q < VNET_NQUEUES; q++)
			t->d[i].fe.kick[q] = t->d[i].fe.call[q] = -1;
	}
	*state = t;
	/* A case that hangs the engine must fail the run, not stall it. */
	alarm(20);
	t->fds_before = ff_count_fds();
	snprintf(t->dir, sizeof(t->dir), "/tmp/uml-nf-dp.XXXXXX");
	if (!mkdtemp(t->dir) || nf_engine_create(&t->eng) < 0)
		return -1;
	for (unsigned i = 0; i < 2; i++) {
		struct lab_dev *d = &t->d[i];
		const struct lab_opts *oi = i == 0 ? o : &defaults;
		d->cfg = (struct nf_devcfg){ .index = i, .depth = DEPTH, .gro = oi->gro,
					     .mrg = oi->mrg, .mtu = 1500,
					     .coalesce_us = oi->coalesce_us };
		snprintf(d->path, sizeof(d->path), "%s/vec%u.sock", t->dir, i);
		d->port = fp_open(&d->cfg, oi->caps ? oi->caps : CAPS_RAW);
		uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)(i + 1) };
		if (!d->port ||
		    nf_engine_add(t->eng, &d->cfg, &d->port->base, d->path, mac, err, sizeof(err)) < 0)
			return -1;
		d->dev = t->eng->devs[i];
		if (ff_open(&d->fe, d->path) < 0 || vu_dev_accept(&d->dev->vu) < 0)
			return -1;
		d->fe.sync = &d->dev->vu;
	}
	return 0;
}

/* Brings both frontends up (vec0 acking o->want) and gives vec1 receive
 * buffers. Separate from setup so cmocka reports failures in the test. */
static struct lab *lab_up(void **state, const struct lab_opts *o)
{
	struct lab *t = *state;
	ff_bring_up(fe_of(t, 0), o && o->want ? o->want : ~0ull);
	ff_bring_up(fe_of(t, GOOD), ~0ull);
	ff_rx_fill(fe_of(t, GOOD), 16, 2048);
	dp_turn(t);
	return t;
}

static int lab_teardown(void **state)
{
	struct lab *t = *state;
	alarm(0);
	if (!t)
		return 0;
	nf_engine_destroy(t->eng);
	for (unsigned i = 0; i < 2; i++) {
		ff_close(&t->d[i].fe);
		unlink(t->d[i].path);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

static const char *broken(struct lab *t, unsigned i)
{
	return dev_of(t, i)->vu.broken;
}

static void assert_broken(struct lab *t, unsigned i, const char *reason)
{
	const char *b = broken(t, i);
	assert_non_null(b);
	assert_string_equal(b, reason);
}

/* vec1 moves a frame each way: host -> guest into one of its buffers, and
 * guest -> host out of its transmit ring. */
static void assert_good_forwards(struct lab *t)
{
	struct ff *fe = fe_of(t, GOOD);
	struct fp_port *port = t->d[GOOD].port;
	struct vring_used_elem e;
	struct fp_frame out;
	uint8_t frame[100], got[VNET_HDR_LEN + 100];

	assert_null(broken(t, GOOD));
	ft_plain(frame, sizeof(frame), 0x5a);
	assert_int_equal(fp_inject(port, NULL, frame, sizeof(frame)), 0);
	dp_turn(t);
	assert_true(ff_take_used(fe, VNET_Q_RX, &e));
	assert_int_equal(e.len, VNET_HDR_LEN + sizeof(frame));
	assert_int_equal(ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got + VNET_HDR_LEN, frame, sizeof(frame));
	ff_rx_fill(fe, 1, 2048);
	ff_kick(fe, VNET_Q_RX);

	ft_plain(frame, sizeof(frame), 0xa5);
	ff_tx(fe, NULL, frame, sizeof(frame));
	ff_kick(fe, VNET_Q_TX);
	dp_turn(t);
	assert_true(ff_take_used(fe, VNET_Q_TX, &e));
	assert_true(fp_take(port, &out));
	assert_int_equal(out.len, VNET_HDR_LEN_LEGACY + sizeof(frame));
	assert_memory_equal(out.data + VNET_HDR_LEN_LEGACY, frame, sizeof(frame));
	free(out.data);
	assert_null(broken(t, GOOD));
}

/* The end of every case: isolation, then nothing left behind. */
static void lab_finish(void **state)
{
	struct lab *t = *state;
	assert_good_forwards(t);
	int fds_before = t->fds_before;
	lab_teardown(state);
	*state = NULL;
	assert_int_equal(ff_count_fds(), fds_before);
}

/* Takes one used element of vec0's queue q; asserts there is one. */
static struct vring_used_elem take(struct lab *t, unsigned q)
{
	struct vring_used_elem e = { 0, 0 };
	assert_true(ff_take_used(fe_of(t, 0), q, &e));
	return e;
}

static struct virtio_net_hdr_v1 used_hdr(struct lab *t, unsigned q, struct vring_used_elem e)
{
	struct virtio_net_hdr_v1 h;
	assert_int_equal(ff_read_chain(fe_of(t, 0), q, (uint16_t)e.id, &h, sizeof(h)), sizeof(h));
	return h;
}

/* vec0's guest posts n receive buffers of len bytes and kicks. */
static void rx_fill(struct lab *t, unsigned n, uint32_t len)
{
	ff_rx_fill(fe_of(t, 0), n, len);
	ff_kick(fe_of(t, 0), VNET_Q_RX);
}

/* vec0's guest transmits the frame in t->frame with header h. */
static void guest_tx(struct lab *t, const struct virtio_net_hdr_v1 *h, uint32_t len)
{
	ff_tx(fe_of(t, 0), h, t->frame, len);
	ff_kick(fe_of(t, 0), VNET_Q_TX);
	dp_turn(t);
}

/* A transmit the device must refuse as counter++ (tx_bad_hdr or
 * tx_bad_frame): nothing reaches the host, the chain comes back empty, the
 * device keeps running. */
static void assert_tx_refused(struct lab *t, const uint64_t *counter, uint64_t before)
{
	struct vring_used_elem e = take(t, VNET_Q_TX);
	assert_int_equal(e.len, 0);
	assert_int_equal(*counter, before + 1);
	assert_int_equal(fp_tx_count(t->d[0].port), 0);
	assert_null(broken(t, 0));
}

/* ---- receive: host -> guest -------------------------------------------------------- */

static void test_rx_direct(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	static const uint32_t lens[] = { 60, 1000, 1514 };

	rx_fill(t, 3, 2048);
	for (unsigned i = 0; i < 3; i++) {
		ft_plain(t->frame, lens[i], (uint8_t)i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, lens[i]), 0);
	}
	dp_turn(t);
	for (unsigned i = 0; i < 3; i++) {
		struct vring_used_elem e = take(t, VNET_Q_RX);
		assert_int_equal(e.len, VNET_HDR_LEN + lens[i]);
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
		struct virtio_net_hdr_v1 h;
		memcpy(&h, t->got, sizeof(h));
		assert_int_equal(h.num_buffers, 1);
		assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		ft_plain(t->frame, lens[i], (uint8_t)i);
		assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, lens[i]);
	}
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 3);
	assert_int_equal(dev_of(t, 0)->st.rx_bytes, 60 + 1000 + 1514);
	/* The guest asked for a call (used_event 0 passed): 8 bytes on its end. */
	uint64_t v;
	assert_int_equal(recv(fe->call[VNET_Q_RX], &v, 8, MSG_DONTWAIT), 8);
	lab_finish(state);
}

/* gro=0: a TCP GSO frame from the host is segmented for the guest, which
 * takes partial checksums (GUEST_CSUM). */
static void test_rx_gso_segmented(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);

	assert_false(vu_has(&dev_of(t, 0)->vu, VIRTIO_NET_F_GUEST_TSO4));
	/* The segments after the first go to chains popped after the
	 * batch's: more than the DEPTH chains the device keeps popped. */
	rx_fill(t, DEPTH + 2, 2048);
	uint32_t len = ft_tcp4(t->frame, 3000, 1000, FT_ACK | FT_PSH, 7);
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34);
	assert_int_equal(fp_inject(t->d[0].port, &h, t->frame, len), 0);
	dp_turn(t);
	assert_int_equal(dev_of(t, 0)->st.rx_segmented, 1);
	for (uint32_t k = 0; k < 3; k++) {
		struct vring_used_elem e = take(t, VNET_Q_RX);
		assert_int_equal(e.len, VNET_HDR_LEN + FT_TCP4_HDRS + 1000);
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
		struct virtio_net_hdr_v1 sh;
		memcpy(&sh, t->got, sizeof(sh));
		assert_int_equal(sh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_int_equal(sh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(sh.csum_start, 34);
		assert_int_equal(sh.csum_offset, 16);
		const uint8_t *seg = t->got + VNET_HDR_LEN;
		assert_int_equal(ft_get32(seg + 34 + 4), 1000 + 1000 * k);
		assert_int_equal(seg[34 + 13] & FT_PSH, k == 2 ? FT_PSH : 0);
		assert_int_equal(seg[FT_TCP4_HDRS], (uint8_t)(1000 + 1000 * k));
	}
	assert_int_equal(ff_used_pending(fe, VNET_Q_RX), 0);
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 3);
	assert_int_equal(dev_of(t, 0)->st.rx_dropped, 0);
	lab_finish(state);
}

static const struct lab_opts gro1 = { .gro = true };

/* gro=1: the guest takes TSO, so the GSO frame goes through whole. */
static void test_rx_gso_passed(void **state)
{
	struct lab *t = lab_up(state, &gro1);

	assert_true(vu_has(&dev_of(t, 0)->vu, VIRTIO_NET_F_GUEST_TSO4));
	rx_fill(t, 1, FF_BUF_SLOT);
	uint32_t len = ft_tcp4(t->frame, 20000, 5, FT_ACK, 1);
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	assert_int_equal(fp_inject(t->d[0].port, &h, t->frame, len), 0);
	dp_turn(t);
	struct vring_used_elem e = take(t, VNET_Q_RX);
	assert_int_equal(e.len, VNET_HDR_LEN + len);
	struct virtio_net_hdr_v1 gh = used_hdr(t, VNET_Q_RX, e);
	assert_int_equal(gh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(gh.gso_size, 1448);
	assert_int_equal(gh.num_buffers, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_segmented, 0);
	lab_finish(state);
}

/* A plain frame larger than the guest's chain: dropped, counted, the chain
 * returned empty (virtio_net recycles it). */
static void test_rx_frame_larger_than_chain(void **state)
{
	struct lab *t = lab_up(state, NULL);

	rx_fill(t, 2, 1024);
	ft_plain(t->frame, 1514, 1);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 1514), 0);
	ft_plain(t->frame, 500, 2);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 500), 0);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_RX).len, 0);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 500);
	assert_int_equal(dev_of(t, 0)->st.rx_oversize, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_dropped, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 1);
	lab_finish(state);
}

static const struct lab_opts mrg1 = { .mrg = true };

/* Mergeable buffers: a frame spans as many buffers as it needs, and the
 * first header says how many. */
static void test_rx_mergeable(void **state)
{
	struct lab *t = lab_up(state, &mrg1);
	struct ff *fe = fe_of(t, 0);

	assert_true(vu_has(&dev_of(t, 0)->vu, VIRTIO_NET_F_MRG_RXBUF));
	rx_fill(t, 4, 1536);
	ft_plain(t->frame, 4000, 3);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 4000), 0);
	dp_turn(t);
	size_t off = 0;
	for (unsigned k = 0; k < 3; k++) {
		struct vring_used_elem e = take(t, VNET_Q_RX);
		assert_int_equal(e.len, k < 2 ? 1536 : VNET_HDR_LEN + 4000 - 2 * 1536);
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got + off, e.len);
		off += e.len;
	}
	struct virtio_net_hdr_v1 h;
	memcpy(&h, t->got, sizeof(h));
	assert_int_equal(h.num_buffers, 3);
	assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 4000);
	assert_int_equal(ff_used_pending(fe, VNET_Q_RX), 0);
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 1);
	lab_finish(state);
}

/* Mergeable: frames wait, staged, while the guest has too few buffers, and
 * go out in order once it posts more and kicks. */
static void test_rx_mergeable_waits_for_buffers(void **state)
{
	struct lab *t = lab_up(state, &mrg1);
	struct ff *fe = fe_of(t, 0);

	rx_fill(t, 1, 1536);
	for (uint8_t i = 0; i < 3; i++) {
		ft_plain(t->frame, 1000, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 1000), 0);
	}
	dp_turn(t);
	assert_int_equal(ff_used_pending(fe, VNET_Q_RX), 1);
	assert_true(dev_of(t, 0)->rx_starved);
	assert_true(dev_of(t, 0)->st.rx_waits >= 1);
	rx_fill(t, 2, 1536);
	dp_turn(t);
	for (uint8_t i = 0; i < 3; i++) {
		struct vring_used_elem e = take(t, VNET_Q_RX);
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
		ft_plain(t->frame, 1000, i);
		assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 1000);
	}
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 3);
	lab_finish(state);
}

/* Direct path without buffers: frames stay in the transport (nothing is
 * lost), the device stops listening to it, and the guest's kick resumes. */
static void test_rx_starved_then_kicked(void **state)
{
	struct lab *t = lab_up(state, NULL);

	for (uint8_t i = 0; i < 2; i++) {
		ft_plain(t->frame, 200, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 200), 0);
	}
	dp_turn(t);
	assert_int_equal(fp_rx_waiting(t->d[0].port), 2);
	assert_true(dev_of(t, 0)->rx_starved);
	assert_false(dev_of(t, 0)->rx_mask & EPOLLIN);
	rx_fill(t, 2, 2048);
	dp_turn(t);
	assert_int_equal(fp_rx_waiting(t->d[0].port), 0);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 200);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 200);
	lab_finish(state);
}

/* Software GRO: a direct batch of full-sized segments switches staging on;
 * the next batch of in-order segments of the flow becomes one GSO frame. */
static void test_rx_gro_coalesces(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct ff *fe = fe_of(t, 0);
	struct virtio_net_hdr_v1 valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	uint32_t seq = 1;

	rx_fill(t, 10, FF_BUF_SLOT);
	for (unsigned i = 0; i < GRO_TRIGGER; i++, seq += 1448) {
		uint32_t len = ft_tcp4(t->frame, 1448, seq, FT_ACK, (uint16_t)i);
		assert_int_equal(fp_inject(t->d[0].port, &valid, t->frame, len), 0);
	}
	dp_turn(t);
	assert_true(dev_of(t, 0)->gro_staged);
	for (unsigned i = 0; i < GRO_TRIGGER; i++)
		take(t, VNET_Q_RX);
	rx_fill(t, GRO_TRIGGER, FF_BUF_SLOT); /* the guest refills, as virtio_net does */
	for (unsigned i = 0; i < 8; i++, seq += 1448) {
		uint32_t len = ft_tcp4(t->frame, 1448, seq, FT_ACK, (uint16_t)(GRO_TRIGGER + i));
		assert_int_equal(fp_inject(t->d[0].port, &valid, t->frame, len), 0);
	}
	dp_turn(t);
	assert_int_equal(dev_of(t, 0)->st.rx_coalesced, 8);
	struct vring_used_elem e = take(t, VNET_Q_RX);
	assert_int_equal(e.len, VNET_HDR_LEN + FT_TCP4_HDRS + 8 * 1448);
	struct virtio_net_hdr_v1 h = used_hdr(t, VNET_Q_RX, e);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(ff_used_pending(fe, VNET_Q_RX), 0);
	lab_finish(state);
}

static const struct lab_opts coalesce1ms = { .coalesce_us = 1000 };

/* coalesce=1000: a second receive call within 1 ms waits for the watchdog. */
static void test_rx_call_coalescing(void **state)
{
	struct lab *t = lab_up(state, &coalesce1ms);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);

	rx_fill(t, 2, 2048);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_int_equal(dev->st.calls, 1);
	take(t, VNET_Q_RX); /* used_event moves: the guest wants the next one too */
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_int_equal(ff_used_pending(fe, VNET_Q_RX), 1);
	assert_int_equal(dev->st.calls, 1);
	assert_true(dev->call_due[VNET_Q_RX] > 0);
	usleep(2000);
	dp_turn(t);
	assert_int_equal(dev->st.calls, 2);
	lab_finish(state);
}

/* ---- transmit: guest -> host -------------------------------------------------------- */

static void test_tx_frame(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct fp_frame out;

	ft_plain(t->frame, 60, 9);
	guest_tx(t, NULL, 60);
	struct vring_used_elem e = take(t, VNET_Q_TX);
	assert_int_equal(e.len, 0);
	assert_true(fp_take(t->d[0].port, &out));
	assert_int_equal(out.len, VNET_HDR_LEN_LEGACY + 60);
	static const uint8_t zero[VNET_HDR_LEN_LEGACY];
	assert_memory_equal(out.data, zero, sizeof(zero));
	assert_memory_equal(out.data + VNET_HDR_LEN_LEGACY, t->frame, 60);
	free(out.data);
	assert_int_equal(dev_of(t, 0)->st.tx_packets, 1);
	assert_int_equal(dev_of(t, 0)->st.tx_bytes, 60);
	lab_finish(state);
}

/* A checksum-offload frame goes out with the guest's offsets, and its
 * hdr_len/gso_size hints cleared (the host works them out itself). */
static void test_tx_csum_partial(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct fp_frame out;

	uint32_t len = ft_tcp4(t->frame, 100, 1, FT_ACK, 1);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .hdr_len = 999,
				       .gso_size = 77, .csum_start = 34, .csum_offset = 16 };
	guest_tx(t, &h, len);
	take(t, VNET_Q_TX);
	assert_true(fp_take(t->d[0].port, &out));
	struct virtio_net_hdr_v1 sent = { 0 };
	memcpy(&sent, out.data, VNET_HDR_LEN_LEGACY);
	assert_int_equal(sent.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(sent.csum_start, 34);
	assert_int_equal(sent.csum_offset, 16);
	assert_int_equal(sent.hdr_len, 0);
	assert_int_equal(sent.gso_size, 0);
	free(out.data);
	lab_finish(state);
}

/* gro=1: a well-formed TSO frame passes, hdr_len set from its headers. */
static void test_tx_tso(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct fp_frame out;

	uint32_t len = ft_tcp6(t->frame, 30000, 1, FT_ACK);
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV6, 1440, 54);
	h.hdr_len = 3; /* a hint we do not trust */
	guest_tx(t, &h, len);
	take(t, VNET_Q_TX);
	assert_true(fp_take(t->d[0].port, &out));
	struct virtio_net_hdr_v1 sent = { 0 };
	memcpy(&sent, out.data, VNET_HDR_LEN_LEGACY);
	assert_int_equal(sent.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(sent.gso_size, 1440);
	assert_int_equal(sent.hdr_len, FT_TCP6_HDRS);
	assert_int_equal(out.len, VNET_HDR_LEN_LEGACY + len);
	free(out.data);
	assert_int_equal(dev_of(t, 0)->st.tx_packets, 1);
	lab_finish(state);
}

/* A transport that pushes back: what it did not take goes back to the ring
 * and out, in order, once it has room. */
static void test_tx_pushback(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct fp_frame out;

	fp_set_tx_room(t->d[0].port, 1);
	for (uint8_t i = 0; i < 3; i++) {
		ft_plain(t->frame, 80, i);
		ff_tx(fe_of(t, 0), NULL, t->frame, 80);
	}
	ff_kick(fe_of(t, 0), VNET_Q_TX);
	dp_turn(t);
	assert_int_equal(fp_tx_count(t->d[0].port), 1);
	assert_true(dev_of(t, 0)->tx_blocked);
	assert_int_equal(ff_used_pending(fe_of(t, 0), VNET_Q_TX), 1);
	fp_set_tx_room(t->d[0].port, UINT32_MAX);
	dp_turn(t);
	assert_int_equal(fp_tx_count(t->d[0].port), 3);
	for (uint8_t i = 0; i < 3; i++) {
		assert_true(fp_take(t->d[0].port, &out));
		ft_plain(t->frame, 80, i);
		assert_memory_equal(out.data + VNET_HDR_LEN_LEGACY, t->frame, 80);
		free(out.data);
	}
	assert_false(dev_of(t, 0)->tx_blocked);
	assert_int_equal(dev_of(t, 0)->st.tx_packets, 3);
	lab_finish(state);
}

/* ---- control queue ----------------------------------------------------------------- */

/* Posts [cls, cmd, data] + a 1-byte ack buffer; returns the ack buffer's gpa. */
static uint64_t ctrl_post(struct lab *t, uint8_t cls, uint8_t cmd)
{
	struct ff *fe = fe_of(t, 0);
	uint16_t head = ff_post(fe, VNET_Q_CTRL,
				(struct ff_buf[]){ { 0, 3, false }, { 0, 1, true } }, 2);
	uint8_t *cmdbuf = ff_host(fe, ff_desc(fe, VNET_Q_CTRL)[head].addr);
	cmdbuf[0] = cls;
	cmdbuf[1] = cmd;
	cmdbuf[2] = 1;
	uint64_t ack = ff_desc(fe, VNET_Q_CTRL)[ff_desc(fe, VNET_Q_CTRL)[head].next].addr;
	*(uint8_t *)ff_host(fe, ack) = 0xee;
	return ack;
}

static void test_ctrl_commands(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	static const uint8_t cmds[][3] = {
		{ VIRTIO_NET_CTRL_RX, 0, VIRTIO_NET_OK },       /* promisc */
		{ VIRTIO_NET_CTRL_MAC, 1, VIRTIO_NET_OK },      /* addr set */
		{ VIRTIO_NET_CTRL_VLAN, 0, VIRTIO_NET_OK },
		{ VIRTIO_NET_CTRL_ANNOUNCE, 0, VIRTIO_NET_OK },
		{ VIRTIO_NET_CTRL_RX, 6, VIRTIO_NET_ERR },
		{ 4, 0, VIRTIO_NET_ERR },                       /* MQ: not offered */
		{ 0xff, 0xff, VIRTIO_NET_ERR },
	};
	uint64_t acks[7];
	for (unsigned i = 0; i < 7; i++)
		acks[i] = ctrl_post(t, cmds[i][0], cmds[i][1]);
	ff_kick(fe, VNET_Q_CTRL);
	dp_turn(t);
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(take(t, VNET_Q_CTRL).len, 1);
		assert_int_equal(*(uint8_t *)ff_host(fe, acks[i]), cmds[i][2]);
	}
	assert_int_equal(dev_of(t, 0)->st.ctrl_cmds, 7);
	lab_finish(state);
}

/* After the halt request only the control queue is served: a halting
 * virtio_net spins on each control command until it is answered, while its
 * other rings may already be freed. The answer is published without a call;
 * a frame posted for transmit stays untouched. */
static void test_halt_serves_ctrl_only(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);
	struct vring_used_elem e;

	nf_engine_guest_halting(t->eng);
	uint64_t calls = dev->st.calls;
	uint64_t ack = ctrl_post(t, VIRTIO_NET_CTRL_RX, 0);
	ff_kick(fe, VNET_Q_CTRL);
	ff_tx(fe, NULL, t->frame, 80);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_CTRL).len, 1);
	assert_int_equal(*(uint8_t *)ff_host(fe, ack), VIRTIO_NET_OK);
	assert_int_equal(dev->st.ctrl_halt_cmds, 1);
	assert_int_equal(dev->st.calls, calls);
	assert_false(ff_take_used(fe, VNET_Q_TX, &e));
	assert_int_equal(dev->st.tx_packets, 0);
	/* Every device stopped (lab_finish's forwarding check cannot run). */
	assert_broken(t, 0, "halt requested: only its control commands are answered");
	assert_broken(t, GOOD, "halt requested: only its control commands are answered");
	int fds_before = t->fds_before;
	lab_teardown(state);
	*state = NULL;
	assert_int_equal(ff_count_fds(), fds_before);
}

/* ---- the call watchdog, statistics -------------------------------------------------- */

/* A guest that does not act on a call (its used_event stays behind what we
 * published) is called again after RECALL_FIRST_US, then with backoff. */
static void test_call_watchdog(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct nf_dev *dev = dev_of(t, 0);

	rx_fill(t, 1, 2048);
	ft_plain(t->frame, 64, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 64), 0);
	dp_turn(t);
	assert_int_equal(dev->st.calls, 1);
	assert_int_equal(dev->st.recalls, 0);
	usleep(RECALL_FIRST_US + 500);
	dp_turn(t);
	assert_int_equal(dev->st.recalls, 1);
	assert_int_equal(dev->recall_us[VNET_Q_RX], 2 * RECALL_FIRST_US);
	/* The guest takes it: no more recalls. */
	take(t, VNET_Q_RX);
	usleep(2 * RECALL_FIRST_US + 500);
	dp_turn(t);
	assert_int_equal(dev->st.recalls, 1);
	assert_int_equal(dev->recall_at[VNET_Q_RX], 0);
	lab_finish(state);
}

static void test_stats_and_dump(void **state)
{
	struct lab *t = lab_up(state, NULL);
	char *buf = NULL;
	size_t len = 0;

	rx_fill(t, 1, 2048);
	ft_plain(t->frame, 64, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 64), 0);
	dp_turn(t);
	FILE *m = open_memstream(&buf, &len);
	assert_non_null(m);
	nf_engine_print_stats(t->eng, m);
	nf_engine_dump(t->eng, m);
	fclose(m);
	assert_non_null(strstr(buf, "uml-nf: stats dev=vec0 rx_packets=1 rx_bytes=64 "));
	assert_non_null(strstr(buf, "uml-nf: stats dev=vec1 "));
	assert_non_null(strstr(buf, "host_rx_drops=-1")); /* the fake port cannot tell */
	assert_non_null(strstr(buf, "uml-nf: dump dev=vec0 "));
	assert_non_null(strstr(buf, " rx:avail=1/1 used=1/1 "));
	assert_null(strstr(buf, "broken="));
	free(buf);
	lab_finish(state);
}

/* A frontend that goes away with frames staged for it: they are dropped and
 * counted, and a new frontend starts clean. */
static void test_disconnect_with_staged_frames(void **state)
{
	struct lab *t = lab_up(state, &mrg1);
	struct ff *fe = fe_of(t, 0);

	for (uint8_t i = 0; i < 3; i++) {
		ft_plain(t->frame, 1000, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 1000), 0);
	}
	rx_fill(t, 1, 1536);
	dp_turn(t);
	assert_int_equal(dev_of(t, 0)->held_to - dev_of(t, 0)->held_from, 2);
	ff_close(fe);
	assert_int_equal(vu_dev_handle(&dev_of(t, 0)->vu), -ECONNRESET);
	dp_turn(t);
	assert_int_equal(dev_of(t, 0)->st.rx_dropped, 2);
	assert_int_equal(dev_of(t, 0)->held_to, 0);
	assert_int_equal(ff_open(fe, t->d[0].path), 0);
	assert_int_equal(vu_dev_accept(&dev_of(t, 0)->vu), 0);
	fe->sync = &dev_of(t, 0)->vu;
	ff_bring_up(fe, ~0ull);
	rx_fill(t, 1, 2048);
	ft_plain(t->frame, 300, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 300), 0);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 300);
	lab_finish(state);
}

/* ==== hostile guest: receive ============================================================ */

/* A host GSO frame larger than dev->linear on the direct path (gro=0,
 * mrg=0), received into a chain plus the spill slot: it must be dropped and
 * counted before the gather into dev->linear, which it would overflow
 * (ASan would report it). */
static void test_hostile_rx_gso_larger_than_linear(void **state)
{
	struct lab *t = lab_up(state, NULL);
	uint32_t len = LINEAR_BYTES + 1000;
	uint8_t *big = calloc(1, len);

	assert_non_null(big);
	rx_fill(t, 2, 4096);
	ft_tcp4(big, 100, 1, FT_ACK, 1); /* headers; the rest is payload */
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	assert_int_equal(fp_inject(t->d[0].port, &h, big, len), 0);
	free(big);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_RX).len, 0);
	assert_int_equal(dev_of(t, 0)->st.rx_oversize, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_dropped, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_segmented, 0);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 100); /* the next one is fine */
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* A host frame larger than the chain and the spill slot together: the
 * transport reports it truncated; dropped and counted as oversize. */
static void test_hostile_rx_frame_larger_than_spill(void **state)
{
	struct lab *t = lab_up(state, NULL);
	uint32_t len = SPILL_BYTES + 5000;
	uint8_t *big = calloc(1, len);

	assert_non_null(big);
	rx_fill(t, 1, 2048);
	ft_plain(big, len, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, big, len), 0);
	free(big);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_RX).len, 0);
	assert_int_equal(dev_of(t, 0)->st.rx_oversize, 1);
	assert_int_equal(dev_of(t, 0)->st.rx_packets, 0);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* mrg=1 and a first buffer that cannot hold the 12-byte header (and its
 * num_buffers): a protocol violation, the device is broken. */
static void test_hostile_rx_mrg_first_buffer_tiny(void **state)
{
	struct lab *t = lab_up(state, &mrg1);

	rx_fill(t, 1, 8);
	rx_fill(t, 2, 1536);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_broken(t, 0, "mergeable receive buffer smaller than the header");
	assert_int_equal(ff_used_pending(fe_of(t, 0), VNET_Q_RX), 0);
	lab_finish(state);
}

/* Direct path: a receive chain too small for any frame is a violation. */
static void test_hostile_rx_chain_too_small(void **state)
{
	struct lab *t = lab_up(state, NULL);

	rx_fill(t, 1, VNET_HDR_LEN + ETH_MIN_FRAME - 1);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_broken(t, 0, "receive buffer too small for a frame");
	lab_finish(state);
}

/* Receive chains the device holds popped (its stash) when the guest sends
 * a new memory table are walked again through it, not lost: every one of
 * them still gets a frame. */
static void test_hostile_rx_stash_kept_across_mem_table(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);

	rx_fill(t, 8, 2048);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_RX).len, VNET_HDR_LEN + 100);
	assert_int_equal(dev->nstash, 7);
	assert_int_equal(vq_pending(&dev->vu.vrings[VNET_Q_RX].vq), 0);

	struct vu_mem_table mt = ff_one_region();
	assert_int_equal(ff_ack(fe, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fe->memfd, 1), 0);
	for (uint8_t i = 1; i <= 7; i++) {
		ft_plain(t->frame, 100, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	}
	dp_turn(t);
	for (uint8_t i = 1; i <= 7; i++) {
		struct vring_used_elem e = take(t, VNET_Q_RX);
		assert_int_equal(e.len, VNET_HDR_LEN + 100);
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
		ft_plain(t->frame, 100, i);
		assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 100);
	}
	assert_int_equal(dev->st.rx_packets, 8);
	assert_int_equal(fp_rx_waiting(t->d[0].port), 0);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* A guest that shrinks the descriptors of chains the device holds, then
 * sends a new memory table: re-walked, they must still be large enough for
 * a frame, as when they were first popped. */
static void test_hostile_rx_stash_shrunk_across_mem_table(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);

	rx_fill(t, 4, 2048);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	take(t, VNET_Q_RX);
	assert_int_equal(dev->nstash, 3);
	for (unsigned d = 0; d < FF_RING_NUM; d++)
		if (fe->ring[VNET_Q_RX].busy[d])
			ff_desc(fe, VNET_Q_RX)[d].len = 1;
	struct vu_mem_table mt = ff_one_region();
	ff_ack(fe, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fe->memfd, 1);
	ft_plain(t->frame, 100, 1);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	/* Re-walked chains are checked as new ones: without that the direct
	 * path takes a 1-byte chain for a frame (its room computed as
	 * in_len - 12 wraps), reads the frame's header partly from its own
	 * uninitialised stack, and may report a used length larger than
	 * the buffer. */
	assert_broken(t, 0, "receive buffer too small for a frame");
	struct vring_used_elem e;
	while (ff_take_used(fe, VNET_Q_RX, &e))
		assert_true(e.len <= 1);
	lab_finish(state);
}

/* A new memory table that no longer holds the stashed chains' buffers. */
static void test_hostile_rx_stash_outside_new_mem_table(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);

	rx_fill(t, 4, 2048);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	take(t, VNET_Q_RX);
	assert_int_equal(dev_of(t, 0)->nstash, 3);
	/* Rings stay covered, data buffers (from FF_DATA_GPA) do not. */
	struct vu_mem_table mt = ff_one_region();
	mt.regions[0].size = FF_DATA_GPA - FF_REGION_GPA;
	assert_int_equal(ff_ack(fe, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fe->memfd, 1), 1);
	dp_turn(t);
	assert_broken(t, 0, "receive buffers outside the new memory table");
	assert_int_equal(fp_rx_waiting(t->d[0].port), 0);
	lab_finish(state);
}

/* A readable descriptor after a writable one in a receive chain. */
static void test_hostile_rx_readable_after_writable(void **state)
{
	struct lab *t = lab_up(state, NULL);
	ff_post(fe_of(t, 0), VNET_Q_RX,
		(struct ff_buf[]){ { 0, 1024, true }, { 0, 1024, false } }, 2);
	ff_kick(fe_of(t, 0), VNET_Q_RX);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	dp_turn(t);
	assert_broken(t, 0, "readable descriptor after a writable one");
	assert_int_equal(ff_used_pending(fe_of(t, 0), VNET_Q_RX), 0);
	lab_finish(state);
}

/* gro=1, software GRO on (staged): a non-GSO TCP frame as large as the
 * spill slot takes. Whatever the merge does with it, it must stay inside
 * dev->linear; the frame is delivered or dropped and counted. */
static void test_hostile_rx_gro_frame_as_large_as_spill(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct nf_dev *dev = dev_of(t, 0);
	struct virtio_net_hdr_v1 valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	uint32_t big_len = SPILL_BYTES - VNET_HDR_LEN_LEGACY;
	uint8_t *big = calloc(1, big_len);

	assert_non_null(big);
	rx_fill(t, 12, FF_BUF_SLOT);
	for (unsigned i = 0; i < GRO_TRIGGER; i++) {
		uint32_t len = ft_tcp4(t->frame, 1448, 1 + 1448 * i, FT_ACK, (uint16_t)i);
		assert_int_equal(fp_inject(t->d[0].port, &valid, t->frame, len), 0);
	}
	dp_turn(t);
	assert_true(dev->gro_staged);
	for (unsigned i = 0; i < GRO_TRIGGER; i++)
		take(t, VNET_Q_RX);
	rx_fill(t, GRO_TRIGGER, FF_BUF_SLOT);
	/* A TCP frame filling the slot (IPv4 length as large as it can say,
	 * the rest padding), then one that would continue it. */
	ft_tcp4(big, big_len - FT_TCP4_HDRS, 1 + 1448 * GRO_TRIGGER, FT_ACK, 100);
	assert_int_equal(fp_inject(t->d[0].port, &valid, big, big_len), 0);
	uint32_t len = ft_tcp4(t->frame, 1448, 1 + 1448 * (GRO_TRIGGER + 1), FT_ACK, 101);
	assert_int_equal(fp_inject(t->d[0].port, &valid, t->frame, len), 0);
	free(big);
	uint64_t before = dev->st.rx_packets + dev->st.rx_dropped;
	dp_turn(t);
	assert_true(dev->st.rx_packets + dev->st.rx_dropped + dev->st.rx_coalesced >= before + 2);
	assert_int_equal(fp_rx_waiting(t->d[0].port), 0);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* ==== hostile guest: transmit headers =================================================== */

/* gro=0 never offers HOST_TSO: a TCP GSO header is refused, however
 * well-formed the frame. */
static void test_hostile_tx_tso_not_negotiated(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct nf_dev *dev = dev_of(t, 0);

	assert_false(vu_has(&dev->vu, VIRTIO_NET_F_HOST_TSO4));
	uint32_t len = ft_tcp4(t->frame, 5000, 1, FT_ACK, 1);
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, 0);
	assert_int_equal(dev->st.tx_dropped, 1);
	lab_finish(state);
}

/* UDP fragmentation offload is never offered, with or without ECN. */
static void test_hostile_tx_udp_gso(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct nf_dev *dev = dev_of(t, 0);
	static const uint8_t types[] = { VIRTIO_NET_HDR_GSO_UDP,
					 VIRTIO_NET_HDR_GSO_UDP | VIRTIO_NET_HDR_GSO_ECN, 5, 0x7f };

	uint32_t len = ft_tcp4(t->frame, 5000, 1, FT_ACK, 1);
	for (unsigned i = 0; i < sizeof(types); i++) {
		struct virtio_net_hdr_v1 h = ft_gso_hdr(types[i], 1448, 34);
		guest_tx(t, &h, len);
		assert_tx_refused(t, &dev->st.tx_bad_hdr, i);
	}
	lab_finish(state);
}

/* gso_size 0, 1 and just under Linux's floor: refused (a 1-byte MSS would
 * have the host cut 64 KiB into tens of thousands of segments). */
static void test_hostile_tx_bad_gso_size(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct nf_dev *dev = dev_of(t, 0);
	static const uint16_t sizes[] = { 0, 1, OFL_MIN_MSS - 1 };

	uint32_t len = ft_tcp4(t->frame, 5000, 1, FT_ACK, 1);
	for (unsigned i = 0; i < 3; i++) {
		struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, sizes[i], 34);
		guest_tx(t, &h, len);
		assert_tx_refused(t, &dev->st.tx_bad_hdr, i);
	}
	/* the floor itself is fine */
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, OFL_MIN_MSS, 34);
	guest_tx(t, &h, len);
	take(t, VNET_Q_TX);
	assert_int_equal(fp_tx_count(t->d[0].port), 1);
	lab_finish(state);
}

/* A checksum field past the end of the frame: csum_start + csum_offset + 2
 * must not exceed the frame length. */
static void test_hostile_tx_csum_past_frame(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct nf_dev *dev = dev_of(t, 0);
	uint32_t len = 200;

	ft_plain(t->frame, len, 0);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = (uint16_t)(len - 10), .csum_offset = 9 };
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, 0);
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff; /* would wrap a 16-bit sum */
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, 1);
	/* the last two bytes exactly: fine */
	h.csum_start = (uint16_t)(len - 10);
	h.csum_offset = 8;
	guest_tx(t, &h, len);
	take(t, VNET_Q_TX);
	assert_int_equal(fp_tx_count(t->d[0].port), 1);
	assert_int_equal(dev->st.tx_bad_hdr, 2);
	lab_finish(state);
}

/* DATA_VALID and RSC_INFO belong to the receive direction. */
static void test_hostile_tx_rx_only_flags(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct nf_dev *dev = dev_of(t, 0);
	static const uint8_t flags[] = { VIRTIO_NET_HDR_F_DATA_VALID, 4,
					 VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID,
					 0x80 };

	uint32_t len = ft_tcp4(t->frame, 100, 1, FT_ACK, 1);
	for (unsigned i = 0; i < sizeof(flags); i++) {
		struct virtio_net_hdr_v1 h = { .flags = flags[i], .csum_start = 34,
					       .csum_offset = 16 };
		guest_tx(t, &h, len);
		assert_tx_refused(t, &dev->st.tx_bad_hdr, i);
	}
	lab_finish(state);
}

/* GSO headers that lie about the frame: wrong IP version for the type, IP
 * length short of the frame, checksum not on the TCP field, no payload,
 * ECN without GSO, no partial checksum. */
static void test_hostile_tx_gso_hdr_lies(void **state)
{
	struct lab *t = lab_up(state, &gro1);
	struct nf_dev *dev = dev_of(t, 0);
	uint64_t n = 0;

	uint32_t len = ft_tcp4(t->frame, 5000, 1, FT_ACK, 1);
	struct virtio_net_hdr_v1 h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV6, 1448, 34);
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);

	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	guest_tx(t, &h, len + 100); /* trailing bytes past the IP length */
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);

	h.csum_start = 14;
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);

	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	h.flags = 0;
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);

	uint32_t bare = ft_tcp4(t->frame, 0, 1, FT_ACK, 1);
	h = ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34);
	guest_tx(t, &h, bare);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);

	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_ECN };
	guest_tx(t, &h, bare);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, n++);
	lab_finish(state);
}

/* A port without vnet headers cannot take offloads: any of them refused. */
static const struct lab_opts no_vnet = { .caps = 0x100 /* none of ours */ };

static void test_hostile_tx_offload_without_vnet(void **state)
{
	struct lab *t = lab_up(state, &no_vnet);
	struct nf_dev *dev = dev_of(t, 0);
	struct fp_frame out;

	assert_false(vu_has(&dev->vu, VIRTIO_NET_F_CSUM));
	uint32_t len = ft_tcp4(t->frame, 100, 1, FT_ACK, 1);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
				       .csum_offset = 16 };
	guest_tx(t, &h, len);
	assert_tx_refused(t, &dev->st.tx_bad_hdr, 0);
	guest_tx(t, NULL, len);
	take(t, VNET_Q_TX);
	assert_true(fp_take(t->d[0].port, &out));
	assert_int_equal(out.len, len); /* no header in front */
	free(out.data);
	lab_finish(state);
}

/* Chains that cannot be frames: shorter than header + Ethernet header,
 * longer than a 64 KiB IP packet can make, or with nothing readable. */
static void test_hostile_tx_bad_lengths(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct nf_dev *dev = dev_of(t, 0);
	struct ff *fe = fe_of(t, 0);

	ft_plain(t->frame, 100, 0);
	guest_tx(t, NULL, ETH_MIN_FRAME - 1);
	assert_tx_refused(t, &dev->st.tx_bad_frame, 0);
	memset(t->frame, 0, sizeof(t->frame));
	guest_tx(t, NULL, TX_FRAME_MAX + 1);
	assert_tx_refused(t, &dev->st.tx_bad_frame, 1);
	ff_post(fe, VNET_Q_TX, &(struct ff_buf){ 0, 1500, true }, 1);
	ff_kick(fe, VNET_Q_TX);
	dp_turn(t);
	assert_tx_refused(t, &dev->st.tx_bad_frame, 2);
	assert_int_equal(dev->st.tx_dropped, 3);
	assert_int_equal(dev->st.tx_bad_hdr, 0);
	/* the largest frame that can be is fine */
	guest_tx(t, NULL, TX_FRAME_MAX);
	take(t, VNET_Q_TX);
	assert_int_equal(fp_tx_count(t->d[0].port), 1);
	lab_finish(state);
}

/* ==== hostile guest: rings and descriptors ============================================== */

/* Puts raw descriptor d into vec0's tx table. */
static void put_desc(struct lab *t, unsigned q, uint16_t d, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	ff_desc(fe_of(t, 0), q)[d] = (struct vring_desc){ addr, len, flags, next };
}

static void kick_tx_head(struct lab *t, uint16_t head)
{
	ff_publish(fe_of(t, 0), VNET_Q_TX, head);
	ff_kick(fe_of(t, 0), VNET_Q_TX);
	dp_turn(t);
}

static void test_hostile_desc_loop(void **state)
{
	struct lab *t = lab_up(state, NULL);
	/* Empty buffers: a loop of real ones trips the buffer count first. */
	put_desc(t, VNET_Q_TX, 0, FF_BUF_GPA(1, 0), 0, VRING_DESC_F_NEXT, 1);
	put_desc(t, VNET_Q_TX, 1, FF_BUF_GPA(1, 1), 0, VRING_DESC_F_NEXT, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor chain loops");
	assert_int_equal(fp_tx_count(t->d[0].port), 0);
	lab_finish(state);
}

/* A loop inside an indirect table. */
static void test_hostile_indirect_loop(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct vring_desc *ind = ff_host(fe_of(t, 0), FF_SCRATCH_GPA);
	ind[0] = (struct vring_desc){ FF_BUF_GPA(1, 0), 100, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ FF_BUF_GPA(1, 1), 100, VRING_DESC_F_NEXT, 0 };
	put_desc(t, VNET_Q_TX, 0, FF_SCRATCH_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor chain loops");
	lab_finish(state);
}

static void test_hostile_indirect_in_indirect(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct vring_desc *ind = ff_host(fe_of(t, 0), FF_SCRATCH_GPA);
	ind[0] = (struct vring_desc){ FF_BUF_GPA(1, 0), 100, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ FF_SCRATCH_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0 };
	put_desc(t, VNET_Q_TX, 0, FF_SCRATCH_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "misplaced indirect descriptor");
	lab_finish(state);
}

/* An indirect descriptor with NEXT set (the table replaces the rest). */
static void test_hostile_indirect_with_next(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct vring_desc *ind = ff_host(fe_of(t, 0), FF_SCRATCH_GPA);
	ind[0] = (struct vring_desc){ FF_BUF_GPA(1, 0), 100, 0, 0 };
	put_desc(t, VNET_Q_TX, 0, FF_SCRATCH_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	put_desc(t, VNET_Q_TX, 1, FF_BUF_GPA(1, 1), 100, 0, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "misplaced indirect descriptor");
	lab_finish(state);
}

/* Indirect tables of a length that is no whole number of descriptors, or
 * more than a ring can have, or outside guest memory. */
static void test_hostile_indirect_bad_table(void **state)
{
	struct lab *t = lab_up(state, NULL);
	put_desc(t, VNET_Q_TX, 0, FF_SCRATCH_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "bad indirect table length");
	lab_finish(state);
}

static void test_hostile_indirect_outside_memory(void **state)
{
	struct lab *t = lab_up(state, NULL);
	put_desc(t, VNET_Q_TX, 0, FF_RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "indirect table outside guest memory");
	lab_finish(state);
}

/* 64 descriptors of 64 MiB each, all the same guest memory: 4 GiB in all,
 * which a 32-bit total would see as 0. */
static void test_hostile_chain_64_aliasing_64mib(void **state)
{
	struct lab *t = lab_up(state, NULL);
	for (uint16_t d = 0; d < 64; d++)
		put_desc(t, VNET_Q_TX, d, FF_REGION_GPA, 64u << 20, d < 63 ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(d + 1));
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor chain longer than any buffer could be");
	assert_int_equal(fp_tx_count(t->d[0].port), 0);
	lab_finish(state);
}

/* More buffers than any chain may have. */
static void test_hostile_chain_too_many_buffers(void **state)
{
	struct lab *t = lab_up(state, NULL);
	for (uint16_t d = 0; d <= VQ_MAX_IOV; d++)
		put_desc(t, VNET_Q_TX, d, FF_BUF_GPA(1, d), 64, d < VQ_MAX_IOV ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(d + 1));
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor chain has too many buffers");
	lab_finish(state);
}

/* addr + len wraps around 2^64 (and lengths of 4 GiB - 1). */
static void test_hostile_desc_wraps(void **state)
{
	struct lab *t = lab_up(state, NULL);
	put_desc(t, VNET_Q_TX, 0, UINT64_MAX - 15, 64, 0, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor buffer outside guest memory");
	lab_finish(state);
}

static void test_hostile_desc_len_4gib(void **state)
{
	struct lab *t = lab_up(state, NULL);
	put_desc(t, VNET_Q_TX, 0, FF_REGION_GPA, UINT32_MAX, 0, 0);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor buffer outside guest memory");
	lab_finish(state);
}

/* Two regions side by side in guest physical space (one file, two maps): a
 * buffer crossing the boundary is not contiguous in our address space. */
static void test_hostile_desc_straddles_regions(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	const uint64_t split = 32ull << 20;

	struct vu_mem_table mt = { .nregions = 2 };
	mt.regions[0] = (struct vu_region){ FF_REGION_GPA, split - FF_REGION_GPA, FF_REGION_GPA,
					    FF_REGION_GPA };
	mt.regions[1] = (struct vu_region){ split, FF_RAM_SIZE - split, split, split };
	int fds[2] = { fe->memfd, fe->memfd };
	assert_int_equal(ff_ack(fe, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, fds, 2), 0);
	assert_int_equal(dev_of(t, 0)->vu.mem.nregions, 2);
	/* inside each region: fine */
	put_desc(t, VNET_Q_TX, 0, split - 200, 200, 0, 0);
	put_desc(t, VNET_Q_TX, 1, split, 200, 0, 0);
	kick_tx_head(t, 0);
	kick_tx_head(t, 1);
	assert_int_equal(fp_tx_count(t->d[0].port), 2);
	/* across: not */
	put_desc(t, VNET_Q_TX, 2, split - 100, 200, 0, 0);
	kick_tx_head(t, 2);
	assert_broken(t, 0, "descriptor buffer outside guest memory");
	assert_int_equal(fp_tx_count(t->d[0].port), 2);
	lab_finish(state);
}

/* The guest's avail index jumps further than the ring is long. */
static void test_hostile_avail_idx_jump(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct vring_avail *avail = ff_avail(fe_of(t, 0), VNET_Q_TX);
	__atomic_store_n(&avail->idx, (uint16_t)(FF_RING_NUM + 1), __ATOMIC_RELEASE);
	ff_kick(fe_of(t, 0), VNET_Q_TX);
	dp_turn(t);
	assert_broken(t, 0, "avail index moved further than the ring size");
	lab_finish(state);
}

static void test_hostile_avail_entry_out_of_range(void **state)
{
	struct lab *t = lab_up(state, NULL);
	kick_tx_head(t, FF_RING_NUM);
	assert_broken(t, 0, "avail ring entry out of range");
	lab_finish(state);
}

static void test_hostile_next_out_of_range(void **state)
{
	struct lab *t = lab_up(state, NULL);
	put_desc(t, VNET_Q_TX, 0, FF_BUF_GPA(1, 0), 100, VRING_DESC_F_NEXT, FF_RING_NUM);
	kick_tx_head(t, 0);
	assert_broken(t, 0, "descriptor next index out of range");
	lab_finish(state);
}

/* ==== hostile guest: control queue and calls ============================================ */

/* Malformed commands: one readable byte, no ack buffer, nothing readable.
 * Each is answered (ERR where there is room for it) and counted; the queue
 * keeps working. */
static void test_hostile_ctrl_malformed(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);

	uint16_t a = ff_post(fe, VNET_Q_CTRL,
			     (struct ff_buf[]){ { 0, 1, false }, { 0, 1, true } }, 2);
	*(uint8_t *)ff_host(fe, ff_desc(fe, VNET_Q_CTRL)[a].addr) = VIRTIO_NET_CTRL_RX;
	uint64_t ack_a = ff_desc(fe, VNET_Q_CTRL)[ff_desc(fe, VNET_Q_CTRL)[a].next].addr;
	ff_post(fe, VNET_Q_CTRL, (struct ff_buf[]){ { 0, 2, false } }, 1);
	ff_post(fe, VNET_Q_CTRL, (struct ff_buf[]){ { 0, 16, true } }, 1);
	ff_kick(fe, VNET_Q_CTRL);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_CTRL).len, 1);
	assert_int_equal(*(uint8_t *)ff_host(fe, ack_a), VIRTIO_NET_ERR);
	assert_int_equal(take(t, VNET_Q_CTRL).len, 0);
	assert_int_equal(take(t, VNET_Q_CTRL).len, 1);
	assert_int_equal(dev_of(t, 0)->st.ctrl_cmds, 3);
	uint64_t ack = ctrl_post(t, VIRTIO_NET_CTRL_RX, 1);
	ff_kick(fe, VNET_Q_CTRL);
	dp_turn(t);
	assert_int_equal(take(t, VNET_Q_CTRL).len, 1);
	assert_int_equal(*(uint8_t *)ff_host(fe, ack), VIRTIO_NET_OK);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* A full control ring (the most a guest can have posted at once) is
 * answered in one ctrl_run, nothing left over. */
static void test_ctrl_full_ring(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);

	for (unsigned i = 0; i < FF_RING_NUM / 2; i++)
		ctrl_post(t, VIRTIO_NET_CTRL_RX, 0);
	pthread_mutex_lock(&dev->vu.lock);
	bool more = ctrl_run(dev);
	pthread_mutex_unlock(&dev->vu.lock);
	assert_false(more);
	assert_int_equal(dev->st.ctrl_cmds, FF_RING_NUM / 2);
	assert_int_equal(ff_used_pending(fe, VNET_Q_CTRL), FF_RING_NUM / 2);
	lab_finish(state);
}

/* The guest closes its end of a call socket: every call fails; after
 * VU_CALL_FAIL_MAX in a row the device is broken (each counted). */
static void test_hostile_call_fd_peer_gone(void **state)
{
	struct lab *t = lab_up(state, NULL);
	struct ff *fe = fe_of(t, 0);
	struct nf_dev *dev = dev_of(t, 0);

	close(fe->call[VNET_Q_TX]);
	fe->call[VNET_Q_TX] = -1;
	ft_plain(t->frame, 60, 0);
	for (unsigned i = 0; i < 2 * VU_CALL_FAIL_MAX && !broken(t, 0); i++) {
		ff_tx(fe, NULL, t->frame, 60);
		ff_kick(fe, VNET_Q_TX);
		dp_turn(t);
		/* The completion call is deferred (the guest has ring to
		 * spare); it goes out, and fails, before the guest reaps. */
		usleep(TX_CALL_DEFER_US + 100);
		dp_turn(t);
		struct vring_used_elem e;
		while (ff_take_used(fe, VNET_Q_TX, &e))
			;
	}
	assert_broken(t, 0, "the call fd keeps refusing calls");
	assert_true(dev->st.call_errors >= VU_CALL_FAIL_MAX);
	lab_finish(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, lab_setup, lab_teardown)
#define TO(f, o) cmocka_unit_test_prestate_setup_teardown(f, lab_setup, lab_teardown, (void *)&o)

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	nf_log_level = getenv("UNIT_VERBOSE") ? NF_LOG_DEBUG : -1;
	const struct CMUnitTest tests[] = {
		T(test_rx_direct),
		T(test_rx_gso_segmented),
		TO(test_rx_gso_passed, gro1),
		T(test_rx_frame_larger_than_chain),
		TO(test_rx_mergeable, mrg1),
		TO(test_rx_mergeable_waits_for_buffers, mrg1),
		T(test_rx_starved_then_kicked),
		TO(test_rx_gro_coalesces, gro1),
		TO(test_rx_call_coalescing, coalesce1ms),
		T(test_tx_frame),
		T(test_tx_csum_partial),
		TO(test_tx_tso, gro1),
		T(test_tx_pushback),
		T(test_ctrl_commands),
		T(test_ctrl_full_ring),
		T(test_halt_serves_ctrl_only),
		T(test_call_watchdog),
		T(test_stats_and_dump),
		TO(test_disconnect_with_staged_frames, mrg1),
		T(test_hostile_rx_gso_larger_than_linear),
		T(test_hostile_rx_frame_larger_than_spill),
		TO(test_hostile_rx_mrg_first_buffer_tiny, mrg1),
		T(test_hostile_rx_chain_too_small),
		T(test_hostile_rx_stash_kept_across_mem_table),
		T(test_hostile_rx_stash_shrunk_across_mem_table),
		T(test_hostile_rx_stash_outside_new_mem_table),
		T(test_hostile_rx_readable_after_writable),
		TO(test_hostile_rx_gro_frame_as_large_as_spill, gro1),
		T(test_hostile_tx_tso_not_negotiated),
		TO(test_hostile_tx_udp_gso, gro1),
		TO(test_hostile_tx_bad_gso_size, gro1),
		T(test_hostile_tx_csum_past_frame),
		T(test_hostile_tx_rx_only_flags),
		TO(test_hostile_tx_gso_hdr_lies, gro1),
		TO(test_hostile_tx_offload_without_vnet, no_vnet),
		T(test_hostile_tx_bad_lengths),
		T(test_hostile_desc_loop),
		T(test_hostile_indirect_loop),
		T(test_hostile_indirect_in_indirect),
		T(test_hostile_indirect_with_next),
		T(test_hostile_indirect_bad_table),
		T(test_hostile_indirect_outside_memory),
		T(test_hostile_chain_64_aliasing_64mib),
		T(test_hostile_chain_too_many_buffers),
		T(test_hostile_desc_wraps),
		T(test_hostile_desc_len_4gib),
		T(test_hostile_desc_straddles_regions),
		T(test_hostile_avail_idx_jump),
		T(test_hostile_avail_entry_out_of_range),
		T(test_hostile_next_out_of_range),
		T(test_hostile_ctrl_malformed),
		T(test_hostile_call_fd_peer_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
