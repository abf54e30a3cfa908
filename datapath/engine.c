#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dev.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#define MAX_DEVS 64

struct nf_engine {
	unsigned ndevs;
	struct nf_dev *devs[MAX_DEVS];
	int dp_epfd, ctl_epfd;
	int wake_fd;     /* datapath wakeups (ring changes, stop) */
	int ctl_wake_fd; /* control thread stop: its own, so neither eats the other's */
	struct ep_src src_wake, src_ctl_wake;
	atomic_bool stop;
	bool running;
	pthread_t dp_thread, ctl_thread;
	cpu_set_t ctl_cpus, dp_cpus; /* empty: not pinned */
	uint64_t wakeups; /* datapath epoll returns with events */
	unsigned poll_us; /* 0: event-driven; else timed polling while busy */
	bool sched_batch; /* datapath thread under SCHED_BATCH */
};

static struct nf_dev *to_dev(struct vu_dev *vu)
{
	return nf_container_of(vu, struct nf_dev, vu);
}

struct nf_dev *engine_dev(struct nf_engine *eng, unsigned index)
{
	for (unsigned d = 0; d < eng->ndevs; d++)
		if (eng->devs[d]->index == index)
			return eng->devs[d];
	return NULL;
}

unsigned nf_engine_ndevs(const struct nf_engine *eng)
{
	return eng->ndevs;
}

/* ---- hooks from the vhost-user core (control thread, dev lock held) ---- */

static void hook_kick_watch(struct vu_dev *vu, unsigned q, int fd)
{
	struct nf_dev *dev = to_dev(vu);
	/* Edge-triggered: every write to an eventfd is an edge, so kicks are
	 * seen without reading the counter back (one syscall less per kick;
	 * the 64-bit counter cannot fill up in practice). */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = &dev->src_kick[q] };
	if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		nf_err("%s: cannot watch kick fd: %s", vu->name, strerror(errno));
}

