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

/** Logs one line: "pindnsd: LEVEL: message", with a UTC time unless journald collects it. */
void pd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
