/* The call watchdog of datapath/engine.c (call_now, recall_check), driven
 * with a fake clock against rings held in a plain buffer: which queues it
 * watches, that it gives up on a guest that leaves its used_event where it
 * is (Linux's virtqueue_disable_cb writes 0 there), and that it keeps going
 * for a guest that moves it. No call fd (call_fd = -1): calls are counted,
 * not delivered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine.c"

#define NUM 8
#define MS 1000LL

struct fake {
	struct nf_dev dev;
	/* flags, idx, ring[NUM], used_event: one per queue */
	uint16_t avail[VNET_NQUEUES][2 + NUM + 1];
};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dev.vu.name, sizeof(f->dev.vu.name), "vec0");
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &f->dev.vu.vrings[q];
		vr->ready = true;
		vr->call_fd = -1;
		vr->vq.num = NUM;
		vr->vq.event_idx = true;
		vr->vq.avail = (struct vring_avail *)f->avail[q];
		vr->vq.used_idx = 12; /* twelve elements published */
	}
	return f;
}

static void set_used_event(struct fake *f, unsigned q, uint16_t ev)
{
	f->avail[q][2 + NUM] = ev;
}

/* Runs the watchdog every millisecond over [from, to); returns the time of
 * the last recall (-1: none). */
static long long run(struct fake *f, long long from, long long to)
{
	long long last = -1;
	for (long long t = from; t < to; t += MS) {
		uint64_t before = f->dev.st.recalls;
		recall_check(&f->dev, t);
		if (f->dev.st.recalls != before)
			last = t;
	}
	return last;
}

static void test_ctrl_queue_not_watched(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	set_used_event(f, VNET_Q_CTRL, 0); /* no callback: used_event never written */
	call_now(&f->dev, VNET_Q_CTRL, 0);
	assert_int_equal(f->dev.st.calls, 1);
	assert_int_equal(f->dev.recall_at[VNET_Q_CTRL], 0);
	assert_int_equal(run(f, 0, 3000 * MS), -1);
	assert_int_equal(f->dev.st.recalls, 0);
	free(f);
}

static void test_disabled_callbacks_give_up(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	set_used_event(f, VNET_Q_TX, 0); /* virtqueue_disable_cb's value */
	call_now(&f->dev, VNET_Q_TX, 0);
	long long last = run(f, 0, 5000 * MS);
	/* 2, 4, ... 64 ms apart, then every 64 ms, until 1 s has passed. */
	assert_true(last > 0);
	assert_true(last <= RECALL_GIVEUP_US + RECALL_MAX_US);
	assert_true(f->dev.st.recalls >= 10 && f->dev.st.recalls <= 25);
	assert_int_equal(f->dev.recall_at[VNET_Q_TX], 0);
	/* The next real call arms it again. */
	uint64_t n = f->dev.st.recalls;
	call_now(&f->dev, VNET_Q_TX, 6000 * MS);
	assert_true(run(f, 6000 * MS, 6100 * MS) > 0);
	assert_true(f->dev.st.recalls > n);
	free(f);
}

static void test_moving_used_event_keeps_watching(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	set_used_event(f, VNET_Q_RX, 5);
	call_now(&f->dev, VNET_Q_RX, 0);
	/* The guest moves used_event every 500 ms but stays behind. */
	long long last = -1;
	for (int step = 0; step < 6; step++) {
		set_used_event(f, VNET_Q_RX, (uint16_t)(6 + step));
		long long l = run(f, step * 500 * MS, (step + 1) * 500 * MS);
		if (l > last)
			last = l;
	}
	assert_true(last > 2500 * MS);
	assert_int_not_equal(f->dev.recall_at[VNET_Q_RX], 0);
	free(f);
}

static void test_guest_catches_up(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	set_used_event(f, VNET_Q_TX, 11);
	call_now(&f->dev, VNET_Q_TX, 0);
	run(f, 0, 10 * MS);
	assert_true(f->dev.st.recalls >= 1);
	uint64_t n = f->dev.st.recalls;
	set_used_event(f, VNET_Q_TX, 12); /* caught up: waits for the next one */
	assert_int_equal(run(f, 10 * MS, 1000 * MS), -1);
	assert_int_equal(f->dev.st.recalls, n);
	assert_int_equal(f->dev.recall_at[VNET_Q_TX], 0);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctrl_queue_not_watched),
		cmocka_unit_test(test_disabled_callbacks_give_up),
		cmocka_unit_test(test_moving_used_event_keeps_watching),
		cmocka_unit_test(test_guest_catches_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
