/* Malicious frontends and guests against the running engine: its control
 * and datapath threads (nf_engine_start), two devices, vec0 hostile and vec1
 * well-behaved, each on a fake transport (fake_port.h) and a fake frontend
 * in threaded mode (fake_frontend.h) talking over the real vhost-user
 * sockets. engine.c is included only to read device state (under the
 * device lock).
 *
 * Each case ends in lab_finish(): the hostile device is broken, or its bad
 * item was refused and counted; vec1 still forwards both ways;
 * nf_engine_stop returns promptly; and no fd is left open once the engine
 * is destroyed (LSan checks memory at exit).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.c"
#include "memguard.c"

#include "fake_frontend.h"
#include "fake_port.h"
#include "frames.h"

#define DEPTH 32
#define GOOD 1
#define CAPS_RAW (NF_CAP_VNET_HDR | NF_CAP_GSO)
/* nf_engine_stop joins the control thread, which may be inside one
 * message's VU_IO_TIMEOUT_MS; anything beyond that is a hang. */
#define STOP_MAX_MS (VU_IO_TIMEOUT_MS + 500)

struct lab_opts {
	bool gro, mrg;
	unsigned caps; /* device 0's port; 0: CAPS_RAW */
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
	uint8_t frame[2048], got[2048];
};

static const struct lab_opts defaults;

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
	snprintf(t->dir, sizeof(t->dir), "/tmp/uml-nf-hostile.XXXXXX");
	if (!mkdtemp(t->dir) || nf_engine_create(&t->eng) < 0)
		return -1;
	for (unsigned i = 0; i < 2; i++) {
		struct lab_dev *d = &t->d[i];
		const struct lab_opts *oi = i == 0 ? o : &defaults;
		d->cfg = (struct nf_devcfg){ .index = i, .depth = DEPTH, .gro = oi->gro,
					     .mrg = oi->mrg, .mtu = 1500 };
		snprintf(d->path, sizeof(d->path), "%s/vec%u.sock", t->dir, i);
		d->port = fp_open(&d->cfg, oi->caps ? oi->caps : CAPS_RAW);
		uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)(i + 1) };
		if (!d->port ||
		    nf_engine_add(t->eng, &d->cfg, &d->port->base, d->path, mac, err, sizeof(err)) < 0)
			return -1;
		d->dev = t->eng->devs[i];
	}
	if (nf_engine_start(t->eng, -1, -1) < 0)
		return -1;
	for (unsigned i = 0; i < 2; i++)
		if (ff_open(&t->d[i].fe, t->d[i].path) < 0)
			return -1;
	return 0;
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

/* ---- device state, read under the device lock ---- */

static const char *broken(struct lab *t, unsigned i)
{
	struct nf_dev *dev = t->d[i].dev;
	pthread_mutex_lock(&dev->vu.lock);
	const char *b = dev->vu.broken;
	pthread_mutex_unlock(&dev->vu.lock);
	return b;
}

static struct nf_stats stats(struct lab *t, unsigned i)
{
	struct nf_dev *dev = t->d[i].dev;
	pthread_mutex_lock(&dev->vu.lock);
	struct nf_stats st = dev->st;
	pthread_mutex_unlock(&dev->vu.lock);
	return st;
}

static bool connected(struct lab *t, unsigned i)
{
	struct nf_dev *dev = t->d[i].dev;
	pthread_mutex_lock(&dev->vu.lock);
	bool c = dev->vu.conn_fd >= 0;
	pthread_mutex_unlock(&dev->vu.lock);
	return c;
}

/* Polls cond (an expression) every millisecond for up to ms; true if it
 * held. */
#define WAIT_UNTIL(cond, ms)                                                          \
	({                                                                             \
		long long end_ = ff_now_ms() + (ms);                                   \
		bool ok_;                                                              \
		while (!(ok_ = (cond)) && ff_now_ms() < end_)                          \
			usleep(1000);                                                  \
		ok_;                                                                   \
	})

static void assert_broken(struct lab *t, unsigned i, const char *reason)
{
	assert_true(WAIT_UNTIL(broken(t, i) != NULL, FF_WAIT_MS));
	assert_string_equal(broken(t, i), reason);
}

/* ---- traffic ---- */

/* Device i's guest posts n receive buffers and kicks. */
static void rx_fill(struct lab *t, unsigned i, unsigned n)
{
	ff_rx_fill(fe_of(t, i), n, 2048);
	ff_kick(fe_of(t, i), VNET_Q_RX);
}

/* A frame host -> guest on device i: it lands in one of the guest's
 * buffers, whole, and the buffer is posted again. */
