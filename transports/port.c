#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int nf_port_set_filter(struct nf_port *port, const struct bf_prog *prog, char *err,
		       size_t errlen)
{
	const struct nf_transport *t = port->transport;
	int rc = t->set_filter ? t->set_filter(port, prog) : bf_attach(port->rx_fd, prog);
	if (rc == -ENOTSOCK)
		snprintf(err, errlen, "the %s transport receives from a device, not a socket: "
			 "socket filters cannot apply", t->name);
	else if (rc == -EOPNOTSUPP)
		snprintf(err, errlen, "the %s transport takes no receive filter", t->name);
	else if (rc < 0)
		snprintf(err, errlen, "the kernel refused the filter (%d instructions): %s",
			 prog->len, strerror(-rc));
	return rc;
}

int nf_port_open(const struct nf_devcfg *cfg, struct nf_port **out, char *err, size_t errlen)
{
	struct bf_prog prog = { NULL, 0 };
	char why[512];
	int rc = 0;

	/* Load or compile first: a bad filter must fail before anything is
	 * opened on the host. */
	if (cfg->bpffile)
		rc = bf_load_file(cfg->bpffile, &prog, why, sizeof(why));
	else if (cfg->bpf_expr)
		rc = bf_compile(cfg->bpf_expr, &prog, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "vec%u: %s: %s", cfg->index, cfg->bpffile ? "bpffile" : "bpf",
			 why);
		return rc;
	}
	rc = cfg->transport->open(cfg, out, err, errlen);
	if (rc < 0)
		goto out;
	if (prog.len) {
		rc = nf_port_set_filter(*out, &prog, why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "vec%u: %s: %s", cfg->index,
				 cfg->bpffile ? "bpffile" : "bpf", why);
			cfg->transport->close(*out);
			*out = NULL;
		}
	}
out:
	bf_free(&prog);
	return rc;
}
