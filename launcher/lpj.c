#include "lpj.h"

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)

/* The loop UML's __delay runs (arch/x86/um/delay.c): one dec and one taken
 * branch per loop, aligned the same way. */
static void spin(unsigned long loops)
{
	__asm__ volatile("test %0,%0\n\t"
			 "jz 3f\n\t"
			 "jmp 1f\n\t"
			 ".align 16\n"
			 "1:\tjmp 2f\n\t"
			 ".align 16\n"
			 "2:\tdec %0\n\t"
			 "jnz 2b\n"
			 "3:\n"
			 : "+r"(loops)
			 :
			 : "cc");
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

unsigned long lpj_measure(unsigned hz)
{
	if (hz == 0)
		return 0;
	/* Grow the run until it takes 2 ms, then keep the best of five. */
	unsigned long loops = 1ul << 16;
	int64_t took = 0;
	while (loops < (1ul << 40)) {
		int64_t t0 = now_ns();
		spin(loops);
		took = now_ns() - t0;
		if (took >= 2000000)
			break;
		loops *= 2;
	}
	double best = took > 0 ? (double)loops / (double)took : 0;
	for (int i = 0; i < 5; i++) {
		int64_t t0 = now_ns();
		spin(loops);
		took = now_ns() - t0;
		if (took > 0 && (double)loops / (double)took > best)
			best = (double)loops / (double)took;
	}
	/* loops per ns -> loops per jiffy */
	return (unsigned long)(best * 1e9 / hz);
}

#else

unsigned long lpj_measure(unsigned hz)
{
	(void)hz;
	return 0;
}

#endif