static void assert_rx_forwards(struct lab *t, unsigned i, uint8_t salt)
{
	struct ff *fe = fe_of(t, i);
	struct vring_used_elem e;

	ft_plain(t->frame, 100, salt);
	assert_int_equal(fp_inject(t->d[i].port, NULL, t->frame, 100), 0);
	assert_int_equal(ff_wait_used(fe, VNET_Q_RX, 1), 1);
	assert_true(ff_take_used(fe, VNET_Q_RX, &e));
	assert_int_equal(e.len, VNET_HDR_LEN + 100);
	ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
	assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 100);
	rx_fill(t, i, 1);
}

/* A frame guest -> host on device i. */
static void assert_tx_forwards(struct lab *t, unsigned i, uint8_t salt)
{
	struct ff *fe = fe_of(t, i);
	struct vring_used_elem e;
	struct fp_frame out;

	ft_plain(t->frame, 100, salt);
	ff_tx(fe, NULL, t->frame, 100);
	ff_kick(fe, VNET_Q_TX);
	assert_int_equal(fp_wait_tx(t->d[i].port, 1, FF_WAIT_MS), 1);
	assert_true(fp_take(t->d[i].port, &out));
	assert_int_equal(out.len, VNET_HDR_LEN_LEGACY + 100);
	assert_memory_equal(out.data + VNET_HDR_LEN_LEGACY, t->frame, 100);
	free(out.data);
	assert_int_equal(ff_wait_used(fe, VNET_Q_TX, 1), 1);
	assert_true(ff_take_used(fe, VNET_Q_TX, &e));
}

static void assert_good_forwards(struct lab *t)
{
	assert_null(broken(t, GOOD));
	assert_true(connected(t, GOOD));
	assert_rx_forwards(t, GOOD, 0x5a);
	assert_tx_forwards(t, GOOD, 0xa5);
	assert_null(broken(t, GOOD));
}

/* Brings both devices up (vec0 acking want) with receive buffers. */
static struct lab *lab_up(void **state, uint64_t want)
{
	struct lab *t = *state;
	ff_bring_up(fe_of(t, 0), want);
	ff_bring_up(fe_of(t, GOOD), ~0ull);
	rx_fill(t, 0, 16);
	rx_fill(t, GOOD, 16);
	assert_good_forwards(t);
	return t;
}

/* The end of every case; nf_engine_stop must take less than stop_ms. */
static void lab_finish_within(void **state, long long stop_ms)
{
	struct lab *t = *state;
	assert_good_forwards(t);
	long long t0 = ff_now_ms();
	nf_engine_stop(t->eng);
	assert_true(ff_now_ms() - t0 < stop_ms);
	int fds_before = t->fds_before;
	lab_teardown(state);
	*state = NULL;
	assert_int_equal(ff_count_fds(), fds_before);
}

static void lab_finish(void **state)
{
	lab_finish_within(state, STOP_MAX_MS);
}

/* Nothing holds the control thread: stop is immediate. */
#define STOP_IDLE_MS 300

/* Sends a message on vec0 and returns the frontend's view of the ack. */
static uint64_t ack0(struct lab *t, uint32_t req, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds)
{
	return ff_ack(fe_of(t, 0), req, payload, size, fds, nfds);
}

/* ==== call fds that could block the datapath ============================================= */

/* An eventfd call fd whose counter the frontend has taken to 2^64 - 2 (one
 * more write would block) and set blocking again: calls are skipped as
 * "already signalled", frames keep flowing, and stop returns at once. */
static void test_call_eventfd_at_max(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	uint64_t v = VNET_Q_RX;
	assert_int_equal(ack0(t, VU_SET_VRING_CALL, &v, 8, &efd, 1), 0);
	uint64_t top = 0xfffffffffffffffeull;
	assert_int_equal(write(efd, &top, 8), 8);
	assert_int_equal(fcntl(efd, F_SETFL, 0), 0); /* the shared file: blocking again */

	uint64_t calls = stats(t, 0).calls;
	for (uint8_t i = 0; i < 20; i++)
		assert_rx_forwards(t, 0, i);
	assert_true(stats(t, 0).calls > calls);
	assert_int_equal(stats(t, 0).call_errors, 0);
	uint64_t now;
	assert_int_equal(fcntl(efd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(efd, &now, 8), 8);
	assert_int_equal(now, top); /* never written */
	close(efd);
	assert_null(broken(t, 0));
	lab_finish_within(state, STOP_IDLE_MS);
}

/* A pipe as call fd, full, never read: the backend writes through its own
 * non-blocking description; calls are "already signalled". */
static void test_call_full_pipe(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char junk[4096] = { 0 };
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0); /* blocking for everyone else */
	uint64_t v = VNET_Q_RX;
	assert_int_equal(ack0(t, VU_SET_VRING_CALL, &v, 8, &p[1], 1), 0);
	close(p[1]);

	uint64_t calls = stats(t, 0).calls;
	for (uint8_t i = 0; i < 20; i++)
		assert_rx_forwards(t, 0, i);
	assert_true(stats(t, 0).calls > calls);
	assert_int_equal(stats(t, 0).call_errors, 0);
	close(p[0]);
	assert_null(broken(t, 0));
	lab_finish_within(state, STOP_IDLE_MS);
}

