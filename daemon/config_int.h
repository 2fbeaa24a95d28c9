/* What config.c shares with config_guard.c (cookies, rate limits) and config_xfr.c (zone
 * transfers): their options, and the parsers they have in common. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pindns/guard.h"
#include "pindns/xfrconf.h"
#include "pindns/zonesrc.h"

/** Fills g with the defaults: off, and the settings that apply once turned on. */
void pd__guard_defaults(pd_guard_conf_t *g);

/**
 * Sets a cookie or rate limit option other than the whole-number ones (config.c's table):
 * cookies, cookie-require, cookie-secret, rate-limit-exempt. Returns 0, -EINVAL with a
 * message in err, or 1 when key is none of them.
 */
int pd__config_set_guard(pd_guard_conf_t *g, const char *key, const char *value, char *err,
                         size_t cap);

/**
 * Checks the cookie and rate limit settings as a whole, with reuseport_cpu (both steer
 * packets). Returns 0, or -EINVAL with what is wrong in err.
 */
int pd__guard_check(const pd_guard_conf_t *g, bool reuseport_cpu, char *err, size_t cap);

/**
 * Parses an address or a prefix ("192.0.2.0/24", "2001:db8::/32"; an address alone is a
 * whole one) into p: family 4 or 6, the bits past the prefix cleared, an IPv4-mapped
 * prefix taken as the IPv4 one. Returns 0 or -EINVAL.
 */
int pd__prefix_parse(pd_rrl_prefix_t *p, const char *text);

/**
 * Parses bytes with an optional K, M or G suffix, at most max. Returns 0 or -EINVAL.
 */
int pd__parse_size(const char *v, unsigned long long max, unsigned long long *out);

/** Fills x with the transfer defaults (nothing configured). Returns 0 or -ENOMEM. */
int pd__xfr_defaults(pd_xfr_conf_t *x);

/** Frees what x owns. */
void pd__xfr_free(pd_xfr_conf_t *x);

/**
 * Sets a zone transfer option: tsig-key, secondary, catalog, provide-xfr, notify,
 * state-dir, xfr-max-size, xfr-journal-size (xfr-timeout is in config.c's table). Returns
 * 0, -EINVAL or -ENOMEM with a message in err, or 1 when key is none of them.
 */
int pd__config_set_xfr(pd_xfr_conf_t *x, const char *key, const char *value, char *err, size_t cap);

/**
 * Checks the transfer settings as a whole, with the zones loaded from files (zones, n):
 * no zone twice a secondary, none both a secondary and a "zone:". Returns 0, or -EINVAL
 * (-ENOMEM) with what is wrong in err.
 */
int pd__xfr_check(const pd_xfr_conf_t *x, const pd_zone_conf_t *zones, size_t nzones, char *err,
                  size_t cap);
