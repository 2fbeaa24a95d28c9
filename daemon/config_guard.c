/* The configuration of DNS cookies and response rate limiting. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

void pd__guard_defaults(pd_guard_conf_t *g)
{
	memset(g, 0, sizeof(*g));
	g->cookie.lifetime = PD_COOKIE_LIFETIME_DEFAULT;
	/* As BIND's defaults: every other limited response slips, /24 and /56 prefixes. */
	g->rrl.window = 1;
	g->rrl.slip = 2;
	g->rrl.ipv4_prefix = 24;
	g->rrl.ipv6_prefix = 56;
	g->rrl.table_size = PD_RRL_TABLE_DEFAULT;
}

/* yes or no (on or off) into *flag. */
static int pd__yes_no(bool *flag, const char *key, const char *value, char *err, size_t cap)
{
	if (!strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "no") ||
	    !strcmp(value, "off")) {
		*flag = value[0] == 'y' || !strcmp(value, "on");
		return 0;
	}
	snprintf(err, cap, "%s must be yes or no, not '%s'", key, value);
	return -EINVAL;
}

/* One secret: 32 hex digits, ending at a blank or the end. Returns its end, or NULL. */
static const char *pd__secret(const char *v, uint8_t out[PD_COOKIE_SECRET_LEN])
{
	for (int i = 0; i < PD_COOKIE_SECRET_LEN; i++) {
		unsigned b;
		if (!isxdigit((unsigned char)v[2 * i]) || !isxdigit((unsigned char)v[2 * i + 1]) ||
		    sscanf(v + 2 * i, "%2x", &b) != 1)
			return NULL;
		out[i] = (uint8_t)b;
	}
	v += 2 * PD_COOKIE_SECRET_LEN;
	return *v == '\0' || isspace((unsigned char)*v) ? v : NULL;
}

/* cookie-secret: the secret that makes cookies, and maybe the one before it. */
static int pd__set_secrets(pd_cookie_conf_t *c, const char *value, char *err, size_t cap)
{
	uint8_t s[2][PD_COOKIE_SECRET_LEN];
	unsigned n = 0;
	const char *v = value;
	while (*v && n < 2) {
		if (!(v = pd__secret(v, s[n])))
			break;
		n++;
		while (isspace((unsigned char)*v))
			v++;
	}
	if (!v || *v || n == 0) {
		snprintf(err, cap,
		         "cookie-secret wants one or two secrets of 32 hex digits (16 bytes), the "
		         "one making cookies first, then the one before it, still accepted");
		return -EINVAL;
	}
	memcpy(c->secret, s, sizeof(s));
	c->nsecrets = n;
	return 0;
}

int pd__prefix_parse(pd_rrl_prefix_t *p, const char *text)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	long bits = -1;
	memset(p, 0, sizeof(*p));
	if (len < sizeof(addr)) {
		memcpy(addr, text, len);
		addr[len] = '\0';
		if (inet_pton(AF_INET, addr, p->addr) == 1)
			p->family = 4;
		else if (inet_pton(AF_INET6, addr, p->addr) == 1)
			p->family = 6;
	}
	long max = p->family == 4 ? 32 : 128;
	char *end = NULL;
	if (p->family && (!slash || isdigit((unsigned char)slash[1])))
		bits = slash ? strtol(slash + 1, &end, 10) : max;
	if (!p->family || bits < 0 || bits > max || (slash && *end))
		return -EINVAL;
	/* Clients at IPv4-mapped addresses are taken as the IPv4 ones they are: so is a
	 * mapped prefix, which would otherwise never match. */
	static const uint8_t mapped[12] = {[10] = 0xFF, [11] = 0xFF};
	if (p->family == 6 && bits >= 96 && memcmp(p->addr, mapped, sizeof(mapped)) == 0) {
		memmove(p->addr, p->addr + 12, 4);
		memset(p->addr + 4, 0, 12);
		p->family = 4;
		bits -= 96;
	}
	p->bits = (uint8_t)bits;
	/* Bits past the prefix cleared: 192.0.2.7/24 is 192.0.2.0/24, whoever compares. */
	for (long b = bits; b < 128; b++)
		p->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	return 0;
}

/* rate-limit-exempt: an address or a prefix (ADDR/BITS). */
static int pd__add_exempt(pd_rrl_conf_t *r, const char *value, char *err, size_t cap)
{
	pd_rrl_prefix_t p;
	if (pd__prefix_parse(&p, value) < 0) {
		snprintf(err, cap,
		         "rate-limit-exempt wants an address or a prefix (192.0.2.0/24, "
		         "2001:db8::/32), not '%s'",
		         value);
		return -EINVAL;
	}
	if (r->nexempt == PD_RRL_EXEMPT_MAX) {
		snprintf(err, cap, "more than %d rate-limit-exempt prefixes", PD_RRL_EXEMPT_MAX);
		return -EINVAL;
	}
	r->exempt[r->nexempt++] = p;
	return 0;
}

int pd__config_set_guard(pd_guard_conf_t *g, const char *key, const char *value, char *err,
                         size_t cap)
{
	if (strcmp(key, "cookies") == 0)
		return pd__yes_no(&g->cookie.enabled, key, value, err, cap);
	if (strcmp(key, "cookie-require") == 0)
		return pd__yes_no(&g->cookie.require, key, value, err, cap);
	if (strcmp(key, "cookie-secret") == 0)
		return pd__set_secrets(&g->cookie, value, err, cap);
	if (strcmp(key, "rate-limit-exempt") == 0)
		return pd__add_exempt(&g->rrl, value, err, cap);
	return 1;
}

int pd__guard_check(const pd_guard_conf_t *g, bool reuseport_cpu, char *err, size_t cap)
{
	if (g->rrl.rate && reuseport_cpu) {
		snprintf(err, cap,
		         "rate-limit and reuseport-cpu cannot both be on: rate limiting steers "
		         "each client prefix to one worker, so that its limit is the one "
		         "configured, and reuseport-cpu steers by CPU");
		return -EINVAL;
	}
	if ((uint64_t)g->rrl.rate * g->rrl.window > INT32_MAX / 1000) {
		snprintf(err, cap, "rate-limit x rate-limit-window is at most %d, not %llu",
		         INT32_MAX / 1000, (unsigned long long)g->rrl.rate * g->rrl.window);
		return -EINVAL;
	}
	if (g->cookie.require && !g->cookie.enabled) {
		snprintf(err, cap, "cookie-require: yes needs cookies: yes");
		return -EINVAL;
	}
	return 0;
}
