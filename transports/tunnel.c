/* Datagram tunnels: see tunnel.h.
 *
 * One message per frame, both ways, its iovecs stitched:
 *
 *   receive   [outer IPv4 header (raw IPv4 only) + our header: rhdr slot i]
 *             [the frame: the engine's iovecs, guest buffers or staging]
 *   send      [our header: one prepared per batch, or per frame with
 *             sequence numbers][the frame: the engine's iovecs]
 *
 * Every received header is checked (encap_check) and the datagram's source
 * must be dst; a datagram that fails is handed back with NF_PKT_DROP and
 * counted by reason, so the engine neither delivers it nor spends a guest
 * buffer on it.
 *
 * L2TPv3 over UDP receives with UDP GRO instead (tun_rx_gro): a run of
 * datagrams the host kept as one (a UDP_SEGMENT send over lo, or its own
 * GRO) arrives as one buffer of ours, which is cut into datagrams here:
 *
 *   receive   [hdr|frame][hdr|frame]...[hdr|last frame]  gro slot, then
 *             each frame copied to the engine's iovecs
 *
 * The socket is connected to dst (UML's is not): the host then looks the
 * route up once instead of per datagram, and a raw socket (GRE, L2TPv3 over
 * IP), which would otherwise get every datagram of its protocol to the bound
 * address, only gets dst's; the source is still checked here. Sending needs
 * no address, so vec=0 works too (UML's writev on its unconnected socket
 * sends nothing). Outer packets may be fragmented by the host (PMTU discovery
 * off), as Linux's own GRE and L2TP devices do by default.
 */
#include "tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iov.h"
#include "log.h"
#include "util.h"

#define TUN_SOCKBUF (4 << 20)
#define TUN_IOV_MAX (NF_PKT_IOV_MAX + 1)

/* UDP GRO receive: buffers per recvmmsg, and a buffer's size. A UDP
 * payload (our header included) is under 64 KiB, and so is what the host's
 * GRO merges, so a slot takes any buffer whole. */
#define TUN_GRO_SLOTS 16u
#define TUN_GRO_BYTES 65536u

/* Buffers received with UDP GRO and the one being cut. */
struct tun_gro {
	uint8_t *buf; /* nslots x TUN_GRO_BYTES */
	unsigned nslots;
	unsigned cur, n;       /* buffer cur is being cut; n were received */
	struct encap_run run;  /* buffer cur's datagrams not handed over yet */
	bool peer, trunc;      /* buffer cur: from dst; larger than its slot */
	uint64_t runs, dgrams; /* buffers of several datagrams, and theirs */
	struct mmsghdr msgs[TUN_GRO_SLOTS];
	struct iovec iov[TUN_GRO_SLOTS];
	struct sockaddr_storage name[TUN_GRO_SLOTS];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} cmsg[TUN_GRO_SLOTS];
};

struct tun_port {
	struct nf_port base;
	struct encap enc;
	struct encap_rx rxs;
	const char *name;
	int fd;
	bool outer4;  /* received datagrams start with the outer IPv4 header */
	bool udp;     /* UDP socket: the peer's port must match too */
	bool gso;     /* UDP: send runs of equal-sized datagrams with UDP_SEGMENT */
	struct tun_gro *gro; /* UDP: receive runs of datagrams as one (UDP_GRO) */
	bool vec;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	uint32_t tx_seq;  /* sequence number of the next frame sent */
	unsigned nrx, ntx;
	struct mmsghdr *rmsgs, *tmsgs;
	struct iovec *riov, *tiov; /* TUN_IOV_MAX per message (tiov: a pool, see tx) */
	unsigned *trun;            /* UDP GSO: frames in tmsgs[i] */
	uint8_t *tcmsg;            /* UDP GSO: a UDP_SEGMENT cmsg per message */
	uint8_t *rhdr;             /* IPV4_HDR_MIN + ENCAP_HDR_MAX per rx slot */
	uint8_t *thdr;             /* ENCAP_HDR_MAX per tx slot */
	struct sockaddr_storage *rname;
	uint64_t drops[ENC_NREASONS];
	uint64_t icmp_errors; /* ICMP errors the socket reported (peer down, no route) */
};

