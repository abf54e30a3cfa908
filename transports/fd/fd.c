/* fd: a descriptor uml-nf inherited already open (fd=N), for the rootless
 * pattern: a privileged helper (or systemd socket activation, or a passer
 * after `ip tuntap add`) opens the host side and execs uml-nf, which then
 * needs no privileges of its own.
 *
 * The descriptor's kind is found out, not assumed (fstat, then TUNGETIFF or
 * SO_DOMAIN/SO_TYPE), and decides the I/O:
 *
 *   tap        /dev/net/tun attached to a tap (or a macvtap/ipvtap node):
 *              one frame per read/write, in the tap's own framing, which is
 *              honoured as found: packet information in front without
 *              IFF_NO_PI, a virtio-net header with IFF_VNET_HDR of the size
 *              TUNGETVNETHDRSZ says (the guest then gets offloads);
 *   packet     AF_PACKET SOCK_RAW bound to an interface, with a virtio-net
 *              header if PACKET_VNET_HDR is on (its size queried too);
 *   seqpacket, AF_UNIX, connected (a socketpair end, an accepted or
 *   dgram      connected socket): one frame per message, no header.
 *
 * Sockets move batches (recvmmsg/sendmmsg; vec=0: one per call), taps one
 * frame per preadv2/pwritev2. Anything else (a stream socket, a file, a
 * pipe, a terminal, a tun device, a listening or unconnected socket) is
 * refused with what it is and what is needed.
 *
 * The descriptor may be shared with the process that passed it, so nothing
 * that belongs to the open file is changed to make it non-blocking: sockets
 * get MSG_DONTWAIT per call and taps RWF_NOWAIT per call. Only on a kernel
 * whose tap lacks RWF_NOWAIT is O_NONBLOCK set, with a warning. What is set
 * on purpose: close-on-exec (a per-descriptor flag: the guest kernel must not
 * inherit it), PACKET_IGNORE_OUTGOING on a packet socket (or the guest would
 * see its own frames), TUNSETOFFLOAD on a tap with vnet headers (checksum
 * offload, and TSO with gro=1).
 *
 * When the descriptor dies (the peer closed the connection, the tap was
 * deleted) it cannot come back: the device stays, without a link, and
 * frames the guest sends are dropped and counted; one line says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "portio.h"
#include "transport.h"
#include "util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_VNET_HDR_SZ
#define PACKET_VNET_HDR_SZ 24
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define TUN_DEV_MAJOR 10 /* /dev/net/tun is misc 10:200 */
#define TUN_DEV_MINOR 200
#define VNET_HDR_LEN 10  /* the legacy virtio_net_hdr of NF_CAP_VNET_HDR */
#define FD_HDR_MAX 64    /* the largest virtio-net header we pad to */
#define FD_PI_LEN 4      /* struct tun_pi */
#define FD_IOV_MAX 80    /* a frame's iovecs plus the framing put around them */
#define FD_MAX_CLAIMS 64

enum fd_kind { FD_TAP, FD_PACKET, FD_SEQPACKET, FD_DGRAM };

static const char *const kind_names[] = {
	[FD_TAP] = "tap",
	[FD_PACKET] = "AF_PACKET socket",
	[FD_SEQPACKET] = "unix seqpacket socket",
	[FD_DGRAM] = "unix datagram socket",
};

/* What probing a descriptor found (facts only; fd_classify decides). */
struct fd_facts {
	bool open;
	int accmode;        /* O_RDONLY, O_WRONLY or O_RDWR */
	mode_t fmt;         /* st_mode & S_IFMT; 0 for anonymous inodes */
	bool tty;
	bool tun_dev;       /* /dev/net/tun, or a macvtap/ipvtap node */
	int tun_err;        /* TUNGETIFF: 0 or the errno */
	unsigned tun_flags; /* IFF_TAP, IFF_TUN, IFF_NO_PI, IFF_VNET_HDR, ... */
	bool tun_pi_guessed; /* IFF_NO_PI could not be told apart: assumed */
	int tun_hdr;        /* TUNGETVNETHDRSZ */
	char ifname[IFNAMSIZ];
	int domain, type;   /* sockets */
	bool listening;     /* SO_ACCEPTCONN */
	bool connected;     /* unix: getpeername works */
	int ifindex;        /* packet: bound interface, 0 for none */
	unsigned protocol;  /* packet: bound protocol (host order), 0: receives nothing */
	int vnet_hdr;       /* packet: virtio-net header size, 0 for none */
};

