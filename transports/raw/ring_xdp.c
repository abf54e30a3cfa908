/* ring=xdp / ring=xdpskb: AF_XDP receive for the raw transport. See
 * ring_xdp.h. */
#include "ring_xdp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef NF_HAVE_XDP

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "iov.h"
#include "xdp_frame.h"

/* The program, built by the Makefile and embedded (build/bpf/xdp_prog.c). */
extern const unsigned char nf_xdp_prog[];
extern const unsigned int nf_xdp_prog_len;

#define NF_XDP_FRAMES 4096u /* 8 MiB of UMEM */
#define NF_XDP_RING 2048u
#define VNET 10u

struct rx_xdp {
	unsigned ifindex;
	int link;             /* the program's XDP link: closing it detaches */
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
	struct bpf_object *obj;
};

static int fill_frames(struct rx_xdp *x, const uint64_t *addrs, unsigned n)
{
	uint32_t idx;
	if (xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
	xsk_ring_prod__submit(&x->fill, n);
	return 0;
}

int rx_xdp_open(const char *ifname, unsigned ifindex, const char *dev, bool skb_mode,
		struct rx_xdp **out, char *err, size_t errlen)
{
	const char *what = "out of memory";
	int rc = -ENOMEM;
	struct rx_xdp *x = calloc(1, sizeof(*x));
	if (!x)
		goto fail;
	/* libbpf would print its own diagnostics to stderr; the one-line
	 * error below says what failed. */
	libbpf_set_print(NULL);
	x->ifindex = ifindex;
	x->link = -1;
	size_t len = (size_t)NF_XDP_FRAMES * NF_XDP_FRAME_SIZE;
	x->area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		goto fail;
	}
	struct xsk_umem_config ucfg = {
		.fill_size = NF_XDP_FRAMES,
		.comp_size = 64, /* transmit goes through the packet socket */
		.frame_size = NF_XDP_FRAME_SIZE,
		.frame_headroom = 0,
	};
	what = "UMEM";
	rc = xsk_umem__create(&x->umem, x->area, len, &x->fill, &x->comp, &ucfg);
	if (rc)
		goto fail;
	struct xsk_socket_config scfg = {
		.rx_size = NF_XDP_RING,
		.tx_size = 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	what = "AF_XDP socket";
	rc = xsk_socket__create(&x->xsk, ifname, 0, x->umem, &x->rx, NULL, &scfg);
	if (rc)
		goto fail;
	/* Every frame goes on the fill ring: the kernel takes them as frames
	 * arrive, rx_xdp_rx hands each back once copied. */
	uint64_t addrs[256];
	for (unsigned f = 0; f < NF_XDP_FRAMES; f += 256) {
		for (unsigned i = 0; i < 256; i++)
			addrs[i] = (uint64_t)(f + i) * NF_XDP_FRAME_SIZE;
		if (fill_frames(x, addrs, 256) < 0) {
			rc = -ENOSPC;
			what = "fill ring";
			goto fail;
		}
	}
	what = "XDP program";
	x->obj = bpf_object__open_mem(nf_xdp_prog, nf_xdp_prog_len, NULL);
	if (!x->obj) {
		rc = -errno;
		goto fail;
	}
	rc = bpf_object__load(x->obj);
	if (rc)
		goto fail;
	struct bpf_program *prog = bpf_object__find_program_by_name(x->obj, "nf_xdp_redirect");
	struct bpf_map *map = bpf_object__find_map_by_name(x->obj, "xsks_map");
	if (!prog || !map) {
		rc = -ENOENT;
		goto fail;
	}
	what = "xsks_map";
	rc = xsk_socket__update_xskmap(x->xsk, bpf_map__fd(map));
	if (rc)
		goto fail;
	/* Attached through a BPF link, not as the interface's program: the
	 * link lives as long as its fd, so the kernel detaches the program
	 * when uml-nf exits, however it exits (uml-nf no longer has the
	 * capability to detach it by then), and an interface never keeps a
	 * program pointing at a dead socket. */
	what = skb_mode ? "attach (generic mode)" : "attach (native mode)";
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = skb_mode ? XDP_FLAGS_SKB_MODE
								 : XDP_FLAGS_DRV_MODE);
	x->link = bpf_link_create(bpf_program__fd(prog), (int)ifindex, BPF_XDP, &lopts);
	if (x->link < 0) {
		rc = x->link;
		goto fail;
	}
	*out = x;
	return 0;

fail:
	if (rc > 0)
		rc = -rc;
	snprintf(err, errlen, "%s: ring: AF_XDP refused on %s (%s: %s)%s", dev, ifname, what,
		 strerror(-rc), rc == -EBUSY || rc == -EEXIST ?
		 "; another XDP program is attached there" : "");
	rx_xdp_close(x);
	return rc;
}

