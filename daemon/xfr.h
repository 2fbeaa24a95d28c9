/* The daemon's zone transfers: the secondary side (xfrd.c) and the primary side
 * (xfr_serve.c), and what main.c gives and takes from them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pindns/answer.h"
#include "pindns/counter.h"
#include "pindns/dgram.h"
#include "pindns/engine.h"
#include "pindns/query.h"
#include "pindns/xfrconf.h"
#include "pindns/zoneset.h"

/** Transfer counters, for pindnsctl stats and metrics (atomic, any thread reads). */
typedef struct pd_xfr_stats {
	pd_counter_t notify_in;      /* NOTIFY accepted (from an allowed peer) */
	pd_counter_t notify_refused; /* NOTIFY refused (peer, key or zone) */
	pd_counter_t notify_out;     /* NOTIFY sent (each try) */
	pd_counter_t notify_acked;   /* ... answered */
	pd_counter_t refresh;        /* SOA queries made */
	pd_counter_t xfr_in_axfr;    /* transfers in that succeeded, by kind */
	pd_counter_t xfr_in_ixfr;
	pd_counter_t xfr_in_failed; /* failed or refused */
	pd_counter_t xfr_out_axfr;  /* transfers out completed, by kind */
	pd_counter_t xfr_out_ixfr;
	pd_counter_t xfr_out_refused; /* AXFR/IXFR refused (ACL, key) */
	pd_counter_t xfr_out_failed;  /* cut by the peer or a timeout */
	pd_counter_t expired;         /* zones that reached SOA expire */
} pd_xfr_stats_t;

/* ---- xfrd.c: secondaries (refresh, transfer in, expire, catalogs) and NOTIFY out ---- */

typedef struct pd_xfrd pd_xfrd_t;

typedef struct pd_xfrd_hooks {
	/*
	 * Called on the xfrd thread to publish a new version z of a secondary zone (z->from
	 * PD_ZONE_FROM_XFR, z->xfr set), or with z NULL to remove the zone origin (a catalog
	 * member gone). Returns once the daemon has published it (0: the old version is freed
	 * and z is served) or failed to (negative errno: z was freed, the old one serves on).
	 * The xfrd must hold no lock the main thread may wait for while in it.
	 */
	int (*publish)(void *arg, pd_zone_t *z, const uint8_t *remove_origin);
	void *arg;
} pd_xfrd_hooks_t;

/**
 * Makes the secondary side for conf (which must outlive it), starting from the zones
 * served at start (the secondaries' kept copies, PD_ZONE_FROM_XFR, loaded from
 * state_dir). Returns 0, or a negative errno with a message in err.
 */
int pd_xfrd_new(pd_xfrd_t **out, const pd_xfr_conf_t *conf, const pd_zoneset_t *zones,
                const pd_xfrd_hooks_t *hooks, pd_xfr_stats_t *stats, char *err, size_t cap);

/** Starts its thread: each secondary is refreshed at once, then on its timers. */
int pd_xfrd_start(pd_xfrd_t *x);

/** From any thread (a worker answering NOTIFY): origin's primary has a new version. */
void pd_xfrd_notified(pd_xfrd_t *x, const uint8_t *origin);

/**
 * On the main thread, after old was replaced by new (before old is released): zones whose
 * serial changed, or that are new, are notified to their "notify:" targets (retried until
 * answered).
 */
void pd_xfrd_published(pd_xfrd_t *x, const pd_zoneset_t *old, const pd_zoneset_t *new);

/**
 * A pindnsctl command: "zone-status" (zone NULL: all secondaries and notified zones),
 * "zone-refresh", "zone-retransfer", "zone-notify". Writes the reply text (lines) into
 * buf. Returns 0, or -ENOENT (no such zone here), -EINVAL (not a secondary ...) with the
 * reason in buf.
 */
int pd_xfrd_command(pd_xfrd_t *x, const char *cmd, const char *zone, char *buf, size_t cap);

/**
 * zone-notify for z, a zone of the set being served (on the main thread): NOTIFY with its
 * SOA queued to its "notify:" targets. zone is its name as asked, for the reply in buf.
 * Returns 0, or -EINVAL when no target covers it.
 */
int pd_xfrd_notify_now(pd_xfrd_t *x, const pd_zone_t *z, const char *zone, char *buf, size_t cap);

/** Stops its thread (transfers in progress are abandoned) and frees it. */
void pd_xfrd_free(pd_xfrd_t *x);

/* ---- xfr_serve.c: NOTIFY in, and AXFR/IXFR out ---- */

typedef struct pd_xfr_serve pd_xfr_serve_t;

/** Makes the primary side for conf (which must outlive it); xfrd may be NULL. */
int pd_xfr_serve_new(pd_xfr_serve_t **out, const pd_xfr_conf_t *conf, pd_xfrd_t *xfrd,
                     pd_xfr_stats_t *stats, char *err, size_t cap);

/**
 * pd_answer_conf_t.special: answers NOTIFY (RFC 1996) for secondaries from allowed peers
 * (and tells xfrd), IXFR over UDP with the current SOA, and AXFR/IXFR over TCP from
 * allowed peers by setting d->take (the engine then hands the connection to
 * pd_xfr_serve_take()); refusals as NSD and Knot give them. Returns false to leave q to
 * the answer rules.
 */
bool pd_xfr_serve_special(void *arg, const pd_zoneset_t *zs, const pd_query_t *q, pd_dgram_t *d);

/**
 * The answering conf that signed ordinary queries (a secondary's SOA check with its key)
 * are answered with before the answer is signed; without one they are left to the rules
 * (NOTAUTH). Also the EDNS size limit of the answers made here. Before the engine starts.
 */
void pd_xfr_serve_set_answer(pd_xfr_serve_t *s, const pd_answer_conf_t *conf);

/**
 * The engine that connections go back to once their transfer is sent (pd_engine_adopt()),
 * to answer what the client asks next; without one they end at the client's EOF. Before
 * the engine starts; pd_xfr_serve_free() must come after pd_engine_stop() and before
 * pd_engine_free().
 */
void pd_xfr_serve_set_engine(pd_xfr_serve_t *s, pd_engine_t *engine);

/** pd_engine_take_fn: a connection whose next message is an allowed AXFR or IXFR. */
void pd_xfr_serve_take(void *arg, int worker, const void *data, const pd_engine_conn_t *conn,
                       const struct sockaddr *peer, socklen_t peer_len);

/** On the main thread after a publish, before old is released: journals the changes. */
void pd_xfr_serve_published(pd_xfr_serve_t *s, const pd_zoneset_t *old, const pd_zoneset_t *new);

/** Ends the transfers out (their connections closed) and frees it. */
void pd_xfr_serve_free(pd_xfr_serve_t *s);