/* How a frame looks on the descriptor around the engine's layout. */
struct fd_framing {
	unsigned pi;  /* packet information in front (FD_PI_LEN), or 0 */
	unsigned hdr; /* virtio-net header size (10, 12, ...), or 0: none */
};

#define FD_NEED "need a tap, an AF_PACKET socket, or a connected unix seqpacket or datagram socket"

static const char *domain_name(int d)
{
	switch (d) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	case AF_UNIX:
		return "AF_UNIX";
	case AF_PACKET:
		return "AF_PACKET";
	default:
		return "non-Ethernet";
	}
}

/* Decides what descriptor number fd with facts f can serve as. Returns 0
 * with *kind and *fr, or -errno with the rest of the sentence "descriptor N
 * ..." in why: what it is and what is needed. */
static int fd_classify(int fd, const struct fd_facts *f, enum fd_kind *kind, struct fd_framing *fr,
		       char *why, size_t len)
{
	static const char *const std_names[] = { "standard input", "standard output",
						 "standard error" };

	*fr = (struct fd_framing){ 0 };
	if (fd >= 0 && fd <= 2) {
		snprintf(why, len, "is %s, which the guest kernel's console may use; pass the "
			 "device as descriptor 3 or above", std_names[fd]);
		return -EINVAL;
	}
	if (!f->open) {
		snprintf(why, len, "is not open (uml-nf must inherit it: the parent passes it "
			 "open, without close-on-exec)");
		return -EBADF;
	}
	switch (f->fmt) {
	case S_IFSOCK:
		break;
	case S_IFCHR:
		if (!f->tun_dev) {
			snprintf(why, len, "is %s; " FD_NEED,
				 f->tty ? "a terminal" : "a character device that is not a tap");
			return -ENOTSUP;
		}
		if (f->tun_err == EBADFD) {
			snprintf(why, len, "is /dev/net/tun not attached to an interface (TUNSETIFF "
				 "not done); " FD_NEED);
			return -ENOTSUP;
		}
		if (f->tun_err) {
			snprintf(why, len, "is a tun/tap device but TUNGETIFF failed: %s",
				 strerror(f->tun_err));
			return -f->tun_err;
		}
		if (!(f->tun_flags & IFF_TAP)) {
			snprintf(why, len, "is tun device %s (layer 3, no Ethernet header); need a "
				 "tap (IFF_TAP)", f->ifname);
			return -ENOTSUP;
		}
		if (f->accmode != O_RDWR) {
			snprintf(why, len, "is tap %s opened %s; need it opened for reading and "
				 "writing", f->ifname, f->accmode == O_RDONLY ? "read-only" : "write-only");
			return -EBADF;
		}
		fr->pi = (f->tun_flags & IFF_NO_PI) ? 0 : FD_PI_LEN;
		if (f->tun_flags & IFF_VNET_HDR) {
			if (f->tun_hdr < VNET_HDR_LEN || f->tun_hdr > FD_HDR_MAX) {
				snprintf(why, len, "is tap %s with %d-byte virtio-net headers; uml-nf "
					 "handles %d to %d", f->ifname, f->tun_hdr, VNET_HDR_LEN, FD_HDR_MAX);
				return -ENOTSUP;
			}
			fr->hdr = (unsigned)f->tun_hdr;
		}
		*kind = FD_TAP;
		return 0;
	case S_IFREG:
		snprintf(why, len, "is a regular file; " FD_NEED);
		return -ENOTSUP;
	case S_IFIFO:
		snprintf(why, len, "is a pipe (no frame boundaries); " FD_NEED);
		return -ENOTSUP;
	case S_IFDIR:
		snprintf(why, len, "is a directory; " FD_NEED);
		return -ENOTSUP;
	case S_IFBLK:
		snprintf(why, len, "is a block device; " FD_NEED);
		return -ENOTSUP;
	default:
		snprintf(why, len, "is an anonymous inode (eventfd, epoll, timerfd, ...); " FD_NEED);
		return -ENOTSUP;
	}

	/* A socket. */
	if (f->type == SOCK_STREAM) {
		snprintf(why, len, "is a%s stream socket (no frame boundaries); " FD_NEED,
			 f->domain == AF_UNIX ? " unix" : "");
		return -ENOTSUP;
	}
	if (f->domain == AF_PACKET) {
		if (f->type != SOCK_RAW) {
			snprintf(why, len, "is an AF_PACKET SOCK_DGRAM socket (frames without their "
				 "Ethernet header); need SOCK_RAW");
			return -ENOTSUP;
		}
		if (f->ifindex <= 0) {
			snprintf(why, len, "is an AF_PACKET socket not bound to an interface; bind "
				 "it to one");
			return -ENOTSUP;
		}
		if (f->protocol == 0) {
			snprintf(why, len, "is an AF_PACKET socket bound without a protocol (it "
				 "receives nothing); bind it with ETH_P_ALL");
			return -ENOTSUP;
		}
		if (f->vnet_hdr) {
			if (f->vnet_hdr < VNET_HDR_LEN || f->vnet_hdr > FD_HDR_MAX) {
				snprintf(why, len, "is an AF_PACKET socket with %d-byte virtio-net "
					 "headers; uml-nf handles %d to %d", f->vnet_hdr, VNET_HDR_LEN,
					 FD_HDR_MAX);
				return -ENOTSUP;
			}
			fr->hdr = (unsigned)f->vnet_hdr;
		}
		*kind = FD_PACKET;
		return 0;
	}
	if (f->domain != AF_UNIX) {
		snprintf(why, len, "is an %s socket; " FD_NEED, domain_name(f->domain));
		return -ENOTSUP;
	}
	if (f->listening) {
		snprintf(why, len, "is a listening socket; need a connected one (systemd: "
			 "Accept=yes; or transport=bess,listen=PATH)");
		return -ENOTSUP;
	}
	if (f->type != SOCK_SEQPACKET && f->type != SOCK_DGRAM) {
		snprintf(why, len, "is a unix socket of type %d; " FD_NEED, f->type);
		return -ENOTSUP;
	}
	if (!f->connected) {
		snprintf(why, len, "is an unconnected unix %s socket; need it connected to its "
			 "peer (a socketpair end, or connect() before passing it)",
			 f->type == SOCK_SEQPACKET ? "seqpacket" : "datagram");
		return -ENOTCONN;
	}
	*kind = f->type == SOCK_SEQPACKET ? FD_SEQPACKET : FD_DGRAM;
	return 0;
}

