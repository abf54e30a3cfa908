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

/* Every config/remove naming a vec device is ours, malformed ones included
 * (they get our error, never the guest kernel's vector driver). */
bool hp_is_vec_command(const char *cmd)
{
	if (strncmp(cmd, "config ", 7) == 0 || strncmp(cmd, "remove ", 7) == 0)
		return strncmp(cmd + 7, "vec", 3) == 0;
	return false;
}

int hp_ctl(const struct ctl_target *t, const char *cmd, struct mc_answer *ans, char *err,
	   size_t len)
{
	char reply[1024] = "";
	if (!hp_is_vec_command(cmd))
		return 0;
	if (!t->inst_dir) {
		snprintf(err, len, "%s: hot-plug needs an appliance umid, not a socket path",
			 cmd);
		return -EINVAL;
	}
	int rc = strncmp(cmd, "config ", 7) == 0 ? hp_config(t->umid, cmd + 7, reply, sizeof(reply))
						 : hp_remove(t->umid, cmd + 7, reply, sizeof(reply));
	/* Answer as mconsole does: err 0, or the negative errno. */
	ans->err = rc < 0 ? (uint32_t)rc : 0;
	ans->text = strdup(reply);
	if (!ans->text) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	ans->len = strlen(ans->text);
	return 1;
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
