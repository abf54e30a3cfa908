/* Hot-plug: the mconsole-like client calls and the control socket's
 * handlers (see hotplug.h). */
#include "hotplug.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "csock_client.h"
#include "csock_proto.h"
#include "csock_server.h"
#include "options.h"
#include "port.h"
#include "transport.h"

/* ---- client ---- */

int hp_config(const char *umid, const char *spec, char *reply, size_t len)
{
	char req[512];
	unsigned index;

	if (strchr(spec, ':')) {
		/* Spaces only where bpf= takes a tcpdump expression. */
		if (!nf_opt_is_device(spec) || (strchr(spec, ' ') && !strstr(spec, "bpf="))) {
			snprintf(reply, len, "\"%s\": expected vecN:transport=NAME,key=value,...",
				 spec);
			return -EINVAL;
		}
		if ((size_t)snprintf(req, sizeof(req), "attach %s", spec) >= sizeof(req)) {
			snprintf(reply, len, "device spec too long");
			return -EINVAL;
		}
	} else {
		if (csp_dev_parse(spec, &index) < 0) {
			snprintf(reply, len, "\"%s\": expected vecN or vecN:transport=NAME,...",
				 spec);
			return -EINVAL;
		}
		snprintf(req, sizeof(req), "query %s", spec);
	}
	return csc_call(umid, req, reply, len);
}

int hp_remove(const char *umid, const char *dev, char *reply, size_t len)
{
	char req[64];
	unsigned index;
	if (csp_dev_parse(dev, &index) < 0) {
		snprintf(reply, len, "\"%s\": expected a device vecN", dev);
		return -EINVAL;
	}
	snprintf(req, sizeof(req), "detach vec%u", index);
	return csc_call(umid, req, reply, len);
}

static void ctl_usage(FILE *out)
{
	fprintf(out,
		"Usage: uml-nf ctl UMID config vecN:transport=NAME,key=value,...\n"
		"       uml-nf ctl UMID config vecN\n"
		"       uml-nf ctl UMID remove vecN\n"
		"\n"
		"Hot-plug, as UML's mconsole config/remove: config gives vecN of the running\n"
		"uml-nf (a spare from --spare-nics, or a device removed before) a transport\n"
		"and sets its link up; with just vecN it prints vecN's transport. remove takes\n"
		"the transport away: the guest keeps its NIC with the link down, counters stay.\n"
		"The options must fit what the guest negotiated when it booted (spares: gro=1,\n"
		"mrg=0, mtu 1500, depth up to 256).\n");
}

int nf_ctl_main(int argc, char **argv)
{
	char reply[1024];
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		ctl_usage(stdout);
		return 0;
	}
	/* config's spec may go on in further words (a bpf= expression). */
	char spec[4096];
	size_t n = 0;
	for (int i = 3; i < argc && n < sizeof(spec); i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s%s", i > 3 ? " " : "", argv[i]);
	if (argc < 4 || (strcmp(argv[2], "config") != 0 && strcmp(argv[2], "remove") != 0) ||
	    (strcmp(argv[2], "remove") == 0 && argc != 4) || n >= sizeof(spec)) {
		fprintf(stderr,
			"uml-nf: error: ctl: expected UMID config vecN[:...] or UMID remove "
			"vecN (only these in this build; see uml-nf ctl --help)\n");
		return 2;
	}
	if (strcmp(argv[2], "config") == 0)
		rc = hp_config(argv[1], spec, reply, sizeof(reply));
	else
		rc = hp_remove(argv[1], argv[3], reply, sizeof(reply));
	if (rc < 0) {
		fprintf(stderr, "uml-nf: error: ctl: %s: %s\n", argv[2], reply);
		return rc == -EINVAL ? 2 : 1;
	}
	if (reply[0])
		printf("%s\n", reply);
	return 0;
}

/* ---- server (control socket thread) ---- */

/* Whether the option list after "vecN:" in spec sets key (bpf= takes the
 * rest of the spec: nothing after it is an option). */
static bool spec_has(const char *spec, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = strchr(spec, ':'); p; p = strchr(p, ',')) {
		p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return true;
		if (strncmp(p, "bpf=", 4) == 0)
			break;
	}
	return false;
}

/* spec with the options the device fixes (gro, mrg, mtu) added where it
 * leaves them out, so "vec2:transport=raw,ifname=X" fits a spare. */
static int spec_complete(struct nf_engine *eng, const char *spec, char *out, size_t len)
{
	char fixed[64];
	unsigned long index = strtoul(spec + 3, NULL, 10); /* nf_opt_is_device checked it */
	const char *colon = strchr(spec, ':');
	size_t n = (size_t)(colon - spec) + 1;
	if (n >= len)
		return -EINVAL;
	memcpy(out, spec, n); /* "vecN:"; the defaults go first, bpf= may end the spec */
	if (index <= 63 && nf_engine_fixed_opts(eng, (unsigned)index, fixed, sizeof(fixed)) == 0) {
		char *save = NULL;
		for (char *opt = strtok_r(fixed, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
			char key[16];
			snprintf(key, sizeof(key), "%.*s", (int)strcspn(opt, "="), opt);
			if (spec_has(spec, key))
				continue;
			n += (size_t)snprintf(out + n, len - n, "%s,", opt);
			if (n >= len)
				return -EINVAL;
		}
	} /* else no such device: attach says so */
	n += (size_t)snprintf(out + n, len - n, "%s", colon + 1);
	return n < len ? 0 : -EINVAL;
}

static int serve_attach(void *ctx, const char *spec, char *reply, size_t len)
{
	struct nf_engine *eng = ctx;
	struct nf_devcfg *cfg = NULL;
	struct nf_port *port = NULL;
	char full[1024];
	int rc;

	if (!nf_opt_is_device(spec) || spec_complete(eng, spec, full, sizeof(full)) < 0) {
		snprintf(reply, len, "expected vecN:transport=NAME,key=value,...");
		return -EINVAL;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		snprintf(reply, len, "out of memory");
		return -ENOMEM;
	}
	rc = nf_opt_parse(full, cfg, reply, len);
	if (rc < 0) {
		free(cfg);
		return rc;
	}
	rc = nf_port_open(cfg, &port, reply, len); /* with its receive filter, if any */
	if (rc < 0)
		goto err_release;
	rc = nf_engine_attach(eng, cfg, port, reply, len); /* takes port */
	if (rc < 0)
		goto err_release;
	return 0;

err_release:
	nf_devcfg_release(cfg);
	free(cfg);
	return rc;
}

static int serve_detach(void *ctx, unsigned index, char *reply, size_t len)
{
	return nf_engine_detach(ctx, index, reply, len);
}

static int serve_query(void *ctx, unsigned index, char *reply, size_t len)
{
	int rc = nf_engine_spec(ctx, index, reply, len);
	if (rc < 0)
		snprintf(reply, len, "vec%u: no such device", index);
	return rc;
}

void hp_server_ops(struct cs_hotplug_ops *ops, struct nf_engine *eng)
{
	*ops = (struct cs_hotplug_ops){serve_attach, serve_detach, serve_query, eng};
}