/* A pipe as call fd whose read end the frontend closed: every call fails
 * (EPIPE; uml-nf ignores SIGPIPE, as main() here does), each is counted,
 * and after VU_CALL_FAIL_MAX in a row the device is broken. */
static void test_call_pipe_reader_gone(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	uint64_t v = VNET_Q_RX;
	assert_int_equal(ack0(t, VU_SET_VRING_CALL, &v, 8, &p[1], 1), 0);
	close(p[1]);
	close(p[0]);
	for (unsigned i = 0; i < 2 * VU_CALL_FAIL_MAX && !broken(t, 0); i++) {
		ft_plain(t->frame, 100, (uint8_t)i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
		struct vring_used_elem e;
		if (ff_wait_used(fe_of(t, 0), VNET_Q_RX, 1) && ff_take_used(fe_of(t, 0), VNET_Q_RX, &e))
			rx_fill(t, 0, 1);
	}
	assert_broken(t, 0, "the call fd keeps refusing calls");
	assert_true(stats(t, 0).call_errors >= VU_CALL_FAIL_MAX);
	lab_finish_within(state, STOP_IDLE_MS);
}

/* ==== guest memory ======================================================================= */

/* The guest shrinks its memory file after SET_MEM_TABLE: the datapath's
 * next touch faults, memguard survives it, and the device ends broken. The
 * test's own mapping of the file must not be touched from here on.
 *
 * cmocka catches SIGBUS around each test with a handler of its own (and
 * puts the previous one back after setup, dropping the one mg_install set
 * there), so memguard's handler is installed here for the test's
 * duration, as uml-nf has it for its lifetime. */
static void test_mem_file_shrunk(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	unsigned long faults = mg_faults();
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER },
			 cmocka_sa;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGBUS, &sa, &cmocka_sa), 0);

	assert_int_equal(ftruncate(fe_of(t, 0)->memfd, 0), 0);
	ft_plain(t->frame, 100, 0);
	assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 100), 0);
	/* Each kick is an event: the fault is seen on the next one at the latest. */
	assert_true(WAIT_UNTIL((ff_kick(fe_of(t, 0), VNET_Q_TX), broken(t, 0) != NULL),
			       FF_WAIT_MS));
	assert_string_equal(broken(t, 0), "guest memory file shrank under its mapping (SIGBUS)");
	assert_true(mg_faults() > faults);
	lab_finish(state);
	sigaction(SIGBUS, &cmocka_sa, NULL);
}

/* Receive traffic while the guest keeps sending new memory tables (the
 * same memory): not a frame lost, not a buffer lost. */
static void test_mem_table_replaced_under_traffic(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct ff *fe = fe_of(t, 0);
	struct vring_used_elem e;
	unsigned sent = 0, got = 0;

	for (unsigned round = 0; round < 20; round++) {
		for (unsigned k = 0; k < 8; k++, sent++) {
			ft_plain(t->frame, 200, (uint8_t)sent);
			assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 200), 0);
		}
		struct vu_mem_table mt = ff_one_region();
		assert_int_equal(ack0(t, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fe->memfd, 1), 0);
		while (ff_take_used(fe, VNET_Q_RX, &e)) {
			ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
			ft_plain(t->frame, 200, (uint8_t)got++);
			assert_int_equal(e.len, VNET_HDR_LEN + 200);
			assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 200);
			rx_fill(t, 0, 1);
		}
	}
	while (got < sent && ff_wait_used(fe, VNET_Q_RX, 1)) {
		assert_true(ff_take_used(fe, VNET_Q_RX, &e));
		ff_read_chain(fe, VNET_Q_RX, (uint16_t)e.id, t->got, e.len);
		ft_plain(t->frame, 200, (uint8_t)got++);
		assert_memory_equal(t->got + VNET_HDR_LEN, t->frame, 200);
		rx_fill(t, 0, 1);
	}
	assert_int_equal(got, sent);
	assert_int_equal(stats(t, 0).rx_dropped, 0);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* A new memory table that no longer holds the running rings. */
static void test_mem_table_without_rings(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct ff *fe = fe_of(t, 0);
	struct vu_mem_table mt = ff_one_region();
	mt.regions[0].guest_addr = mt.regions[0].user_addr = FF_DATA_GPA;
	mt.regions[0].mmap_offset = FF_DATA_GPA;
	mt.regions[0].size = FF_RAM_SIZE - FF_DATA_GPA;
	assert_int_equal(ack0(t, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fe->memfd, 1), 1);
	assert_broken(t, 0, "vring addresses outside the new memory table");
	lab_finish(state);
}

/* ==== vrings =========================================================================== */