#define RHDR_BYTES (IPV4_HDR_MIN + ENCAP_HDR_MAX)

static struct tun_port *to_tun(struct nf_port *p)
{
	return nf_container_of(p, struct tun_port, base);
}

static int resolve(const struct nf_devcfg *cfg, const struct tun_params *tp, const char *what,
		   const char *host, const char *port, struct sockaddr_storage *ss,
		   socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = tp->v6 ? AF_INET6 : AF_INET,
		.ai_socktype = tp->udp ? SOCK_DGRAM : SOCK_RAW,
		.ai_protocol = tp->udp ? IPPROTO_UDP : tp->protocol,
		.ai_flags = AI_NUMERICSERV,
	}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "vec%u: %s: cannot resolve \"%s\" as an %s address: %s",
			 cfg->index, what, host, tp->v6 ? "IPv6" : "IPv4",
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b,
		      bool udp)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_addr.s_addr == y->sin_addr.s_addr && (!udp || x->sin_port == y->sin_port);
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) &&
	       (!udp || x->sin6_port == y->sin6_port);
}

/* The MTU of the host's route to dst (0 if unknown). */
static unsigned path_mtu(const struct sockaddr_storage *dst, socklen_t len)
{
	int fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), mtu = 0;
	socklen_t ml = sizeof(mtu);
	struct sockaddr_storage d = *dst;
	if (fd < 0)
		return 0;
	/* Any port: connect only looks the route up. */
	if (d.ss_family == AF_INET)
		((struct sockaddr_in *)&d)->sin_port = htons(9);
	else
		((struct sockaddr_in6 *)&d)->sin6_port = htons(9);
	if (connect(fd, (struct sockaddr *)&d, len) < 0 ||
	    getsockopt(fd, d.ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		       d.ss_family == AF_INET ? IP_MTU : IPV6_MTU, &mtu, &ml) < 0)
		mtu = 0;
	close(fd);
	return mtu > 0 ? (unsigned)mtu : 0;
}

