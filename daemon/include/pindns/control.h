/* The control socket: pindnsctl's commands answered by the running daemon. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/config.h"
#include "pindns/stats.h"
#include "pindns/zoneset.h"

/** What a command may look at, and how it asks the daemon to act. */
typedef struct pd_control {
	const pd_config_t *cfg;
	pd_zoneset_t *const *zones; /* the set being served, replaced by reloads */
	const pd_stats_t *stats;
	int64_t started_unix;
	/* Reloads all zones (zone NULL) or one; returns 0 or -errno with msg set. */
	int (*reload)(void *arg, const char *zone, char *msg, size_t cap);
	void *arg;
	bool stop; /* set by "stop": the daemon then stops as on SIGTERM */
} pd_control_t;

/** Listens on a Unix socket path, mode 0600; a stale file is replaced. */
int pd_control_listen(const char *path, char *err, size_t cap);

/**
 * Serves one connection: reads one command line ("status", "reload [ZONE]", "stats",
 * "stats json", "zone-list", "stop"), writes the reply lines and a last line "OK" or
 * "ERROR <why>" (the protocol is in pindns/ctlproto.h), closes conn.
 */
void pd_control_serve(int conn, pd_control_t *ctl);

/**
 * Writes the counters as text or JSON into buf (for "stats"): per worker (with its
 * transport), in total, per transport, the TCP connections, and the spread of queries over
 * the UDP workers. JSON is one line. Returns the length.
 */
size_t pd_control_stats(const pd_stats_t *stats, bool json, char *buf, size_t cap);