/* True if the character device is a macvtap or ipvtap queue (their major
 * numbers are dynamic; sysfs names the class). */
static bool chardev_is_vtap(dev_t rdev)
{
	char path[64], link[256];
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/subsystem", major(rdev), minor(rdev));
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	base = base ? base + 1 : link;
	return strcmp(base, "macvtap") == 0 || strcmp(base, "ipvtap") == 0;
}

/* Whether a tap queue frames with packet information: 1 if not (IFF_NO_PI),
 * 0 if it does, -1 if that cannot be told.
 *
 * TUNGETIFF reports IFF_NOFILTER ("no socket filter on this queue") in the
 * very bit of IFF_NO_PI, so that bit set says nothing by itself. With a
 * filter attached it is IFF_NO_PI. With none, an accept-all filter attached
 * for the question settles it, and is detached again at once. (macvtap
 * queues have no TUNGETFILTER and never frame with packet information.) */
static int tap_no_pi(int fd, unsigned flags)
{
	struct sock_fprog cur = { 0 };
	struct ifreq ifr;

	if (!(flags & IFF_NO_PI))
		return 0;
	if (ioctl(fd, TUNGETFILTER, &cur) < 0)
		return 1;
	if (cur.len)
		return 1;
	struct sock_filter accept = BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	struct sock_fprog prog = { .len = 1, .filter = &accept };
	if (ioctl(fd, TUNATTACHFILTER, &prog) < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	int rc = ioctl(fd, TUNGETIFF, &ifr);
	(void)ioctl(fd, TUNDETACHFILTER, &prog);
	if (rc < 0)
		return -1;
	return (ifr.ifr_flags & IFF_NO_PI) ? 1 : 0;
}

/* Finds out what descriptor fd is, changing nothing (but see tap_no_pi). */
static void fd_probe(int fd, struct fd_facts *f)
{
	struct stat st;
	socklen_t len;
	int fl = fcntl(fd, F_GETFL);

	memset(f, 0, sizeof(*f));
	if (fl < 0)
		return;
	f->open = true;
	f->accmode = fl & O_ACCMODE;
	if (fstat(fd, &st) < 0)
		return;
	f->fmt = st.st_mode & S_IFMT;
	if (S_ISCHR(st.st_mode)) {
		f->tty = isatty(fd);
		f->tun_dev = (major(st.st_rdev) == TUN_DEV_MAJOR && minor(st.st_rdev) == TUN_DEV_MINOR) ||
			     chardev_is_vtap(st.st_rdev);
		if (!f->tun_dev)
			return;
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
			f->tun_err = errno;
			return;
		}
		f->tun_flags = (unsigned short)ifr.ifr_flags & ~(unsigned)IFF_NO_PI;
		memcpy(f->ifname, ifr.ifr_name, IFNAMSIZ - 1);
		int no_pi = tap_no_pi(fd, (unsigned short)ifr.ifr_flags);
		if (no_pi != 0)
			f->tun_flags |= IFF_NO_PI;
		f->tun_pi_guessed = no_pi < 0;
		int h = 0;
		if (ioctl(fd, TUNGETVNETHDRSZ, &h) == 0)
			f->tun_hdr = h;
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		return;
	int v = 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0)
		f->domain = v;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0)
		f->type = v;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0)
		f->listening = v != 0;
	if (f->domain == AF_UNIX) {
		struct sockaddr_un sa;
		len = sizeof(sa);
		f->connected = getpeername(fd, (struct sockaddr *)&sa, &len) == 0;
	} else if (f->domain == AF_PACKET) {
		struct sockaddr_ll sll;
		len = sizeof(sll);
		memset(&sll, 0, sizeof(sll));
		if (getsockname(fd, (struct sockaddr *)&sll, &len) == 0) {
			f->ifindex = sll.sll_ifindex;
			f->protocol = ntohs(sll.sll_protocol);
			if_indextoname((unsigned)sll.sll_ifindex, f->ifname);
		}
		len = sizeof(v);
		if (getsockopt(fd, SOL_PACKET, PACKET_VNET_HDR_SZ, &v, &len) == 0) {
			f->vnet_hdr = v;
		} else {
			len = sizeof(v);
			if (getsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &v, &len) == 0 && v)
				f->vnet_hdr = VNET_HDR_LEN;
		}
	}
}

