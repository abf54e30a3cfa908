#include "instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "mconsole.h"

#define INST_LOCK "uml-nf.lock"
#define INST_PID "uml-nf.pid"
#define INST_MC_CLIENT "mconsole.client"
#define INST_NOTIFY "notify.sock"
#define INST_INFO "uml-nf.info"
#define INST_INFO_TMP ".uml-nf.info." /* + PID */
#define INST_CONTROL "control.sock"

/* scan() modes */
#define SCAN_CHECK 0	 /* only look */
#define SCAN_REMOVE 1	 /* unlink what is ours */
#define SCAN_KEEP_LOCK 2 /* ... except the lock file */


/* ---- processes ---------------------------------------------------------- */

/* Start time (clock ticks after boot, field 22 of /proc/PID/stat) of a live
 * process; -ESRCH if there is none or only its zombie. */
static int proc_start(pid_t pid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and ')'; fields count
	 * from the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return -ESRCH;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -ESRCH;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

/* Whether live process pid was started with the argument umid=UMID (the
 * guest kernel always is: uml-nf passes it on or adds it). */
static bool proc_has_umid(pid_t pid, const char *umid)
{
	char path[64], want[160];
	static char buf[65536];
	unsigned long long start;

	if (pid <= 1 || proc_start(pid, &start) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	snprintf(want, sizeof(want), "umid=%s", umid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strcmp(buf + i, want) == 0)
			return true;
	return false;
}

/* First number (and the second, if start is non-NULL) of file dfd/name;
 * 0 if it has none. */
static pid_t pid_file_read(int dfd, const char *name, unsigned long long *start)
{
	char buf[64];
	int pid = 0;
	unsigned long long st = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%d %llu", &pid, &st) < 1 || pid <= 0)
		return 0;
	if (start)
		*start = st;
	return (pid_t)pid;
}

/* The pid recorded in dfd/uml-nf.pid if that process is alive, else 0. */
static pid_t owner_alive(int dfd)
{
	unsigned long long rec = 0, now;
	pid_t pid = pid_file_read(dfd, INST_PID, &rec);
	return pid > 0 && proc_start(pid, &now) == 0 && now == rec ? pid : 0;
}

static int pid_file_write(int dfd)
{
	char buf[64];
	unsigned long long start = 0;
	pid_t me = getpid();
	proc_start(me, &start);
	int n = snprintf(buf, sizeof(buf), "%d %llu\n", (int)me, start);
	int fd = openat(dfd, INST_PID, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	int rc = write(fd, buf, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	return rc;
}

/* ---- directory contents --------------------------------------------------- */

static bool is_vec_sock(const char *name)
{
	if (strncmp(name, "vec", 3) != 0 || name[3] < '0' || name[3] > '9')
		return false;
	name += 3;
	while (*name >= '0' && *name <= '9')
		name++;
	return strcmp(name, ".sock") == 0;
}

/* What UML keeps in uml_dir/UMID: its pid file and the mconsole socket. */
static bool uml_entry_ok(const char *name, mode_t mode)
{
	return (strcmp(name, "pid") == 0 && S_ISREG(mode)) ||
	       (strcmp(name, "mconsole") == 0 && S_ISSOCK(mode));
}

/* "ctl.PID.sock": a `uml-nf ctl` client's address. */
static bool is_ctl_sock(const char *name)
{
	if (strncmp(name, "ctl.", 4) != 0 || name[4] < '0' || name[4] > '9')
		return false;
	name += 4;
	while (*name >= '0' && *name <= '9')
		name++;
	return strcmp(name, ".sock") == 0;
}

static bool inst_entry_ok(const char *name, mode_t mode)
{
	if (strcmp(name, INST_LOCK) == 0 || strcmp(name, INST_PID) == 0 ||
	    strcmp(name, INST_INFO) == 0 ||
	    strncmp(name, INST_INFO_TMP, sizeof(INST_INFO_TMP) - 1) == 0)
		return S_ISREG(mode);
	if (strcmp(name, INST_MC_CLIENT) == 0 || strcmp(name, INST_NOTIFY) == 0 ||
	    strcmp(name, INST_CONTROL) == 0 || is_vec_sock(name) || is_ctl_sock(name))
		return S_ISSOCK(mode);
	return false;
}

/* Walks directory dfd (the instance directory, or with sub the UML umid
 * directory in it); mode: SCAN_*. Returns 0, or -ENOTEMPTY with the first
 * entry that is not ours named in err (nothing is removed in SCAN_CHECK;
 * with SCAN_REMOVE the others still are), or -errno. */
static int scan(int dfd, const char *umid, bool sub, int mode, char *err, size_t len)
{
	int rc = 0;
	int fd = dup(dfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d); /* the dup shares dfd's offset, left at the end by an earlier scan */
	for (struct dirent *e; (e = readdir(d));) {
		const char *name = e->d_name;
		struct stat st;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (!sub && strcmp(name, umid) == 0 && S_ISDIR(st.st_mode)) {
			char sub_err[300];
			int sfd =
			    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int r = sfd < 0 ? -errno
					: scan(sfd, umid, true, mode, sub_err, sizeof(sub_err));
			if (sfd >= 0)
				close(sfd);
			if (r < 0 && !rc) {
				if (r == -ENOTEMPTY)
					snprintf(err, len, "%s", sub_err);
				else
					snprintf(err, len, "%s/: %s", name, strerror(-r));
				rc = r;
			}
			if (r == 0 && (mode & SCAN_REMOVE))
				unlinkat(dfd, name, AT_REMOVEDIR);
			continue;
		}
		bool ok = sub ? uml_entry_ok(name, st.st_mode) : inst_entry_ok(name, st.st_mode);
		if (!ok) {
			if (!rc) {
				snprintf(err, len, "%s%s%s", sub ? umid : "", sub ? "/" : "", name);
				rc = -ENOTEMPTY;
			}
			if (!(mode & SCAN_REMOVE))
				break;
			continue;
		}
		if (!(mode & SCAN_REMOVE))
			continue;
		if (!sub && (mode & SCAN_KEEP_LOCK) && strcmp(name, INST_LOCK) == 0)
			continue;
		unlinkat(dfd, name, 0);
	}
	closedir(d);
	return rc;
}

/* ---- create, reclaim, remove --------------------------------------------- */

/* Builds BASE/.UMID.new-PID with its lock held and our pid file, and renames
 * it to BASE/UMID. Returns 0 (we own it), -EEXIST (there is one already), or
 * another -errno with err set. */
static int inst_publish(struct inst *in, char *err, size_t len)
{
	char tmp[300];
	int rc, dfd = -1, lfd = -1;

	snprintf(tmp, sizeof(tmp), "%s/.%s.new-%d", in->base, in->umid, (int)getpid());
	if (mkdir(tmp, 0700) < 0) {
		/* Left by a process that died here with our pid: only it can
		 * have made this name, and only these two files. */
		char p[340];
		snprintf(p, sizeof(p), "%s/" INST_LOCK, tmp);
		unlink(p);
		snprintf(p, sizeof(p), "%s/" INST_PID, tmp);
		unlink(p);
		rmdir(tmp);
		if (mkdir(tmp, 0700) < 0) {
			rc = -errno;
			snprintf(err, len, "cannot create %s: %s", tmp, strerror(errno));
			return rc;
		}
	}
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		goto err_errno;
	lfd = openat(dfd, INST_LOCK, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
		goto err_errno;
	rc = pid_file_write(dfd);
	if (rc < 0) {
		errno = -rc;
		goto err_errno;
	}
	if (rename(tmp, in->dir) < 0) {
		rc = errno == ENOTEMPTY || errno == EEXIST ? -EEXIST : -errno;
		if (rc != -EEXIST)
			snprintf(err, len, "cannot create %s: %s", in->dir, strerror(-rc));
		goto err_remove;
	}
	close(dfd);
	in->lock_fd = lfd;
	return 0;

err_errno:
	rc = -errno;
	snprintf(err, len, "cannot create %s: %s", tmp, strerror(errno));
err_remove:
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0) {
		unlinkat(dfd, INST_LOCK, 0);
		unlinkat(dfd, INST_PID, 0);
		close(dfd);
	}
	rmdir(tmp);
	return rc;
}

/* A guest that still runs for this umid: its mconsole socket answers, or
 * UML's pid file names a live process started with our umid. Returns 1 with
 * err set, 0 if there is none. */
static int guest_alive(const struct inst *in, const char *uml_dir, char *err, size_t len)
{
	char mc[512], pid_path[512], who[32] = "";
	const char *udir = uml_dir ? uml_dir : in->dir;
	snprintf(mc, sizeof(mc), "%s/%s/mconsole", udir, in->umid);
	snprintf(pid_path, sizeof(pid_path), "%s/%s/pid", udir, in->umid);

	/* Under uml-nf the guest is PID 1 of its own namespace, and that is
	 * what it writes there: only a pid that runs with our umid counts. */
	pid_t gpid = pid_file_read(AT_FDCWD, pid_path, NULL);
	if (!proc_has_umid(gpid, in->umid))
		gpid = 0;
	int rc = mc_listening(mc);
	if (rc == 0 && !gpid)
		return 0;
	if (gpid)
		snprintf(who, sizeof(who), " (pid %d)", (int)gpid);
	if (rc < 0)
		snprintf(err, len,
			 "umid=%s: cannot tell whether a guest still listens on %s (%s): "
			 "not reclaiming %s",
			 in->umid, mc, strerror(-rc), in->dir);
	else
		snprintf(err, len,
			 "umid=%s: the guest kernel%s of a uml-nf that is gone still runs%s: "
			 "halt it (uml_mconsole %s halt) and retry",
			 in->umid, who, rc ? " and answers on its mconsole" : "", mc);
	return 1;
}

/* BASE/UMID exists: take it over if its owner is gone. Returns 0 (we own it),
 * -EAGAIN (it changed under us: try again), or -errno with err set. */
static int inst_reclaim(struct inst *in, const char *uml_dir, char *err, size_t len)
{
	struct stat dst, pst, lst, lpst;
	int rc, dfd, lfd = -1;
	bool created = false;
	char what[300];

	dfd = open(in->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return -EAGAIN;
		rc = -errno;
		snprintf(err, len,
			 "umid=%s: %s exists but cannot be opened as a directory (%s): "
			 "not touching it",
			 in->umid, in->dir, strerror(errno));
		return rc;
	}
	if (fstat(dfd, &dst) < 0 || dst.st_uid != geteuid()) {
		snprintf(err, len, "umid=%s: %s belongs to uid %u, not to us: not touching it",
			 in->umid, in->dir, (unsigned)dst.st_uid);
		rc = -EPERM;
		goto out_close;
	}
	lfd = openat(dfd, INST_LOCK, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (lfd < 0 && errno == ENOENT) {
		/* No lock file: made by a uml-nf from before the lock, or
		 * half removed. Whoever creates the lock file decides. */
		lfd = openat(dfd, INST_LOCK, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			     0600);
		if (lfd < 0 && errno == EEXIST) {
			rc = -EAGAIN;
			goto out_close;
		}
		created = lfd >= 0;
	}
	if (lfd < 0) {
		rc = -errno;
		snprintf(err, len, "umid=%s: cannot open %s/" INST_LOCK ": %s", in->umid, in->dir,
			 strerror(errno));
		goto out_close;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		pid_t pid = owner_alive(dfd);
		if (pid)
			snprintf(err, len,
				 "umid=%s: another uml-nf (pid %d) with this umid is running "
				 "(%s)",
				 in->umid, (int)pid, in->dir);
		else
			snprintf(err, len,
				 "umid=%s: another uml-nf with this umid is starting or "
				 "stopping right now (it holds %s/" INST_LOCK ")",
				 in->umid, in->dir);
		rc = -EBUSY;
		goto out_close;
	}
	/* Locked; but is it still the directory's lock? An owner that was
	 * exiting may have renamed the directory away, and someone else may
	 * have published a new one since. */
	if (fstat(lfd, &lst) < 0 || fstatat(dfd, INST_LOCK, &lpst, AT_SYMLINK_NOFOLLOW) < 0 ||
	    lst.st_ino != lpst.st_ino || lst.st_dev != lpst.st_dev || lstat(in->dir, &pst) < 0 ||
	    pst.st_ino != dst.st_ino || pst.st_dev != dst.st_dev) {
		rc = -EAGAIN;
		goto out_close;
	}
	/* The lock is ours, so no uml-nf holds it. One that never took it
	 * (from before the lock) would still show in its pid file. */
	pid_t pid = owner_alive(dfd);
	if (pid) {
		snprintf(err, len,
			 "umid=%s: another uml-nf (pid %d) with this umid is running (%s)",
			 in->umid, (int)pid, in->dir);
		rc = -EBUSY;
		goto out_unlock;
	}
	if (guest_alive(in, uml_dir, err, len)) {
		rc = -EBUSY;
		goto out_unlock;
	}
	rc = scan(dfd, in->umid, false, SCAN_CHECK, what, sizeof(what));
	if (rc < 0) {
		if (rc == -ENOTEMPTY)
			snprintf(err, len,
				 "umid=%s: the uml-nf that used %s is gone, but %s/%s is not "
				 "something uml-nf or UML put there: not reclaiming it (remove the "
				 "directory yourself if it is not needed)",
				 in->umid, in->dir, in->dir, what);
		else
			snprintf(err, len, "umid=%s: cannot read %s: %s", in->umid, in->dir,
				 strerror(-rc));
		goto out_unlock;
	}
	unsigned long long start;
	pid_t old = pid_file_read(dfd, INST_PID, &start);
	scan(dfd, in->umid, false, SCAN_REMOVE | SCAN_KEEP_LOCK, what, sizeof(what));
	rc = pid_file_write(dfd);
	if (rc < 0) {
		snprintf(err, len, "umid=%s: cannot write %s/" INST_PID ": %s", in->umid, in->dir,
			 strerror(-rc));
		goto out_unlock;
	}
	if (old)
		nf_info("umid=%s: reclaimed %s, left by uml-nf pid %d, which is gone", in->umid,
			in->dir, (int)old);
	else
		nf_info("umid=%s: reclaimed %s, left by a uml-nf that is gone", in->umid, in->dir);
	close(dfd);
	in->lock_fd = lfd;
	return 0;

out_unlock:
	if (created)
		unlinkat(dfd, INST_LOCK, 0);
out_close:
	if (lfd >= 0)
		close(lfd);
	close(dfd);
	return rc;
}

int inst_create(struct inst *in, const char *base, const char *umid, const char *uml_dir, char *err,
		size_t len)
{
	in->lock_fd = -1;
	if ((size_t)snprintf(in->base, sizeof(in->base), "%s", base) >= sizeof(in->base) ||
	    (size_t)snprintf(in->umid, sizeof(in->umid), "%s", umid) >= sizeof(in->umid) ||
	    (size_t)snprintf(in->dir, sizeof(in->dir), "%s/%s", base, umid) >= sizeof(in->dir)) {
		snprintf(err, len, "umid=%s: instance path under %s too long", umid, base);
		return -ENAMETOOLONG;
	}
	/* A few rounds: each retry means a directory came or went meanwhile. */
	for (int round = 0; round < 5; round++) {
		int rc = inst_publish(in, err, len);
		if (rc != -EEXIST)
			return rc;
		rc = inst_reclaim(in, uml_dir, err, len);
		if (rc != -EAGAIN)
			return rc;
		usleep(20000);
	}
	snprintf(err, len,
		 "umid=%s: %s keeps changing (other uml-nf starting and stopping with "
		 "this umid?)",
		 umid, in->dir);
	return -EBUSY;
}

void inst_remove(struct inst *in)
{
	char gone[300], what[300];
	int dfd;

	if (in->lock_fd < 0)
		return;
	dfd = open(in->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		nf_warn("cannot open %s to remove it: %s", in->dir, strerror(errno));
		goto out;
	}
	if (scan(dfd, in->umid, false, SCAN_CHECK, what, sizeof(what)) == 0) {
		/* Out of the way first (lock still held), so no newcomer ever
		 * sees it half emptied. */
		snprintf(gone, sizeof(gone), "%s/.%s.old-%d", in->base, in->umid, (int)getpid());
		const char *where = rename(in->dir, gone) == 0 ? gone : in->dir;
		scan(dfd, in->umid, false, SCAN_REMOVE, what, sizeof(what));
		if (rmdir(where) < 0)
			nf_warn("could not remove %s: %s", where, strerror(errno));
	} else {
		scan(dfd, in->umid, false, SCAN_REMOVE, what, sizeof(what));
		nf_warn("left %s: it holds %s, which uml-nf did not put there", in->dir, what);
	}
	close(dfd);
out:
	close(in->lock_fd);
	in->lock_fd = -1;
}

/* ---- for readers: base, info file, probing -------------------------------- */

const char *inst_base(char *buf, size_t len)
{
	const char *env = getenv("UMLNF_RUNDIR");
	if (env && *env)
		return env;
	if (geteuid() == 0)
		return "/run/uml-nf";
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env) {
		snprintf(buf, len, "%s/uml-nf", env);
		return buf;
	}
	snprintf(buf, len, "/tmp/uml-nf-%u", (unsigned)geteuid());
	return buf;
}

int inst_info_write(const struct inst *in, const char *text)
{
	char tmp[64];
	int rc = 0;
	if (in->lock_fd < 0)
		return -EBADF;
	int dfd = open(in->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	snprintf(tmp, sizeof(tmp), INST_INFO_TMP "%d", (int)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n)
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dfd, tmp, dfd, INST_INFO) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dfd, tmp, 0);
out:
	close(dfd);
	return rc;
}

const char *inst_info_get(const char *info, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	for (const char *line = info; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t llen = end ? (size_t)(end - line) : strlen(line);
		if (line[0] != '#' && llen > klen && strncmp(line, key, klen) == 0 &&
		    line[klen] == '=') {
			size_t vlen = llen - klen - 1;
			if (vlen >= len)
				vlen = len - 1;
			memcpy(val, line + klen + 1, vlen);
			val[vlen] = '\0';
			return val;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

bool inst_pid_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;
	return pid > 0 && proc_start(pid, &now) == 0 && now == start;
}

/* Whether /proc/locks lists a flock() on the file st describes. Returns 1
 * or 0, -errno when /proc/locks cannot be read. Lines look like
 *   "7: FLOCK  ADVISORY  WRITE 22517 fe:00:1130612 0 EOF"
 * (waiters as "7: -> FLOCK ..."; the device is major:minor in hex). */
static int flock_held(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		char kind[16], type[16];
		unsigned maj, min;
		unsigned long long ino;
		int pid;
		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%llu", kind, type, &pid, &maj, &min,
			   &ino) != 6)
			continue;
		found = strcmp(kind, "FLOCK") == 0 && maj == major(st->st_dev) &&
			min == minor(st->st_dev) && ino == (unsigned long long)st->st_ino;
	}
	free(line);
	fclose(f);
	return found;
}

int inst_probe(const char *base, const char *umid, struct inst_probe *p)
{
	struct stat st;
	memset(p, 0, sizeof(*p));
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", base, umid) >= sizeof(p->dir))
		return -ENAMETOOLONG;
	int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	if (fstatat(dfd, INST_LOCK, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		int rc = errno == EACCES ? -EACCES : -ENOTDIR;
		close(dfd);
		return rc;
	}
	p->pid = pid_file_read(dfd, INST_PID, &p->pid_start);
	int held = flock_held(&st);
	/* Without /proc/locks, the pid file and the process it names. */
	p->running = held < 0 ? owner_alive(dfd) != 0 : held == 1;
	int fd = openat(dfd, INST_INFO, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, p->info, sizeof(p->info) - 1);
		p->info[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	close(dfd);
	return 0;
}
