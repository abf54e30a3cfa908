#include "hotplug.h"

#include <string.h>

/* "vec" followed by digits, then the end, ':' or '=' ("vecN:spec" adds,
 * a bare "vecN" queries or removes). */
static bool is_vec_dev(const char *p)
{
	if (strncmp(p, "vec", 3) != 0 || p[3] < '0' || p[3] > '9')
		return false;
	p += 3;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0' || *p == ':' || *p == '=';
}

bool hp_is_vec_command(const char *cmd)
{
	if (strncmp(cmd, "config ", 7) == 0)
		return is_vec_dev(cmd + 7);
	if (strncmp(cmd, "remove ", 7) == 0)
		return is_vec_dev(cmd + 7);
	return false;
}

int hp_ctl(const struct ctl_target *t, const char *cmd, struct mc_answer *ans, char *err,
	   size_t len)
{
	(void)t, (void)ans, (void)err, (void)len;
	if (!hp_is_vec_command(cmd))
		return 0;
	/* uml-nf does not add or remove its devices at run time yet: like any
	 * other config, the command goes to the guest's mconsole (where UML's
	 * own vector driver, if the kernel has it, takes vecN: for itself). */
	return 0;
}