/* The iovecs of one frame as the descriptor frames it, from pkt's (the
 * engine's layout: the 10-byte header when fr->hdr, then the frame):
 *
 *   [pi: 4][header: its first 10 bytes][pad: to fr->hdr][frame ...]
 *
 * pi and pad are the buffers for those parts. Returns the count, 0 if it
 * does not fit in cap. */
static unsigned frame_iov(const struct fd_framing *fr, const struct iovec *src, unsigned cnt,
			  void *pi, void *pad, struct iovec *dst, unsigned cap)
{
	size_t split = fr->hdr ? VNET_HDR_LEN : 0, off = 0;
	unsigned k = 0, i = 0;

	if (fr->pi) {
		if (k == cap)
			return 0;
		dst[k++] = (struct iovec){ pi, fr->pi };
	}
	while (split && i < cnt) {
		size_t take = src[i].iov_len - off < split ? src[i].iov_len - off : split;
		if (take) {
			if (k == cap)
				return 0;
			dst[k++] = (struct iovec){ (char *)src[i].iov_base + off, take };
		}
		split -= take;
		off += take;
		if (off == src[i].iov_len) {
			i++;
			off = 0;
		}
	}
	if (fr->hdr > VNET_HDR_LEN) {
		if (k == cap)
			return 0;
		dst[k++] = (struct iovec){ pad, fr->hdr - VNET_HDR_LEN };
	}
	for (; i < cnt; i++, off = 0) {
		if (src[i].iov_len == off)
			continue;
		if (k == cap)
			return 0;
		dst[k++] = (struct iovec){ (char *)src[i].iov_base + off, src[i].iov_len - off };
	}
	return k;
}

