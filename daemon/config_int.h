/* What config.c takes from config_guard.c: the cookie and rate limit options. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pindns/guard.h"

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