static void set_bufsize(int fd, int opt_force, int opt, int size)
{
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/* Frees a port and its arrays (NULL is fine); its socket is the caller's. */
static void tun_free(struct tun_port *t)
{
	if (!t)
		return;
	free(t->rmsgs);
	free(t->tmsgs);
	free(t->riov);
	free(t->tiov);
	free(t->rhdr);
	free(t->thdr);
	free(t->rname);
	free(t->trun);
	free(t->tcmsg);
	if (t->gro)
		free(t->gro->buf);
	free(t->gro);
	free(t);
}

/* Receive with UDP GRO where the host has it (Linux 5.0): a vector
 * receive only, as vec=0 means one datagram per receive call. Returns
 * -ENOMEM, else 0 whether it is on or not. */
static int tun_gro_setup(struct tun_port *t, const struct nf_devcfg *cfg,
			 const struct tun_params *tp)
{
	/* UMLNF_UDP_GRO=0: datagram by datagram (an A/B switch for bench runs). */
	const char *env = getenv("UMLNF_UDP_GRO");
	int one = 1;

	if (!tp->udp || !cfg->vec || (env && strcmp(env, "0") == 0))
		return 0;
	struct tun_gro *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->nslots = t->nrx < TUN_GRO_SLOTS ? t->nrx : TUN_GRO_SLOTS;
	g->buf = malloc((size_t)g->nslots * TUN_GRO_BYTES);
	if (!g->buf) {
		free(g);
		return -ENOMEM;
	}
	if (setsockopt(t->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
		nf_dbg("vec%u: %s: no UDP GRO here (%s): datagram by datagram", cfg->index, tp->name,
		       strerror(errno));
		free(g->buf);
		free(g);
		return 0;
	}
	for (unsigned i = 0; i < g->nslots; i++) {
		g->iov[i] = (struct iovec){ g->buf + (size_t)i * TUN_GRO_BYTES, TUN_GRO_BYTES };
		g->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &g->name[i],
			.msg_iov = &g->iov[i],
			.msg_iovlen = 1,
			.msg_control = g->cmsg[i].b,
		};
	}
	t->gro = g;
	return 0;
}

int tun_open(const struct nf_devcfg *cfg, const struct tun_params *tp, const struct encap *e,
	     struct nf_port **out, char *err, size_t errlen)
{
	struct sockaddr_storage src;
	socklen_t srclen;
	struct tun_port *t = calloc(1, sizeof(*t));
	int rc, fd = -1;

	if (!t)
		goto err_nomem;
	t->fd = -1;
	t->enc = *e;
	encap_init(&t->enc);
	t->name = tp->name;
	rc = resolve(cfg, tp, "src", tp->src, tp->srcport, &src, &srclen, err, errlen);
	if (rc == 0)
		rc = resolve(cfg, tp, "dst", tp->dst, tp->dstport, &t->dst, &t->dstlen, err, errlen);
	if (rc < 0)
		goto err_free;

	fd = socket(tp->v6 ? AF_INET6 : AF_INET,
		    (tp->udp ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    tp->udp ? IPPROTO_UDP : tp->protocol);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: %s: cannot open a%s socket: %s%s", cfg->index, tp->name,
			 tp->udp ? " UDP" : " raw IP", strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_RAW)" : "");
		goto err_free;
	}
	t->fd = fd;
	if (bind(fd, (struct sockaddr *)&src, srclen) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: src: cannot bind to %s%s%s: %s", cfg->index, tp->src,
			 tp->srcport ? " port " : "", tp->srcport ? tp->srcport : "", strerror(errno));
		goto err_close;
	}
	if (connect(fd, (struct sockaddr *)&t->dst, t->dstlen) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: dst: cannot reach %s%s%s: %s", cfg->index, tp->dst,
			 tp->dstport ? " port " : "", tp->dstport ? tp->dstport : "", strerror(errno));
		goto err_close;
	}
	/* Outer packets larger than the path are fragmented by the host (as
	 * Linux's gretap and l2tp_eth do without pmtudisc), not refused. */
	int dont = tp->v6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT;
	(void)setsockopt(fd, tp->v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			 tp->v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, &dont, sizeof(dont));
	set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, TUN_SOCKBUF);
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, TUN_SOCKBUF);
	t->outer4 = !tp->v6 && !tp->udp;
	t->udp = tp->udp;
	/* UMLNF_UDP_GSO=0: datagram by datagram (an A/B switch for bench runs). */
	const char *g = getenv("UMLNF_UDP_GSO");
	t->gso = tp->udp && !(g && strcmp(g, "0") == 0);

	/* The guest MTU: what the path takes minus everything we add. */
	unsigned over = (tp->v6 ? IPV6_HDR_LEN : IPV4_HDR_MIN) + (tp->udp ? UDP_HDR_LEN : 0) +
			t->enc.hdr_len + 14;
	unsigned pmtu = path_mtu(&t->dst, t->dstlen);
	if (!cfg->mtu_set) {
		unsigned m = pmtu > over ? pmtu - over : 1500;
		t->base.mtu = m > 1500 ? 1500 : m < 576 ? 576 : m;
	} else if (pmtu && cfg->mtu + over > pmtu) {
		nf_info("vec%u: mtu=%u plus %u bytes of %s encapsulation exceeds the %u-byte MTU "
			"of the route to %s: the host fragments those outer packets",
			cfg->index, cfg->mtu, over, tp->name, pmtu, tp->dst);
	}

	t->vec = cfg->vec;
	t->nrx = cfg->depth;
	t->ntx = cfg->depth + NF_SOFT_TX_EXTRA;
	t->rmsgs = calloc(t->nrx, sizeof(*t->rmsgs));
	t->tmsgs = calloc(t->ntx, sizeof(*t->tmsgs));
	t->riov = calloc((size_t)t->nrx * TUN_IOV_MAX, sizeof(*t->riov));
	t->tiov = calloc((size_t)t->ntx * TUN_IOV_MAX, sizeof(*t->tiov));
	t->rhdr = calloc(t->nrx, RHDR_BYTES);
	t->thdr = calloc(t->ntx, ENCAP_HDR_MAX);
	t->rname = calloc(t->nrx, sizeof(*t->rname));
	t->trun = calloc(t->ntx, sizeof(*t->trun));
	t->tcmsg = calloc(t->ntx, CMSG_SPACE(sizeof(uint16_t)));
	if (!t->rmsgs || !t->tmsgs || !t->riov || !t->tiov || !t->rhdr || !t->thdr || !t->rname ||
	    !t->trun || !t->tcmsg || tun_gro_setup(t, cfg, tp) < 0)
		goto err_nomem;
	/* Without changing sequence numbers, one header serves every frame. */
	t->tx_seq = 1;
	encap_build(&t->enc, t->thdr, 0);
	t->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = fd,
		.tx_fd = fd,
		.caps = NF_CAP_SOFT_OFFLOAD,
		.mtu = t->base.mtu,
	};
	nf_dbg("vec%u: %s %s -> %s, %u-byte header, guest mtu %u (path %u)", cfg->index,
	       tp->name, tp->src, tp->dst, t->enc.hdr_len, t->base.mtu ? t->base.mtu : cfg->mtu,
	       pmtu);
	*out = &t->base;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "vec%u: out of memory", cfg->index);
