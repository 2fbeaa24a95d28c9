/* DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018), per worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_COOKIE_CLIENT_LEN 8
#define PD_COOKIE_SERVER_LEN 16 /* RFC 9018: version, reserved, timestamp, hash */
#define PD_COOKIE_SECRET_LEN 16 /* a SipHash-2-4 key */
#define PD_COOKIE_OPTION_MAX 40 /* client cookie and the longest server cookie RFC 7873 allows */
/* A generated secret is replaced after this long by default (as Knot's secret-lifetime). */
#define PD_COOKIE_LIFETIME_DEFAULT (26 * 3600)
/* The least lifetime: a cookie is good for an hour (RFC 9018 4.3), plus the clock skew
 * allowed, so a cookie made just before a rotation still checks against the old secret. */
#define PD_COOKIE_LIFETIME_MIN 7200

/** What a query's COOKIE option says, once checked (pd_cookie_check()). */
typedef enum pd_cookie_verdict {
	PD_COOKIE_NONE = 0, /* no COOKIE option, or cookies are off */
	PD_COOKIE_CLIENT,   /* a client cookie alone (RFC 7873 5.2.3) */
	PD_COOKIE_VALID,    /* ... with a server cookie of ours, recent enough (5.2.5) */
	PD_COOKIE_INVALID,  /* ... with a server cookie that is not (5.2.4) */
} pd_cookie_verdict_t;

/**
 * The server's cookie settings. With secrets configured (nsecrets 1 or 2) secret[0] makes
 * cookies and both are accepted: every server of an anycast set given the same one makes
 * and checks the same cookies, whatever its software (RFC 9018). With none, a random
 * master secret is made at start (and kept across a handoff): the secret in use is derived
 * from it and changes every lifetime seconds, the one before still accepted.
 */
typedef struct pd_cookie_conf {
	bool enabled;
	bool require; /* UDP queries without a valid server cookie get BADCOOKIE */
	unsigned nsecrets;
	uint8_t secret[2][PD_COOKIE_SECRET_LEN];
	uint8_t master[PD_COOKIE_SECRET_LEN]; /* when nsecrets is 0 */
	uint32_t lifetime;                    /* seconds a derived secret is used */
} pd_cookie_conf_t;

typedef struct pd_cookie pd_cookie_t;

/**
 * Creates one worker's cookie state for conf, which must outlive it: the SipHash contexts
 * are made and keyed here, so checking and making cookies later allocates nothing.
 * Returns 0, -EINVAL for a conf that is not enabled or is inconsistent, or -ENOMEM.
 */
int pd_cookie_new(pd_cookie_t **out, const pd_cookie_conf_t *conf);

/** Frees a worker's cookie state. */
void pd_cookie_free(pd_cookie_t *c);

/**
 * Checks the COOKIE option of len bytes at opt (a client cookie, maybe a server cookie:
 * len 8 or 16 to 40, as the query parse lets through) sent from the address addr
 * (addr_len 4 or 16 bytes) at Unix time now, and writes the server cookie to send back
 * to out: the client's own when it is valid and less than half an hour old, otherwise a
 * fresh one (RFC 9018 4.3). Returns the verdict.
 */
pd_cookie_verdict_t pd_cookie_check(pd_cookie_t *c, const uint8_t *opt, size_t len,
                                    const uint8_t *addr, size_t addr_len, uint32_t now,
                                    uint8_t out[PD_COOKIE_SERVER_LEN]);

/**
 * Makes the RFC 9018 version 1 server cookie for client cookie client, address addr
 * (4 or 16 bytes), timestamp now, with the 16-byte SipHash-2-4 key secret: a plain
 * computation for tests and tools; pd_cookie_check() uses keyed contexts instead.
 * Returns 0, or -EINVAL when libcrypto has no SipHash.
 */
int pd_cookie_make(const uint8_t secret[PD_COOKIE_SECRET_LEN],
                   const uint8_t client[PD_COOKIE_CLIENT_LEN], const uint8_t *addr, size_t addr_len,
                   uint32_t now, uint8_t out[PD_COOKIE_SERVER_LEN]);
