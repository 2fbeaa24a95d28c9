/* One-line log messages to standard error. */
#pragma once

enum { PD_LOG_ERR = 0, PD_LOG_WARN = 1, PD_LOG_INFO = 2, PD_LOG_DEBUG = 3 };

/** Messages above this level are dropped (default PD_LOG_INFO). */
void pd_log_set_level(int level);

/**
 * Sends later messages to syslog (facility daemon) instead of standard error: for a
 * daemon that has let go of its terminal.
 */
void pd_log_to_syslog(void);

/**
 * Shows a progress message ("loading zones: 4000 of 100000") on the last line of the
 * terminal, replacing the one before: only when standard error is a terminal and the
 * log goes there (whatever the log level: it is not a log line). A log line clears it
 * first; the caller draws it again on its next step, and ends with
 * pd_log_progress_end(). Not thread-safe: for the thread that loads zones.
 */
void pd_log_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Clears the progress line, if one is shown. */
void pd_log_progress_end(void);

/**
 * From now on also writes every error line, as "error <message>\n", to fd (a stream
 * socket; -1 stops): a pindnsd started by "pindnsctl upgrade" reports to the one that
 * started it why it could not take over. The write never blocks.
 */
void pd_log_copy_errors(int fd);

/** Writes text to the copy of error lines only (see pd_log_copy_errors), for an error
 * that went to standard error by other means. Does nothing without a copy. */
void pd_log_copy(const char *text);

/** Logs one line: "pindnsd: LEVEL: message", with a UTC time unless journald collects it. */
void pd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