err_close:
	if (fd >= 0)
		close(fd);
err_free:
	tun_free(t);
	return rc;
}

void tun_close(struct nf_port *port)
{
	struct tun_port *t = to_tun(port);
	close(t->fd);
	tun_free(t);
}

/* Errors a connected datagram socket reports for an ICMP message about an
 * earlier datagram. */
static bool soft_error(int e)
{
	/* What the host reports for ICMP errors on a connected socket:
	 * port/protocol unreachable (no peer listening yet), net/host
	 * unreachable or unknown, administratively prohibited, fragmentation
	 * needed, parameter problem. */
	return e == ECONNREFUSED || e == ENOPROTOOPT || e == EHOSTUNREACH || e == ENETUNREACH ||
	       e == EHOSTDOWN || e == ENONET || e == EACCES || e == EPROTO || e == EMSGSIZE;
}

/* Receives up to k messages (one recvmsg each with vec=0). Returns how
 * many, 0 if none is waiting, -errno on a hard error. */
static int tun_recv(struct tun_port *t, struct mmsghdr *msgs, unsigned k)
{
	int n;

	for (unsigned tries = 0;; tries++) {
		if (t->vec) {
			n = recvmmsg(t->fd, msgs, k, MSG_DONTWAIT, NULL);
		} else {
			for (n = 0; n < (int)k; n++) {
				ssize_t r = recvmsg(t->fd, &msgs[n].msg_hdr, MSG_DONTWAIT);
				if (r < 0) {
					if (n > 0)
						break;
					n = -1;
					break;
				}
				msgs[n].msg_len = (unsigned)r;
			}
		}
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		/* An ICMP error about what we sent (the peer is not up yet,
		 * no route): reported once by the socket, not about this
		 * receive. Counted, then the queue is read on. */
		if (!soft_error(errno) || tries == 4)
			return soft_error(errno) ? 0 : -errno;
		t->icmp_errors++;
	}
}

/* Starts cutting GRO buffer i: its datagram size from the UDP_GRO cmsg
 * (none: the host did not coalesce, one datagram). */
static void tun_gro_start(struct tun_port *t, unsigned i)
{
	struct tun_gro *g = t->gro;
	struct msghdr *mh = &g->msgs[i].msg_hdr;
	uint32_t len = g->msgs[i].msg_len;
	int seg = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
	/* msg_len is what the slot took: never more than TUN_GRO_BYTES. */
	if (len > TUN_GRO_BYTES)
		len = TUN_GRO_BYTES;
	encap_run_init(&g->run, len, seg > 0 ? (size_t)seg : 0);
	/* The host merges datagrams of one flow only: one source for all. */
	g->peer = same_addr(&g->name[i], &t->dst, true);
	g->trunc = mh->msg_flags & MSG_TRUNC;
	if (g->run.n > 1) {
		g->runs++;
		g->dgrams += g->run.n;
	}
}

