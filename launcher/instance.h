/* The instance directory: where one running uml-nf keeps its sockets.
 *
 *   BASE/UMID/                 0700; BASE is /run/uml-nf as root
 *       uml-nf.lock            flock()ed by the owner for its whole life
 *       uml-nf.pid             "PID STARTTIME\n" of the owner (STARTTIME:
 *                              field 22 of /proc/PID/stat, so a recycled PID
 *                              is never taken for the owner)
 *       vecN.sock              the datapath's vhost-user sockets
 *       uml-nf.info            what `uml-nf ls` and `uml-nf ctl` read (see
 *                              inst_info_write); replaced atomically through
 *                              .uml-nf.info.PID
 *       notify.sock            the guest's mconsole notify channel
 *       control.sock           the control socket (csock_proto.h: stats,
 *                              capture, hot-plug)
 *       mconsole.client        our mconsole client's address while halting
 *       ctl.PID.sock           the address of a `uml-nf ctl` client while it
 *                              waits for the guest's reply
 *       UMID/pid, UMID/mconsole  UML's own (uml_dir=BASE/UMID)
 *
 * Whoever holds uml-nf.lock owns the directory. It only ever appears fully
 * formed, lock held (built as BASE/.UMID.new-PID, then renamed into place),
 * and its owner renames it away before emptying it at exit, so two uml-nf
 * starting with one umid at the same moment cannot both own it. The kernel
 * drops the lock of a process that dies however it dies (kill -9 included):
 * a directory whose lock is free is stale, and is reclaimed once no guest
 * answers on its mconsole socket, keeping nothing but what uml-nf and UML
 * put there.
 */
#ifndef NF_INSTANCE_H
#define NF_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>


struct inst {
	char base[128];
	char umid[128];
	char dir[128]; /* BASE/UMID */
	int lock_fd;   /* held while we own dir; -1 otherwise */
};

/* Creates BASE/UMID, or reclaims a stale one, and takes its lock (BASE must
 * exist). uml_dir: where UML keeps UMID/ when the user gave uml_dir=, NULL
 * when it is the instance directory. Returns 0, or -errno with a one-line
 * reason in err: -EBUSY when a live uml-nf (err names its pid) or guest owns
 * the umid, -ENOTEMPTY when a stale directory holds a file that neither
 * uml-nf nor UML put there (it is left untouched), -ENAMETOOLONG. Nothing is
 * changed on failure. */
int inst_create(struct inst *in, const char *base, const char *umid, const char *uml_dir, char *err,
		size_t len);

/* Removes the directory with what uml-nf and UML put in it and drops the
 * lock. A file of anyone else's is left, and the directory with it (logged
 * as a warning). No-op unless inst_create succeeded. */
void inst_remove(struct inst *in);

/* Where instance directories live: $UMLNF_RUNDIR, else /run/uml-nf as root,
 * else $XDG_RUNTIME_DIR/uml-nf, else /tmp/uml-nf-UID. Returns a static
 * string, or buf. */
const char *inst_base(char *buf, size_t len);

/* Replaces BASE/UMID/uml-nf.info with text: "key=value" lines (values run to
 * the end of the line and hold no newline; '#' starts a comment line),
 * written to a temporary name and renamed, so a reader sees the old file or
 * the new one, never half of one. Keys uml-nf writes at start:
 *
 *   umid, pid, started (Unix seconds), kernel (path), kernel_version,
 *   mconsole (the guest's mconsole socket), devices ("vec0 vec1 ..."), and
 *   for each device vecN.transport, vecN.ifname (if the transport has one),
 *   vecN.mac, vecN.socket (its vhost-user socket).
 *
 * Whoever adds a device while the appliance runs rewrites the whole file.
 * Returns 0 or -errno. */
int inst_info_write(const struct inst *in, const char *text);

/* The value of key in info text (as inst_info_write writes it), copied into
 * val; NULL when the key is absent. */
const char *inst_info_get(const char *info, const char *key, char *val, size_t len);

/* What a reader (uml-nf ls, uml-nf ctl) finds in BASE/UMID. Its lock is
 * never taken (a reader must not make a starting uml-nf think the umid is
 * busy): whether an owner holds it is read from /proc/locks. */
struct inst_probe {
	char dir[256];
	bool running;		      /* the lock is held: the owner lives */
	pid_t pid;		      /* from uml-nf.pid; 0 if unknown */
	unsigned long long pid_start; /* its start time (field 22 of /proc/PID/stat) */
	char info[8192];	      /* uml-nf.info; "" when there is none */
};

/* Fills *p for BASE/UMID. Returns 0; -ENOENT when there is no such
 * directory; -ENOTDIR when it is not an instance directory (no lock file);
 * another -errno (e.g. -EACCES: someone else's) otherwise. */
int inst_probe(const char *base, const char *umid, struct inst_probe *p);

/* Whether process pid, started at start (field 22 of /proc/PID/stat), still
 * runs: a recycled pid does not count. */
bool inst_pid_alive(pid_t pid, unsigned long long start);

#endif