static void hook_kick_unwatch(struct vu_dev *vu, unsigned q, int fd)
{
	(void)q;
	epoll_ctl(to_dev(vu)->eng->dp_epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void wake_fd(int fd)
{
	uint64_t one = 1;
	(void)!write(fd, &one, sizeof(one));
}

static void wake(struct nf_engine *eng)
{
	wake_fd(eng->wake_fd);
}

static void stop_threads(struct nf_engine *eng)
{
	atomic_store(&eng->stop, true);
	wake_fd(eng->wake_fd);
	wake_fd(eng->ctl_wake_fd);
}

void dev_wake(struct nf_dev *dev)
{
	atomic_store(&dev->changed, true);
	wake(dev->eng);
}

static void hook_changed(struct vu_dev *vu)
{
	dev_wake(to_dev(vu));
}

/* The guest replaced its memory table while its rings run: the receive
 * chains we keep popped (the stash) are still the guest's to get back, so
 * they are walked again through the new map rather than dropped, which
 * would lose those buffers for good. */
static void hook_remapped(struct vu_dev *vu, unsigned q)
{
	struct nf_dev *dev = to_dev(vu);
	struct vu_vring *vr = &vu->vrings[q];
	if (q != VNET_Q_RX)
		return;
	for (unsigned i = 0; i < dev->nstash; i++) {
		struct vq_chain *c = &dev->rx_chains[dev->order[i]];
		if (vq_chain_reload(&vr->vq, c) < 0) {
			vu_dev_set_broken(vu, "receive buffers outside the new memory table");
			return;
		}
		/* Walked again, a chain must still pass rx_stash_fill's check:
		 * the guest may have rewritten its descriptors since, and the
		 * direct path takes room for a header and a frame for granted
		 * (in_len - VNET_HDR_LEN would wrap). */
		if (c->in_len < VNET_HDR_LEN + ETH_MIN_FRAME) {
			vu_dev_set_broken(vu, "receive buffer too small for a frame");
			return;
		}
	}
	dev->rx_gen = vr->gen; /* the stash belongs to the new mapping */
}

static const struct vu_dev_ops hooks = {
	.kick_watch = hook_kick_watch,
	.kick_unwatch = hook_kick_unwatch,
	.changed = hook_changed,
	.remapped = hook_remapped,
};

/* ---- transport fd interest (datapath thread) ---- */

static void set_mask(struct nf_dev *dev, int fd, struct ep_src *src, uint32_t *cur, uint32_t want)
{
	if (*cur == want)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = src };
	if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		nf_err("%s: epoll: %s", dev->vu.name, strerror(errno));
	*cur = want;
}

/* Watch the transport for input only while the guest has buffers to fill,
 * and for output space only while it pushes back: a full host socket then
 * simply waits instead of spinning the datapath. */
void dev_update_port_interest(struct nf_dev *dev)
{
	if (dev->detached)
		return; /* the null port has no fds */
	bool rx = dev->vu.vrings[VNET_Q_RX].ready && !dev->rx_starved && !dev->port_down;
	uint32_t in = rx ? EPOLLIN : 0, out = dev->tx_blocked && !dev->port_down ? EPOLLOUT : 0;
	struct nf_port *p = dev->port;

	if (p->rx_fd == p->tx_fd) {
		set_mask(dev, p->rx_fd, &dev->src_rx, &dev->rx_mask, in | out);
	} else {
		set_mask(dev, p->rx_fd, &dev->src_rx, &dev->rx_mask, in);
		set_mask(dev, p->tx_fd, &dev->src_tx, &dev->tx_mask, out);
	}
}

/* A port whose host side went away is retried this often. */
#define REATTACH_US 500000
/* Other transport errors are logged at most this often. */
#define PORT_ERR_LOG_US 1000000

static long long now_us(void);

void dev_port_error(struct nf_dev *dev, const char *what, int err)
{
	long long now = now_us();
	if (err == -EFAULT) {
		/* The host kernel could not read or write guest memory (a
		 * guest that shrank its memory file: the kernel's copies get
		 * EFAULT where ours get SIGBUS, see memguard.h). */
		vu_dev_set_broken(&dev->vu, "the host kernel cannot access guest memory (EFAULT)");
		dev_update_port_interest(dev);
		return;
	}
	if (err == -ENETDOWN) {
		if (dev->port_down)
			return;
		dev->port_down = true;
		dev->st.port_downs++;
		dev->reattach_at = now + REATTACH_US;
		nf_warn("%s: host side of the %s transport is gone (%s); guest frames are "
			"dropped until it is back%s", dev->vu.name, dev->port->transport->name,
			strerror(-err), dev->port->transport->reattach ? "" : " (no reattach: for good)");
		dev->tx_blocked = false;
		dev_update_port_interest(dev);
		return;
	}
	if (now - dev->err_logged_at >= PORT_ERR_LOG_US) {
		dev->err_logged_at = now;
		nf_err("%s: %s failed: %s", dev->vu.name, what, strerror(-err));
	}
}

/* Tries to bring a downed port back; returns the next attempt's time (0:
 * the port is up). Lock held. */
static long long port_reattach(struct nf_dev *dev, long long now)
{
	if (!dev->port_down || dev->detached)
		return 0;
	if (now < dev->reattach_at)
		return dev->reattach_at;
	int rc = dev->port->transport->reattach ? dev->port->transport->reattach(dev->port)
						 : -EOPNOTSUPP;
	if (rc < 0) {
		dev->reattach_at = now + REATTACH_US;
		return dev->reattach_at;
	}
	dev->port_down = false;
	dev->rx_readable = true;
	dev->kicked[VNET_Q_TX] = true;
	nf_info("%s: host side of the %s transport is back (%llu guest frames dropped meanwhile "
		"in all)", dev->vu.name, dev->port->transport->name,
		(unsigned long long)dev->st.tx_host_down);
	dev_update_port_interest(dev);
	return 0;
}

/* Transmit completion calls (see dev_call_guest): deferred by up to
 * TX_CALL_DEFER_US while the guest has under 1/TX_CALL_PRESSURE_DIV of its
 * ring's worth of event gap, i.e. is far from stopping its queue. Each call
 * is a signal and an interrupt in a UML guest; when it forwards steadily, its
 * own transmits reap the completions without one. */
#define TX_CALL_DEFER_US 500
#define TX_CALL_PRESSURE_DIV 8
static unsigned tx_call_defer_us = TX_CALL_DEFER_US;

/* Timed polling (poll_us) is on while the current or the previous window of
 * POLL_WINDOW_US moved at least POLL_MIN_FRAMES frames: a flow, not a lone
 * ping, which keeps its event-driven latency. */
#define POLL_WINDOW_US 2000
#define POLL_MIN_FRAMES 8

static uint64_t frames_moved(const struct nf_engine *eng)
{
	uint64_t n = 0;
	for (unsigned d = 0; d < eng->ndevs; d++)
		n += eng->devs[d]->st.rx_packets + eng->devs[d]->st.tx_packets;
	return n;
}

/* The UML guest sometimes sits on a call for tens of milliseconds (seen as
 * ping outliers of exactly one ping interval: it recovered only with the next
 * event). Spurious calls are harmless, so after each call we look again a
 * little later and repeat the call, with backoff, while the guest's
 * used_event still says it is waiting for elements we already published. */
#define RECALL_FIRST_US 2000
#define RECALL_MAX_US 64000
/* A guest whose used_event has not moved for this long after a call is not
 * waiting for it: Linux's virtqueue_disable_cb writes used_event = 0 when it
 * turns callbacks off, which reads as "waiting" for the first 32768 used
 * entries. Re-calling it for ever woke an idle appliance ~15 times a second
 * per queue, so the watchdog gives up then, until the next call. */
#define RECALL_GIVEUP_US 1000000

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The guest's used_event (after the avail ring), as it is now. */
static uint16_t guest_used_event(const struct vq *v)
{
	return v->event_idx && v->avail ? __atomic_load_n(&v->avail->ring[v->num], __ATOMIC_RELAXED)
					: 0;
}

static void call_now(struct nf_dev *dev, unsigned q, long long now)
{
	if (vu_vring_call(&dev->vu, q) < 0)
		dev->st.call_errors++;
	dev->st.calls++;
	dev->call_last[q] = now;
	dev->call_due[q] = 0;
	dev->recall_us[q] = RECALL_FIRST_US;
	/* The control queue is polled by the guest (virtio_net spins on it
	 * for each command and registers no callback for it): no watchdog. */
	dev->recall_at[q] = q == VNET_Q_CTRL ? 0 : now + RECALL_FIRST_US;
	dev->recall_from[q] = now;
	dev->recall_event[q] = dev->vu.vrings[q].ready ? guest_used_event(&dev->vu.vrings[q].vq) : 0;
}

/* Interrupt moderation (coalesce=USECS): at most one receive call per
 * USECS. A call due sooner is deferred to that point, so a burst reaches the
 * guest in fewer, larger NAPI polls, while a lone frame after a quiet spell
 * is signalled at once. */
void dev_call_guest(struct nf_dev *dev, unsigned q)
{
	struct vu_vring *vr = &dev->vu.vrings[q];
	vq_flush(&vr->vq);
	if (!vq_should_call(&vr->vq))
		return;
	long long now = now_us();
	if (q == VNET_Q_TX && tx_call_defer_us &&
	    vq_event_gap(&vr->vq) < vr->vq.num / TX_CALL_PRESSURE_DIV) {
		/* Transmit completions of a guest with plenty of ring left:
		 * its next transmit reaps them anyway, so the call waits and
		 * is dropped if by then the guest no longer wants it. */
		if (!dev->call_due[q])
			dev->call_due[q] = now + tx_call_defer_us;
		return;
	}
	unsigned co = dev->cfg->coalesce_us;
	if (co && q == VNET_Q_RX && now - dev->call_last[q] < co) {
		if (!dev->call_due[q])
			dev->call_due[q] = dev->call_last[q] + co;
		return;
	}
	call_now(dev, q, now);
}

/* Runs the call watchdog of one device; returns the earliest pending
 * deadline (0: none). Lock held. */
static long long recall_check(struct nf_dev *dev, long long now)
{
	long long next = 0;
	if (dev->vu.broken) {
		/* No calls into a guest we stopped serving: a halting one
		 * may be tearing down the very queue the call is for. */
		for (unsigned q = 0; q < VNET_NQUEUES; q++)
			dev->call_due[q] = dev->recall_at[q] = 0;
		return 0;
	}
	for (unsigned q = 0; q < VNET_NQUEUES; q++) {
		struct vu_vring *vr = &dev->vu.vrings[q];
		if (dev->call_due[q] && now >= dev->call_due[q]) {
			if (q == VNET_Q_TX && vr->ready && !vq_call_outstanding(&vr->vq))
				dev->call_due[q] = 0; /* reaped meanwhile */
			else
				call_now(dev, q, now);
		}
		if (dev->call_due[q] && (!next || dev->call_due[q] < next))
			next = dev->call_due[q];
		if (!dev->recall_at[q])
			continue;
		if (!vr->ready) {
			dev->recall_at[q] = 0;
			continue;
		}
		if (now >= dev->recall_at[q]) {
			if (!vq_call_outstanding(&vr->vq)) {
				dev->recall_at[q] = 0;
				continue;
			}
			/* Keep going (at most every RECALL_MAX_US) for as long
			 * as the guest says it waits: a lost tx completion call
			 * otherwise stalls its transmit queue for good. A guest
			 * that moves its used_event is alive: its clock starts
			 * again; one that leaves it for RECALL_GIVEUP_US does
			 * not want the call (see there). */
			uint16_t ev = guest_used_event(&vr->vq);
			if (ev != dev->recall_event[q]) {
				dev->recall_event[q] = ev;
				dev->recall_from[q] = now;
			} else if (now - dev->recall_from[q] >= RECALL_GIVEUP_US) {
				nf_dbg("%s: queue %u: used_event %u unchanged for %d ms of calls; "
				       "call watchdog off until the next call", dev->vu.name, q, ev,
				       RECALL_GIVEUP_US / 1000);
				dev->recall_at[q] = 0;
				continue;
			}
			if (vu_vring_call(&dev->vu, q) < 0)
				dev->st.call_errors++;
			dev->st.recalls++;
			if (dev->recall_us[q] < RECALL_MAX_US)
				dev->recall_us[q] *= 2;
			dev->recall_at[q] = now + dev->recall_us[q];
		}
		if (!next || dev->recall_at[q] < next)
			next = dev->recall_at[q];
	}
	return next;
}

/* ---- datapath thread ---- */

static void note_kick(struct nf_dev *dev, unsigned q)
{
	dev->kicked[q] = true;
	dev->st.kicks++;
	if (q == VNET_Q_RX && dev->rx_starved) {
		dev->rx_starved = false;
		dev->rx_readable = true;
		dev_update_port_interest(dev);
	}
}

/* Picks up ring state changes made by the control thread. Lock held. */
static void refresh(struct nf_dev *dev)
{
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		dev->kicked[q] = true; /* look at every ring once */
	dev->rx_starved = false;
	dev->rx_readable = true;
	if (!dev->vu.vrings[VNET_Q_TX].ready)
		dev->tx_blocked = false;
	if (!dev->vu.vrings[VNET_Q_RX].ready) {
		/* Staged frames wait for buffers of a ring that is gone. */
		rx_reset(dev);
	}
	dev_update_port_interest(dev);
}

/* Serves one device; returns true if it has more work right now. Lock held. */
static bool serve(struct nf_dev *dev)
{
	struct vu_vring *vr = dev->vu.vrings;
	bool busy = false;

	if (dev->vu.broken || vu_dev_check_fault(&dev->vu)) {
		/* A halting guest's control commands are still answered (it
		 * spins on each one): that ring alone, on its kick. */
		if (dev->vu.ctrl_only && dev->kicked[VNET_Q_CTRL] && vr[VNET_Q_CTRL].ready)
			busy = ctrl_run(dev);
		dev_update_port_interest(dev);
		return busy;
	}
	if (dev->kicked[VNET_Q_CTRL] && vr[VNET_Q_CTRL].ready)
		busy |= ctrl_run(dev);
	if (dev->kicked[VNET_Q_TX] && vr[VNET_Q_TX].ready && !dev->tx_blocked)
		busy |= tx_run(dev);
	if (dev->rx_readable && vr[VNET_Q_RX].ready && !dev->rx_starved && !dev->detached)
		busy |= rx_run(dev);
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		if (vr[q].ready && vr[q].vq.broken) {
			/* Ring garbage read from a mapping memguard has just
			 * replaced with zeros is the shrunk file's doing, not a
			 * bad index the guest wrote: give that reason. */
			if (!vu_dev_check_fault(&dev->vu))
				vu_dev_set_broken(&dev->vu, vr[q].vq.broken);
			dev_update_port_interest(dev);
			return false;
		}
	return busy;
}

static void pin_self(const cpu_set_t *set)
{
	if (CPU_COUNT(set) == 0)
		return;
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(*set), set);
	if (rc)
		nf_warn("cannot pin thread to its %d CPU(s): %s", CPU_COUNT(set), strerror(rc));
}