/* Hands the next datagram of the buffer being cut over as pkt, checked as
 * tun_rx_batch checks a datagram received alone. */
static void tun_gro_take(struct tun_port *t, struct nf_pkt *pkt)
{
	struct tun_gro *g = t->gro;
	const uint8_t *slot = g->buf + (size_t)g->cur * TUN_GRO_BYTES;
	unsigned pre = t->enc.hdr_len;
	size_t off, len, foff, room = 0;
	enum encap_reason r = ENC_PEER;

	encap_run_next(&g->run, &off, &len);
	const uint8_t *d = slot + off;
	/* Not the peer: checked before the header so that a stranger cannot
	 * move our counter state. */
	if (g->peer)
		r = encap_check(&t->enc, &t->rxs, d, len, len, false, &foff);
	for (unsigned k = 0; k < pkt->iovcnt; k++)
		room += pkt->iov[k].iov_len;
	size_t flen = len > pre ? len - pre : 0;
	pkt->flags = 0;
	/* A buffer cut short by its slot (not seen: a slot holds any UDP
	 * payload) ends in a datagram cut short. */
	if (g->trunc && !encap_run_left(&g->run))
		pkt->flags |= NF_PKT_TRUNC;
	if (flen > room) {
		flen = room;
		pkt->flags |= NF_PKT_TRUNC;
	}
	pkt->len = (uint32_t)flen;
	if (r != ENC_OK) {
		t->drops[r]++;
		pkt->flags |= NF_PKT_DROP;
		return;
	}
	iov_write(pkt->iov, pkt->iovcnt, 0, d + pre, flen);
}

/* UDP GRO receive. Each buffer holds a run of datagrams of one size (the
 * last may be shorter); they are cut into pkts[] one by one, each copied
 * once (the host copied the run into our slot instead of into the
 * guest's buffers) and checked like a datagram received alone. What does
 * not fit in max stays for the next call. The engine calls again at once
 * only after a full batch (fewer means "drained, wait for rx_fd", and
 * rx_fd says nothing about what we hold), so a call that leaves datagrams
 * behind always returns max. */
static int tun_rx_gro(struct tun_port *t, struct nf_pkt *pkts, unsigned max)
{
	struct tun_gro *g = t->gro;
	unsigned out = 0;
	bool drained = false;

	for (;;) {
		while (out < max && encap_run_left(&g->run))
			tun_gro_take(t, &pkts[out++]);
		if (out == max)
			return (int)out;
		if (g->cur + 1 < g->n) {
			tun_gro_start(t, ++g->cur);
			continue;
		}
		/* The last receive took less than it asked for: the socket
		 * is empty, another try would only say so. */
		if (drained)
			return (int)out;
		unsigned k = max - out < g->nslots ? max - out : g->nslots;
		for (unsigned i = 0; i < k; i++) {
			g->msgs[i].msg_hdr.msg_namelen = sizeof(g->name[i]);
			g->msgs[i].msg_hdr.msg_controllen = sizeof(g->cmsg[i].b);
		}
		g->cur = g->n = 0;
		int n = tun_recv(t, g->msgs, k);
		if (n < 0)
			return n;
		if (n == 0)
			return (int)out;
		g->n = (unsigned)n;
		drained = (unsigned)n < k;
		tun_gro_start(t, 0);
	}
}

