#include "memguard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* 64 devices of 8 regions each. */
#define MG_SLOTS 512

struct mg_slot {
	_Atomic uintptr_t start; /* 0: free */
	_Atomic size_t len;
	_Atomic(atomic_bool *) flag;
};

static struct mg_slot slots[MG_SLOTS];
static atomic_ulong nfaults;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_rc;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	(void)uc;
	for (unsigned i = 0; i < MG_SLOTS; i++) {
		uintptr_t s = atomic_load(&slots[i].start);
		size_t len = atomic_load(&slots[i].len);
		if (!s || a < s || a - s >= len)
			continue;
		/* Same addresses, fresh anonymous pages: the access that
		 * faulted is retried on return and succeeds. Later unmapping
		 * of [s, s + len) works on this mapping just the same. */
		if (mmap((void *)s, len, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
			break;
		atomic_bool *flag = atomic_load(&slots[i].flag);
		if (flag)
			atomic_store(flag, true);
		atomic_fetch_add(&nfaults, 1);
		return;
	}
	/* Not guest memory: a bug of ours. Crash as if unguarded. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_once(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	install_rc = sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

int mg_install(void)
{
	pthread_once(&once, install_once);
	return install_rc;
}

int mg_add(void *addr, size_t len, atomic_bool *flag)
{
	for (unsigned i = 0; i < MG_SLOTS; i++) {
		uintptr_t expect = 0;
		/* Claim with a placeholder so a racing mg_add skips it, then
		 * fill in the length and flag, then publish the start. */
		if (!atomic_compare_exchange_strong(&slots[i].start, &expect, (uintptr_t)1))
			continue;
		atomic_store(&slots[i].len, len);
		atomic_store(&slots[i].flag, flag);
		atomic_store(&slots[i].start, (uintptr_t)addr);
		return 0;
	}
	return -ENOSPC;
}

void mg_remove(void *addr)
{
	for (unsigned i = 0; i < MG_SLOTS; i++) {
		if (atomic_load(&slots[i].start) != (uintptr_t)addr)
			continue;
		atomic_store(&slots[i].flag, NULL);
		atomic_store(&slots[i].len, 0);
		atomic_store(&slots[i].start, 0);
		return;
	}
}

unsigned long mg_faults(void)
{
	return atomic_load(&nfaults);
}