/* Bytes on the descriptor that the engine's layout does not have. */
static unsigned framing_extra(const struct fd_framing *fr)
{
	return fr->pi + (fr->hdr > VNET_HDR_LEN ? fr->hdr - VNET_HDR_LEN : 0);
}

struct fd_port {
	struct nf_port base;
	struct nf_evset es;
	unsigned index;
	int fd;
	enum fd_kind kind;
	struct fd_framing fr;
	bool plain;          /* framing is the engine's own: iovecs pass as they are */
	bool vec;
	bool nowait;         /* taps: RWF_NOWAIT works (else O_NONBLOCK was set) */
	bool dead;
	unsigned nmsgs;
	struct mmsghdr *msgs;
	struct nf_pkt *fpkts; /* framed copies of a batch (!plain) */
	struct iovec *iovs;   /* nmsgs x FD_IOV_MAX, theirs */
	uint8_t rx_pi[FD_PI_LEN];
	uint8_t rx_pad[FD_HDR_MAX];
	uint64_t host_drops;  /* packet: PACKET_STATISTICS tp_drops, accumulated */
};

/* Transmit framing: packet information and header padding all zero (tun
 * reads the protocol of a tap frame from its Ethernet header). */
static uint8_t tx_zeros[FD_HDR_MAX];

/* Descriptors in use by a device (main thread only). */
static int claims[FD_MAX_CLAIMS];
static unsigned nclaims;

static const struct nf_optdesc fd_opts[] = {
	{ "fd", NF_OPT_UINT, 0, INT_MAX, true,
	  "inherited open descriptor: tap, AF_PACKET, unix seqpacket/datagram (decimal)", NULL },
};

static struct fd_port *to_fd(struct nf_port *p)
{
	return nf_container_of(p, struct fd_port, base);
}

/* The descriptor will never carry frames again: stop watching it; frames
 * the guest sends are dropped from now on. */
static void fd_kill(struct fd_port *fp, const char *why)
{
	if (fp->dead)
		return;
	fp->dead = true;
	nf_evset_del(&fp->es, fp->fd);
	nf_evset_open_gate(&fp->es);
	nf_warn("vec%u: fd: descriptor %d (%s) %s; the device has no link any more and drops "
		"what the guest sends", fp->index, fp->fd, kind_names[fp->kind], why);
}

/* Taps on a kernel without RWF_NOWAIT for them: the shared open file goes
 * non-blocking after all. */
static void nowait_fallback(struct fd_port *fp)
{
	int fl = fcntl(fp->fd, F_GETFL);
	fp->nowait = false;
	if (fl >= 0 && fcntl(fp->fd, F_SETFL, fl | O_NONBLOCK) == 0)
		nf_warn("vec%u: fd: this kernel's taps lack RWF_NOWAIT: set O_NONBLOCK on "
			"descriptor %d, which a process sharing its open file sees too",
			fp->index, fp->fd);
	else
		nf_err("vec%u: fd: cannot make descriptor %d non-blocking: %s", fp->index, fp->fd,
		       strerror(errno));
}

static void release_claim(int fd)
{
	for (unsigned i = 0; i < nclaims; i++)
		if (claims[i] == fd) {
			claims[i] = claims[--nclaims];
			return;
		}
}

static void fd_close(struct nf_port *port)
{
	struct fd_port *fp = to_fd(port);

	/* The descriptor is ours to close now (the parent's copy, if it
	 * kept one, stays open). */
	if (fp->fd >= 0) {
		close(fp->fd);
		release_claim(fp->fd);
	}
	nf_evset_close(&fp->es);
	free(fp->msgs);
	free(fp->fpkts);
	free(fp->iovs);
	free(fp);
}

static void describe(const struct fd_port *fp, const struct fd_facts *f, char *buf, size_t len)
{
	size_t off = 0;
	switch (fp->kind) {
	case FD_TAP:
		off = (size_t)snprintf(buf, len, "tap %s", f->ifname);
		break;
	case FD_PACKET:
		off = (size_t)snprintf(buf, len, "AF_PACKET socket on %s", f->ifname[0] ? f->ifname : "?");
		break;
	case FD_SEQPACKET:
	case FD_DGRAM:
		off = (size_t)snprintf(buf, len, "connected %s", kind_names[fp->kind]);
		break;
	}
	if (off < len && fp->fr.hdr)
		off += (size_t)snprintf(buf + off, len - off, ", %u-byte virtio-net headers", fp->fr.hdr);
	if (off < len && fp->fr.pi)
		snprintf(buf + off, len - off, ", packet information");
}