/* The engine writes to fds a frontend hands it (pipes as call fds among
 * them): EPIPE must be an error return, never a signal that kills the
 * process, whatever the embedding program does with SIGPIPE. */
static void block_sigpipe(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *datapath_main(void *arg)
{
	struct nf_engine *eng = arg;
	struct epoll_event evs[64];
	bool busy = false;

	block_sigpipe();

	long long deadline = 0, window_start = 0;
	uint64_t window_from = 0, prev_window = 0; /* frames_moved() marks */

	pin_self(&eng->dp_cpus);
	if (eng->sched_batch) {
		/* Woken by a kick or a socket, this thread does not preempt
		 * the guest it shares a CPU with: it runs when the guest
		 * blocks (its NAPI pass done) and finds a whole batch. */
		struct sched_param sp = { 0 };
		if (pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp))
			nf_warn("datapath: cannot switch to SCHED_BATCH");
	}
	while (!atomic_load(&eng->stop)) {
		struct timespec ts = { 0, 0 }, *timeout = &ts;
		if (eng->poll_us && !busy &&
		    (prev_window >= POLL_MIN_FRAMES ||
		     frames_moved(eng) - window_from >= POLL_MIN_FRAMES)) {
			/* Timed polling while traffic flows: sleep without
			 * listening, so the frames and kicks of the next
			 * poll_us are handled in one batch and one wakeup.
			 * Back to sleeping on events after a quiet window. */
			struct timespec nap = { 0, (long)eng->poll_us * 1000 };
			nanosleep(&nap, NULL);
		} else if (!busy && deadline) {
			long long left = deadline - now_us();
			if (left > 0)
				ts = (struct timespec){ left / 1000000, (left % 1000000) * 1000 };
		} else if (!busy) {
			timeout = NULL;
		}
		int n = epoll_pwait2(eng->dp_epfd, evs, 64, timeout, NULL);
		if (n < 0 && errno != EINTR) {
			nf_err("datapath: epoll_wait: %s", strerror(errno));
			break;
		}
		if (n > 0)
			eng->wakeups++;
		for (int i = 0; i < n; i++) {
			struct ep_src *src = evs[i].data.ptr;
			struct nf_dev *dev = src->dev;
			switch (src->kind) {
			case SRC_WAKE: {
				uint64_t v;
				(void)!read(eng->wake_fd, &v, sizeof(v));
				for (unsigned d = 0; d < eng->ndevs; d++) {
					struct nf_dev *dv = eng->devs[d];
					if (!atomic_exchange(&dv->changed, false))
						continue;
					pthread_mutex_lock(&dv->vu.lock);
					refresh(dv);
					pthread_mutex_unlock(&dv->vu.lock);
				}
				break;
			}
			case SRC_KICK:
				pthread_mutex_lock(&dev->vu.lock);
				note_kick(dev, src->q);
				pthread_mutex_unlock(&dev->vu.lock);
				break;
			case SRC_PORT_RX:
			case SRC_PORT_TX:
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					dev->rx_readable = true;
				if (evs[i].events & EPOLLOUT) {
					pthread_mutex_lock(&dev->vu.lock);
					dev->tx_blocked = false;
					dev->kicked[VNET_Q_TX] = true;
					dev_update_port_interest(dev);
					pthread_mutex_unlock(&dev->vu.lock);
				}
				break;
			default:
				break;
			}
		}
		busy = false;
		deadline = 0;
		long long now = now_us();
		if (eng->poll_us && now - window_start >= POLL_WINDOW_US) {
			uint64_t moved = frames_moved(eng);
			/* A window that ended long ago counts as quiet. */
			prev_window = now - window_start < 2 * POLL_WINDOW_US ? moved - window_from : 0;
			window_start = now;
			window_from = moved;
		}
		for (unsigned d = 0; d < eng->ndevs; d++) {
			struct nf_dev *dev = eng->devs[d];
			pthread_mutex_lock(&dev->vu.lock);
			busy |= serve(dev);
			long long next = recall_check(dev, now);
			long long ra = port_reattach(dev, now);
			if (ra && (!next || ra < next))
				next = ra;
			pthread_mutex_unlock(&dev->vu.lock);
			if (next && (!deadline || next < deadline))
				deadline = next;
		}
	}
	return NULL;
}