/* The used ring moved outside guest memory while the ring runs. */
static void test_used_ring_unmapped(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_vring_addr a = { .index = VNET_Q_TX,
				   .desc = FF_RING_GPA(VNET_Q_TX),
				   .avail = FF_RING_GPA(VNET_Q_TX) + FF_AVAIL_OFF,
				   .used = FF_RAM_SIZE + 0x10000,
				   .log = ~0ull };
	assert_int_equal(ack0(t, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = VNET_Q_TX;
	assert_int_equal(ack0(t, VU_SET_VRING_KICK, &v, 8, &efd, 1), 1);
	close(efd);
	assert_broken(t, 0, "vring addresses outside guest memory");
	lab_finish(state);
}

/* The receive ring is moved (ADDR, NUM, BASE, KICK, no ENABLE 0 first)
 * while frames flow into it: the old ring is left alone from then on and
 * the new one is served. */
static void test_vring_reconfigured_under_traffic(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct ff *fe = fe_of(t, 0);
	const uint64_t new_ring = FF_SCRATCH_GPA + 0x10000;

	for (uint8_t i = 0; i < 16; i++) {
		ft_plain(t->frame, 300, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 300), 0);
	}
	struct vring_used *old_used = ff_used(fe, VNET_Q_RX);
	ff_vring_config(fe, VNET_Q_RX, new_ring);
	ff_vring_kick(fe, VNET_Q_RX);
	ff_vring_enable(fe, VNET_Q_RX, 1);
	uint16_t frozen = __atomic_load_n(&old_used->idx, __ATOMIC_ACQUIRE);
	rx_fill(t, 0, 32);
	/* What was queued and not delivered before the move goes to the new
	 * ring or is dropped and counted; new frames go to the new ring. */
	struct vring_used_elem e;
	for (uint8_t i = 0; i < 4; i++) {
		ft_plain(t->frame, 300, (uint8_t)(100 + i));
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 300), 0);
	}
	assert_true(WAIT_UNTIL(fp_rx_waiting(t->d[0].port) == 0, FF_WAIT_MS));
	unsigned n = ff_wait_used(fe, VNET_Q_RX, 4);
	assert_true(n >= 4);
	while (ff_take_used(fe, VNET_Q_RX, &e))
		assert_int_equal(e.len, VNET_HDR_LEN + 300);
	assert_int_equal(__atomic_load_n(&old_used->idx, __ATOMIC_ACQUIRE), frozen);
	struct nf_stats st = stats(t, 0);
	assert_int_equal(st.rx_packets + st.rx_dropped, 16 + 4);
	assert_true(ff_desc(fe, VNET_Q_RX) == ff_host(fe, new_ring));
	assert_null(broken(t, 0));
	assert_rx_forwards(t, 0, 7);
	lab_finish(state);
}

/* A guest that kicks as fast as it can with nothing posted. */
static void *kick_flood(void *arg)
{
	struct ff *fe = arg;
	uint64_t one = 1;
	long long end = ff_now_ms() + 300;
	while (ff_now_ms() < end)
		for (unsigned q = 0; q < VNET_NQUEUES; q++)
			(void)!write(fe->kick[q], &one, 8);
	return NULL;
}

static void test_kick_flood(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	pthread_t th;
	uint64_t kicks = stats(t, 0).kicks;
	assert_int_equal(pthread_create(&th, NULL, kick_flood, fe_of(t, 0)), 0);
	for (uint8_t i = 0; i < 10; i++)
		assert_good_forwards(t);
	pthread_join(th, NULL);
	assert_true(stats(t, 0).kicks > kicks);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* ==== the control queue =================================================================== */

struct flood {
	struct ff *fe;
	atomic_bool stop;
	unsigned answered;
};

/* Keeps the control ring full: every answered command is posted again at
 * once (a guest refilling as fast as we answer). */
static void *ctrl_flood(void *arg)
{
	struct flood *fl = arg;
	struct ff *fe = fl->fe;
	struct vring_used_elem e;

	for (uint16_t d = 0; d < FF_RING_NUM; d += 2)
		ff_post_at(fe, VNET_Q_CTRL, d,
			   (struct ff_buf[]){ { 0, 2, false }, { 0, 1, true } }, 2);
	while (!atomic_load(&fl->stop)) {
		(void)!write(fe->kick[VNET_Q_CTRL], &(uint64_t){ 1 }, 8);
		while (ff_take_used(fe, VNET_Q_CTRL, &e)) {
			fl->answered++;
			ff_post_at(fe, VNET_Q_CTRL, (uint16_t)e.id,
				   (struct ff_buf[]){ { 0, 2, false }, { 0, 1, true } }, 2);
		}
	}
	return NULL;
}

static void test_ctrl_flood(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct flood fl = { .fe = fe_of(t, 0) };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, ctrl_flood, &fl), 0);
	long long t0 = ff_now_ms();
	for (uint8_t i = 0; i < 10; i++)
		assert_good_forwards(t);
	assert_true(ff_now_ms() - t0 < 2000);
	assert_true(WAIT_UNTIL(stats(t, 0).ctrl_cmds > 2 * FF_RING_NUM, FF_WAIT_MS));
	atomic_store(&fl.stop, true);
	pthread_join(th, NULL);
	assert_true(fl.answered > FF_RING_NUM);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* ==== the frontend's messages ============================================================== */

