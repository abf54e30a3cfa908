#include "tapdev.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tapio.h"

#define TUN_PATH "/dev/net/tun"
#define TUN_MAJOR 10
#define TUN_MINOR 200

#ifndef TUNSETVNETLE
#define TUNSETVNETLE _IOW('T', 220, int)
#endif

/* What an existing interface is, from its driver (ethtool's get_drvinfo:
 * the tun driver says "tun" and bus "tap" or "tun"). */
enum if_kind { IF_NONE, IF_TAP, IF_TUN, IF_OTHER };

static enum if_kind if_kind(int sock, const char *name, char *driver, size_t len)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };

	if (!if_nametoindex(name))
		return IF_NONE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&di;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0) {
		snprintf(driver, len, "no driver information");
		return IF_OTHER;
	}
	snprintf(driver, len, "driver %s", di.driver);
	if (strcmp(di.driver, "tun") != 0)
		return IF_OTHER;
	return strcmp(di.bus_info, "tap") == 0 ? IF_TAP : IF_TUN;
}

/* /dev/net/tun must be the TUN/TAP clone device, not whatever a container
 * or a bind mount put at that path (TUNSETIFF on /dev/null would only say
 * "Inappropriate ioctl for device"). */
static int open_tun(const struct nf_devcfg *cfg, const char *tname, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		char hint[128] = "";
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			snprintf(hint, sizeof(hint), " (no TUN/TAP driver on the host? modprobe tun)");
		else if (e == EACCES && stat(TUN_PATH, &st) == 0)
			snprintf(hint, sizeof(hint), " (mode %03o; taps of your own need read/write "
				 "access to it, which Debian's udev rule gives: 0666)",
				 (unsigned)(st.st_mode & 0777));
		snprintf(err, errlen, "vec%u: %s: cannot open %s: %s%s", cfg->index, tname, TUN_PATH,
			 strerror(e), hint);
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != TUN_MAJOR ||
	    minor(st.st_rdev) != TUN_MINOR) {
		if (S_ISCHR(st.st_mode))
			snprintf(err, errlen,
				 "vec%u: %s: %s is not the TUN/TAP device (character device %u:%u, "
				 "want %u:%u)", cfg->index, tname, TUN_PATH, major(st.st_rdev),
				 minor(st.st_rdev), TUN_MAJOR, TUN_MINOR);
		else
			snprintf(err, errlen, "vec%u: %s: %s is not the TUN/TAP device (not a "
				 "character device)", cfg->index, tname, TUN_PATH);
		close(fd);
		return -ENODEV;
	}
	return fd;
}

/* TUNSETIFF, with the errors a user can act on spelled out. An existing
 * multi-queue tap refuses a single-queue attach with EINVAL, so that is
 * retried as one queue of it. */
static int attach(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td, bool exists,
		  char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	const char *name = exists || td->ifname[0] ? td->ifname : TAP_NAME_TEMPLATE;

	/* Creating: IFF_TUN_EXCL makes a tap of that name that appeared since
	 * we looked an error rather than someone else's tap we would think
	 * ours. */
	if (!exists)
		flags |= IFF_TUN_EXCL;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = (short)flags;
	int rc = ioctl(td->fd, TUNSETIFF, &ifr);
	if (rc < 0 && errno == EINVAL && exists) {
		ifr.ifr_flags = (short)(flags | IFF_MULTI_QUEUE);
		rc = ioctl(td->fd, TUNSETIFF, &ifr);
		if (rc == 0)
			td->multi_queue = true;
	}
	if (rc == 0) {
		snprintf(td->ifname, sizeof(td->ifname), "%s", ifr.ifr_name);
		td->created = !exists;
		return 0;
	}
	int e = errno;
	if (e == EPERM && exists)
		snprintf(err, errlen,
			 "vec%u: ifname: not allowed to attach to tap %s: it belongs to another "
			 "user (make it yours with \"ip tuntap add dev %s mode tap user USER\", or "
			 "run with CAP_NET_ADMIN)", cfg->index, name, name);
	else if (e == EPERM)
		snprintf(err, errlen,
			 "vec%u: %s: creating a tap needs CAP_NET_ADMIN (or give ifname= of a tap "
			 "you own: ip tuntap add dev NAME mode tap user USER)", cfg->index, tname);
	else if (e == EBUSY)
		snprintf(err, errlen,
			 "vec%u: ifname: tap %s is busy: another process has it open (a "
			 "single-queue tap takes one reader)", cfg->index, name);
	else
		snprintf(err, errlen, "vec%u: %s: TUNSETIFF %s: %s", cfg->index, tname, name,
			 strerror(e));
	return -e;
}