/* ---- control thread ---- */

static void *control_main(void *arg)
{
	struct nf_engine *eng = arg;
	struct epoll_event evs[16];

	block_sigpipe();
	pin_self(&eng->ctl_cpus);
	while (!atomic_load(&eng->stop)) {
		int n = epoll_wait(eng->ctl_epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR) {
			nf_err("control: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct ep_src *src = evs[i].data.ptr;
			struct nf_dev *dev = src->dev;
			if (src->kind == SRC_LISTEN) {
				if (vu_dev_accept(&dev->vu) == 0 && dev->vu.conn_fd >= 0) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.ptr = &dev->src_conn };
					epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, dev->vu.conn_fd, &ev);
				}
			} else if (src->kind == SRC_CONN) {
				int fd = dev->vu.conn_fd;
				if (fd >= 0 && vu_dev_handle(&dev->vu) < 0)
					epoll_ctl(eng->ctl_epfd, EPOLL_CTL_DEL, fd, NULL);
			}
		}
	}
	return NULL;
}

/* ---- lifecycle ---- */

int nf_engine_create(struct nf_engine **out)
{
	struct nf_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	const char *e = getenv("UMLNF_TX_CALL_DEFER_US"); /* A/B switch for bench runs */
	if (e && *e)
		tx_call_defer_us = (unsigned)strtoul(e, NULL, 10);
	eng->dp_epfd = eng->ctl_epfd = eng->wake_fd = eng->ctl_wake_fd = -1;
	eng->dp_epfd = epoll_create1(EPOLL_CLOEXEC);
	eng->ctl_epfd = epoll_create1(EPOLL_CLOEXEC);
	eng->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eng->ctl_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eng->src_wake.kind = SRC_WAKE;
	eng->src_ctl_wake.kind = SRC_WAKE;
	if (eng->dp_epfd < 0 || eng->ctl_epfd < 0 || eng->wake_fd < 0 || eng->ctl_wake_fd < 0)
		goto err;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &eng->src_wake };
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &eng->src_ctl_wake };
	if (epoll_ctl(eng->dp_epfd, EPOLL_CTL_ADD, eng->wake_fd, &ev) < 0 ||
	    epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, eng->ctl_wake_fd, &cev) < 0)
		goto err;
	*out = eng;
	return 0;
