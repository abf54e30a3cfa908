/* The instance directory: where one running uml-nf keeps its sockets.
 *
 *   BASE/UMID/                 0700; BASE is /run/uml-nf as root
 *       uml-nf.lock            flock()ed by the owner for its whole life
 *       uml-nf.pid             "PID STARTTIME\n" of the owner (STARTTIME:
 *                              field 22 of /proc/PID/stat, so a recycled PID
 *                              is never taken for the owner)
 *       vecN.sock              the datapath's vhost-user sockets
 *       control.sock           the control socket (csock_proto.h: stats,
 *                              capture, hot-plug)
 *       mconsole.client        our mconsole client's address while halting
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

#include <stddef.h>

/* Where instance directories live: $UMLNF_RUNDIR, else /run/uml-nf as
 * root, else $XDG_RUNTIME_DIR/uml-nf, else /tmp/uml-nf-UID. Returns env or
 * a string in buf. */
const char *inst_run_base(char *buf, size_t len);

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

#endif
