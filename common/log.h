/* Process-wide logging for uml-nf.
 *
 * Messages go to stderr prefixed with "uml-nf: " (and the level for warnings
 * and errors). Library modules log facts; only main() decides to exit.
 * Safe to call from any thread: each message is written with one write(2).
 */
#ifndef NF_LOG_H
#define NF_LOG_H

enum nf_log_level { NF_LOG_ERR, NF_LOG_WARN, NF_LOG_INFO, NF_LOG_DEBUG };

/* Messages above this level are dropped. Default NF_LOG_INFO. */
extern int nf_log_level;

void nf_log(enum nf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define nf_err(...) nf_log(NF_LOG_ERR, __VA_ARGS__)
#define nf_warn(...) nf_log(NF_LOG_WARN, __VA_ARGS__)
#define nf_info(...) nf_log(NF_LOG_INFO, __VA_ARGS__)
#define nf_dbg(...) nf_log(NF_LOG_DEBUG, __VA_ARGS__)

#endif
