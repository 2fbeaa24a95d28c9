/* pindnsctl upgrade: the running pindnsd starts its successor and answers once it took over. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/*
 * The report socket, from the successor to the pindnsd that started it (its option
 * --upgrade-report FD; nothing goes the other way), one line each:
 *   "pid <pid> version <version>"  once it has loaded its zones and detached (if it
 *                                  does): the process that will serve
 *   "error <text>"                 each line it logs at error level, and its errors on
 *                                  the command line and in the configuration
 * It closes the socket once it has taken over, or by exiting. Whether it took over the
 * old process learns from its own handoff socket; the report says why not.
 */

#define PD_UPGRADE_QUOTE_MAX 3000 /* bytes of the successor's errors quoted in a reply */

/** What a successor is started as, and the upgrade under way (at most one). */
typedef struct pd_upgrade {
	char *exe;   /* our binary's path as it was at start-up; NULL: unknown */
	char **argv; /* our command line, standing alone (NULL-terminated), or NULL */
	/* The upgrade under way, while pid > 0. */
	pid_t pid;         /* the process started, until reaped or until it serves */
	pid_t serving_pid; /* the pid it said it serves as (another once it detached) */
	char version[64];  /* its version, as it said; "" until then */
	int report_fd;     /* our end of its report socket; -1 once closed */
	int conn;          /* the pindnsctl connection waiting for the outcome; -1: answered */
	int timeout_s;
	struct timespec started, deadline;
	bool eof;     /* it closed the report socket, without having taken over */
	bool killed;  /* we killed it: it is only to be reaped */
	bool adopted; /* pid is the child it left for PID 1: not ours to reap */
	char line[2048];
	size_t line_len; /* an unfinished report line */
	char quote[PD_UPGRADE_QUOTE_MAX];
	size_t quote_len;
	unsigned errors, unquoted; /* error lines reported, and those left out of quote */
} pd_upgrade_t;

/**
 * Learns what a successor is started as: this binary's path now (/proc/self/exe, which
 * names the file it was started from: a package upgrade later puts the new binary
 * there) and argv, the command line, which u owns from now on (NULL: upgrades are
 * refused). Returns 0; without /proc the path stays unknown and upgrades say so.
 */
int pd_upgrade_init(pd_upgrade_t *u, char **argv);

/**
 * Starts a successor: exe with the command line, plus --takeover takeover and
 * --upgrade-report (the child's end of a new socket pair), with no signal blocked and
 * systemd's socket activation variables (which were ours) removed from its environment.
 * conn is the pindnsctl connection to answer once the outcome is known, within
 * timeout_s. Returns 0 having taken conn, or -errno with msg set (conn not taken).
 */
int pd_upgrade_start(pd_upgrade_t *u, const char *takeover, int timeout_s, int conn, char *msg,
                     size_t cap);

/** The report socket to wait for, or -1. */
int pd_upgrade_fd(const pd_upgrade_t *u);

/** How long the event loop may wait before pd_upgrade_on_time() is due, ms; -1: forever. */
int pd_upgrade_wait_ms(const pd_upgrade_t *u);

/** The report socket is readable: reads what came. */
void pd_upgrade_on_report(pd_upgrade_t *u);

/** SIGCHLD: reaps every child; when the successor is one, the upgrade failed. */
void pd_upgrade_on_child(pd_upgrade_t *u);

/** The deadline passed: the successor is killed, the upgrade failed. */
void pd_upgrade_on_time(pd_upgrade_t *u);

/**
 * The sockets were handed over to the process peer (of the handoff connection): the pid
 * systemd is to know as the main one then (the successor's serving pid when peer is the
 * one we started and it detached since, else peer).
 */
pid_t pd_upgrade_main_pid(const pd_upgrade_t *u, pid_t peer);

/**
 * After a handoff to peer: the upgrade is done (or, when peer is not ours, another took
 * over first and ours is stopped). We are about to stop: the successor is no longer
 * ours to watch.
 */
void pd_upgrade_handed_over(pd_upgrade_t *u, pid_t peer);

/**
 * At stop: an upgrade still under way is abandoned (its successor told to stop, the
 * client told why); then frees what u holds.
 */
void pd_upgrade_free(pd_upgrade_t *u);