err:;
	int rc = -errno;
	nf_engine_destroy(eng);
	return rc;
}

/* Offered virtio features follow the options and what the port can carry. */
uint64_t dev_offered_features(const struct nf_devcfg *cfg, const struct nf_port *port)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
		     (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_NET_F_MAC) |
		     (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MTU) |
		     (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX);
	/* Mergeable buffers only on request: a 64 KB GSO frame then arrives
	 * in dozens of small buffers, which the guest cannot transmit again
	 * as one TSO frame (more than MAX_SKB_FRAGS) and segments in software
	 * when it forwards: measured ~27k TCP retransmits per 5 s against ~45
	 * with one big buffer chain per frame. */
	if (cfg->mrg)
		f |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (port->caps & (NF_CAP_VNET_HDR | NF_CAP_SOFT_OFFLOAD))
		f |= (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
	/* Soft offload: the guest's TSO frames are segmented here whatever
	 * gro= says (the host side only ever sees MTU-sized frames); large
	 * frames towards the guest, made by our GRO, need gro=1. */
	if (port->caps & NF_CAP_SOFT_OFFLOAD)
		f |= (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
		     (1ull << VIRTIO_NET_F_HOST_ECN);
	if (cfg->gro && (port->caps & NF_CAP_SOFT_OFFLOAD))
		f |= (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
		     (1ull << VIRTIO_NET_F_GUEST_ECN);
	if (cfg->gro && (port->caps & NF_CAP_GSO))
		f |= (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
		     (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
		     (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN);
	return f;
}

static void dev_free(struct nf_dev *dev)
{
	free(dev->chains);
	free(dev->rx_chains);
	free(dev->order);
	free(dev->pkts);
	free(dev->pkt_chain);
	free(dev->pkt_seg);
	free(dev->tx_seghdrs);
	free(dev->tx_hdrs);
	free(dev->iovs);
	free(dev->rx_iovs);
	free(dev->rx_pkts);
	free(dev->spill);
	free(dev->linear);
	free(dev->segbuf);
	free(dev);
}

/* Creates device cfg->index served by port; a spare (spare: true) has
 * neither: it gets the null port, a default profile, buffers for up to
 * NF_SPARE_DEPTH_MAX and a link that reads down until a transport is
 * attached. */
static int dev_create(struct nf_engine *eng, const struct nf_devcfg *cfg, struct nf_port *port,
		      bool spare, const char *sock_path, const uint8_t mac[6], char *err,
		      size_t errlen)
{
	struct nf_dev *dev = NULL;
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "vec%u", cfg->index);
	if (eng->ndevs >= MAX_DEVS || eng->running) {
		rc = -EBUSY;
		snprintf(err, errlen, "%s: too many devices", name);
		goto err_close_port;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		goto err_nomem;
	if (spare) {
		/* What the guest negotiates against: raw's capabilities with
		 * gro=1 (attach refuses a transport or options that would
		 * offer other features). */
		dev->idle_cfg = *cfg;
		dev->idle_cfg.transport = &nf_transport_none;
		dev->idle_cfg.depth = NF_DEFAULT_DEPTH;
		dev->idle_cfg.gro = true;
		dev->idle_cfg.mtu = NF_DEFAULT_MTU;
		dev->idle_cfg.vec = true;
		dev->null_port = (struct nf_port){ .transport = &nf_transport_none,
						   .cfg = &dev->idle_cfg, .rx_fd = -1, .tx_fd = -1,
						   .caps = NF_CAP_VNET_HDR | NF_CAP_GSO };
		cfg = &dev->idle_cfg;
		port = &dev->null_port;
		dev->detached = true;
		dev->port_down = true;
	}
	dev->index = cfg->index;
	dev->depth = cfg->depth;
	dev->depth_max = spare ? NF_SPARE_DEPTH_MAX : cfg->depth;
	unsigned dm = dev->depth_max;
	/* A port without virtio-net headers segments in software: room for
	 * the extra segments of a batch (a spare may get such a port). */
	dev->tx_slots = dm + (spare || (port->caps & NF_CAP_SOFT_OFFLOAD) ? NF_SOFT_TX_EXTRA : 0);
	dev->chains = calloc(dm, sizeof(*dev->chains));
	dev->rx_chains = calloc(dm, sizeof(*dev->rx_chains));
	dev->order = calloc(dm, sizeof(*dev->order));
	dev->pkts = calloc(dev->tx_slots, sizeof(*dev->pkts));
	dev->pkt_seg = calloc(dev->tx_slots, sizeof(*dev->pkt_seg));
	dev->tx_seghdrs = malloc((size_t)dev->tx_slots * TX_HDR_PEEK);
	dev->rx_pkts = calloc(dm, sizeof(*dev->rx_pkts));
	dev->pkt_chain = calloc(dev->tx_slots, sizeof(*dev->pkt_chain));
	dev->tx_hdrs = calloc(dev->tx_slots, sizeof(*dev->tx_hdrs));
	dev->iovs = calloc((size_t)dev->tx_slots * PKT_IOV_MAX, sizeof(*dev->iovs));
	dev->rx_iovs = calloc((size_t)dm * PKT_IOV_MAX, sizeof(*dev->rx_iovs));
	dev->spill = malloc((size_t)dm * SPILL_BYTES);
	dev->linear = malloc(LINEAR_BYTES);
	dev->segbuf = malloc(SEGBUF_BYTES);
	for (unsigned i = 0; dev->order && i < dm; i++)
		dev->order[i] = i;
	if (!dev->chains || !dev->rx_chains || !dev->order || !dev->pkts || !dev->rx_pkts ||
	    !dev->rx_iovs || !dev->pkt_chain || !dev->tx_hdrs || !dev->iovs || !dev->spill ||
	    !dev->linear || !dev->segbuf || !dev->pkt_seg || !dev->tx_seghdrs)
		goto err_nomem;
	dev->eng = eng;
	dev->cfg = cfg;
	dev->port = port;
	for (unsigned q = 0; q < VNET_NQUEUES; q++)
		dev->src_kick[q] = (struct ep_src){ SRC_KICK, dev, q };
	dev->src_rx = (struct ep_src){ SRC_PORT_RX, dev, 0 };
	dev->src_tx = (struct ep_src){ SRC_PORT_TX, dev, 0 };
	dev->src_listen = (struct ep_src){ SRC_LISTEN, dev, 0 };
	dev->src_conn = (struct ep_src){ SRC_CONN, dev, 0 };

	struct virtio_net_config config = {
		.status = spare ? 0 : VIRTIO_NET_S_LINK_UP,
		.max_virtqueue_pairs = 1,
		.mtu = (uint16_t)(port->mtu ? port->mtu : cfg->mtu),
	};
	memcpy(config.mac, mac, 6);
	rc = vu_dev_init(&dev->vu, name, sock_path, &hooks, dev_offered_features(cfg, port), &config);
	if (rc < 0) {
		snprintf(err, errlen, "%s: vhost-user socket %s: %s", name, sock_path, strerror(-rc));
		goto err_free;
	}
	rc = spare ? 0 : dev_port_watch(dev, port);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &dev->src_listen };
	if (rc == 0 && epoll_ctl(eng->ctl_epfd, EPOLL_CTL_ADD, dev->vu.listen_fd, &ev) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: epoll: %s", name, strerror(-rc));
		if (!spare)
			dev_port_unwatch(dev, port);
		vu_dev_deinit(&dev->vu);
		goto err_free;
	}
	eng->devs[eng->ndevs++] = dev;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: out of memory", name);
err_free:
	if (dev)
		dev_free(dev);
err_close_port:
	if (!spare)
		port->transport->close(port);
	return rc;
}

int dev_port_watch(struct nf_dev *dev, struct nf_port *port)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &dev->src_rx };
	if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_ADD, port->rx_fd, &ev) < 0)
		return -errno;
	if (port->tx_fd != port->rx_fd) {
		ev.data.ptr = &dev->src_tx;
		if (epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_ADD, port->tx_fd, &ev) < 0) {
			int rc = -errno;
			epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_DEL, port->rx_fd, NULL);
			return rc;
		}
	}
	return 0;
}

