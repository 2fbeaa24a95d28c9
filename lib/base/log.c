/* Logging to standard error, one line per event. */
#include "pindns/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int pd__log_level = PD_LOG_INFO;
static int pd__log_syslog;
static int pd__progress_tty = -1; /* standard error is a terminal: 1, not: 0, not known: -1 */
/* A progress line is on the terminal, to clear first. Only the main thread draws one, but
 * any thread (xfrd, transfers out) may log and clear it: atomic. */
static _Atomic int pd__progress_shown;
/* Error lines are also written here (pd_log_copy_errors); workers log too, hence atomic. */
static _Atomic int pd__copy_fd = -1;

void pd_log_to_syslog(void)
{
	openlog("pindnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pd__log_syslog = 1;
}

void pd_log_set_level(int level)
{
	pd__log_level = level;
}

void pd_log_copy_errors(int fd)
{
	pd__copy_fd = fd;
}

void pd_log_copy(const char *text)
{
	char line[2048];
	int fd = pd__copy_fd;
	if (fd < 0)
		return;
	/* One line of the copy per message: a newline inside would start another. */
	int n = snprintf(line, sizeof(line) - 1, "error %s", text);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* Never waits: a reader that stopped reading costs it the copy, not the daemon. */
	ssize_t k;
	do
		k = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
}

void pd_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[2048], msg[1900];
	size_t n = 0;
	va_list ap;

	if (level > pd__log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == PD_LOG_ERR)
		pd_log_copy(msg);
	if (pd__log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[level], "%s", msg);
		return;
	}
	/* journald stamps lines itself; elsewhere a time makes the log readable later. */
	if (!getenv("JOURNAL_STREAM")) {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	snprintf(line + n, sizeof(line) - n, "pindnsd: %s: %s", names[level], msg);
	/* One write per line, so lines from several threads do not interleave; a progress
	 * line on the terminal goes first, the caller draws it again on its next step. */
	fprintf(stderr, "%s%s\n", atomic_exchange(&pd__progress_shown, 0) ? "\r\033[K" : "", line);
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
	if (atomic_exchange(&pd__progress_shown, 0))
		fprintf(stderr, "\r\033[K");
}
