/* The control socket: pindnsctl's commands answered by the running daemon. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/config.h"
#include "pindns/stats.h"
#include "pindns/zoneset.h"

struct pd_xfr_stats; /* daemon/xfr.h */

/** What a command may look at, and how it asks the daemon to act. */
typedef struct pd_control {
	const pd_config_t *cfg;
	pd_zoneset_t *const *zones; /* the set being served, replaced by reloads */
	const pd_stats_t *stats;
	int64_t started_unix;
	/* Reloads all zones (zone NULL) or one; returns 0 or -errno with msg set. */
	int (*reload)(void *arg, const char *zone, char *msg, size_t cap);
	void *arg;
	/*
	 * Starts an upgrade, whose outcome is known only later: returns 0 having taken conn,
	 * which the daemon answers with pd_control_reply() then, or -errno with msg set (conn
	 * is answered at once). NULL: the daemon cannot upgrade itself.
	 */
	int (*upgrade)(void *upgrade_arg, int conn, char *msg, size_t cap);
	void *upgrade_arg;
	/*
	 * Zone transfer commands (pd_xfrd_command()): cmd is PD_CTL_ZONE_STATUS (zone NULL:
	 * every zone that transfers or notifies), _REFRESH, _RETRANSFER or _NOTIFY. Writes
	 * the reply lines into buf; returns 0, or -ENOENT (not a zone it knows), -EINVAL ...
	 * with the reason in buf. NULL: no secondary, catalog or notify target is configured.
	 */
	int (*xfr)(void *xfr_arg, const char *cmd, const char *zone, char *buf, size_t cap);
	void *xfr_arg;
	/* This process's transfer counters (a successor starts from 0: they are not in the
	 * shared counter segment); NULL: reported as 0. */
	const struct pd_xfr_stats *xfr_stats;
	bool stop; /* set by "stop": the daemon then stops as on SIGTERM */
} pd_control_t;

/** Listens on a Unix socket path, mode 0600; a stale file is replaced. */
int pd_control_listen(const char *path, char *err, size_t cap);

/**
 * Serves one connection: reads one command line ("status", "reload [ZONE]", "stats",
 * "stats json", "zone-list", "zone-status [ZONE]", "zone-refresh ZONE", "zone-retransfer
 * ZONE", "zone-notify ZONE", "upgrade", "stop"), writes the reply lines and a last line
 * "OK" or "ERROR <why>" (the protocol is in pindns/ctlproto.h), closes conn. An
 * "upgrade" that ctl->upgrade took on is left open, without a reply: see
 * pd_control_reply().
 */
void pd_control_serve(int conn, pd_control_t *ctl);

/**
 * Answers a command whose reply was deferred, and closes conn: the text (one line or
 * more, without the last newline) then "OK" when ok, else "ERROR <text>" (one line).
 * A client that left meanwhile is not waited for.
 */
void pd_control_reply(int conn, bool ok, const char *text);

/**
 * Writes the counters as text or JSON into buf (for "stats"): per worker (with its
 * transport), in total, per transport, the TCP connections, the zone transfers of this
 * process (xfr; NULL: all 0), and the spread of queries over the UDP workers. JSON is one
 * line. Returns the length.
 */
size_t pd_control_stats(const pd_stats_t *stats, const struct pd_xfr_stats *xfr, bool json,
                        char *buf, size_t cap);