/* Offloads the tap may hand us (TUNSETOFFLOAD says what the reader takes;
 * writes with any virtio-net header are accepted regardless):
 *   - checksum offload always: the engine gives the guest partial
 *     checksums (GUEST_CSUM) on every port with vnet headers;
 *   - TSO4/6 and TSO with ECN only with gro=1, when the guest negotiates
 *     them; with gro=0 the host kernel segments before the tap, which is
 *     cheaper than reading 64 KiB frames and segmenting them here;
 *   - never USO (UDP segmentation): the engine passes no UDP GSO frame to
 *     the guest (it has no UDP segmentation) and would drop every one.
 * Returns the flags set. */
static unsigned tap_offloads(const struct nf_devcfg *cfg)
{
	unsigned off = TUN_F_CSUM;
	if (cfg->gro)
		off |= TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	return off;
}

static int configure(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td,
		     char *err, size_t errlen)
{
	unsigned features = 0;
	/* The engine frames vnet-header ports with the legacy 10-byte
	 * virtio_net_hdr (NF_CAP_VNET_HDR) and receives straight into the
	 * guest's chains: the 10 bytes land at the front of the guest's
	 * 12-byte virtio_net_hdr_v1 and the frame at offset 12, split by the
	 * scatter list, so GSO frames and big chains pass without a copy at
	 * 10. A 12-byte tap header would buy nothing (num_buffers is the
	 * engine's to fill; mergeable buffers are copied into anyway) and
	 * would need the engine to learn a second framing. The size is set
	 * explicitly: it belongs to the tap, and a persistent tap keeps what
	 * its previous user chose. */
	int hdr = TAP_VNET_HDR_LEN, le = 1;
	unsigned off = tap_offloads(cfg);

	if (ioctl(td->fd, TUNGETFEATURES, &features) < 0) {
		snprintf(err, errlen, "vec%u: %s: %s: TUNGETFEATURES: %s", cfg->index, tname, TUN_PATH,
			 strerror(errno));
		return -errno;
	}
	if (!(features & IFF_VNET_HDR) || !(features & IFF_TAP)) {
		snprintf(err, errlen, "vec%u: %s: the host's TUN/TAP driver has no %s support",
			 cfg->index, tname, (features & IFF_TAP) ? "virtio-net header" : "tap");
		return -EOPNOTSUPP;
	}
	if (ioctl(td->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		snprintf(err, errlen, "vec%u: %s: TUNSETVNETHDRSZ %d on %s: %s", cfg->index, tname,
			 hdr, td->ifname, strerror(errno));
		return -errno;
	}
	/* virtio 1.x headers are little endian; a persistent tap may have
	 * been switched to big endian by its previous user. Kernels without
	 * the switch are native endian, which is little on the hosts UML
	 * runs on. */
	if (ioctl(td->fd, TUNSETVNETLE, &le) < 0)
		nf_dbg("vec%u: %s: TUNSETVNETLE: %s", cfg->index, td->ifname, strerror(errno));
	if (ioctl(td->fd, TUNSETOFFLOAD, (unsigned long)off) < 0) {
		snprintf(err, errlen, "vec%u: %s: TUNSETOFFLOAD 0x%x on %s: %s", cfg->index, tname,
			 off, td->ifname, strerror(errno));
		return -errno;
	}
	return 0;
}

/* A tap we created is ours: up, at the guest's MTU (no ifup script could be
 * written for a name nobody knew in advance). An existing tap's link state
 * and MTU are its owner's; we only say when they will get in the way. */
static void link_setup(const struct nf_devcfg *cfg, struct tap_dev *td, int sock)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", td->ifname);
	if (td->created) {
		ifr.ifr_mtu = (int)cfg->mtu;
		if (cfg->mtu != 1500 && ioctl(sock, SIOCSIFMTU, &ifr) < 0)
			nf_warn("vec%u: cannot set MTU %u on %s: %s; larger frames will be dropped "
				"by the host", cfg->index, cfg->mtu, td->ifname, strerror(errno));
		if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
				nf_warn("vec%u: cannot bring %s up: %s", cfg->index, td->ifname,
					strerror(errno));
		}
		return;
	}
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
		nf_warn("vec%u: tap %s is down; no traffic until it is up", cfg->index, td->ifname);
	if (ioctl(sock, SIOCGIFMTU, &ifr) == 0 && (unsigned)ifr.ifr_mtu < cfg->mtu)
		nf_warn("vec%u: mtu=%u but %s has MTU %d; larger frames will be dropped by the host",
			cfg->index, cfg->mtu, td->ifname, ifr.ifr_mtu);
}

/* ---- the tap's tx_dropped counter, over rtnetlink ---- */

struct stats_req {
	uint64_t tx_dropped;
	int found;
};

static int stats_attr(const struct nlattr *a, void *data)
{
	struct stats_req *r = data;
	struct rtnl_link_stats64 st;
	if (mnl_attr_get_type(a) != IFLA_STATS64 ||
	    mnl_attr_get_payload_len(a) < sizeof(struct rtnl_link_stats64))
		return MNL_CB_OK;
	memcpy(&st, mnl_attr_get_payload(a), sizeof(st)); /* netlink aligns to 4 */
	r->tx_dropped = st.tx_dropped;
	r->found = 1;
	return MNL_CB_OK;
}