static int fd_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	int fd = (int)nf_devcfg_topt(cfg, "fd")->num, rc;
	struct fd_port *fp = NULL;
	struct fd_facts f;
	enum fd_kind kind = FD_DGRAM;
	struct fd_framing fr;
	char why[256];

	for (unsigned i = 0; i < nclaims; i++)
		if (claims[i] == fd) {
			snprintf(err, errlen, "vec%u: fd: descriptor %d is already used by another "
				 "device", cfg->index, fd);
			return -EBUSY;
		}
	if (nclaims == FD_MAX_CLAIMS) {
		snprintf(err, errlen, "vec%u: fd: too many descriptors", cfg->index);
		return -EMFILE;
	}
	fd_probe(fd, &f);
	rc = fd_classify(fd, &f, &kind, &fr, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: fd: descriptor %d %s", cfg->index, fd, why);
		return rc;
	}

	fp = calloc(1, sizeof(*fp));
	if (!fp)
		goto err_nomem;
	fp->fd = -1;
	fp->es.epfd = fp->es.gate = -1;
	fp->index = cfg->index;
	fp->kind = kind;
	fp->fr = fr;
	fp->plain = fr.pi == 0 && (fr.hdr == 0 || fr.hdr == VNET_HDR_LEN);
	fp->vec = cfg->vec;
	fp->nowait = true;
	fp->nmsgs = cfg->depth;
	fp->msgs = calloc(fp->nmsgs, sizeof(*fp->msgs));
	if (!fp->msgs)
		goto err_nomem;
	if (!fp->plain) {
		fp->fpkts = calloc(fp->nmsgs, sizeof(*fp->fpkts));
		fp->iovs = calloc((size_t)fp->nmsgs * FD_IOV_MAX, sizeof(*fp->iovs));
		if (!fp->fpkts || !fp->iovs)
			goto err_nomem;
	}
	rc = nf_evset_open(&fp->es);
	if (rc == 0)
		rc = nf_evset_add(&fp->es, fd, EPOLLIN | EPOLLRDHUP, 0);
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: fd: cannot watch descriptor %d: %s", cfg->index, fd,
			 strerror(-rc));
		goto err_free;
	}
	/* Close-on-exec is the descriptor's own flag, not the shared file's:
	 * the guest kernel and its helpers have no business with it. */
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (kind == FD_PACKET) {
		int one = 1;
		if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
			nf_warn("vec%u: fd: PACKET_IGNORE_OUTGOING on descriptor %d: %s; the guest "
				"will see its own frames", cfg->index, fd, strerror(errno));
	}
	if (kind == FD_TAP && fr.hdr) {
		unsigned offl = TUN_F_CSUM | (cfg->gro ? TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN : 0);
		if (ioctl(fd, TUNSETOFFLOAD, offl) < 0)
			nf_warn("vec%u: fd: TUNSETOFFLOAD on tap %s: %s; the host kernel checksums "
				"and segments for the guest", cfg->index, f.ifname, strerror(errno));
	}
	if (f.tun_pi_guessed)
		nf_warn("vec%u: fd: cannot tell whether tap %s frames with packet information "
			"(TUNATTACHFILTER: %s); assuming it does not (IFF_NO_PI)", cfg->index,
			f.ifname, strerror(errno));
	if (cfg->gro && !fr.hdr)
		nf_info("vec%u: gro=1 has no effect: descriptor %d carries no virtio-net header, "
			"so the guest gets no offloads", cfg->index, fd);

	fp->fd = fd;
	claims[nclaims++] = fd;
	describe(fp, &f, why, sizeof(why));
	nf_info("vec%u: fd: descriptor %d: %s", cfg->index, fd, why);
	fp->base = (struct nf_port){
		.transport = cfg->transport,
		.cfg = cfg,
		.rx_fd = fp->es.epfd,
		.tx_fd = fp->es.gate,
		.caps = fr.hdr ? NF_CAP_VNET_HDR | NF_CAP_GSO : 0,
	};
	*out = &fp->base;
	return 0;

