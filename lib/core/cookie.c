/* DNS cookies: checking and making RFC 9018 server cookies with libcrypto's SipHash-2-4. */
#include "pindns/cookie.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#define PD__VERSION 1
#define PD__HASH_LEN 8
#define PD__MSG_MAX (PD_COOKIE_CLIENT_LEN + 8 + 16) /* client, version..timestamp, IPv6 */
#define PD__MAX_AGE 3600   /* RFC 9018 4.3: older than an hour is invalid, */
#define PD__MAX_AHEAD 300  /* ... and so is more than five minutes ahead, */
#define PD__RENEW_AGE 1800 /* ... and one over half an hour old is replaced */

struct pd_cookie {
	const pd_cookie_conf_t *conf;
	EVP_MAC *mac;
	/* Keyed SipHash states, restored for each hash (EVP_MAC_init without a key copies
	 * the keyed state back, which allocates nothing): key[0] makes cookies, both check. */
	EVP_MAC_CTX *key[2];
	unsigned nkeys;
	EVP_MAC_CTX *derive; /* keyed with the master secret, 16-byte output; NULL: fixed */
	int64_t period;      /* the lifetime period key[0] was derived for; -1: none yet */
};

static EVP_MAC_CTX *pd__ctx_new(EVP_MAC *mac, const uint8_t *secret, size_t out_len)
{
	size_t size = out_len;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
	                       OSSL_PARAM_construct_end()};
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	if (ctx && !EVP_MAC_init(ctx, secret, PD_COOKIE_SECRET_LEN, params)) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* SipHash of len bytes at msg with the keyed state ctx, out_len bytes of it to out. */
static bool pd__hash(EVP_MAC_CTX *ctx, const uint8_t *msg, size_t len, uint8_t *out, size_t out_len)
{
	size_t got = 0;
	return EVP_MAC_init(ctx, NULL, 0, NULL) && EVP_MAC_update(ctx, msg, len) &&
	       EVP_MAC_final(ctx, out, &got, out_len) && got == out_len;
}

/* The secret of lifetime period p: the master secret's SipHash of a label and p. */
static bool pd__derive(pd_cookie_t *c, int64_t p, uint8_t secret[PD_COOKIE_SECRET_LEN])
{
	uint8_t msg[24] = "pindns cookie secret";
	for (int i = 0; i < 4; i++)
		msg[20 + i] = (uint8_t)((uint64_t)p >> (24 - 8 * i));
	return pd__hash(c->derive, msg, sizeof(msg), secret, PD_COOKIE_SECRET_LEN);
}

/* Derived secrets: keys for now's period and the one before, when the period moved on. */
static void pd__rekey(pd_cookie_t *c, uint32_t now)
{
	uint8_t secret[PD_COOKIE_SECRET_LEN];
	if (!c->derive)
		return;
	int64_t p = now / c->conf->lifetime;
	if (p == c->period)
		return;
	c->period = p;
	for (unsigned i = 0; i < 2; i++)
		if (pd__derive(c, p - i, secret))
			EVP_MAC_init(c->key[i], secret, sizeof(secret), NULL);
	memset(secret, 0, sizeof(secret)); /* the keyed states hold it; this copy goes */
}

int pd_cookie_new(pd_cookie_t **out, const pd_cookie_conf_t *conf)
{
	*out = NULL;
	if (!conf->enabled || conf->nsecrets > 2 ||
	    (conf->nsecrets == 0 && conf->lifetime < PD_COOKIE_LIFETIME_MIN))
		return -EINVAL;
	pd_cookie_t *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->conf = conf;
	c->period = -1;
	c->mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	if (!c->mac)
		goto fail;
	c->nkeys = conf->nsecrets ? conf->nsecrets : 2;
	if (conf->nsecrets == 0) {
		c->derive = pd__ctx_new(c->mac, conf->master, PD_COOKIE_SECRET_LEN);
		if (!c->derive)
			goto fail;
	}
	for (unsigned i = 0; i < c->nkeys; i++) {
		c->key[i] = pd__ctx_new(c->mac, conf->nsecrets ? conf->secret[i] : conf->master,
		                        PD__HASH_LEN);
		if (!c->key[i])
			goto fail;
	}
	*out = c; /* derived keys are made at the first check, for its time */
	return 0;
fail:
	pd_cookie_free(c);
	return -ENOMEM;
}

void pd_cookie_free(pd_cookie_t *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < 2; i++)
		EVP_MAC_CTX_free(c->key[i]);
	EVP_MAC_CTX_free(c->derive);
	EVP_MAC_free(c->mac);
	free(c);
}