int tun_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct tun_port *t = to_tun(port);
	unsigned pre = encap_rx_prefix(&t->enc, t->outer4);

	if (t->gro)
		return tun_rx_gro(t, pkts, max);
	if (max > t->nrx)
		max = t->nrx;
	for (unsigned i = 0; i < max; i++) {
		struct iovec *iov = &t->riov[(size_t)i * TUN_IOV_MAX];
		unsigned cnt = pkts[i].iovcnt < NF_PKT_IOV_MAX ? pkts[i].iovcnt : NF_PKT_IOV_MAX;
		iov[0] = (struct iovec){ t->rhdr + (size_t)i * RHDR_BYTES, pre };
		memcpy(iov + 1, pkts[i].iov, cnt * sizeof(*iov));
		t->rmsgs[i].msg_hdr = (struct msghdr){
			.msg_name = &t->rname[i],
			.msg_namelen = sizeof(t->rname[i]),
			.msg_iov = iov,
			.msg_iovlen = cnt + 1,
		};
	}
	int n = tun_recv(t, t->rmsgs, max);
	for (int i = 0; i < n; i++) {
		const struct msghdr *mh = &t->rmsgs[i].msg_hdr;
		uint32_t len = t->rmsgs[i].msg_len;
		size_t off;
		enum encap_reason r = ENC_OK;
		/* Not the peer: another tunnel's, or anyone's (a raw socket
		 * takes every datagram of its protocol). Checked before the
		 * header so that a stranger cannot move our sequence state. */
		if (!same_addr(&t->rname[i], &t->dst, t->udp))
			r = ENC_PEER;
		else
			r = encap_check(&t->enc, &t->rxs, t->rhdr + (size_t)i * RHDR_BYTES,
					len < pre ? len : pre, len, t->outer4, &off);
		pkts[i].len = len > pre ? len - pre : 0;
		pkts[i].flags = (mh->msg_flags & MSG_TRUNC) ? NF_PKT_TRUNC : 0;
		if (r != ENC_OK) {
			t->drops[r]++;
			pkts[i].flags |= NF_PKT_DROP;
		}
	}
	return n;
}

/* UDP GSO (UDP_SEGMENT): the host cuts one send into datagrams of one size
 * (the last may be shorter) after a single trip through its stack, instead
 * of one trip per datagram. The engine's segments of one guest frame are
 * exactly such a run, each behind its own header of ours. Limits: the
 * host's 64 segments per send, a UDP payload under 64 KiB, UIO_MAXIOV. */
#define TUN_GSO_SEGS 64u
#define TUN_GSO_BYTES 65000u
#define TUN_GSO_IOVS 1024u

/* Frames pkts[i..] that go as one message: a run of one length. */
static unsigned tx_run_len(const struct tun_port *t, const struct nf_pkt *pkts, unsigned i,
			   unsigned n)
{
	unsigned k = i + 1, seg = t->enc.hdr_len + pkts[i].len, iovs = 1 + pkts[i].iovcnt;
	if (!t->gso)
		return 1;
	while (k < n && k - i < TUN_GSO_SEGS && (k - i + 1) * seg <= TUN_GSO_BYTES &&
	       pkts[k].len <= pkts[i].len && iovs + 1 + pkts[k].iovcnt <= TUN_GSO_IOVS) {
		iovs += 1 + pkts[k].iovcnt;
		if (pkts[k++].len < pkts[i].len)
			break; /* a shorter one ends the run */
	}
	return k - i;
}