void dev_port_unwatch(struct nf_dev *dev, struct nf_port *port)
{
	epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_DEL, port->rx_fd, NULL);
	if (port->tx_fd != port->rx_fd)
		epoll_ctl(dev->eng->dp_epfd, EPOLL_CTL_DEL, port->tx_fd, NULL);
}

int nf_engine_add(struct nf_engine *eng, const struct nf_devcfg *cfg, struct nf_port *port,
		  const char *sock_path, const uint8_t mac[6], char *err, size_t errlen)
{
	return dev_create(eng, cfg, port, false, sock_path, mac, err, errlen);
}

int nf_engine_add_spare(struct nf_engine *eng, unsigned index, const char *sock_path,
			const uint8_t mac[6], char *err, size_t errlen)
{
	struct nf_devcfg cfg = { .index = index };
	return dev_create(eng, &cfg, NULL, true, sock_path, mac, err, errlen);
}

int nf_engine_start(struct nf_engine *eng, int control_cpu, int datapath_cpu)
{
	int rc;
	if (control_cpu >= 0 && control_cpu < CPU_SETSIZE && CPU_COUNT(&eng->ctl_cpus) == 0)
		CPU_SET(control_cpu, &eng->ctl_cpus);
	if (datapath_cpu >= 0 && datapath_cpu < CPU_SETSIZE && CPU_COUNT(&eng->dp_cpus) == 0)
		CPU_SET(datapath_cpu, &eng->dp_cpus);
	rc = pthread_create(&eng->ctl_thread, NULL, control_main, eng);
	if (rc)
		return -rc;
	rc = pthread_create(&eng->dp_thread, NULL, datapath_main, eng);
	if (rc) {
		stop_threads(eng);
		pthread_join(eng->ctl_thread, NULL);
		return -rc;
	}
	pthread_setname_np(eng->ctl_thread, "nf-control");
	pthread_setname_np(eng->dp_thread, "nf-datapath");
	eng->running = true;
	return 0;
}