/* The timestamp of a server cookie. */
static uint32_t pd__timestamp(const uint8_t *sc)
{
	return (uint32_t)sc[4] << 24 | (uint32_t)sc[5] << 16 | (uint32_t)sc[6] << 8 | sc[7];
}

/* Compares without an early exit, so the time taken tells nothing of where they differ. */
static bool pd__equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* The hashed message: client cookie, version, reserved, timestamp, then the address. */
static size_t pd__message(uint8_t *msg, const uint8_t *client, const uint8_t head[8],
                          const uint8_t *addr, size_t addr_len)
{
	memcpy(msg, client, PD_COOKIE_CLIENT_LEN);
	memcpy(msg + PD_COOKIE_CLIENT_LEN, head, 8);
	memcpy(msg + PD_COOKIE_CLIENT_LEN + 8, addr, addr_len);
	return PD_COOKIE_CLIENT_LEN + 8 + addr_len;
}

/* A fresh server cookie with key ctx: version 1, reserved zero, timestamp now. */
static void pd__fresh(EVP_MAC_CTX *ctx, const uint8_t *client, const uint8_t *addr, size_t addr_len,
                      uint32_t now, uint8_t out[PD_COOKIE_SERVER_LEN])
{
	uint8_t msg[PD__MSG_MAX];
	out[0] = PD__VERSION;
	out[1] = out[2] = out[3] = 0;
	for (int i = 0; i < 4; i++)
		out[4 + i] = (uint8_t)(now >> (24 - 8 * i));
	size_t len = pd__message(msg, client, out, addr, addr_len);
	if (!pd__hash(ctx, msg, len, out + 8, PD__HASH_LEN))
		memset(out + 8, 0, PD__HASH_LEN); /* never valid: its checks fail too */
}

/*
 * Whether server cookie sc (16 bytes) is ours and of a time we accept at now: the index of
 * the key that made it, or -1.
 */
static int pd__valid(pd_cookie_t *c, const uint8_t *client, const uint8_t *sc, const uint8_t *addr,
                     size_t addr_len, uint32_t now)
{
	uint8_t msg[PD__MSG_MAX], hash[PD__HASH_LEN];
	int32_t age =
	    (int32_t)(now - pd__timestamp(sc)); /* serial arithmetic (RFC 1982), as RFC 9018 says */
	if (sc[0] != PD__VERSION || age > PD__MAX_AGE || age < -PD__MAX_AHEAD)
		return -1;
	size_t len = pd__message(msg, client, sc, addr, addr_len);
	for (unsigned i = 0; i < c->nkeys; i++)
		if (pd__hash(c->key[i], msg, len, hash, sizeof(hash)) &&
		    pd__equal(hash, sc + 8, sizeof(hash)))
			return (int)i;
	return -1;
}

pd_cookie_verdict_t pd_cookie_check(pd_cookie_t *c, const uint8_t *opt, size_t len,
                                    const uint8_t *addr, size_t addr_len, uint32_t now,
                                    uint8_t out[PD_COOKIE_SERVER_LEN])
{
	pd__rekey(c, now);
	const uint8_t *sc = opt + PD_COOKIE_CLIENT_LEN;
	pd_cookie_verdict_t v = PD_COOKIE_CLIENT;
	int key = -1;
	if (len > PD_COOKIE_CLIENT_LEN) {
		if (len == PD_COOKIE_CLIENT_LEN + PD_COOKIE_SERVER_LEN)
			key = pd__valid(c, opt, sc, addr, addr_len, now);
		v = key >= 0 ? PD_COOKIE_VALID : PD_COOKIE_INVALID;
	}
	/* One made with the key in use, recent and with nothing reserved set, goes back as
	 * it came (no hash); any other is replaced (RFC 9018 4.3). */
	if (key == 0 && (int32_t)(now - pd__timestamp(sc)) < PD__RENEW_AGE && !sc[1] && !sc[2] &&
	    !sc[3])
		memcpy(out, sc, PD_COOKIE_SERVER_LEN);
	else
		pd__fresh(c->key[0], opt, addr, addr_len, now, out);
	return v;
}

int pd_cookie_make(const uint8_t secret[PD_COOKIE_SECRET_LEN],
                   const uint8_t client[PD_COOKIE_CLIENT_LEN], const uint8_t *addr, size_t addr_len,
                   uint32_t now, uint8_t out[PD_COOKIE_SERVER_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *ctx = mac ? pd__ctx_new(mac, secret, PD__HASH_LEN) : NULL;
	if (ctx)
		pd__fresh(ctx, client, addr, addr_len, now, out);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ctx ? 0 : -EINVAL;
}
