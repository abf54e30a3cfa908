/* memtally: the memory one appliance costs the host, from /proc.
 *
 *   memtally [-u PID] PID...
 *
 * PID... are the processes of one appliance (uml-nf, the guest kernel and
 * its helpers); -u names uml-nf's among them. One line on stdout:
 *
 *   mms=N pss_kb=N pss_anon_kb=N pss_file_kb=N pss_shmem_kb=N
 *   rss_kb=N rss_umlnf_kb=N rss_guest_kb=N guestmem_kb=N
 *
 * - pss_*: Pss from /proc/PID/smaps_rollup summed over distinct address
 *   spaces. UML's helper threads are clone(CLONE_VM) processes: each shows
 *   the smaps of the mm it shares, so counting every PID would count that
 *   mm again. Processes are grouped with kcmp(KCMP_VM). PSS splits every
 *   page between all its mappers, so the guest memory mapped by both the
 *   guest and uml-nf (and, for uml-nf, once per vhost-user device), the
 *   kernel binary shared by all appliances, and libc are each counted once
 *   in total over the host.
 * - rss_kb: the naive sum of VmRSS-like Rss over the same distinct mms;
 *   rss_umlnf_kb and rss_guest_kb: uml-nf's and the guest kernel's (the
 *   largest other mm) alone: what `ps` shows for the two. They double count.
 * - guestmem_kb: blocks allocated to the guest's RAM file (an unlinked file
 *   in TMPDIR or /dev/shm that the guest process holds open), each file
 *   counted once: the guest RAM the host really holds, mapped or not.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PIDS 4096
#define MAX_FILES 64
#define KCMP_VM 1

struct rollup {
	long rss, pss, pss_anon, pss_file, pss_shmem;
};

static int read_rollup(int pid, struct rollup *r)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	memset(r, 0, sizeof(*r));
	while (fgets(line, sizeof(line), f)) {
		long v;
		char key[64];
		if (sscanf(line, "%63[^:]: %ld kB", key, &v) != 2)
			continue;
		if (!strcmp(key, "Rss"))
			r->rss = v;
		else if (!strcmp(key, "Pss"))
			r->pss = v;
		else if (!strcmp(key, "Pss_Anon"))
			r->pss_anon = v;
		else if (!strcmp(key, "Pss_File"))
			r->pss_file = v;
		else if (!strcmp(key, "Pss_Shmem"))
			r->pss_shmem = v;
	}
	fclose(f);
	return 0;
}

static int same_mm(int a, int b)
{
	long rc = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
	return rc == 0;
}

/* Unlinked regular files the process holds open under a tmpfs-like path:
 * the guest RAM file ("/dev/shm/#1234 (deleted)", or in TMPDIR). */
static void scan_files(int pid, dev_t *devs, ino_t *inos, long *kb, int *n)
{
	char dir[64], path[384], link[512];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strstr(link, " (deleted)"))
			continue;
		struct stat st;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		int seen = 0;
		for (int i = 0; i < *n; i++)
			if (devs[i] == st.st_dev && inos[i] == st.st_ino)
				seen = 1;
		if (seen || *n >= MAX_FILES)
			continue;
		devs[*n] = st.st_dev;
		inos[*n] = st.st_ino;
		*kb += (long)st.st_blocks / 2;
		(*n)++;
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	int pids[MAX_PIDS], npids = 0, umlnf = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-u") && i + 1 < argc) {
			umlnf = atoi(argv[++i]);
			continue;
		}
		char *end;
		long p = strtol(argv[i], &end, 10);
		if (*end || p <= 0) {
			fprintf(stderr, "memtally: \"%s\" is not a PID\n", argv[i]);
			return 2;
		}
		if (npids < MAX_PIDS)
			pids[npids++] = (int)p;
	}
	if (npids == 0) {
		fprintf(stderr, "usage: memtally [-u PID] PID...\n");
		return 2;
	}
	int leaders[MAX_PIDS], nl = 0;
	struct rollup sum = { 0, 0, 0, 0, 0 };
	long rss_umlnf = 0, rss_guest = 0, guestmem = 0;
	dev_t devs[MAX_FILES];
	ino_t inos[MAX_FILES];
	int nfiles = 0;
	for (int i = 0; i < npids; i++) {
		struct rollup r;
		if (read_rollup(pids[i], &r) < 0)
			continue; /* gone meanwhile, or a kernel thread */
		scan_files(pids[i], devs, inos, &guestmem, &nfiles);
		int dup = 0;
		for (int j = 0; j < nl && !dup; j++)
			dup = same_mm(pids[i], leaders[j]);
		if (dup)
			continue;
		leaders[nl++] = pids[i];
		sum.rss += r.rss;
		sum.pss += r.pss;
		sum.pss_anon += r.pss_anon;
		sum.pss_file += r.pss_file;
		sum.pss_shmem += r.pss_shmem;
		if (pids[i] == umlnf)
			rss_umlnf = r.rss;
		else if (r.rss > rss_guest)
			rss_guest = r.rss;
	}
	printf("mms=%d pss_kb=%ld pss_anon_kb=%ld pss_file_kb=%ld pss_shmem_kb=%ld rss_kb=%ld "
	       "rss_umlnf_kb=%ld rss_guest_kb=%ld guestmem_kb=%ld\n",
	       nl, sum.pss, sum.pss_anon, sum.pss_file, sum.pss_shmem, sum.rss, rss_umlnf, rss_guest,
	       guestmem);
	return nl > 0 ? 0 : 1;
}