void nf_engine_stop(struct nf_engine *eng)
{
	if (!eng->running)
		return;
	stop_threads(eng);
	pthread_join(eng->dp_thread, NULL);
	pthread_join(eng->ctl_thread, NULL);
	eng->running = false;
}

void nf_engine_set_cpus(struct nf_engine *eng, const cpu_set_t *control,
			const cpu_set_t *datapath)
{
	CPU_ZERO(&eng->ctl_cpus);
	CPU_ZERO(&eng->dp_cpus);
	if (control)
		eng->ctl_cpus = *control;
	if (datapath)
		eng->dp_cpus = *datapath;
}

void nf_engine_set_poll(struct nf_engine *eng, unsigned poll_us)
{
	eng->poll_us = poll_us > NF_POLL_MAX_US ? NF_POLL_MAX_US : poll_us;
	if (eng->poll_us)
		nf_info("datapath: timed polling every %u us while traffic flows", eng->poll_us);
}

void nf_engine_set_sched_batch(struct nf_engine *eng, bool on)
{
	eng->sched_batch = on;
	if (on)
		nf_info("datapath: SCHED_BATCH (it shares its CPU with the guest)");
}

void nf_engine_guest_halting(struct nf_engine *eng)
{
	/* The datapath serves a device with its lock held and checks the
	 * rings' state under it: once we hold the lock, no batch is running
	 * on that device, and after vu_dev_set_broken none will start. */
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		pthread_mutex_lock(&dev->vu.lock);
		atomic_store(&dev->vu.halting, true);
		dev->vu.ctrl_only = true;
		vu_dev_set_broken(&dev->vu, "halt requested: only its control commands are answered");
		pthread_mutex_unlock(&dev->vu.lock);
	}
}

