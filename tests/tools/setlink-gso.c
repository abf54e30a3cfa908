/* setlink-gso IFNAME SIZE: sets gso_max_size, gro_max_size and their IPv4
 * twins (gso_ipv4_max_size, gro_ipv4_max_size; Linux 6.3+) of a link in the
 * current network namespace over rtnetlink. Debian 12's iproute2 predates
 * the IPv4 ones, and without them IPv4 BIG TCP never makes frames above
 * 64 KiB. Test helper only. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef IFLA_GSO_IPV4_MAX_SIZE
#define IFLA_GSO_IPV4_MAX_SIZE 63
#define IFLA_GRO_IPV4_MAX_SIZE 64
#endif

int main(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	if (argc != 3) {
		fprintf(stderr, "usage: setlink-gso IFNAME SIZE\n");
		return 2;
	}
	unsigned idx = if_nametoindex(argv[1]);
	uint32_t size = (uint32_t)strtoul(argv[2], NULL, 0);
	if (!idx) {
		fprintf(stderr, "setlink-gso: no interface %s\n", argv[1]);
		return 1;
	}
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)idx;
	mnl_attr_put_u32(nlh, IFLA_GSO_MAX_SIZE, size);
	mnl_attr_put_u32(nlh, IFLA_GRO_MAX_SIZE, size);
	mnl_attr_put_u32(nlh, IFLA_GSO_IPV4_MAX_SIZE, size);
	mnl_attr_put_u32(nlh, IFLA_GRO_IPV4_MAX_SIZE, size);

	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("setlink-gso: netlink");
		return 1;
	}
	int rc = 1;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		perror("setlink-gso: send");
	} else {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			perror("setlink-gso: recv");
		else if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL,
				    NULL) < 0)
			fprintf(stderr, "setlink-gso: %s: %s\n", argv[1], strerror(errno));
		else
			rc = 0;
	}
	mnl_socket_close(nl);
	return rc;
}
