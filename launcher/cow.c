#include "cow.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cowfmt.h"
#include "json.h"
#include "log.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* A merge moves this much per read: big enough for few syscalls, small
 * enough to stay out of the way. */
#define CHUNK_BYTES (1u << 20)

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uml-nf cow create [-f] -b BACKING COW\n"
		"       uml-nf cow create [-f] COW BACKING      (uml_mkcow's order)\n"
		"       uml-nf cow info [-b BACKING] [--json] COW\n"
		"       uml-nf cow merge [-b BACKING] COW NEW_IMAGE\n"
		"       uml-nf cow merge [-b BACKING] -d COW\n"
		"\n"
		"UML copy-on-write disks (COW format version 3; versions 1 and 2 are read too).\n"
		"  create   an empty COW over BACKING, as the kernel and uml_mkcow make it\n"
		"           (BACKING's size, mtime and absolute path recorded); -f replaces\n"
		"           an existing COW\n"
		"  info     the header (version, backing file, its recorded mtime and size,\n"
		"           sector size, alignment, offsets), how many sectors the COW holds,\n"
		"           and whether the backing file still matches\n"
		"  merge    the COW applied to its backing file, into NEW_IMAGE (a new file:\n"
		"           the same bytes and holes uml_moo writes), or with -d into the\n"
		"           backing file itself (that changes its mtime: every COW over it,\n"
		"           this one included, is out of date afterwards)\n"
		"  -b BACKING  the backing file to use instead of the one the header names\n"
		"              (a COW made in a chroot, a moved image); it must still have\n"
		"              the recorded size and mtime\n"
		"Bad input (not a COW, truncated, backing missing or changed, COW in use)\n"
		"changes nothing; new files appear only complete.\n");
}

/* ---- small file helpers --------------------------------------------------- */

/* Reads len bytes at off, fewer only at end of file. Returns the count or
 * -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static const char *fmt_time(uint32_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%u", t);
	return buf;
}

/* The pid of a process holding a POSIX lock on fd (UML locks every disk file
 * it opens: a write lock on a COW, a read lock on its backing file), -1 if
 * that process is in no PID namespace of ours, 0 when there is none. */
static pid_t lock_holder(int fd)
{
	/* Asking for a write lock finds any lock, read locks included. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid > 0 ? fl.l_pid : -1;
}

/* ---- new files, complete or not at all ------------------------------------ */

/* The one file a cow subcommand is writing, removed if a signal ends us. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_live;

static void on_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Opens a new empty file next to path, as .NAME.XXXXXX. Returns the fd or
 * -errno (err set). */
static int tmp_open(const char *path, char *err, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	if ((size_t)snprintf(tmp_path, sizeof(tmp_path), "%s/.%s.XXXXXX", dirname(dir),
			     basename(base)) >= sizeof(tmp_path)) {
		snprintf(err, len, "%s: name too long", path);
		return -ENAMETOOLONG;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int fd = mkostemp(tmp_path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, len, "cannot create a file next to %s: %s", path, strerror(e));
		return -e;
	}
	tmp_live = 1;
	return fd;
}

static void tmp_abort(int fd)
{
	if (fd >= 0)
		close(fd);
	if (tmp_live)
		unlink(tmp_path);
	tmp_live = 0;
}

/* Gives the file the mode a plain creat(path, 0644) would, flushes it and
 * renames it to path. Closes fd; on failure the file is removed. */
static int tmp_commit(int fd, const char *path, char *err, size_t len)
{
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0644 & ~mask) < 0 || fsync(fd) < 0) {
		int e = errno;
		snprintf(err, len, "writing %s: %s", path, strerror(e));
		tmp_abort(fd);
		return -e;
	}
	close(fd);
	if (rename(tmp_path, path) < 0) {
		int e = errno;
		snprintf(err, len, "cannot rename the new file to %s: %s", path, strerror(e));
		tmp_abort(-1);
		return -e;
	}
	tmp_live = 0;
	return 0;
}