static int stats_msg(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), stats_attr, data);
}

static int link_tx_dropped(unsigned ifindex, uint64_t *out)
{
	static _Thread_local char buf[16384];
	struct stats_req r = { 0 };
	int rc = -EIO;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)ifindex;
	unsigned seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	if (mnl_cb_run(buf, (size_t)n, seq, portid, stats_msg, &r) < 0) {
		rc = -errno;
		goto out;
	}
	if (r.found) {
		*out = r.tx_dropped;
		rc = 0;
	}
out:
	mnl_socket_close(nl);
	return rc;
}

uint64_t tap_dev_drops(const struct tap_dev *td)
{
	uint64_t now = 0;
	if (link_tx_dropped(td->ifindex, &now) < 0 || now < td->drops_base)
		return 0;
	return now - td->drops_base;
}

/* ---- open / close ---- */

int tap_dev_refuse_filters(const struct nf_devcfg *cfg, const char *tname, char *err,
			   size_t errlen)
{
	const char *opt = cfg->bpffile ? "bpffile" : cfg->bpf_expr ? "bpf" : cfg->bpfflash ? "bpfflash" : NULL;
	if (!opt)
		return 0;
	snprintf(err, errlen, "vec%u: %s: not supported by transport %s: it receives from the "
		 "tap device, not a socket (receive filters work on raw, hybrid, bess and fd)",
		 cfg->index, opt, tname);
	return -EOPNOTSUPP;
}

int tap_dev_open(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td, char *err,
		 size_t errlen)
{
	const struct nf_optval *ifname = nf_devcfg_topt(cfg, "ifname");
	char driver[64] = "";
	int sock, rc;
	bool exists = false;

	*td = (struct tap_dev){ .fd = -1 };
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* for interface ioctls */
	if (sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "vec%u: %s: socket: %s", cfg->index, tname, strerror(errno));
		return rc;
	}
	if (ifname) {
		snprintf(td->ifname, sizeof(td->ifname), "%s", ifname->str);
		switch (if_kind(sock, td->ifname, driver, sizeof(driver))) {
		case IF_NONE:
			break;
		case IF_TAP:
			exists = true;
			break;
		case IF_TUN:
			snprintf(err, errlen, "vec%u: ifname: %s is a tun (layer 3) device, not a "
				 "tap", cfg->index, td->ifname);
			rc = -EINVAL;
			goto err_close_sock;
		case IF_OTHER:
			snprintf(err, errlen, "vec%u: ifname: %s is not a tap (%s)", cfg->index,
				 td->ifname, driver);
			rc = -EINVAL;
			goto err_close_sock;
		}
	}
	td->fd = open_tun(cfg, tname, err, errlen);
	if (td->fd < 0) {
		rc = td->fd;
		goto err_close_sock;
	}
	rc = attach(cfg, tname, td, exists, err, errlen);
	if (rc < 0)
		goto err_close_tap;
	rc = configure(cfg, tname, td, err, errlen);
	if (rc < 0)
		goto err_close_tap;
	td->ifindex = if_nametoindex(td->ifname);
	link_setup(cfg, td, sock);
	(void)link_tx_dropped(td->ifindex, &td->drops_base);
	close(sock);
	return 0;

err_close_tap:
	close(td->fd); /* a tap we just created goes with it */
	td->fd = -1;
err_close_sock:
	close(sock);
	return rc;
}

int tap_dev_reattach(const struct nf_devcfg *cfg, const char *tname, struct tap_dev *td)
{
	struct ifreq ifr = { 0 };
	char err[256], driver[64];
	int sock, rc;

	if (ioctl(td->fd, TUNGETIFF, &ifr) == 0)
		return 0; /* still attached: the tap was only down */
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	enum if_kind kind = if_kind(sock, td->ifname, driver, sizeof(driver));
	if (kind == IF_NONE && !td->created) {
		rc = -EAGAIN;
		goto out;
	}
	if (kind != IF_NONE && kind != IF_TAP) {
		rc = -ENODEV; /* the name now belongs to something else */
		goto out;
	}
	bool was_created = td->created;
	rc = attach(cfg, tname, td, kind == IF_TAP, err, sizeof(err));
	if (rc == 0)
		rc = configure(cfg, tname, td, err, sizeof(err));
	if (rc < 0) {
		nf_dbg("%s", err);
		td->created = was_created;
		goto out;
	}
	td->ifindex = if_nametoindex(td->ifname);
	link_setup(cfg, td, sock);
	(void)link_tx_dropped(td->ifindex, &td->drops_base);
out:
	close(sock);
	return rc;
}

void tap_dev_close(struct tap_dev *td)
{
	if (td->fd >= 0)
		close(td->fd);
	td->fd = -1;
}
