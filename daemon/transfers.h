/* The daemon's side of zone transfers: xfrd and xfr_serve set up for main.c, and the
 * handshake by which the xfrd thread has the main thread publish a zone. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pindns/config.h"
#include "pindns/engine.h"
#include "pindns/zoneset.h"
#include "xfr.h"

typedef struct pd_transfers {
	const pd_config_t *cfg;
	pd_engine_t *engine;
	pd_zoneset_t **zones; /* the set being served: main.c's, replaced here on the main thread */
	pd_xfr_stats_t stats;
	pd_xfrd_t *xfrd;       /* NULL: no secondaries and nobody to notify */
	pd_xfr_serve_t *serve; /* NULL: no transfers out and no NOTIFY in */
	int event_fd;          /* readable when a publish waits for the main thread; -1: none */
	/* One publish at a time: the xfrd thread is the only caller. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pending, finished, stopping;
	pd_zone_t *zone;
	uint8_t remove[PD_NAME_MAX];
	int result;
} pd_transfers_t;

/**
 * Makes what cfg->xfr asks for (nothing when it configures no transfers: t->xfrd and
 * t->serve stay NULL). Returns 0, or a negative errno with the reason logged.
 */
int pd_transfers_new(pd_transfers_t *t, const pd_config_t *cfg, pd_engine_t *engine,
                     pd_zoneset_t **zones);

/** Sets conf's special hook and the engine's take function; before the engine starts. */
void pd_transfers_attach(pd_transfers_t *t, pd_answer_conf_t *conf);

/** Starts the xfrd thread, once the engine serves. */
int pd_transfers_start(pd_transfers_t *t);

/**
 * On the main thread: publishes next in place of *t->zones, tells xfrd and xfr_serve what
 * changed, releases the old set. Every publish goes through here (reloads too).
 */
void pd_transfers_publish(pd_transfers_t *t, pd_zoneset_t *next);

/** On the main thread, when event_fd is readable: the publish xfrd waits for. */
void pd_transfers_on_event(pd_transfers_t *t);

/** A pindnsctl transfer command (pd_control_t's callback). */
int pd_transfers_command(void *arg, const char *cmd, const char *zone, char *buf, size_t cap);

/** Stops the threads and frees everything: after pd_engine_stop() (the TCP threads hand
 * it connections) and before pd_engine_free() (finished transfers hand them back). */
void pd_transfers_free(pd_transfers_t *t);
