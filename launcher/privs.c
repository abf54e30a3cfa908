#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int cap_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int cap_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int pv_current(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_data_struct d[2];
	int rc = cap_get(d);
	if (rc < 0)
		return rc;
	*effective = (uint64_t)d[1].effective << 32 | d[0].effective;
	*permitted = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	return 0;
}

int pv_drop(uint64_t keep)
{
	/* The bounding set first: emptying it needs CAP_SETPCAP, which we
	 * may hold only now. Without it (file capabilities) this is skipped:
	 * no_new_privs below already keeps an exec from gaining anything. */
	for (int cap = 0; cap <= 63; cap++) {
		if ((keep >> cap) & 1)
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM)
			break; /* EINVAL: past the last capability this kernel knows */
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;

	struct __user_cap_data_struct d[2];
	int rc = cap_get(d);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));
		d[i].permitted &= k;
		d[i].effective = 0;
		d[i].inheritable = 0;
	}
	return cap_set(d);
}

static int set_effective(uint64_t caps)
{
	struct __user_cap_data_struct d[2];
	int rc = cap_get(d);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 2; i++)
		d[i].effective = d[i].permitted & (uint32_t)(caps >> (32 * i));
	return cap_set(d);
}

int pv_raise(uint64_t caps)
{
	return set_effective(caps);
}

int pv_lower(void)
{
	return set_effective(0);
}
