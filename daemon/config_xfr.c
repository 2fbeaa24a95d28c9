/* The configuration of zone transfers: TSIG keys, secondaries, catalogs, who may transfer
 * zones from us and who is notified of their changes. */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "pindns/listen.h"

#ifndef PD_DEFAULT_STATE_DIR
#define PD_DEFAULT_STATE_DIR PD_XFR_DEFAULT_STATE_DIR
#endif

#define PD__WORDS_MAX 64 /* words of one transfer line: a zone and its primaries ... */

/* A line's value cut into blank-separated words, in a copy of its own. */
typedef struct pd__words {
	char *w[PD__WORDS_MAX];
	int n;
	char buf[4096];
} pd__words_t;

/* Cuts value into words. Returns 0, or -E2BIG for too many or too long. */
static int pd__words(pd__words_t *ws, const char *value)
{
	if (strlen(value) >= sizeof(ws->buf))
		return -E2BIG;
	strcpy(ws->buf, value);
	ws->n = 0;
	for (char *p = ws->buf; *p;) {
		while (isspace((unsigned char)*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (ws->n == PD__WORDS_MAX)
			return -E2BIG;
		ws->w[ws->n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	return 0;
}

int pd__xfr_defaults(pd_xfr_conf_t *x)
{
	memset(x, 0, sizeof(*x));
	x->max_size = PD_XFR_DEFAULT_MAX_SIZE;
	x->journal_size = PD_XFR_DEFAULT_JOURNAL;
	x->timeout_ms = PD_XFR_DEFAULT_TIMEOUT_MS;
	x->state_dir = strdup(PD_DEFAULT_STATE_DIR);
	return x->state_dir ? 0 : -ENOMEM;
}

static void pd__secondary_free(pd_xfr_secondary_t *s)
{
	free(s->origin);
	free(s->primaries);
	free(s->notify_from.rules);
}

void pd__xfr_free(pd_xfr_conf_t *x)
{
	for (size_t i = 0; i < x->nsecondaries; i++)
		pd__secondary_free(&x->secondaries[i]);
	for (size_t i = 0; i < x->nprovide; i++) {
		free(x->provide[i].origin);
		free(x->provide[i].acl.rules);
	}
	for (size_t i = 0; i < x->nnotify; i++)
		free(x->notify[i].origin);
	free(x->secondaries);
	free(x->sources);
	free(x->provide);
	free(x->notify);
	free(x->keys);
	free(x->state_dir);
	memset(x, 0, sizeof(*x));
}

/* The key named name, or NULL. */
static const pd_tsig_key_t *pd__key_named(const pd_xfr_conf_t *x, const char *name)
{
	uint8_t wire[PD_NAME_MAX];
	int n = pd_name_from_str(wire, name);
	if (n <= 0)
		return NULL;
	pd_name_lower(wire, wire);
	for (size_t i = 0; i < x->nkeys; i++)
		if (x->keys[i].name_len == n && memcmp(x->keys[i].name, wire, (size_t)n) == 0)
			return &x->keys[i];
	return NULL;
}

/* A key pointer into the old key array, moved to the same key in the new one. */
static void pd__rebase(const pd_tsig_key_t **k, const pd_tsig_key_t *old, pd_tsig_key_t *new)
{
	if (*k)
		*k = new + (*k - old);
}

/*
 * Grows the key array by one. Remotes and rules point into it: they are moved to the new
 * array while the old one is still there to measure from.
 */
static int pd__keys_grow(pd_xfr_conf_t *x)
{
	pd_tsig_key_t *nk = malloc((x->nkeys + 1) * sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	if (x->nkeys)
		memcpy(nk, x->keys, x->nkeys * sizeof(*nk));
	for (size_t i = 0; i < x->nsecondaries; i++) {
		pd_xfr_secondary_t *s = &x->secondaries[i];
		for (size_t p = 0; p < s->nprimaries; p++)
			pd__rebase(&s->primaries[p].key, x->keys, nk);
		for (size_t r = 0; r < s->notify_from.n; r++)
			pd__rebase(&s->notify_from.rules[r].key, x->keys, nk);
	}
	for (size_t i = 0; i < x->nprovide; i++)
		for (size_t r = 0; r < x->provide[i].acl.n; r++)
			pd__rebase(&x->provide[i].acl.rules[r].key, x->keys, nk);
	for (size_t i = 0; i < x->nnotify; i++)
		pd__rebase(&x->notify[i].target.key, x->keys, nk);
	free(x->keys);
	x->keys = nk;
	return 0;
}

/* tsig-key: NAME ALGORITHM SECRET. */
static int pd__add_key(pd_xfr_conf_t *x, const char *value, char *err, size_t cap)
{
	pd__words_t ws;
	pd_tsig_key_t k;
	char why[256] = "";
	if (pd__words(&ws, value) < 0 || ws.n != 3) {
		snprintf(err, cap,
		         "tsig-key wants a name, an algorithm and a base64 secret: 'tsig-key: "
		         "xfr.key hmac-sha256 c2VjcmV0IGtleSBvZiAzMiBieXRlcyBmb3IgaG1hYw=='");
		return -EINVAL;
	}
	if (pd_tsig_key_parse(&k, ws.w[0], ws.w[1], ws.w[2], why, sizeof(why)) < 0) {
		snprintf(err, cap, "tsig-key %s: %s", ws.w[0], why);
		return -EINVAL;
	}
	if (pd__key_named(x, ws.w[0])) {
		snprintf(err, cap, "tsig-key %s is defined twice", ws.w[0]);
		return -EINVAL;
	}
	int ret = pd__keys_grow(x);
	if (ret < 0)
		return ret;
	x->keys[x->nkeys++] = k;
	return 0;
}

/*
 * The key "key NAME" names at words[*i] (the word after "key"), for what (the line's
 * option and zone, for the message). Moves *i past NAME.
 */
static int pd__key_word(const pd_xfr_conf_t *x, const pd__words_t *ws, int *i,
                        const pd_tsig_key_t **key, const char *what, char *err, size_t cap)
{
	if (*key) {
		snprintf(err, cap, "%s: 'key' is given twice", what);
		return -EINVAL;
	}
	if (*i + 1 >= ws->n) {
		snprintf(err, cap, "%s: 'key' wants the name of a tsig-key", what);
		return -EINVAL;
	}
	const char *name = ws->w[++*i];
	if (!(*key = pd__key_named(x, name))) {
		snprintf(err, cap,
		         "%s: tsig-key '%s' is not defined (its tsig-key line must come before "
		         "its use)",
		         what, name);
		return -EINVAL;
	}
	return 0;
}

/* A zone name into origin (a copy) and wire (lower-cased); "*" (when star) into NULL. */
static int pd__zone_word(const char *word, bool star, char **origin, uint8_t *wire, const char *key,
                         char *err, size_t cap)
{
	*origin = NULL;
	memset(wire, 0, PD_NAME_MAX);
	if (star && strcmp(word, "*") == 0)
		return 0;
	if (pd_name_from_str(wire, word) <= 0) {
		snprintf(err, cap, "%s: '%s' is not a domain name", key, word);
		return -EINVAL;
	}
	pd_name_lower(wire, wire);
	return (*origin = strdup(word)) ? 0 : -ENOMEM;
}

/* An ADDR[:PORT] of a remote server (port 53 if none), as listen: takes it. */
static int pd__remote(pd_xfr_remote_t *r, const char *word, const pd_tsig_key_t *key,
                      const char *what, char *err, size_t cap)
{
	pd_listen_t l;
	if (pd_listen_parse(&l, word) < 0) {
		snprintf(err, cap,
		         "%s: bad address '%s' (want ADDR or ADDR:PORT, e.g. 192.0.2.1, "
		         "192.0.2.1:5300 or [2001:db8::1]:5300)",
		         what, word);
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->addr = l.addr;
	r->addr_len = l.addr_len;
	r->key = key;
	return 0;
}

/* A prefix of an access list, with the key it must sign with. */
static int pd__rule(pd_xfr_rule_t *r, const char *word, const pd_tsig_key_t *key, const char *what,
                    char *err, size_t cap)
{
	pd_rrl_prefix_t p;
	if (pd__prefix_parse(&p, word) < 0) {
		snprintf(err, cap,
		         "%s: bad address or prefix '%s' (want e.g. 192.0.2.1, 192.0.2.0/24 or "
		         "2001:db8::/32)",
		         what, word);
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->family = p.family == 4 ? AF_INET : AF_INET6;
	memcpy(r->addr, p.addr, sizeof(r->addr));
	r->prefix = p.bits;
	r->key = key;
	return 0;
}

/* The rule that lets a primary itself NOTIFY us: its address alone, from any port. */
static void pd__rule_of(pd_xfr_rule_t *r, const pd_xfr_remote_t *primary)
{
	memset(r, 0, sizeof(*r));
	r->key = primary->key;
	if (primary->addr.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&primary->addr;
		r->family = AF_INET;
		memcpy(r->addr, &s4->sin_addr, 4);
		r->prefix = 32;
		return;
	}
	const struct sockaddr_in6 *s6 = (const void *)&primary->addr;
	r->family = AF_INET6;
	memcpy(r->addr, &s6->sin6_addr, 16);
	r->prefix = 128;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) { /* its NOTIFY is taken as IPv4's */
		memmove(r->addr, r->addr + 12, 4);
		memset(r->addr + 4, 0, 12);
		r->family = AF_INET;
		r->prefix = 32;
	}
}

/*
 * Fills s's primaries (the nprim words at prim) and who may notify it (the nfrom words
 * at from, or the primaries when there are none), each with key.
 */
static int pd__secondary_fill(pd_xfr_secondary_t *s, const char *const *prim, size_t nprim,
                              const char *const *from, size_t nfrom, const pd_tsig_key_t *key,
                              const char *what, char *err, size_t cap)
{
	size_t nrules = nfrom ? nfrom : nprim;
	int ret = 0;
	s->primaries = calloc(nprim, sizeof(*s->primaries));
	s->notify_from.rules = calloc(nrules, sizeof(*s->notify_from.rules));
	if (!s->primaries || !s->notify_from.rules)
		return -ENOMEM;
	for (size_t p = 0; p < nprim; p++) {
		if ((ret = pd__remote(&s->primaries[p], prim[p], key, what, err, cap)) < 0)
			return ret;
		s->nprimaries++;
	}
	for (size_t r = 0; r < nrules; r++) {
		if (nfrom)
			ret = pd__rule(&s->notify_from.rules[r], from[r], key, what, err, cap);
		else
			pd__rule_of(&s->notify_from.rules[r], &s->primaries[r]);
		if (ret < 0)
			return ret;
		s->notify_from.n++;
	}
	return 0;
}

static bool pd__keyword(const char *word)
{
	return strcmp(word, "key") == 0 || strcmp(word, "notify-from") == 0;
}

/*
 * The words after a secondary's zone: primaries, then "key NAME" and "notify-from
 * PREFIX..." in either order. Fills s's primaries and notify_from (allocated here); the
 * primaries' own addresses may notify unless notify-from says who may.
 */
static int pd__secondary_words(const pd_xfr_conf_t *x, const pd__words_t *ws, pd_xfr_secondary_t *s,
                               const char *what, char *err, size_t cap)
{
	const pd_tsig_key_t *key = NULL;
	int first_from = -1, nfrom = 0, nprim = 0, ret;
	for (int i = 1; i < ws->n; i++) {
		if (strcmp(ws->w[i], "key") == 0) {
			if ((ret = pd__key_word(x, ws, &i, &key, what, err, cap)) < 0)
				return ret;
		} else if (strcmp(ws->w[i], "notify-from") == 0) {
			if (first_from >= 0) {
				snprintf(err, cap, "%s: 'notify-from' is given twice", what);
				return -EINVAL;
			}
			for (first_from = i + 1; i + 1 < ws->n && !pd__keyword(ws->w[i + 1]); i++)
				nfrom++;
			if (nfrom == 0) {
				snprintf(err, cap, "%s: 'notify-from' wants addresses or prefixes",
				         what);
				return -EINVAL;
			}
		} else if (key || first_from >= 0) {
			snprintf(err, cap,
			         "%s: '%s' after 'key' or 'notify-from' (primaries come first)",
			         what, ws->w[i]);
			return -EINVAL;
		} else {
			nprim++;
		}
	}
	if (nprim == 0) {
		snprintf(err, cap, "%s: no primary (want 'ZONE ADDR[:PORT]... [key NAME]')", what);
		return -EINVAL;
	}
	const char *const *from = nfrom ? (const char *const *)&ws->w[first_from] : NULL;
	return pd__secondary_fill(s, (const char *const *)&ws->w[1], (size_t)nprim, from,
	                          (size_t)nfrom, key, what, err, cap);
}

/* The secondaries as the zone-file layer sees them, made again as the array they point
 * into moves. */
static int pd__sources_fill(pd_xfr_conf_t *x)
{
	pd_zone_secondary_t *v = realloc(x->sources, x->nsecondaries * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < x->nsecondaries; i++)
		v[i] = (pd_zone_secondary_t){.origin = x->secondaries[i].origin,
		                             .xfr = &x->secondaries[i]};
	x->sources = v;
	return 0;
}

/* secondary: ZONE PRIMARY... [key NAME] [notify-from PREFIX...], and catalog: alike. */
static int pd__add_secondary(pd_xfr_conf_t *x, const char *key, const char *value, char *err,
                             size_t cap)
{
	pd__words_t ws;
	pd_xfr_secondary_t s = {.catalog = strcmp(key, "catalog") == 0};
	char what[300];
	if (pd__words(&ws, value) < 0 || ws.n < 2) {
		snprintf(err, cap,
		         "%s wants a zone and its primaries: '%s: example.com 192.0.2.1 "
		         "[2001:db8::1]:5300 [key NAME]%s'",
		         key, key, s.catalog ? "" : " [notify-from PREFIX...]");
		return -EINVAL;
	}
	int ret = pd__zone_word(ws.w[0], false, &s.origin, s.wire, key, err, cap);
	snprintf(what, sizeof(what), "%s %s", key, ws.w[0]);
	if (ret == 0)
		ret = pd__secondary_words(x, &ws, &s, what, err, cap);
	pd_xfr_secondary_t *ns = NULL;
	if (ret == 0 && !(ns = realloc(x->secondaries, (x->nsecondaries + 1) * sizeof(*ns))))
		ret = -ENOMEM;
	if (ret < 0) {
		pd__secondary_free(&s);
		return ret;
	}
	x->secondaries = ns;
	ns[x->nsecondaries++] = s;
	return pd__sources_fill(x);
}

/*
 * The words after a zone: addresses (or prefixes), then maybe "key NAME". Sets *naddr,
 * and *key to the key (NULL when none).
 */
static int pd__addrs_key(const pd_xfr_conf_t *x, const pd__words_t *ws, int *naddr,
                         const pd_tsig_key_t **key, const char *what, char *err, size_t cap)
{
	*key = NULL;
	*naddr = 0;
	for (int i = 1; i < ws->n; i++) {
		if (strcmp(ws->w[i], "key") == 0) {
			int ret = pd__key_word(x, ws, &i, key, what, err, cap);
			if (ret < 0)
				return ret;
		} else if (*key) {
			snprintf(err, cap, "%s: '%s' after 'key' (addresses come first)", what,
			         ws->w[i]);
			return -EINVAL;
		} else {
			(*naddr)++;
		}
	}
	return 0;
}

/* The provide-xfr entry of a zone (origin NULL: every zone), made if there is none. */
static pd_xfr_provide_t *pd__provide_of(pd_xfr_conf_t *x, const uint8_t *wire, bool star)
{
	for (size_t i = 0; i < x->nprovide; i++)
		if (star ? !x->provide[i].origin
		         : x->provide[i].origin &&
		               memcmp(x->provide[i].wire, wire, PD_NAME_MAX) == 0)
			return &x->provide[i];
	pd_xfr_provide_t *np = realloc(x->provide, (x->nprovide + 1) * sizeof(*np));
	if (!np)
		return NULL;
	x->provide = np;
	memset(&np[x->nprovide], 0, sizeof(*np));
	memcpy(np[x->nprovide].wire, wire, PD_NAME_MAX);
	return &np[x->nprovide++];
}

/* provide-xfr: ZONE|* PREFIX... [key NAME]; lines for the same zone add to its list. */
static int pd__add_provide(pd_xfr_conf_t *x, const char *value, char *err, size_t cap)
{
	pd__words_t ws;
	const pd_tsig_key_t *key;
	uint8_t wire[PD_NAME_MAX];
	char *origin = NULL, what[300];
	int naddr, ret;
	if (pd__words(&ws, value) < 0 || ws.n < 2) {
		snprintf(err, cap,
		         "provide-xfr wants a zone (or * for all) and who may transfer it: "
		         "'provide-xfr: example.com 192.0.2.0/24 [key NAME]'");
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "provide-xfr %s", ws.w[0]);
	if ((ret = pd__zone_word(ws.w[0], true, &origin, wire, "provide-xfr", err, cap)) < 0)
		return ret;
	pd_xfr_rule_t rules[PD__WORDS_MAX];
	ret = pd__addrs_key(x, &ws, &naddr, &key, what, err, cap);
	if (ret == 0 && naddr == 0) {
		snprintf(err, cap, "%s: no address or prefix to allow", what);
		ret = -EINVAL;
	}
	for (int i = 0; ret == 0 && i < naddr; i++)
		ret = pd__rule(&rules[i], ws.w[1 + i], key, what, err, cap);
	pd_xfr_provide_t *p = ret == 0 ? pd__provide_of(x, wire, !origin) : NULL;
	pd_xfr_rule_t *nr =
	    p ? realloc(p->acl.rules, (p->acl.n + (size_t)naddr) * sizeof(*nr)) : NULL;
	if (ret == 0 && !nr)
		ret = -ENOMEM;
	if (ret < 0) {
		free(origin);
		return ret;
	}
	p->acl.rules = nr;
	memcpy(nr + p->acl.n, rules, (size_t)naddr * sizeof(*nr));
	p->acl.n += (size_t)naddr;
	if (p->origin || !origin)
		free(origin); /* a zone already listed keeps the spelling it came with */
	else
		p->origin = origin;
	return 0;
}

/* notify: ZONE|* ADDR[:PORT]... [key NAME]: one target per address. */
static int pd__add_notify(pd_xfr_conf_t *x, const char *value, char *err, size_t cap)
{
	pd__words_t ws;
	const pd_tsig_key_t *key;
	pd_xfr_remote_t targets[PD__WORDS_MAX];
	char *origin = NULL, what[300];
	int naddr, ret;
	if (pd__words(&ws, value) < 0 || ws.n < 2) {
		snprintf(err, cap,
		         "notify wants a zone (or * for all) and the servers to notify: "
		         "'notify: example.com 192.0.2.2 [2001:db8::2]:5300 [key NAME]'");
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "notify %s", ws.w[0]);
	ret = pd__addrs_key(x, &ws, &naddr, &key, what, err, cap);
	if (ret == 0 && naddr == 0) {
		snprintf(err, cap, "%s: no address to notify", what);
		ret = -EINVAL;
	}
	for (int i = 0; ret == 0 && i < naddr; i++)
		ret = pd__remote(&targets[i], ws.w[1 + i], key, what, err, cap);
	pd_xfr_notify_t *nn = NULL;
	if (ret == 0 && !(nn = realloc(x->notify, (x->nnotify + (size_t)naddr) * sizeof(*nn))))
		ret = -ENOMEM;
	if (ret < 0)
		return ret;
	x->notify = nn;
	for (int i = 0; i < naddr; i++) {
		pd_xfr_notify_t *n = &nn[x->nnotify];
		if ((ret = pd__zone_word(ws.w[0], true, &origin, n->wire, "notify", err, cap)) < 0)
			return ret;
		n->origin = origin;
		n->target = targets[i];
		x->nnotify++;
	}
	return 0;
}

int pd__config_set_xfr(pd_xfr_conf_t *x, const char *key, const char *value, char *err, size_t cap)
{
	unsigned long long n;
	if (strcmp(key, "tsig-key") == 0)
		return pd__add_key(x, value, err, cap);
	if (strcmp(key, "secondary") == 0 || strcmp(key, "catalog") == 0)
		return pd__add_secondary(x, key, value, err, cap);
	if (strcmp(key, "provide-xfr") == 0)
		return pd__add_provide(x, value, err, cap);
	if (strcmp(key, "notify") == 0)
		return pd__add_notify(x, value, err, cap);
	if (strcmp(key, "state-dir") == 0) {
		char *s = value[0] ? strdup(value) : NULL;
		if (!value[0]) {
			snprintf(err, cap, "state-dir wants a folder");
			return -EINVAL;
		}
		if (!s)
			return -ENOMEM;
		free(x->state_dir);
		x->state_dir = s;
		return 0;
	}
	if (strcmp(key, "xfr-max-size") == 0) {
		if (pd__parse_size(value, 64ull << 30, &n) < 0 || n < 1024) {
			snprintf(
			    err, cap,
			    "xfr-max-size must be bytes with an optional K, M or G, from 1K to "
			    "64G, not '%s'",
			    value);
			return -EINVAL;
		}
		x->max_size = n;
		return 0;
	}
	if (strcmp(key, "xfr-journal-size") == 0) {
		if (pd__parse_size(value, 1ull << 30, &n) < 0) {
			snprintf(err, cap,
			         "xfr-journal-size must be bytes with an optional K, M or G, up to "
			         "1G (0: no IXFR, always AXFR), not '%s'",
			         value);
			return -EINVAL;
		}
		x->journal_size = (size_t)n;
		return 0;
	}
	return 1;
}

static int pd__cmp_secondary(const void *a, const void *b)
{
	const pd_xfr_secondary_t *const *x = a, *const *y = b;
	return memcmp((*x)->wire, (*y)->wire, PD_NAME_MAX);
}

/* The secondaries sorted by name, in *sorted (the caller's to free). */
static int pd__sorted(const pd_xfr_conf_t *x, const pd_xfr_secondary_t ***sorted)
{
	*sorted = malloc((x->nsecondaries + 1) * sizeof(**sorted));
	if (!*sorted)
		return -ENOMEM;
	for (size_t i = 0; i < x->nsecondaries; i++)
		(*sorted)[i] = &x->secondaries[i];
	qsort(*sorted, x->nsecondaries, sizeof(**sorted), pd__cmp_secondary);
	return 0;
}

int pd__xfr_check(const pd_xfr_conf_t *x, const pd_zone_conf_t *zones, size_t nzones, char *err,
                  size_t cap)
{
	const pd_xfr_secondary_t **sorted;
	int ret = 0;
	if (x->nsecondaries == 0)
		return 0;
	if (pd__sorted(x, &sorted) < 0) {
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 1; ret == 0 && i < x->nsecondaries; i++)
		if (memcmp(sorted[i - 1]->wire, sorted[i]->wire, PD_NAME_MAX) == 0) {
			snprintf(err, cap, "zone %s is configured twice as a secondary or catalog",
			         sorted[i]->origin);
			ret = -EINVAL;
		}
	for (size_t i = 0; ret == 0 && i < nzones; i++) {
		pd_xfr_secondary_t key = {0};
		const pd_xfr_secondary_t *kp = &key, **hit;
		if (pd_name_from_str(key.wire, zones[i].origin) <= 0)
			continue; /* the zone's own load reports it */
		pd_name_lower(key.wire, key.wire);
		hit = bsearch(&kp, sorted, x->nsecondaries, sizeof(*sorted), pd__cmp_secondary);
		if (hit) {
			snprintf(
			    err, cap,
			    "zone %s is both a secondary (transferred from its primaries) and a "
			    "'zone:' loaded from %s: keep one",
			    (*hit)->origin, zones[i].file);
			ret = -EINVAL;
		}
	}
	free(sorted);
	return ret;
}