struct trickle {
	struct ff *fe;
	long long first_ms;
	bool refused;
};

/* SET_FEATURES one byte per 100 ms: 20 bytes would take 2 s. */
static void *trickle_main(void *arg)
{
	struct trickle *tr = arg;
	struct {
		struct vu_hdr h;
		uint64_t v;
	} __attribute__((packed)) m = { { VU_SET_FEATURES, VU_VERSION, 8 }, 0 };
	const uint8_t *p = (const uint8_t *)&m;

	for (size_t i = 0; i < sizeof(m); i++) {
		if (i == 0)
			tr->first_ms = ff_now_ms();
		if (send(tr->fe->sock, p + i, 1, MSG_NOSIGNAL) != 1) {
			tr->refused = true;
			break;
		}
		usleep(100 * 1000);
	}
	return NULL;
}

/* A frontend trickling a message: dropped VU_IO_TIMEOUT_MS after its first
 * byte; the datapath forwards meanwhile, and vec1's control messages wait
 * no longer than that bound. */
static void test_trickling_frontend(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct trickle tr = { .fe = fe_of(t, 0) };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, trickle_main, &tr), 0);
	usleep(150 * 1000);
	assert_good_forwards(t);
	long long t0 = ff_now_ms();
	assert_int_equal(ff_get_u64(fe_of(t, GOOD), VU_GET_FEATURES), fe_of(t, GOOD)->offered);
	assert_true(ff_now_ms() - t0 < VU_IO_TIMEOUT_MS + 500);
	assert_true(WAIT_UNTIL(!connected(t, 0), 3 * VU_IO_TIMEOUT_MS));
	long long dropped_after = ff_now_ms() - tr.first_ms;
	assert_true(dropped_after >= VU_IO_TIMEOUT_MS - 100);
	assert_true(dropped_after < VU_IO_TIMEOUT_MS + 700);
	pthread_join(th, NULL);
	assert_true(tr.refused);
	t0 = ff_now_ms();
	assert_int_equal(ff_get_u64(fe_of(t, GOOD), VU_GET_FEATURES), fe_of(t, GOOD)->offered);
	assert_true(ff_now_ms() - t0 < 500);
	lab_finish(state);
}

/* A frontend that asks and asks and never reads a reply: once its socket
 * is full, the reply send times out and the session is dropped. */
static void test_frontend_never_reads_replies(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct ff *fe = fe_of(t, 0);
	struct {
		struct vu_hdr h;
		struct vu_config c;
	} __attribute__((packed)) m = { { VU_GET_CONFIG, VU_VERSION, 12 + VU_CONFIG_MAX },
					{ 0, VU_CONFIG_MAX, 0, { 0 } } };
	long long t0 = ff_now_ms();
	unsigned sent = 0;

	while (connected(t, 0) && ff_now_ms() - t0 < 4 * VU_IO_TIMEOUT_MS) {
		ssize_t n = send(fe->sock, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(m))
			sent++;
		else
			usleep(1000);
	}
	assert_false(connected(t, 0));
	assert_true(sent > 100);
	assert_true(ff_now_ms() - t0 < 3 * VU_IO_TIMEOUT_MS);
	lab_finish(state);
}

/* Header promises 40 bytes, 10 come, then nothing. */
static void test_truncated_message(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	uint8_t buf[12 + 10] = { 0 };
	struct vu_hdr h = { VU_SET_VRING_ADDR, VU_VERSION | VU_FLAG_NEED_REPLY, 40 };
	memcpy(buf, &h, sizeof(h));
	long long t0 = ff_now_ms();
	assert_int_equal(ff_send_bytes(fe_of(t, 0), buf, sizeof(buf), NULL, 0), sizeof(buf));
	assert_true(WAIT_UNTIL(!connected(t, 0), 3 * VU_IO_TIMEOUT_MS));
	assert_true(ff_now_ms() - t0 >= VU_IO_TIMEOUT_MS - 100);
	assert_true(ff_now_ms() - t0 < VU_IO_TIMEOUT_MS + 700);
	lab_finish(state);
}

/* Half a header, then the frontend hangs up. */
static void test_truncated_header_eof(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
	assert_int_equal(ff_send_bytes(fe_of(t, 0), &h, 7, NULL, 0), 7);
	shutdown(fe_of(t, 0)->sock, SHUT_WR);
	assert_true(WAIT_UNTIL(!connected(t, 0), VU_IO_TIMEOUT_MS / 2));
	lab_finish(state);
}

