#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int nf_log_level = NF_LOG_INFO;

static const char *const level_tag[] = {
	[NF_LOG_ERR] = "error: ",
	[NF_LOG_WARN] = "warning: ",
	[NF_LOG_INFO] = "",
	[NF_LOG_DEBUG] = "debug: ",
};

void nf_log(enum nf_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if ((int)level > nf_log_level)
		return;
	n = snprintf(buf, sizeof(buf), "uml-nf: %s", level_tag[level]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per message so lines from different threads never interleave. */
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}
