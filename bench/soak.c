// SPDX-License-Identifier: GPL-2.0
/*
 * soak - measure how much of one CPU was left over, by soaking it up.
 *
 * Why: on these VMs the cpuidle residency of a CPU also covers the interrupt
 * and softirq work it does when woken from idle (the halt is entered with
 * interrupts enabled, so the handler and the softirqs after it run before
 * the idle state is left), and /proc/stat misses most softirq time. A router
 * whose forwarding runs in softirq after an RPS IPI (the host kernel router)
 * then looks almost idle while it forwards 800 kpps.
 *
 * Optional in bench.sh (BENCH_SOAK=1): the default reads /proc/stat idle.
 *
 * How: a spinner pinned to the CPU at SCHED_IDLE policy, so every other task
 * and every interrupt preempts it; it only runs on time nothing else wants.
 * Its rate of progress against the rate on the same CPU when idle (measured
 * once, with -t 1 on the idle CPU) is the idle fraction; busy = 1 - that. The CPU no
 * longer halts while it runs, which is the price of the method (netperf's
 * CPU "looper" works the same way).
 *
 * usage: soak -c CPU [-t SECONDS]
 *   Spins until SIGINT/SIGTERM (or SECONDS), then prints
 *   "loops=N seconds=S rate=R" (loops per second) on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: soak -c CPU [-t SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int cpu = -1, opt;
	double limit = 0;

	while ((opt = getopt(argc, argv, "c:t:")) != -1) {
		char *end;
		switch (opt) {
		case 'c':
			errno = 0;
			cpu = (int)strtol(optarg, &end, 10);
			if (errno || *end || cpu < 0 || cpu >= CPU_SETSIZE) {
				fprintf(stderr, "soak: -c: bad CPU \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 't':
			limit = strtod(optarg, &end);
			if (*end || limit <= 0) {
				fprintf(stderr, "soak: -t: bad duration \"%s\"\n", optarg);
				return 2;
			}
			break;
		default:
			usage();
		}
	}
	if (cpu < 0 || optind != argc)
		usage();

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "soak: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		return 1;
	}
	struct sched_param sp = { 0 };
	if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0) {
		fprintf(stderr, "soak: cannot switch to SCHED_IDLE: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Chunks of fixed work between clock and flag checks: the loop body
	 * must cost the same whatever the machine does, so only preemption
	 * changes the count. */
	volatile uint64_t sink = 0;
	uint64_t loops = 0;
	double start = now_s(), t = start;
	while (!stop && (limit <= 0 || t - start < limit)) {
		for (unsigned i = 0; i < 4096; i++)
			sink = sink + i;
		loops++;
		if ((loops & 63) == 0)
			t = now_s();
	}
	t = now_s();
	printf("loops=%llu seconds=%.6f rate=%.1f\n", (unsigned long long)loops, t - start,
	       (double)loops / (t - start));
	return 0;
}