err_nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "vec%u: out of memory", cfg->index);
err_free:
	if (fp)
		fd_close(&fp->base); /* fp->fd is still -1: the descriptor stays open */
	return rc;
}

/* Taps: one frame per read. */
static int tap_rx(struct fd_port *fp, struct nf_pkt *pkts, unsigned max)
{
	unsigned extra = framing_extra(&fp->fr), n = 0;

	while (n < max) {
		struct nf_pkt *pkt = &pkts[n];
		const struct iovec *iov = pkt->iov;
		unsigned cnt = pkt->iovcnt;
		if (!fp->plain) {
			cnt = frame_iov(&fp->fr, pkt->iov, pkt->iovcnt, fp->rx_pi, fp->rx_pad, fp->iovs,
					FD_IOV_MAX);
			iov = fp->iovs;
			if (!cnt)
				return n ? (int)n : -EMSGSIZE;
		}
		ssize_t r = fp->nowait ? preadv2(fp->fd, iov, (int)cnt, -1, RWF_NOWAIT)
				       : readv(fp->fd, iov, (int)cnt);
		if (r < 0) {
			if (errno == EOPNOTSUPP && fp->nowait) {
				nowait_fallback(fp);
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || n > 0)
				break;
			return -errno;
		}
		size_t room = 0;
		for (unsigned k = 0; k < cnt; k++)
			room += iov[k].iov_len;
		uint16_t pi_flags;
		memcpy(&pi_flags, fp->rx_pi, sizeof(pi_flags));
		/* A tap fills the buffers and says nothing when a frame was
		 * longer, except through packet information. */
		pkt->flags = (size_t)r >= room || (fp->fr.pi && (pi_flags & TUN_PKT_STRIP))
				     ? NF_PKT_TRUNC : 0;
		pkt->len = (uint32_t)r > extra ? (uint32_t)r - extra : 0;
		n++;
	}
	return (int)n;
}

/* Taps: one frame per write. Sets *err as nf_msg_tx does. */
static unsigned tap_tx(struct fd_port *fp, struct nf_pkt *pkts, unsigned n, int *err)
{
	unsigned sent = 0;

	*err = 0;
	while (sent < n) {
		const struct iovec *iov = pkts[sent].iov;
		unsigned cnt = pkts[sent].iovcnt;
		if (!fp->plain) {
			cnt = frame_iov(&fp->fr, pkts[sent].iov, pkts[sent].iovcnt, tx_zeros, tx_zeros,
					fp->iovs, FD_IOV_MAX);
			iov = fp->iovs;
			if (!cnt) {
				fp->base.tx_drops++;
				sent++;
				continue;
			}
		}
		ssize_t w = fp->nowait ? pwritev2(fp->fd, iov, (int)cnt, -1, RWF_NOWAIT)
				       : writev(fp->fd, iov, (int)cnt);
		if (w >= 0) {
			sent++;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EOPNOTSUPP && fp->nowait) {
			nowait_fallback(fp);
			continue;
		}
		if (errno == EAGAIN || errno == EBADFD) {
			*err = -errno;
			break;
		}
		/* About this frame (a header the tap refuses, interface down:
		 * EIO): count it and go on. */
		fp->base.tx_drops++;
		sent++;
	}
	return sent;
}

/* Message sockets, framed (a packet socket whose header is not 10 bytes):
 * the batch goes through fp->fpkts. */
static void frame_batch(struct fd_port *fp, struct nf_pkt *pkts, unsigned n, bool rx)
{
	for (unsigned i = 0; i < n; i++) {
		struct nf_pkt *q = &fp->fpkts[i];
		q->iov = &fp->iovs[(size_t)i * FD_IOV_MAX];
		q->iovcnt = frame_iov(&fp->fr, pkts[i].iov, pkts[i].iovcnt, rx ? fp->rx_pi : tx_zeros,
				      rx ? fp->rx_pad : tx_zeros, q->iov, FD_IOV_MAX);
	}
}