/* A payload size above any request's: dropped at once, its fds closed. */
static void test_oversized_message(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_hdr h = { VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_NEED_REPLY, VU_PAYLOAD_MAX + 1 };
	int fds[3] = { fe_of(t, 0)->memfd, fe_of(t, 0)->memfd, fe_of(t, 0)->memfd };
	long long t0 = ff_now_ms();
	assert_int_equal(ff_send_bytes(fe_of(t, 0), &h, sizeof(h), fds, 3), sizeof(h));
	assert_true(WAIT_UNTIL(!connected(t, 0), VU_IO_TIMEOUT_MS / 2));
	assert_true(ff_now_ms() - t0 < VU_IO_TIMEOUT_MS / 2);
	lab_finish(state);
}

/* More fds than a message may carry: the control data is cut (the kernel
 * closes what did not fit), the session dropped, the rest closed by us. */
static void test_too_many_fds(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_mem_table mt = ff_one_region();
	uint8_t buf[12 + FF_MEM_TABLE_SIZE];
	struct vu_hdr h = { VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_NEED_REPLY, FF_MEM_TABLE_SIZE };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + 12, &mt, FF_MEM_TABLE_SIZE);
	int fds[12];
	for (unsigned i = 0; i < 12; i++)
		fds[i] = fe_of(t, 0)->memfd;
	assert_int_equal(ff_send_bytes(fe_of(t, 0), buf, sizeof(buf), fds, 12), sizeof(buf));
	assert_true(WAIT_UNTIL(!connected(t, 0), VU_IO_TIMEOUT_MS / 2));
	lab_finish(state);
}

/* An fd sent with a message's payload rather than its header: the kernel
 * discards it (we read the payload without control data), and the
 * message is judged without it. */
static void test_fd_on_payload(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct ff *fe = fe_of(t, 0);
	struct vu_hdr h = { VU_SET_VRING_KICK, VU_VERSION | VU_FLAG_NEED_REPLY, 8 };
	uint64_t v = VNET_Q_TX;
	int efd = eventfd(0, EFD_CLOEXEC);
	struct vu_msg r;

	assert_int_equal(ff_send_bytes(fe, &h, sizeof(h), NULL, 0), sizeof(h));
	assert_int_equal(ff_send_bytes(fe, &v, 8, &efd, 1), 8);
	close(efd);
	ff_recv(fe, VU_SET_VRING_KICK, &r);
	assert_int_equal(r.payload.u64, 1); /* no fd, and the no-fd flag not set */
	assert_true(connected(t, 0));
	assert_tx_forwards(t, 0, 3); /* the old kick fd still works */
	lab_finish(state);
}

/* Payloads shorter than their request needs: refused, session kept. */
static void test_short_payloads(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_vring_addr a = { .index = VNET_Q_TX };
	struct vu_vring_state st = { VNET_Q_TX, 64 };
	struct vu_config c = { .offset = 0, .size = 8 };

	assert_int_equal(ack0(t, VU_SET_VRING_ADDR, &a, 8, NULL, 0), 1);
	assert_int_equal(ack0(t, VU_SET_VRING_NUM, &st, 4, NULL, 0), 1);
	assert_int_equal(ack0(t, VU_SET_VRING_BASE, &st, 0, NULL, 0), 1);
	assert_int_equal(ack0(t, VU_SET_VRING_ENABLE, &st, 7, NULL, 0), 1);
	assert_int_equal(ack0(t, VU_SET_FEATURES, &st, 7, NULL, 0), 1);
	assert_int_equal(ack0(t, VU_GET_CONFIG, &c, 12 + 7, NULL, 0), 1);
	c.size = VU_CONFIG_MAX + 1;
	assert_int_equal(ack0(t, VU_GET_CONFIG, &c, sizeof(c), NULL, 0), 1);
	assert_true(connected(t, 0));
	assert_tx_forwards(t, 0, 1);
	assert_rx_forwards(t, 0, 1);
	lab_finish(state);
}

/* A second frontend on vec0's socket is turned away; the first goes on. */
static void test_second_frontend(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int other = ff_connect(t->d[0].path);
	assert_true(other >= 0);
	struct pollfd p = { other, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, FF_WAIT_MS), 1);
	char c;
	assert_int_equal(recv(other, &c, 1, 0), 0);
	close(other);
	assert_true(connected(t, 0));
	assert_rx_forwards(t, 0, 2);
	lab_finish(state);
}

/* The guest vanishes mid traffic (frames staged, chains popped), then a
 * new one connects and is served from a clean state. */
static const struct lab_opts mrg1 = { .mrg = true };

