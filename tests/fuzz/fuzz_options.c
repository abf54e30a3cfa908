/* libFuzzer target: the vecN: option parser must never crash, leak or accept
 * a line without producing a consistent config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *arg = malloc(size + 1);
	char err[512];
	struct nf_devcfg cfg;

	if (!arg)
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	if (nf_opt_parse(arg, &cfg, err, sizeof(err)) == 0) {
		if (!cfg.transport || cfg.depth < 1 || cfg.depth > 1024 || cfg.mtu < 576 ||
		    cfg.mtu > 65534)
			abort();
		/* Every option the transport requires was given. */
		for (unsigned i = 0; i < cfg.transport->nopts; i++)
			if (cfg.transport->opts[i].required &&
			    !nf_devcfg_topt(&cfg, cfg.transport->opts[i].name))
				abort();
		nf_devcfg_release(&cfg);
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	free(arg);
	return 0;
}