/* ---- reading a COW -------------------------------------------------------- */

struct cow_file {
	int fd;
	struct stat st;
	struct cow_hdr h;
};

/* Opens path and parses its header. Returns 0 or -errno with err set
 * ("PATH: reason"). */
static int cow_open(const char *path, int flags, struct cow_file *c, char *err, size_t len)
{
	uint8_t buf[COW_HDR_MAX];
	char why[256];

	c->fd = open(path, flags | O_CLOEXEC);
	if (c->fd < 0) {
		int e = errno;
		snprintf(err, len, "%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(c->fd, &c->st) < 0 || !S_ISREG(c->st.st_mode)) {
		snprintf(err, len, "%s: not a regular file", path);
		close(c->fd);
		c->fd = -1;
		return -EINVAL;
	}
	ssize_t n = pread_full(c->fd, buf, sizeof(buf), 0);
	int rc = n < 0 ? (int)n : cow_hdr_parse(buf, (size_t)n, &c->h, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, len, "%s: %s", path, n < 0 ? strerror((int)-n) : why);
		close(c->fd);
		c->fd = -1;
		return rc;
	}
	if ((uint64_t)c->st.st_size < c->h.bitmap_offset + c->h.bitmap_len) {
		snprintf(err, len, "%s: truncated COW file (%lld bytes, its bitmap ends at %llu)",
			 path, (long long)c->st.st_size,
			 (unsigned long long)(c->h.bitmap_offset + c->h.bitmap_len));
		close(c->fd);
		c->fd = -1;
		return -ENODATA;
	}
	return 0;
}

static void cow_close(struct cow_file *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Bitmap bytes [byte, byte + n) into out; what lies past the bitmap (the short
 * bitmaps of versions 1 and 2) reads as zero. */
static int bitmap_read(const struct cow_file *c, uint64_t byte, size_t n, uint8_t *out)
{
	memset(out, 0, n);
	if (byte >= c->h.bitmap_len)
		return 0;
	size_t want = c->h.bitmap_len - byte < n ? (size_t)(c->h.bitmap_len - byte) : n;
	ssize_t got = pread_full(c->fd, out, want, (off_t)(c->h.bitmap_offset + byte));
	if (got < 0)
		return (int)got;
	return (size_t)got == want ? 0 : -ENODATA;
}

/* Counts the set bits among the first nbits and finds the highest one. */
static int bitmap_scan(const struct cow_file *c, uint64_t nbits, uint64_t *count, int64_t *last)
{
	static uint8_t buf[65536];
	*count = 0;
	*last = -1;
	for (uint64_t bit = 0; bit < nbits; bit += sizeof(buf) * 8) {
		uint64_t n = nbits - bit < sizeof(buf) * 8 ? nbits - bit : sizeof(buf) * 8;
		int rc = bitmap_read(c, bit / 8, (size_t)((n + 7) / 8), buf);
		if (rc < 0)
			return rc;
		*count += cow_bitmap_count(buf, n);
		int64_t l = cow_bitmap_last(buf, n);
		if (l >= 0)
			*last = (int64_t)bit + l;
	}
	return 0;
}

/* Whether the backing file at path is still the one h was made over. Returns
 * 0; -errno when it cannot be looked at; -ESTALE when its size or mtime
 * differ. why: the reason, without the path. */
static int backing_match(const struct cow_hdr *h, const char *path, struct stat *st, char *why,
			 size_t len)
{
	char t1[32], t2[32];
	if (stat(path, st) < 0) {
		int e = errno;
		snprintf(why, len, "%s", strerror(e));
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, len, "not a regular file");
		return -EINVAL;
	}
	bool size_ok = (uint64_t)st->st_size == h->size;
	bool mtime_ok = (uint32_t)st->st_mtime == h->mtime;
	if (size_ok && mtime_ok)
		return 0;
	int n = 0;
	if (!size_ok)
		n = snprintf(why, len, "size %lld bytes, the COW header says %llu",
			     (long long)st->st_size, (unsigned long long)h->size);
	if (!mtime_ok && n >= 0 && (size_t)n < len)
		snprintf(why + n, len - (size_t)n, "%smtime %s (%u), the COW header says %s (%u)",
			 n ? "; " : "", fmt_time((uint32_t)st->st_mtime, t1, sizeof(t1)),
			 (uint32_t)st->st_mtime, fmt_time(h->mtime, t2, sizeof(t2)), h->mtime);
	return -ESTALE;
}

