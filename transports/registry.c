/* The one list of transports. The option parser, --help and the launcher all
 * read it; nothing else names transports. */
#include "transport.h"

#include <string.h>

#include "util.h"

extern const struct nf_transport nf_transport_raw;
extern const struct nf_transport nf_transport_tap;
extern const struct nf_transport nf_transport_hybrid;
extern const struct nf_transport nf_transport_bess;
extern const struct nf_transport nf_transport_fd;
extern const struct nf_transport nf_transport_gre;
extern const struct nf_transport nf_transport_l2tpv3;

const struct nf_transport *const nf_transports[] = {
	&nf_transport_raw,
	&nf_transport_tap,
	&nf_transport_hybrid,
	&nf_transport_bess,
	&nf_transport_fd,
	&nf_transport_gre,
	&nf_transport_l2tpv3,
};

const unsigned nf_ntransports = NF_ARRAY_SIZE(nf_transports);

const struct nf_transport *nf_transport_find(const char *name)
{
	for (unsigned i = 0; i < nf_ntransports; i++)
		if (strcmp(nf_transports[i]->name, name) == 0)
			return nf_transports[i];
	return NULL;
}