static int fd_rx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned max)
{
	struct fd_port *fp = to_fd(port);
	bool empty = false;
	int n;

	if (fp->es.shut) {
		/* Woken, maybe, by room to transmit again. */
		struct epoll_event ev;
		if (nf_evset_poll(&fp->es, &ev, 1) == 1 && (ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
			nf_evset_mod(&fp->es, fp->fd, EPOLLIN | EPOLLRDHUP, 0);
			nf_evset_open_gate(&fp->es);
		}
	}
	if (fp->dead)
		return 0;
	if (max > fp->nmsgs)
		max = fp->nmsgs;
	if (fp->kind == FD_TAP) {
		n = tap_rx(fp, pkts, max);
	} else if (fp->plain) {
		n = nf_msg_rx(fp->fd, fp->msgs, pkts, max, fp->vec, &empty);
	} else {
		frame_batch(fp, pkts, max, true);
		n = nf_msg_rx(fp->fd, fp->msgs, fp->fpkts, max, fp->vec, &empty);
		unsigned extra = framing_extra(&fp->fr);
		for (int i = 0; i < n; i++) {
			pkts[i].flags = fp->fpkts[i].flags;
			pkts[i].len = fp->fpkts[i].len > extra ? fp->fpkts[i].len - extra : 0;
		}
	}
	if (n < 0) {
		if (n == -EBADFD)
			fd_kill(fp, "lost its tap interface");
		else if (nf_msg_peer_gone(-n))
			fd_kill(fp, "lost its peer");
		else
			return n;
		return 0;
	}
	if (empty && fp->kind == FD_SEQPACKET) {
		int k = nf_msg_eof(fp->fd, pkts, n);
		if (k >= 0) {
			fd_kill(fp, "was closed by its peer");
			return k;
		}
	}
	return n;
}

static int fd_tx_batch(struct nf_port *port, struct nf_pkt *pkts, unsigned n)
{
	struct fd_port *fp = to_fd(port);
	unsigned sent;
	int err;

	if (fp->dead) {
		port->tx_drops += n;
		return (int)n;
	}
	if (n > fp->nmsgs)
		n = fp->nmsgs;
	if (fp->kind == FD_TAP) {
		sent = tap_tx(fp, pkts, n, &err);
	} else if (fp->plain) {
		sent = nf_msg_tx(fp->fd, fp->msgs, pkts, n, fp->vec, &port->tx_drops, &err);
	} else {
		frame_batch(fp, pkts, n, false);
		sent = nf_msg_tx(fp->fd, fp->msgs, fp->fpkts, n, fp->vec, &port->tx_drops, &err);
	}
	if (err == -EAGAIN) {
		/* Wait for room: the engine watches the gate, receive watches
		 * the descriptor and opens the gate. */
		nf_evset_mod(&fp->es, fp->fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT, 0);
		nf_evset_shut(&fp->es);
		return (int)sent;
	}
	if (err == 0)
		return (int)sent;
	fd_kill(fp, err == -EBADFD ? "lost its tap interface" : "lost its peer");
	port->tx_drops += n - sent;
	return (int)n;
}

static uint64_t fd_rx_host_drops(struct nf_port *port)
{
	struct fd_port *fp = to_fd(port);
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* Only a packet socket counts what it could not queue; the kernel
	 * resets the counters on every read. */
	if (fp->kind == FD_PACKET &&
	    getsockopt(fp->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		fp->host_drops += st.tp_drops;
	return fp->host_drops;
}

/* The filter goes on the inherited descriptor (rx_fd is our event set): a
 * socket takes it, a tap does not (-ENOTSOCK). */
static int fd_set_filter(struct nf_port *port, const struct bf_prog *prog)
{
	return bf_attach(nf_container_of(port, struct fd_port, base)->fd, prog);
}

const struct nf_transport nf_transport_fd = {
	.name = "fd",
	.summary = "an inherited descriptor (tap, packet or unix socket) for rootless use",
	.opts = fd_opts,
	.nopts = NF_ARRAY_SIZE(fd_opts),
	.open = fd_open,
	.close = fd_close,
	.rx_batch = fd_rx_batch,
	.tx_batch = fd_tx_batch,
	.rx_host_drops = fd_rx_host_drops,
	.set_filter = fd_set_filter,
};