void rx_xdp_close(struct rx_xdp *x)
{
	if (!x)
		return;
	if (x->link >= 0)
		close(x->link);
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->obj)
		bpf_object__close(x->obj);
	if (x->area)
		munmap(x->area, (size_t)NF_XDP_FRAMES * NF_XDP_FRAME_SIZE);
	free(x);
}

int rx_xdp_fd(const struct rx_xdp *x)
{
	return xsk_socket__fd(x->xsk);
}

int rx_xdp_rx(struct rx_xdp *x, struct nf_pkt *pkts, unsigned max)
{
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(&x->rx, max > 256 ? 256 : max, &idx);
	uint64_t back[256];
	static const uint8_t hdr[VNET];

	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		/* Aligned chunks: the address is the frame's data, its chunk
		 * the power-of-two frame it lies in. */
		uint64_t off = d->addr;
		uint32_t len = d->len;
		struct nf_pkt *p = &pkts[i];
		back[i] = off & ~(uint64_t)(NF_XDP_FRAME_SIZE - 1);
		/* The kernel wrote the descriptor; a frame outside the UMEM
		 * is still not read. */
		if (off >= (uint64_t)NF_XDP_FRAMES * NF_XDP_FRAME_SIZE ||
		    len > NF_XDP_FRAME_SIZE - (off % NF_XDP_FRAME_SIZE)) {
			p->len = 0;
			p->flags = NF_PKT_TRUNC;
			continue;
		}
		size_t room = 0;
		for (unsigned k = 0; k < p->iovcnt; k++)
			room += p->iov[k].iov_len;
		iov_write(p->iov, p->iovcnt, 0, hdr, VNET);
		iov_write(p->iov, p->iovcnt, VNET, (uint8_t *)x->area + off, len);
		p->len = VNET + len;
		p->flags = VNET + (size_t)len > room ? NF_PKT_TRUNC : 0;
	}
	if (n) {
		xsk_ring_cons__release(&x->rx, n);
		/* Cannot fail: the kernel took at least these n frames off the
		 * fill ring, which holds every frame of the UMEM. */
		(void)fill_frames(x, back, n);
	}
	return (int)n;
}

uint64_t rx_xdp_drops(struct rx_xdp *x)
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
		return st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
	return 0;
}

#else /* !NF_HAVE_XDP */

int rx_xdp_open(const char *ifname, unsigned ifindex, const char *dev, bool skb_mode,
		struct rx_xdp **out, char *err, size_t errlen)
{
	(void)ifindex;
	(void)skb_mode;
	(void)out;
	snprintf(err, errlen, "%s: ring: AF_XDP on %s: this uml-nf was built without libxdp "
		 "(install libxdp-dev, libbpf-dev and clang, then rebuild)", dev, ifname);
	return -EOPNOTSUPP;
}

void rx_xdp_close(struct rx_xdp *x)
{
	(void)x;
}

int rx_xdp_fd(const struct rx_xdp *x)
{
	(void)x;
	return -1;
}

int rx_xdp_rx(struct rx_xdp *x, struct nf_pkt *pkts, unsigned max)
{
	(void)x;
	(void)pkts;
	(void)max;
	return 0;
}

uint64_t rx_xdp_drops(struct rx_xdp *x)
{
	(void)x;
	return 0;
}

#endif
