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
 * of the engine (UDP and TCP listeners) with the listen addresses and thread counts, then
 * waits (up to 30 s) for the successor to say it is serving. stats_fd (or -1) is the
 * counter segment, for the successor to carry the totals on. *version is the protocol
 * the successor speaks, for pd_handoff_done(). Returns 0 when it did: the caller then
 * stops its workers and calls pd_handoff_done(). A negative errno leaves everything
 * running.
 */
int pd_handoff_give(int conn, const pd_engine_t *e, int stats_fd, int *version, char *err,
                    size_t cap);

/**
 * Old side, once the engine has stopped: hands each open TCP connection, with the bytes
 * read from it and not yet answered, to the successor, tells it that is all, and closes
 * conn. Returns how many connections were handed over.
 */
int pd_handoff_done(int conn, pd_engine_t *e, int version);

/**
 * New side: connects to a running pindnsd at path and builds an engine on the sockets
 * it sends (its worker and TCP thread counts and addresses, which stay as they are; the
 * TCP limits come from cfg, and TCP listeners are bound here when the old one had none).
 * *stats_fd receives its counter segment, or -1; *version the protocol spoken, for
 * pd_handoff_go(). On success returns the connection and sets *out. Otherwise -errno
 * with err set.
 */
int pd_handoff_take(const char *path, const pd_engine_conf_t *cfg, pd_engine_t **out, int *stats_fd,
                    int *version, char *err, size_t cap);

/**
 * New side, once its workers and TCP threads run: tells the old process to stop, takes
 * the TCP connections it hands over into the engine (*taken says how many) and waits (up
 * to 30 s per step) for it to confirm it stopped. Closes conn. Returns 0 or -errno.
 */
int pd_handoff_go(int conn, pd_engine_t *e, int version, int *taken);
