/* Logging to standard error, one line per event. */
#include "pindns/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int pd__log_level = PD_LOG_INFO;
static int pd__log_syslog;
static int pd__progress_tty = -1; /* standard error is a terminal: 1, not: 0, not known: -1 */
static int pd__progress_shown;    /* a progress line is on the terminal, to clear first */

void pd_log_to_syslog(void)
{
	openlog("pindnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pd__log_syslog = 1;
}

void pd_log_set_level(int level)
{
	pd__log_level = level;
}

void pd_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (level > pd__log_level)
		return;
	if (pd__log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		va_start(ap, fmt);
		vsyslog(prio[level], fmt, ap);
		va_end(ap);
		return;
	}
	/* journald stamps lines itself; elsewhere a time makes the log readable later. */
	if (!getenv("JOURNAL_STREAM")) {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "pindnsd: %s: ", names[level]);
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line, so lines from several threads do not interleave; a progress
	 * line on the terminal goes first, the caller draws it again on its next step. */
	fprintf(stderr, "%s%s\n", pd__progress_shown ? "\r\033[K" : "", line);
	pd__progress_shown = 0;
}

void pd_log_progress(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (pd__progress_tty < 0)
		pd__progress_tty = isatty(STDERR_FILENO);
	if (!pd__progress_tty || pd__log_syslog)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\r\033[Kpindnsd: %s", line);
	pd__progress_shown = 1;
}

void pd_log_progress_end(void)
{
	if (pd__progress_shown)
		fprintf(stderr, "\r\033[K");
	pd__progress_shown = 0;
}