/* The backing file to use: override, else the header's. */
static const char *backing_path(const struct cow_hdr *h, const char *override)
{
	return override ? override : h->backing[0] ? h->backing : NULL;
}

/* ---- create ---------------------------------------------------------------- */

/* BACKING made absolute the way the kernel does it: its directory resolved,
 * its own name kept (a symlink stays a symlink). */
static int absolute_backing(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	if (!realpath(dirname(dir), real))
		return -errno;
	const char *b = basename(base);
	if ((size_t)snprintf(out, len, "%s%s%s", real, strcmp(real, "/") ? "/" : "", b) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cow_create(const char *cow, const char *backing, bool force, char *err, size_t len)
{
	char abs[PATH_MAX];
	struct stat st, cst;
	struct cow_hdr h;
	uint8_t hdr[COW_V3_HDR_LEN];

	if (stat(backing, &st) < 0) {
		int e = errno;
		snprintf(err, len, "backing file %s: %s", backing, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "backing file %s: not a regular file", backing);
		return -EINVAL;
	}
	int rc = absolute_backing(backing, abs, sizeof(abs));
	if (rc == 0)
		rc = cow_hdr_init(&h, abs, (uint64_t)st.st_size, (uint32_t)st.st_mtime);
	if (rc < 0) {
		snprintf(err, len, "backing file %s: %s", backing, strerror(-rc));
		return rc;
	}
	if (lstat(cow, &cst) == 0) {
		if (!force) {
			snprintf(err, len, "%s exists (-f replaces it)", cow);
			return -EEXIST;
		}
		if (cst.st_ino == st.st_ino && cst.st_dev == st.st_dev) {
			snprintf(err, len, "%s is the backing file itself", cow);
			return -EINVAL;
		}
		int fd = open(cow, O_RDONLY | O_CLOEXEC);
		pid_t holder = fd >= 0 ? lock_holder(fd) : 0;
		if (fd >= 0)
			close(fd);
		if (holder) {
			snprintf(err, len,
				 "%s is in use by a running UML (pid %d): not replacing it", cow,
				 (int)holder);
			return -EBUSY;
		}
	}
	cow_hdr_encode(&h, hdr);
	int fd = tmp_open(cow, err, len);
	if (fd < 0)
		return fd;
	/* Header, then the file's last byte, as the kernel does: the bitmap
	 * and the data area read as zeros and take no space. */
	uint8_t zero = 0;
	rc = pwrite_full(fd, hdr, sizeof(hdr), 0);
	if (rc == 0)
		rc = pwrite_full(fd, &zero, 1, (off_t)(cow_file_size(&h) - 1));
	if (rc < 0) {
		snprintf(err, len, "writing %s: %s", cow, strerror(-rc));
		tmp_abort(fd);
		return rc;
	}
	return tmp_commit(fd, cow, err, len);
}

/* ---- info -------------------------------------------------------------------- */

static int do_info(const char *path, const char *override, bool json)
{
	struct cow_file c;
	struct stat bst;
	char err[PATH_MAX + 256], why[256], t[32];
	uint64_t written;
	int64_t last;

	if (cow_open(path, O_RDONLY, &c, err, sizeof(err)) < 0) {
		nf_err("cow info: %s", err);
		return EXIT_FAIL;
	}
	int rc = bitmap_scan(&c, c.h.nsectors, &written, &last);
	if (rc < 0) {
		nf_err("cow info: %s: reading the bitmap: %s", path,
		       rc == -ENODATA ? "truncated" : strerror(-rc));
		cow_close(&c);
		return EXIT_FAIL;
	}
	const char *bpath = backing_path(&c.h, override);
	const char *state;
	if (!bpath) {
		state = "none";
		snprintf(why, sizeof(why), "the header names no backing file (give -b)");
	} else {
		rc = backing_match(&c.h, bpath, &bst, why, sizeof(why));
		state = rc == 0 ? "ok" : rc == -ESTALE ? "changed" : "missing";
	}
	pid_t holder = lock_holder(c.fd);
	const struct cow_hdr *h = &c.h;
	const char *layout = h->version == 3   ? (h->v3_broken ? "v3-unpacked" : "v3")
			     : h->version == 2 ? "v2"
					       : "v1";
	unsigned long long disk = (unsigned long long)c.st.st_blocks * 512;

	if (json) {
		printf("{\"file\":");
		js_str(stdout, path);
		printf(",\"version\":%u,\"layout\":\"%s\",\"backing\":", h->version, layout);
		js_str(stdout, h->backing);
		printf(",\"backing_used\":");
		if (bpath)
			js_str(stdout, bpath);
		else
			printf("null");
		printf(",\"backing_state\":\"%s\",\"backing_problem\":", state);
		if (strcmp(state, "ok") == 0)
			printf("null");
		else
			js_str(stdout, why);
		printf(",\"mtime\":%u,\"size\":%llu,\"sector_size\":%u,\"alignment\":%u,"
		       "\"cow_format\":%u,\"header_bytes\":%llu,\"bitmap_offset\":%llu,"
		       "\"bitmap_bytes\":%llu,\"data_offset\":%llu,\"sectors\":%llu,"
		       "\"sectors_written\":%llu,\"bytes_written\":%llu,\"file_bytes\":%lld,"
		       "\"disk_bytes\":%llu,\"in_use_by\":",
		       h->mtime, (unsigned long long)h->size, h->sectorsize, h->alignment,
		       h->cow_format, (unsigned long long)h->header_len,
		       (unsigned long long)h->bitmap_offset, (unsigned long long)h->bitmap_len,
		       (unsigned long long)h->data_offset, (unsigned long long)h->nsectors,
		       (unsigned long long)written, (unsigned long long)(written * h->sectorsize),
		       (long long)c.st.st_size, disk);
		if (holder)
			printf("%d}\n", (int)holder);
		else
			printf("null}\n");
	} else {
		printf("file:          %s\n", path);
		printf("version:       %u%s\n", h->version,
		       h->v3_broken ? " (unpacked layout of old 64-bit tools)" : "");
		printf("backing file:  %s\n", h->backing[0] ? h->backing : "(none)");
		if (override)
			printf("  using:       %s (-b)\n", override);
		if (strcmp(state, "ok") == 0)
			printf("  state:       matches (size and mtime as recorded)\n");
		else
			printf("  state:       %s: %s\n", state, why);
		printf("backing mtime: %u (%s)\n", h->mtime, fmt_time(h->mtime, t, sizeof(t)));
		printf("backing size:  %llu bytes\n", (unsigned long long)h->size);
		printf("sector size:   %u\n", h->sectorsize);
		printf("alignment:     %u\n", h->alignment);
		printf("bitmap:        %llu bytes at offset %llu (%llu sectors)\n",
		       (unsigned long long)h->bitmap_len, (unsigned long long)h->bitmap_offset,
		       (unsigned long long)h->nsectors);
		printf("data offset:   %llu\n", (unsigned long long)h->data_offset);
		printf("written:       %llu of %llu sectors (%llu bytes, %.1f%%)\n",
		       (unsigned long long)written, (unsigned long long)h->nsectors,
		       (unsigned long long)(written * h->sectorsize),
		       h->nsectors ? 100.0 * (double)written / (double)h->nsectors : 0.0);
		printf("file size:     %lld bytes, %llu on disk\n", (long long)c.st.st_size, disk);
		if (holder)
			printf("in use:        by a running UML (pid %d)\n", (int)holder);
	}
	cow_close(&c);
	return 0;
}

/* ---- merge ------------------------------------------------------------------- */

/* True when [off, off + len) of fd holds no data (a hole): it reads as zeros
 * and a new image need not look at it. */
static bool is_hole(int fd, off_t off, off_t len)
{
	off_t d = lseek(fd, off, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO; /* no data after off */
	return d >= off + len;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int do_merge(const char *cow_path, const char *override, const char *new_path)
{
	struct cow_file c = {.fd = -1};
	struct stat bst, nst;
	char err[PATH_MAX + 512], why[PATH_MAX + 256];
	uint8_t *bm = NULL, *cbuf = NULL, *bbuf = NULL, *obuf = NULL;
	bool *wr = NULL;
	int bfd = -1, ofd = -1, status = EXIT_FAIL, rc;
	bool in_place = !new_path;
	uint64_t written, from_cow = 0, nwritten = 0;
	int64_t last;

	if (cow_open(cow_path, O_RDONLY, &c, err, sizeof(err)) < 0) {
		nf_err("cow merge: %s", err);
		return EXIT_FAIL;
	}
	pid_t holder = lock_holder(c.fd);
	if (holder) {
		nf_err("cow merge: %s is in use by a running UML (pid %d): halt it first", cow_path,
		       (int)holder);
		goto out;
	}
	const char *bpath = backing_path(&c.h, override);
	if (!bpath) {
		nf_err("cow merge: %s: the header names no backing file (give -b BACKING)",
		       cow_path);
		goto out;
	}
	rc = backing_match(&c.h, bpath, &bst, why, sizeof(why));
	if (rc < 0) {
		nf_err("cow merge: backing file %s%s: %s", bpath,
		       rc == -ESTALE ? " is not the one the COW was made over" : "", why);
		goto out;
	}
	if (same_file(&bst, &c.st)) {
		nf_err("cow merge: %s is its own backing file", cow_path);
		goto out;
	}
	if (!in_place && stat(new_path, &nst) == 0 &&
	    (same_file(&nst, &c.st) || same_file(&nst, &bst))) {
		nf_err("cow merge: %s is the %s itself (cow merge -d merges in place)", new_path,
		       same_file(&nst, &c.st) ? "COW file" : "backing file");
		goto out;
	}
	bfd = open(bpath, (in_place ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (bfd < 0) {
		nf_err("cow merge: backing file %s: %s", bpath, strerror(errno));
		goto out;
	}
	if (in_place && (holder = lock_holder(bfd))) {
		nf_err("cow merge -d: backing file %s is in use by a running UML (pid %d): "
		       "merging into it would change its disk under it",
		       bpath, (int)holder);
		goto out;
	}

	/* Everything that can be wrong with the input is found before the
	 * first write: the bitmap must be readable and every sector it
	 * marks must lie inside the COW file. */
	const uint64_t ss = c.h.sectorsize, nsec = cow_merge_sectors(&c.h);
	rc = bitmap_scan(&c, nsec, &written, &last);
	if (rc < 0) {
		nf_err("cow merge: %s: reading the bitmap: %s", cow_path,
		       rc == -ENODATA ? "truncated" : strerror(-rc));
		goto out;
	}
	if (last >= 0 && (uint64_t)c.st.st_size < c.h.data_offset + ((uint64_t)last + 1) * ss) {
		nf_err("cow merge: %s: truncated COW file (%lld bytes): sector %lld's data would "
		       "end at %llu",
		       cow_path, (long long)c.st.st_size, (long long)last,
		       (unsigned long long)(c.h.data_offset + ((uint64_t)last + 1) * ss));
		goto out;
	}
	if (c.h.size % ss)
		nf_warn("cow merge: %s: backing size %llu is not a multiple of %llu: the last "
			"%llu bytes, which the guest never sees, are left out (as uml_moo does)",
			cow_path, (unsigned long long)c.h.size, (unsigned long long)ss,
			(unsigned long long)(c.h.size % ss));

	const size_t chunk = CHUNK_BYTES / ss; /* sectors, a multiple of 8 */
	bm = malloc(chunk / 8);
	cbuf = malloc(CHUNK_BYTES);
	bbuf = malloc(CHUNK_BYTES);
	obuf = malloc(CHUNK_BYTES);
	wr = malloc(chunk * sizeof(bool));
	if (!bm || !cbuf || !bbuf || !obuf || !wr) {
		nf_err("cow merge: out of memory");
		goto out;
	}
	const char *dst_name = in_place ? bpath : new_path;
	int dfd = bfd;
	if (!in_place) {
		ofd = tmp_open(new_path, err, sizeof(err));
		if (ofd < 0) {
			nf_err("cow merge: %s", err);
			goto out;
		}
		dfd = ofd;
	}

	for (uint64_t first = 0; first < nsec; first += chunk) {
		size_t n = nsec - first < chunk ? (size_t)(nsec - first) : chunk;
		off_t off = (off_t)(first * ss);
		size_t bytes = n * (size_t)ss;
		bool last_chunk = first + n == nsec;

		rc = bitmap_read(&c, first / 8, (n + 7) / 8, bm);
		if (rc < 0) {
			snprintf(why, sizeof(why), "reading %s: %s", cow_path,
				 rc == -ENODATA ? "truncated" : strerror(-rc));
			goto fail;
		}
		bool any = cow_bitmap_any(bm, 0, n);
		if (!any && (in_place || (!last_chunk && is_hole(bfd, off, (off_t)bytes))))
			continue; /* nothing changes, or nothing but zeros to copy */
		ssize_t got = pread_full(bfd, bbuf, bytes, off);
		if (got != (ssize_t)bytes) {
			snprintf(why, sizeof(why), "reading backing file %s: %s", bpath,
				 got < 0 ? strerror((int)-got) : "it shrank while being read");
			goto fail;
		}
		if (any) {
			/* Past the COW file's end (checked above: only
			 * unmarked sectors) reads as zeros. */
			uint64_t coff = c.h.data_offset + (uint64_t)off;
			uint64_t cend = (uint64_t)c.st.st_size;
			size_t avail = bytes;
			if (cend < coff + bytes)
				avail = cend > coff ? (size_t)(cend - coff) : 0;
			memset(cbuf + avail, 0, bytes - avail);
			got = avail ? pread_full(c.fd, cbuf, avail, (off_t)coff) : 0;
			if (got != (ssize_t)avail) {
				snprintf(why, sizeof(why), "reading %s: %s", cow_path,
					 got < 0 ? strerror((int)-got)
						 : "it shrank while being read");
				goto fail;
			}
		}
		nwritten += cow_merge_plan(bm, 0, n, (size_t)ss, any ? cbuf : NULL, bbuf, in_place,
					   last_chunk, obuf, wr);
		/* Runs of sectors to write, one pwrite each. */
		for (size_t i = 0; i < n;) {
			if (!wr[i]) {
				i++;
				continue;
			}
			size_t j = i;
			while (j < n && wr[j])
				j++;
			rc = pwrite_full(dfd, obuf + i * ss, (j - i) * ss, off + (off_t)(i * ss));
			if (rc < 0) {
				snprintf(why, sizeof(why), "writing %s: %s", dst_name,
					 strerror(-rc));
				goto fail;
			}
			i = j;
		}
		if (any)
			from_cow += cow_bitmap_count(bm, n);
	}
	if (in_place) {
		if (fsync(bfd) < 0) {
			snprintf(why, sizeof(why), "writing %s: %s", bpath, strerror(errno));
			goto fail;
		}
		if (nwritten)
			nf_info(
			    "merged %s into %s (%llu sectors written); %s and every other COW over "
			    "it are out of date now (its mtime changed): remove them or make new "
			    "ones with `uml-nf cow create`",
			    cow_path, bpath, (unsigned long long)nwritten, cow_path);
		else
			nf_info("%s holds nothing that %s does not: it is unchanged", cow_path,
				bpath);
	} else {
		if (ftruncate(ofd, (off_t)(nsec * ss)) < 0) {
			snprintf(why, sizeof(why), "writing %s: %s", new_path, strerror(errno));
			goto fail;
		}
		rc = tmp_commit(ofd, new_path, err, sizeof(err));
		ofd = -1;
		if (rc < 0) {
			nf_err("cow merge: %s", err);
			goto out;
		}
		nf_info("wrote %s: %s with %s applied (%llu sectors from the COW)", new_path, bpath,
			cow_path, (unsigned long long)from_cow);
	}
	status = 0;
	goto out;

fail:
	if (in_place)
		nf_err("cow merge -d: %s (%s is merged only in part)", why, bpath);
	else
		nf_err("cow merge: %s", why);
	if (ofd >= 0)
		tmp_abort(ofd);
	ofd = -1;
out:
	free(bm);
	free(cbuf);
	free(bbuf);
	free(obuf);
	free(wr);
	if (bfd >= 0)
		close(bfd);
	cow_close(&c);
	return status;
}

/* ---- the boot-time check ----------------------------------------------------- */

int cow_check_ubd(const char *arg, char *msg, size_t len)
{
	char buf[2 * PATH_MAX], err[PATH_MAX + 256], why[256], why2[256];
	struct cow_ubd_arg u;
	struct cow_file c;
	struct stat bst, hst;

	if (cow_ubd_parse(arg, buf, sizeof(buf), &u) < 0)
		return 0; /* not a disk, or for the kernel to judge */
	if (u.no_cow && !u.backing)
		return 0;
	if (access(u.file, F_OK) < 0) {
		/* The kernel creates the COW over BACKING, which must exist. */
		if (u.backing && stat(u.backing, &bst) < 0) {
			snprintf(msg, len, "%s: backing file %s: %s", arg, u.backing,
				 strerror(errno));
			return -ENOENT;
		}
		return 0;
	}
	int rc = cow_open(u.file, O_RDONLY, &c, err, sizeof(err));
	if (rc == -COW_ENOTCOW)
		return 0; /* a plain image */
	if (rc < 0) {
		snprintf(msg, len, "%s: %s", arg, err);
		return rc;
	}
	pid_t holder = lock_holder(c.fd);
	if (holder) {
		snprintf(msg, len,
			 "%s: %s is in use by another UML (pid %d): every appliance "
			 "needs a COW file of its own",
			 arg, u.file, (int)holder);
		cow_close(&c);
		return -EBUSY;
	}
	const char *h = c.h.backing;
	rc = 0;
	if (u.backing &&
	    !(stat(u.backing, &bst) == 0 && stat(h, &hst) == 0 && same_file(&bst, &hst))) {
		/* The kernel takes a BACKING other than the header's if it
		 * matches the COW (and rewrites the header), else falls back
		 * to the header's. */
		int rb = backing_match(&c.h, u.backing, &bst, why, sizeof(why));
		if (rb == 0) {
			snprintf(msg, len,
				 "%s: %s was made over %s; the guest kernel switches it to "
				 "%s (same size and mtime) and rewrites its header",
				 arg, u.file, h[0] ? h : "(none)", u.backing);
			rc = 1;
		} else if (h[0] && backing_match(&c.h, h, &hst, why2, sizeof(why2)) == 0) {
			snprintf(msg, len,
				 "%s: %s does not match %s (%s); the guest kernel uses the "
				 "backing file its header names, %s, instead",
				 arg, u.backing, u.file, why, h);
			rc = 1;
		} else {
			snprintf(msg, len,
				 "%s: backing file %s %s: %s; the guest kernel would refuse "
				 "this disk",
				 arg, u.backing,
				 rb == -ESTALE ? "changed since the COW was made" : "unusable",
				 why);
			rc = rb;
		}
	} else {
		const char *b = u.backing ? u.backing : h;
		int rb =
		    h[0] || u.backing ? backing_match(&c.h, b, &bst, why, sizeof(why)) : -ENOENT;
		if (!h[0] && !u.backing)
			snprintf(why, sizeof(why), "the COW header names no backing file");
		if (rb < 0) {
			snprintf(msg, len,
				 "%s: backing file %s of %s %s: %s; the guest kernel would "
				 "refuse this disk",
				 arg, b[0] ? b : "(none)", u.file,
				 rb == -ESTALE	 ? "changed since the COW was made"
				 : rb == -ENOENT ? "is missing"
						 : "is unusable",
				 why);
			rc = rb;
		}
	}
	cow_close(&c);
	return rc;
}

/* ---- command line ------------------------------------------------------------- */

struct cow_args {
	const char *backing;
	bool force, in_place, json;
	int npos;
	const char *pos[4];
};

/* Returns 0, 1 for --help (printed), or -EINVAL (message printed). */
static int parse(const char *sub, int argc, char **argv, const char *opts, struct cow_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(s, "-b") && strchr(opts, 'b')) {
			if (++i >= argc || !argv[i][0]) {
				nf_err("cow %s: -b needs a BACKING file", sub);
				return -EINVAL;
			}
			a->backing = argv[i];
		} else if (!strcmp(s, "-f") && strchr(opts, 'f')) {
			a->force = true;
		} else if (!strcmp(s, "-d") && strchr(opts, 'd')) {
			a->in_place = true;
		} else if (!strcmp(s, "--json") && strchr(opts, 'j')) {
			a->json = true;
		} else if (s[0] == '-' && s[1]) {
			nf_err("cow %s: unknown option %s", sub, s);
			return -EINVAL;
		} else if (a->npos < 3) {
			a->pos[a->npos++] = s;
		} else {
			nf_err("cow %s: unexpected argument \"%s\"", sub, s);
			return -EINVAL;
		}
	}
	return 0;
}

int cow_main(int argc, char **argv)
{
	struct cow_args a;
	char err[PATH_MAX + 256];
	const char *sub = argc >= 2 ? argv[1] : NULL;
	int rc;

	if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage(sub ? stdout : stderr);
		return sub ? 0 : EXIT_USAGE;
	}
	if (!strcmp(sub, "create")) {
		if ((rc = parse(sub, argc - 2, argv + 2, "bf", &a)) != 0)
			return rc > 0 ? 0 : EXIT_USAGE;
		/* -b BACKING COW, or uml_mkcow's COW BACKING. */
		const char *cow = a.npos >= 1 ? a.pos[0] : NULL;
		const char *backing = a.backing ? a.backing : a.npos >= 2 ? a.pos[1] : NULL;
		if (!cow || !backing || a.npos > (a.backing ? 1 : 2)) {
			nf_err("cow create: expected -b BACKING COW (or COW BACKING)");
			return EXIT_USAGE;
		}
		if (cow_create(cow, backing, a.force, err, sizeof(err)) < 0) {
			nf_err("cow create: %s", err);
			return EXIT_FAIL;
		}
		return 0;
	}
	if (!strcmp(sub, "info")) {
		if ((rc = parse(sub, argc - 2, argv + 2, "bj", &a)) != 0)
			return rc > 0 ? 0 : EXIT_USAGE;
		if (a.npos != 1) {
			nf_err("cow info: expected one COW file");
			return EXIT_USAGE;
		}
		return do_info(a.pos[0], a.backing, a.json);
	}
	if (!strcmp(sub, "merge")) {
		if ((rc = parse(sub, argc - 2, argv + 2, "bd", &a)) != 0)
			return rc > 0 ? 0 : EXIT_USAGE;
		if (a.npos != (a.in_place ? 1 : 2)) {
			nf_err("cow merge: expected COW NEW_IMAGE, or -d COW");
			return EXIT_USAGE;
		}
		return do_merge(a.pos[0], a.backing, a.in_place ? NULL : a.pos[1]);
	}
	nf_err("cow: unknown command \"%s\" (create, info, merge)", sub);
	return EXIT_USAGE;
}
