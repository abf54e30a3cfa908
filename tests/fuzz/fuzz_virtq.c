/* libFuzzer target: descriptor chains. The input is the guest's memory (a
 * ring of 8 entries and buffers); popping, pushing and notifying must stay
 * inside it whatever it contains. */
#include <stdint.h>
#include <string.h>

#include "guestmem.h"
#include "virtq.h"

#define GPA 0x100000u
#define MEM 8192u
#define NUM 8u

static uint8_t mem[MEM] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guestmem gm;
	struct vq q;
	static struct vq_chain c;

	memset(mem, 0, sizeof(mem));
	memcpy(mem, data, size < MEM ? size : MEM);
	gm_init(&gm);
	gm_add(&gm, GPA, MEM, GPA, mem);
	vq_setup(&q, &gm, NUM, (struct vring_desc *)mem, (struct vring_avail *)(mem + 16 * NUM),
		 (struct vring_used *)(mem + 4096), size > 0 && (data[0] & 1), 0);
	for (int i = 0; i < 2 * (int)NUM; i++) {
		int r = vq_pop(&q, &c);
		if (r <= 0)
			break;
		/* Touch every byte the chain claims, as the datapath would. */
		for (unsigned k = 0; k < (unsigned)(c.nout + c.nin); k++)
			memset(c.iov[k].iov_base, 0xa5, c.iov[k].iov_len);
		vq_push(&q, c.head, c.in_len);
	}
	vq_flush(&q);
	vq_should_call(&q);
	vq_kick_enable(&q);
	return 0;
}
