/* Handing bound sockets from a running pindnsd to its successor (SCM_RIGHTS). */
#pragma once

#include <stddef.h>

#include "pindns/engine.h"

/**
 * Listens on the Unix socket path for a successor's takeover request (mode 0600; a
 * stale socket file is replaced). Returns the listening fd or -errno, message in err.
 */
int pd_handoff_listen(const char *path, char *err, size_t cap);

/**
 * Old side, for a connection accepted on the handoff socket: sends every bound socket
 * of the engine with the listen addresses and worker count, then waits (up to 30 s)
 * for the successor to say it is serving. stats_fd (or -1) is the counter segment, for
 * the successor to carry the totals on. Returns 0 when it did: the caller then stops
 * its workers and calls pd_handoff_done(). A negative errno leaves everything running.
 */
int pd_handoff_give(int conn, const pd_engine_t *e, int stats_fd, char *err, size_t cap);

/** Old side: tells the successor the old workers have stopped, and closes conn. */
void pd_handoff_done(int conn);

/**
 * New side: connects to a running pindnsd at path and builds an engine on the sockets
 * it sends (its worker count and addresses, which stay as they are). *stats_fd receives its
 * counter segment, or -1. On success returns the
 * connection, for pd_handoff_go(), and sets *out. Otherwise -errno with err set.
 */
int pd_handoff_take(const char *path, pd_engine_t **out, int *stats_fd, char *err, size_t cap);

/**
 * New side, once its workers run: tells the old process to stop and waits (up to 30 s)
 * for it to confirm. Closes conn. Returns 0 or -errno.
 */
int pd_handoff_go(int conn);