static void test_guest_vanishes_under_traffic(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vring_used_elem e;

	for (uint8_t i = 0; i < 40; i++) {
		ft_plain(t->frame, 1000, i);
		assert_int_equal(fp_inject(t->d[0].port, NULL, t->frame, 1000), 0);
	}
	/* 16 buffers: the rest is staged or still in the transport. */
	assert_true(WAIT_UNTIL(ff_used_pending(fe_of(t, 0), VNET_Q_RX) == 16, FF_WAIT_MS));
	ff_close(fe_of(t, 0));
	assert_true(WAIT_UNTIL(!connected(t, 0), FF_WAIT_MS));
	assert_int_equal(ff_open(fe_of(t, 0), t->d[0].path), 0);
	ff_bring_up(fe_of(t, 0), ~0ull);
	rx_fill(t, 0, 64);
	assert_true(WAIT_UNTIL(fp_rx_waiting(t->d[0].port) == 0, FF_WAIT_MS));
	/* Every frame is accounted for: delivered to the old session, dropped
	 * with it (staged ones, counted), or delivered to the new one. */
	assert_true(WAIT_UNTIL(stats(t, 0).rx_packets + stats(t, 0).rx_dropped == 40, FF_WAIT_MS));
	struct nf_stats st = stats(t, 0);
	assert_int_equal(ff_used_pending(fe_of(t, 0), VNET_Q_RX), st.rx_packets - 16);
	while (ff_take_used(fe_of(t, 0), VNET_Q_RX, &e))
		assert_int_equal(e.len, VNET_HDR_LEN + 1000);
	assert_rx_forwards(t, 0, 9);
	assert_null(broken(t, 0));
	lab_finish(state);
}

/* ==== fds of the wrong kind ================================================================ */

/* SET_MEM_TABLE with fd (any kind that is not a memory file): refused, the
 * fd not kept, the old table (and the traffic over it) untouched. */
static void mem_table_wrong_fd(void **state, int fd, uint64_t size)
{
	struct lab *t = lab_up(state, ~0ull);
	struct vu_mem_table mt = ff_one_region();
	if (size) {
		mt.regions[0].size = size;
		mt.regions[0].mmap_offset = 0;
	}
	int fds_with = ff_count_fds();
	assert_int_equal(ack0(t, VU_SET_MEM_TABLE, &mt, FF_MEM_TABLE_SIZE, &fd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_with);
	close(fd);
	assert_null(broken(t, 0));
	assert_rx_forwards(t, 0, 1);
	assert_tx_forwards(t, 0, 1);
	lab_finish(state);
}

static void test_mem_table_pipe_fd(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	mem_table_wrong_fd(state, p[0], 0);
}

static void test_mem_table_socket_fd(void **state)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	mem_table_wrong_fd(state, sp[0], 0);
}

/* A region small enough to pass the file-size check: the mmap itself
 * refuses a directory. */
static void test_mem_table_directory_fd(void **state)
{
	struct lab *t = *state;
	int fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	mem_table_wrong_fd(state, fd, 4096);
}

