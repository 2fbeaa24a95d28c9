/* Prometheus text exposition of the counters on a small HTTP listener. */
#pragma once

#include <stddef.h>

#include "pindns/listen.h"
#include "pindns/stats.h"
#include "pindns/zoneset.h"

struct pd_xfr_stats; /* xfr.h */

/** Listens on a TCP address for scrapes. Returns the fd or -errno with err set. */
int pd_metrics_listen(const pd_listen_t *addr, char *err, size_t cap);

/**
 * Writes the exposition text into buf; returns its length. xfr: this process's transfer
 * counters (NULL: all 0).
 */
size_t pd_metrics_render(const pd_stats_t *stats, const pd_zoneset_t *zones,
                         const struct pd_xfr_stats *xfr, char *buf, size_t cap);

/**
 * Serves one scrape on conn: reads the request (briefly), answers any GET with the
 * exposition as HTTP/1.0, closes conn.
 */
void pd_metrics_serve(int conn, const pd_stats_t *stats, const pd_zoneset_t *zones,
                      const struct pd_xfr_stats *xfr);