void nf_engine_print_stats(struct nf_engine *eng, FILE *out)
{
	fprintf(out, "uml-nf: stats engine wakeups=%llu\n", (unsigned long long)eng->wakeups);
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		const struct nf_stats *s = &dev->st;
		/* The control socket thread may swap the port (hot-plug). */
		pthread_mutex_lock(&dev->vu.lock);
		bool soft = dev->port->caps & NF_CAP_SOFT_OFFLOAD;
		bool peer = dev->port->caps & NF_CAP_PEER_HDR;
		char segd[24], badh[40] = "", extra[512] = "";
		snprintf(segd, sizeof(segd), "%llu", (unsigned long long)s->tx_segmented);
		if (peer)
			snprintf(badh, sizeof(badh), " rx_bad_hdr=%llu",
				 (unsigned long long)s->rx_bad_hdr);
		if (dev->port->transport->format_stats)
			dev->port->transport->format_stats(dev->port, extra, sizeof(extra));
		fprintf(out,
			"uml-nf: stats dev=%s rx_packets=%llu rx_bytes=%llu rx_dropped=%llu "
			"tx_packets=%llu tx_bytes=%llu tx_dropped=%llu host_tx_errors=%llu "
			"ctrl_cmds=%llu kicks=%llu calls=%llu recalls=%llu call_errors=%llu rx_waits=%llu rx_segmented=%llu rx_split=%llu rx_coalesced=%llu "
			"rx_oversize=%llu tx_bad_hdr=%llu tx_bad_frame=%llu tx_host_down=%llu port_downs=%llu "
			"host_rx_drops=%lld%s%s%s%s "
			"features=0x%llx%s%s\n",
			dev->vu.name, (unsigned long long)s->rx_packets,
			(unsigned long long)s->rx_bytes, (unsigned long long)s->rx_dropped,
			(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
			(unsigned long long)s->tx_dropped,
			(unsigned long long)dev->port->tx_drops, (unsigned long long)s->ctrl_cmds,
			(unsigned long long)s->kicks, (unsigned long long)s->calls, (unsigned long long)s->recalls,
			(unsigned long long)s->call_errors,
			(unsigned long long)s->rx_waits, (unsigned long long)s->rx_segmented,
			(unsigned long long)s->rx_split, (unsigned long long)s->rx_coalesced, (unsigned long long)s->rx_oversize,
			(unsigned long long)s->tx_bad_hdr, (unsigned long long)s->tx_bad_frame,
			(unsigned long long)s->tx_host_down, (unsigned long long)s->port_downs,
			dev->port->transport->rx_host_drops
				? (long long)dev->port->transport->rx_host_drops(dev->port)
				: -1LL,
			soft ? " tx_segmented=" : "", soft ? segd : "", badh, extra,
			(unsigned long long)dev->vu.acked,
			dev->vu.broken ? " broken=" : "", dev->vu.broken ? dev->vu.broken : "");
		pthread_mutex_unlock(&dev->vu.lock);
	}
}

void nf_engine_dump(struct nf_engine *eng, FILE *out)
{
	static const char *const qname[VNET_NQUEUES] = { "rx", "tx", "ctrl" };
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		fprintf(out, "uml-nf: dump dev=%s starved=%d readable=%d tx_blocked=%d held=%u..%u "
			"stash=%u gro_staged=%d", dev->vu.name, dev->rx_starved, dev->rx_readable,
			dev->tx_blocked, dev->held_from, dev->held_to, dev->nstash, dev->gro_staged);
		for (unsigned q = 0; q < VNET_NQUEUES; q++) {
			struct vu_vring *vr = &dev->vu.vrings[q];
			struct vq *v = &vr->vq;
			if (!vr->ready)
				continue;
			uint16_t avail_event;
			memcpy(&avail_event, &v->used->ring[v->num], sizeof(avail_event));
			fprintf(out, " %s:avail=%u/%u used=%u/%u used_event=%u avail_event=%u kicked=%d "
				"recall_at=%lld%s%s", qname[q], v->last_avail, v->avail->idx, v->used_idx,
				v->used->idx, v->avail->ring[v->num],
				avail_event, dev->kicked[q], dev->recall_at[q],
				v->broken ? " broken=" : "", v->broken ? v->broken : "");
		}
		fputc('\n', out);
	}
}

void nf_engine_destroy(struct nf_engine *eng)
{
	if (!eng)
		return;
	nf_engine_stop(eng);
	for (unsigned d = 0; d < eng->ndevs; d++) {
		struct nf_dev *dev = eng->devs[d];
		vu_dev_deinit(&dev->vu);
		if (!dev->detached)
			dev->port->transport->close(dev->port);
		if (dev->cfg_owned) {
			nf_devcfg_release(dev->cfg_owned);
			free(dev->cfg_owned);
		}
		dev_free(dev);
	}
	if (eng->dp_epfd >= 0)
		close(eng->dp_epfd);
	if (eng->ctl_epfd >= 0)
		close(eng->ctl_epfd);
	if (eng->wake_fd >= 0)
		close(eng->wake_fd);
	if (eng->ctl_wake_fd >= 0)
		close(eng->ctl_wake_fd);
	free(eng);
}