/* The file is fine but opened read-only: a shared writable map is refused. */
static void test_mem_table_readonly_fd(void **state)
{
	struct lab *t = *state;
	char path[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fe_of(t, 0)->memfd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	mem_table_wrong_fd(state, fd, 0);
}

/* SET_VRING_KICK/CALL with fd: refused, not kept, the ring keeps its old
 * fd and keeps working. */
static void vring_wrong_fd(void **state, uint32_t req, int fd)
{
	struct lab *t = lab_up(state, ~0ull);
	uint64_t v = VNET_Q_TX;
	int fds_with = ff_count_fds();
	assert_int_equal(ack0(t, req, &v, 8, &fd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_with);
	close(fd);
	assert_null(broken(t, 0));
	assert_tx_forwards(t, 0, 4);
	lab_finish(state);
}

static int regular_file(struct lab *t)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/regular", t->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void test_kick_regular_file(void **state)
{
	vring_wrong_fd(state, VU_SET_VRING_KICK, regular_file(*state));
}

static void test_kick_directory(void **state)
{
	struct lab *t = *state;
	vring_wrong_fd(state, VU_SET_VRING_KICK, open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

static void test_call_regular_file(void **state)
{
	vring_wrong_fd(state, VU_SET_VRING_CALL, regular_file(*state));
}

static void test_call_tty(void **state)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(fd >= 0);
	vring_wrong_fd(state, VU_SET_VRING_CALL, fd);
}

static void test_call_dev_null(void **state)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	vring_wrong_fd(state, VU_SET_VRING_CALL, fd);
}

/* The backend channel must be a socket (the spec's, and virtio_uml's, is
 * one end of a socketpair): a pipe is refused and not kept. */
static void test_slave_req_pipe(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int fds_with = ff_count_fds();
	assert_int_equal(ack0(t, VU_SET_SLAVE_REQ_FD, NULL, 0, &p[1], 1), 1);
	assert_int_equal(ff_count_fds(), fds_with);
	close(p[0]);
	close(p[1]);
	assert_null(broken(t, 0));
	assert_rx_forwards(t, 0, 5);
	lab_finish(state);
}

/* SET_LOG_FD is not supported: refused, its fd closed. */
static void test_log_fd_refused(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	int fd = regular_file(t);
	int fds_with = ff_count_fds();
	assert_int_equal(ack0(t, VU_SET_LOG_FD, NULL, 0, &fd, 1), 1);
	assert_int_equal(ff_count_fds(), fds_with);
	close(fd);
	assert_rx_forwards(t, 0, 6);
	lab_finish(state);
}

/* ---- headers written by a peer (NF_CAP_PEER_HDR: bess vnet=1) ---- */

static const struct lab_opts peer_direct = { .caps = CAPS_RAW | NF_CAP_PEER_HDR };
static const struct lab_opts peer_staged = { .mrg = true, .caps = CAPS_RAW | NF_CAP_PEER_HDR };

/* Every header the checks refuse is dropped and counted as rx_bad_hdr,
 * never handed to the guest; the good frame after them is the first the
 * guest gets. Run on the direct and on the staged receive path. */
static void test_peer_headers(void **state)
{
	struct lab *t = lab_up(state, ~0ull);
	uint8_t tcp[256];
	uint32_t tlen = ft_tcp4(tcp, 100, 1, 0x10, 1);
	const uint8_t v4 = VIRTIO_NET_HDR_GSO_TCPV4;
	const struct {
		struct virtio_net_hdr_v1 h;
		bool tcp;
	} bad[] = {
		{ { .flags = VIRTIO_NET_HDR_F_DATA_VALID }, false },
		{ { .flags = 0x80 }, false },
		{ { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 90, .csum_offset = 16 },
		  false }, /* field past the 100-byte frame */
		{ { .gso_type = VIRTIO_NET_HDR_GSO_ECN }, false },
		{ ft_gso_hdr(VIRTIO_NET_HDR_GSO_UDP_L4, 1000, 34), true },
		{ ft_gso_hdr(v4, OFL_MIN_MSS - 1, 34), true },
		{ ft_gso_hdr(VIRTIO_NET_HDR_GSO_TCPV6, 1000, 34), true }, /* it is IPv4 */
		{ ft_gso_hdr(v4, 1000, 30), true },			  /* not on TCP */
		{ { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000 }, true }, /* no csum */
		{ ft_gso_hdr(v4, 1000, 34), false }, /* the frame is not TCP */
	};
	ft_plain(t->frame, 100, 3);
	for (size_t k = 0; k < NF_ARRAY_SIZE(bad); k++)
		assert_int_equal(fp_inject(t->d[0].port, &bad[k].h, bad[k].tcp ? tcp : t->frame,
					   bad[k].tcp ? tlen : 100),
				 0);
	assert_rx_forwards(t, 0, 9);
	struct nf_stats st = stats(t, 0);
	assert_int_equal(st.rx_bad_hdr, NF_ARRAY_SIZE(bad));
	assert_true(st.rx_dropped >= NF_ARRAY_SIZE(bad));
	assert_null(broken(t, 0));
	lab_finish(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, lab_setup, lab_teardown)
#define TO(f, o) cmocka_unit_test_prestate_setup_teardown(f, lab_setup, lab_teardown, (void *)&o)

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN); /* as uml-nf does (launcher/supervise.c) */
	nf_log_level = getenv("UNIT_VERBOSE") ? NF_LOG_DEBUG : -1;
	const struct CMUnitTest tests[] = {
		T(test_call_eventfd_at_max),
		T(test_call_full_pipe),
		T(test_call_pipe_reader_gone),
		T(test_mem_file_shrunk),
		T(test_mem_table_replaced_under_traffic),
		T(test_mem_table_without_rings),
		T(test_used_ring_unmapped),
		T(test_vring_reconfigured_under_traffic),
		T(test_kick_flood),
		T(test_ctrl_flood),
		T(test_trickling_frontend),
		T(test_frontend_never_reads_replies),
		T(test_truncated_message),
		T(test_truncated_header_eof),
		T(test_oversized_message),
		T(test_too_many_fds),
		T(test_fd_on_payload),
		T(test_short_payloads),
		T(test_second_frontend),
		TO(test_guest_vanishes_under_traffic, mrg1),
		T(test_mem_table_pipe_fd),
		T(test_mem_table_socket_fd),
		T(test_mem_table_directory_fd),
		T(test_mem_table_readonly_fd),
		T(test_kick_regular_file),
		T(test_kick_directory),
		T(test_call_regular_file),
		T(test_call_tty),
		T(test_call_dev_null),
		T(test_slave_req_pipe),
		T(test_log_fd_refused),
		TO(test_peer_headers, peer_direct),
		TO(test_peer_headers, peer_staged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