int tun_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct tun_port *t = to_tun(port);
	bool seq = t->enc.seq && !t->enc.pin_seq;
	unsigned done = 0, nmsg = 0, used = 0;

	if (n > t->ntx)
		n = t->ntx;
	for (unsigned i = 0; i < n; nmsg++) {
		unsigned run = tx_run_len(t, pkts, i, n);
		/* The pool holds TUN_IOV_MAX iovecs per frame: a run never
		 * takes more than its frames' share. */
		struct iovec *iov = &t->tiov[used];
		unsigned cnt = 0;
		for (unsigned j = i; j < i + run; j++) {
			unsigned c = pkts[j].iovcnt < NF_PKT_IOV_MAX ? pkts[j].iovcnt : NF_PKT_IOV_MAX;
			uint8_t *h = t->thdr;
			if (seq) {
				h = t->thdr + (size_t)j * ENCAP_HDR_MAX;
				encap_build(&t->enc, h, t->tx_seq + j);
			}
			iov[cnt++] = (struct iovec){ h, t->enc.hdr_len };
			memcpy(iov + cnt, pkts[j].iov, c * sizeof(*iov));
			cnt += c;
		}
		used += cnt;
		t->tmsgs[nmsg].msg_hdr = (struct msghdr){ .msg_iov = iov, .msg_iovlen = cnt };
		if (run > 1) {
			uint8_t *cb = t->tcmsg + (size_t)nmsg * CMSG_SPACE(sizeof(uint16_t));
			struct msghdr *mh = &t->tmsgs[nmsg].msg_hdr;
			mh->msg_control = cb;
			mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t segsz = (uint16_t)(t->enc.hdr_len + pkts[i].len);
			memcpy(CMSG_DATA(cm), &segsz, sizeof(segsz));
		}
		t->trun[nmsg] = run;
		i += run;
	}
	for (unsigned m = 0; m < nmsg;) {
		int r;
		if (t->vec) {
			r = sendmmsg(t->fd, t->tmsgs + m, nmsg - m, MSG_DONTWAIT);
		} else {
			ssize_t w = sendmsg(t->fd, &t->tmsgs[m].msg_hdr, MSG_DONTWAIT);
			r = w < 0 ? -1 : 1;
		}
		if (r > 0) {
			for (int k = 0; k < r; k++)
				done += t->trun[m + (unsigned)k];
			m += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == ENOBUFS)
			break; /* socket buffer full: wait for tx_fd to be writable */
		if (t->trun[m] > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT ||
				       errno == EOPNOTSUPP)) {
			/* This host (or route: no checksum offload, a
			 * fragmenting path) does not take UDP GSO: plain
			 * datagrams from here on; the rest is sent again. */
			nf_info("%s: UDP segmentation offload refused (%s); sending datagram by "
				"datagram", t->name, strerror(errno));
			t->gso = false;
			break;
		}
		/* No route, too big, ...: about these frames; count, go on. */
		port->tx_drops += t->trun[m];
		done += t->trun[m];
		m++;
	}
	t->tx_seq += done;
	return (int)done;
}

int tun_format_stats(struct nf_port *port, char *buf, size_t len)
{
	struct tun_port *t = to_tun(port);
	size_t off = 0;
	for (unsigned r = ENC_OK + 1; r < ENC_NREASONS && off < len; r++) {
		const char *name = encap_reason_name(t->enc.kind, (enum encap_reason)r);
		if (!name || (r == ENC_OUTER && !t->outer4))
			continue;
		off += (size_t)snprintf(buf + off, len - off, " %s=%llu", name,
					(unsigned long long)t->drops[r]);
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, " icmp_errors=%llu",
					(unsigned long long)t->icmp_errors);
	if (t->gro && off < len)
		off += (size_t)snprintf(buf + off, len - off, " rx_gro_runs=%llu rx_gro_dgrams=%llu",
					(unsigned long long)t->gro->runs,
					(unsigned long long)t->gro->dgrams);
	return (int)(off < len ? off : len);
}

/* The address family a literal address is of (0: not a literal, a name). */
static int literal_family(const char *s)
{
	struct in6_addr a;
	if (inet_pton(AF_INET, s, &a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, &a) == 1)
		return AF_INET6;
	return 0;
}

int tun_check_addrs(const struct nf_devcfg *cfg, char *err, size_t errlen)
{
	const struct nf_optval *v6 = nf_devcfg_topt(cfg, "v6");
	bool six = v6 && v6->num;
	static const char *const names[] = { "src", "dst" };

	for (unsigned i = 0; i < 2; i++) {
		const struct nf_optval *a = nf_devcfg_topt(cfg, names[i]);
		int fam = a ? literal_family(a->str) : 0;
		if (six && fam == AF_INET) {
			snprintf(err, errlen, "vec%u: %s: %s is an IPv4 address, but v6=1", cfg->index,
				 names[i], a->str);
			return -EINVAL;
		}
		if (!six && fam == AF_INET6) {
			snprintf(err, errlen, "vec%u: %s: %s is an IPv6 address: add v6=1", cfg->index,
				 names[i], a->str);
			return -EINVAL;
		}
	}
	return 0;
}

int tun_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	(void)port;
	(void)prog;
	return -EOPNOTSUPP;
}
