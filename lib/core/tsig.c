/* TSIG (RFC 8945): keys, signing and verifying messages and streams with libcrypto's HMAC. */
#include "pindns/tsig.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pindns/dns.h"
#include "pindns/wire.h"

#define PD__HEADER 12
#define PD__ARCOUNT 10
#define PD__UNSIGNED_MAX 99 /* RFC 8945 5.3.1: a signed message at least every 100 */

/* The algorithms, indexed by pd_tsig_alg_t: names, libcrypto's digest, the MAC size. */
static const struct pd__alg {
	const char *text;
	const uint8_t *wire;
	const char *digest;
	uint16_t mac_len;
} pd__algs[] = {
    [PD_TSIG_HMAC_SHA1] = {"hmac-sha1", (const uint8_t *)"\011hmac-sha1", "SHA1", 20},
    [PD_TSIG_HMAC_SHA224] = {"hmac-sha224", (const uint8_t *)"\013hmac-sha224", "SHA224", 28},
    [PD_TSIG_HMAC_SHA256] = {"hmac-sha256", (const uint8_t *)"\013hmac-sha256", "SHA256", 32},
    [PD_TSIG_HMAC_SHA384] = {"hmac-sha384", (const uint8_t *)"\013hmac-sha384", "SHA384", 48},
    [PD_TSIG_HMAC_SHA512] = {"hmac-sha512", (const uint8_t *)"\013hmac-sha512", "SHA512", 64},
};

#define PD__NALGS (sizeof(pd__algs) / sizeof(pd__algs[0]))

/* A TSIG record's fields (RFC 8945 4.2), its names lower-cased and uncompressed. */
typedef struct pd__rr {
	uint8_t name[PD_NAME_MAX];
	uint8_t alg[PD_NAME_MAX];
	size_t name_len, alg_len;
	uint64_t time;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
} pd__rr_t;

static bool pd__alg_ok(pd_tsig_alg_t alg)
{
	return alg >= PD_TSIG_HMAC_SHA1 && (size_t)alg < PD__NALGS;
}

const char *pd_tsig_alg_name(pd_tsig_alg_t alg)
{
	return pd__alg_ok(alg) ? pd__algs[alg].text : NULL;
}

static int pd__b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Strict base64 (RFC 4648 4): whole quads, '=' only as the last one or two characters,
 * and the bits padding leaves unused zero, so one secret has one spelling. Returns the
 * decoded length, or -1.
 */
static int pd__b64_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s), len = 0;
	if (n == 0 || n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		unsigned pad = 0;
		for (size_t j = 0; j < 4; j++) {
			int c = pd__b64_value(s[i + j]);
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				pad++;
				c = 0;
			} else if (c < 0 || pad) {
				return -1;
			}
			v = v << 6 | (uint32_t)c;
		}
		if (pad && (v & ((1u << (8 * pad)) - 1)))
			return -1;
		if (len + 3 - pad > cap)
			return -1;
		for (unsigned b = 0; b < 3 - pad; b++)
			out[len++] = (uint8_t)(v >> (16 - 8 * b));
	}
	return (int)len;
}

/* The algorithm named text ("hmac-sha256", "HMAC-SHA256."), or 0. */
static pd_tsig_alg_t pd__alg_from_text(const char *text)
{
	size_t n = strlen(text);
	if (n && text[n - 1] == '.')
		n--;
	for (size_t a = PD_TSIG_HMAC_SHA1; a < PD__NALGS; a++)
		if (strlen(pd__algs[a].text) == n && !strncasecmp(text, pd__algs[a].text, n))
			return (pd_tsig_alg_t)a;
	return 0;
}

int pd_tsig_key_parse(pd_tsig_key_t *k, const char *name, const char *alg, const char *secret,
                      char *err, size_t cap)
{
	memset(k, 0, sizeof(*k));
	int n = pd_name_from_str(k->name, name);
	if (n <= 0) {
		snprintf(err, cap, "bad key name '%s'", name);
		return -EINVAL;
	}
	k->name_len = (uint8_t)pd_name_lower(k->name, k->name);
	k->alg = pd__alg_from_text(alg);
	if (!k->alg) {
		snprintf(err, cap,
		         "unknown TSIG algorithm '%s' (hmac-sha1, hmac-sha224, hmac-sha256, "
		         "hmac-sha384 or hmac-sha512)",
		         alg);
		return -EINVAL;
	}
	uint8_t buf[PD_TSIG_SECRET_MAX];
	int len = pd__b64_decode(secret, buf, sizeof(buf));
	if (len <= 0) {
		snprintf(err, cap, "key '%s': the secret is not base64 of 1 to %d bytes", name,
		         PD_TSIG_SECRET_MAX);
		memset(k, 0, sizeof(*k));
		return -EINVAL;
	}
	memcpy(k->secret, buf, (size_t)len);
	k->secret_len = (uint16_t)len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void pd_tsig_ctx_init(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *key)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->key = key;
	ctx->client = true;
}

void pd_tsig_ctx_clear(pd_tsig_ctx_t *ctx)
{
	EVP_MAC_CTX_free(ctx->running);
	ctx->running = NULL;
}

/* libcrypto's HMAC, fetched once for the process (the fetch takes the provider lock). */
static EVP_MAC *pd__hmac(void)
{
	static EVP_MAC *cached;
	EVP_MAC *m = __atomic_load_n(&cached, __ATOMIC_ACQUIRE), *none = NULL;
	if (m)
		return m;
	m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (m && !__atomic_compare_exchange_n(&cached, &none, m, false, __ATOMIC_ACQ_REL,
	                                      __ATOMIC_ACQUIRE)) {
		EVP_MAC_free(m); /* another thread was first */
		m = none;
	}
	return m;
}

/* Keys m (new when NULL, else re-keyed) for k; returns it, or NULL. */
static EVP_MAC_CTX *pd__mac_start(EVP_MAC_CTX *m, const pd_tsig_key_t *k)
{
	EVP_MAC *hmac = pd__hmac();
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	                                                        (char *)pd__algs[k->alg].digest, 0),
	                       OSSL_PARAM_construct_end()};
	if (!m && hmac)
		m = EVP_MAC_CTX_new(hmac);
	if (m && !EVP_MAC_init(m, k->secret, k->secret_len, params)) {
		EVP_MAC_CTX_free(m);
		m = NULL;
	}
	return m;
}

/* Feeds a MAC and its size, as a request MAC or a prior MAC is digested (RFC 8945 4.3). */
static bool pd__feed_mac(EVP_MAC_CTX *m, const uint8_t *mac, uint16_t len)
{
	uint8_t size[2];
	pd_put_u16(size, len);
	return EVP_MAC_update(m, size, 2) && EVP_MAC_update(m, mac, len);
}

/* Feeds len bytes of a message without its TSIG record: ID and ARCOUNT as given. */
static bool pd__feed_msg(EVP_MAC_CTX *m, const uint8_t *msg, size_t len, uint16_t id,
                         uint16_t arcount)
{
	uint8_t head[PD__HEADER];
	memcpy(head, msg, PD__HEADER);
	pd_put_u16(head, id);
	pd_put_u16(head + PD__ARCOUNT, arcount);
	return EVP_MAC_update(m, head, PD__HEADER) &&
	       EVP_MAC_update(m, msg + PD__HEADER, len - PD__HEADER);
}

/* Feeds the TSIG variables (RFC 8945 4.3.3), or the timers alone (5.3.1). */
static bool pd__feed_vars(EVP_MAC_CTX *m, const pd__rr_t *rr, bool full)
{
	uint8_t b[10];
	pd_put_u16(b, PD_CLASS_ANY);
	memset(b + 2, 0, 4); /* TTL */
	if (full && !(EVP_MAC_update(m, rr->name, rr->name_len) && EVP_MAC_update(m, b, 6) &&
	              EVP_MAC_update(m, rr->alg, rr->alg_len)))
		return false;
	pd_put_u16(b, (uint16_t)(rr->time >> 32));
	pd_put_u16(b + 2, (uint16_t)(rr->time >> 16));
	pd_put_u16(b + 4, (uint16_t)rr->time);
	pd_put_u16(b + 6, rr->fudge);
	if (!full)
		return EVP_MAC_update(m, b, 8);
	pd_put_u16(b + 8, rr->error);
	uint8_t o[2];
	pd_put_u16(o, rr->other_len);
	return EVP_MAC_update(m, b, 10) && EVP_MAC_update(m, o, 2) &&
	       (!rr->other_len || EVP_MAC_update(m, rr->other, rr->other_len));
}

/* Ends m into out (mac_len bytes, the algorithm's). */
static bool pd__mac_end(EVP_MAC_CTX *m, uint8_t *out, size_t mac_len)
{
	size_t got = 0;
	return EVP_MAC_final(m, out, &got, PD_TSIG_MAC_MAX) && got == mac_len;
}

/*
 * Reads the TSIG record at off, which must end the message of len bytes at msg (names
 * may be compressed). Returns 0, or -EINVAL.
 */
static int pd__parse(pd__rr_t *rr, const uint8_t *msg, size_t len, size_t off)
{
	pd_wire_t w;
	if (len < PD__HEADER || off < PD__HEADER || off >= len || !pd_get_u16(msg + PD__ARCOUNT))
		return -EINVAL;
	pd_wire_init(&w, msg, len);
	pd_wire_skip(&w, off);
	rr->name_len = pd_name_parse(&w, rr->name);
	uint16_t type = pd_wire_u16(&w), cls = pd_wire_u16(&w);
	uint32_t ttl = pd_wire_u32(&w);
	uint16_t rdlen = pd_wire_u16(&w);
	if (w.err || type != PD_TYPE_TSIG || cls != PD_CLASS_ANY || ttl ||
	    pd_wire_left(&w) != rdlen)
		return -EINVAL;
	pd_wire_t rd = w; /* names inside may point back into the whole message */
	rr->alg_len = pd_name_parse(&rd, rr->alg);
	rr->time = (uint64_t)pd_wire_u16(&rd) << 32;
	rr->time |= pd_wire_u32(&rd);
	rr->fudge = pd_wire_u16(&rd);
	rr->mac_len = pd_wire_u16(&rd);
	rr->mac = rd.pos;
	pd_wire_skip(&rd, rr->mac_len);
	rr->orig_id = pd_wire_u16(&rd);
	rr->error = pd_wire_u16(&rd);
	rr->other_len = pd_wire_u16(&rd);
	rr->other = rd.pos;
	pd_wire_skip(&rd, rr->other_len);
	if (rd.err || pd_wire_left(&rd))
		return -EINVAL;
	pd_name_lower(rr->name, rr->name);
	pd_name_lower(rr->alg, rr->alg);
	return 0;
}

/* The key named as rr names it, with its algorithm. */
static const pd_tsig_key_t *pd__find_key(const pd_tsig_key_t *keys, size_t nkeys,
                                         const pd__rr_t *rr)
{
	for (size_t i = 0; i < nkeys; i++) {
		const pd_tsig_key_t *k = &keys[i];
		if (pd__alg_ok(k->alg) && pd_name_equal(k->name, rr->name) &&
		    pd_name_equal(pd__algs[k->alg].wire, rr->alg))
			return k;
	}
	return NULL;
}

static bool pd__time_ok(uint64_t signed_at, uint16_t fudge, uint64_t now)
{
	return now <= signed_at + fudge && signed_at <= now + fudge;
}

/*
 * The MAC of a request or a first response: the request MAC (prior, when prior_len),
 * the message before off with ARCOUNT one less and its original ID, the variables.
 */
static int pd__mac_full(const pd_tsig_key_t *k, const uint8_t *prior, uint16_t prior_len,
                        const uint8_t *msg, size_t off, uint16_t arcount, const pd__rr_t *rr,
                        uint8_t *out)
{
	EVP_MAC_CTX *m = pd__mac_start(NULL, k);
	bool ok = m && (!prior_len || pd__feed_mac(m, prior, prior_len)) &&
	          pd__feed_msg(m, msg, off, rr->orig_id, arcount) && pd__feed_vars(m, rr, true) &&
	          pd__mac_end(m, out, pd__algs[k->alg].mac_len);
	EVP_MAC_CTX_free(m);
	return ok ? 0 : -ENOMEM;
}

int pd_tsig_check_request(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *keys, size_t nkeys,
                          const uint8_t *msg, size_t len, size_t tsig_off, uint64_t now)
{
	pd__rr_t rr;
	uint8_t mac[PD_TSIG_MAC_MAX];
	memset(ctx, 0, sizeof(*ctx));
	if (pd__parse(&rr, msg, len, tsig_off) < 0)
		return -EINVAL;
	ctx->orig_id = rr.orig_id;
	ctx->fudge = rr.fudge;
	ctx->signed_time = rr.time;
	memcpy(ctx->name, rr.name, rr.name_len);
	memcpy(ctx->alg_name, rr.alg, rr.alg_len);
	const pd_tsig_key_t *k = pd__find_key(keys, nkeys, &rr);
	if (!k)
		return ctx->error = PD_TSIG_BADKEY;
	/* RFC 8945 5.2.2.1: over the hash's size, or under half of it or 10, is malformed. */
	uint16_t full = pd__algs[k->alg].mac_len;
	if (rr.mac_len > full || rr.mac_len < 10 || rr.mac_len < full / 2) {
		ctx->error = 0;
		return -EINVAL;
	}
	if (rr.mac_len < full)
		return ctx->error = PD_TSIG_BADTRUNC;
	uint16_t arcount = (uint16_t)(pd_get_u16(msg + PD__ARCOUNT) - 1);
	if (pd__mac_full(k, NULL, 0, msg, tsig_off, arcount, &rr, mac) < 0)
		return -ENOMEM;
	if (CRYPTO_memcmp(mac, rr.mac, full))
		return ctx->error = PD_TSIG_BADSIG;
	ctx->key = k;
	memcpy(ctx->mac, rr.mac, full);
	ctx->mac_len = full;
	if (!pd__time_ok(rr.time, rr.fudge, now))
		return ctx->error = PD_TSIG_BADTIME;
	return PD_TSIG_OK;
}

/* Writes rr as a TSIG record at p; returns its length. */
static size_t pd__put_rr(uint8_t *p, const pd__rr_t *rr)
{
	uint8_t *start = p;
	memcpy(p, rr->name, rr->name_len);
	p += rr->name_len;
	pd_put_u16(p, PD_TYPE_TSIG);
	pd_put_u16(p + 2, PD_CLASS_ANY);
	memset(p + 4, 0, 4);
	pd_put_u16(p + 8, (uint16_t)(rr->alg_len + 16 + rr->mac_len + rr->other_len));
	p += 10;
	memcpy(p, rr->alg, rr->alg_len);
	p += rr->alg_len;
	pd_put_u16(p, (uint16_t)(rr->time >> 32));
	pd_put_u16(p + 2, (uint16_t)(rr->time >> 16));
	pd_put_u16(p + 4, (uint16_t)rr->time);
	pd_put_u16(p + 6, rr->fudge);
	pd_put_u16(p + 8, rr->mac_len);
	p += 10;
	if (rr->mac_len)
		memcpy(p, rr->mac, rr->mac_len);
	p += rr->mac_len;
	pd_put_u16(p, rr->orig_id);
	pd_put_u16(p + 2, rr->error);
	pd_put_u16(p + 4, rr->other_len);
	p += 6;
	if (rr->other_len)
		memcpy(p, rr->other, rr->other_len);
	return (size_t)(p + rr->other_len - start);
}

/* Errors answered without a MAC, the request's MAC being unverified (RFC 8945 5.3.2). */
static bool pd__unsigned_error(uint16_t error)
{
	return error == PD_TSIG_BADKEY || error == PD_TSIG_BADSIG || error == PD_TSIG_BADTRUNC;
}

/* The record an unsigned error response ends with: the request's names and fields. */
static void pd__error_rr(const pd_tsig_ctx_t *ctx, pd__rr_t *rr)
{
	rr->name_len = pd_name_len(ctx->name);
	rr->alg_len = pd_name_len(ctx->alg_name);
	memcpy(rr->name, ctx->name, rr->name_len);
	memcpy(rr->alg, ctx->alg_name, rr->alg_len);
	rr->time = ctx->signed_time;
	rr->fudge = ctx->fudge;
	rr->orig_id = ctx->orig_id;
	rr->error = ctx->error;
}

/*
 * The MAC of a signed message (rr filled but its MAC): a request's, a first response's
 * after the request MAC, or a stream's next after the previous MAC and with the timers.
 */
static int pd__sign_mac(pd_tsig_ctx_t *ctx, const uint8_t *msg, size_t len, pd__rr_t *rr,
                        uint8_t *out)
{
	const pd_tsig_key_t *k = ctx->key;
	uint16_t arcount = pd_get_u16(msg + PD__ARCOUNT);
	if (ctx->client || ctx->answered == 0)
		return pd__mac_full(k, ctx->mac, ctx->client ? 0 : ctx->mac_len, msg, len, arcount,
		                    rr, out);
	EVP_MAC_CTX *m = pd__mac_start(NULL, k);
	bool ok = m && pd__feed_mac(m, ctx->mac, ctx->mac_len) &&
	          pd__feed_msg(m, msg, len, rr->orig_id, arcount) && pd__feed_vars(m, rr, false) &&
	          pd__mac_end(m, out, pd__algs[k->alg].mac_len);
	EVP_MAC_CTX_free(m);
	return ok ? 0 : -ENOMEM;
}

size_t pd_tsig_sign(pd_tsig_ctx_t *ctx, uint8_t *msg, size_t len, size_t cap, uint64_t now)
{
	pd__rr_t rr = {0};
	uint8_t mac[PD_TSIG_MAC_MAX], other[6];
	if (len < PD__HEADER || cap < len || pd_get_u16(msg + PD__ARCOUNT) == 0xFFFF)
		return 0;
	bool error_only = !ctx->client && pd__unsigned_error(ctx->error);
	if (!ctx->key && !error_only)
		return len;
	if (error_only) {
		pd__error_rr(ctx, &rr);
	} else {
		const pd_tsig_key_t *k = ctx->key;
		rr.name_len = k->name_len;
		memcpy(rr.name, k->name, k->name_len);
		rr.alg_len = pd_name_len(pd__algs[k->alg].wire);
		memcpy(rr.alg, pd__algs[k->alg].wire, rr.alg_len);
		rr.time = now & 0xFFFFFFFFFFFFull;
		rr.fudge = PD_TSIG_FUDGE;
		rr.orig_id = pd_get_u16(msg);
		rr.mac = mac;
		rr.mac_len = pd__algs[k->alg].mac_len;
		if (!ctx->client && ctx->error == PD_TSIG_BADTIME) {
			/* RFC 8945 5.2.3: the request's time, and ours in Other Data. */
			rr.error = PD_TSIG_BADTIME;
			rr.time = ctx->signed_time;
			rr.other_len = sizeof(other);
			rr.other = other;
			pd_put_u16(other, (uint16_t)(now >> 32));
			pd_put_u16(other + 2, (uint16_t)(now >> 16));
			pd_put_u16(other + 4, (uint16_t)now);
		}
	}
	size_t need = rr.name_len + 10 + rr.alg_len + 16 + rr.mac_len + rr.other_len;
	if (need > cap - len)
		return 0;
	if (!error_only && pd__sign_mac(ctx, msg, len, &rr, mac) < 0)
		return 0;
	pd__put_rr(msg + len, &rr);
	pd_put_u16(msg + PD__ARCOUNT, (uint16_t)(pd_get_u16(msg + PD__ARCOUNT) + 1));
	if (rr.mac_len) {
		memcpy(ctx->mac, mac, rr.mac_len);
		ctx->mac_len = rr.mac_len;
	}
	if (ctx->client) {
		ctx->orig_id = rr.orig_id; /* a new request: its answer comes next */
		ctx->answered = 0;
		ctx->unsigned_run = 0;
	} else {
		ctx->answered++;
	}
	return len + need;
}

/* Skips n records (questions when question) at the cursor. */
static void pd__skip_records(pd_wire_t *w, unsigned n, bool question)
{
	uint8_t name[PD_NAME_MAX];
	for (unsigned i = 0; i < n && !w->err; i++) {
		pd_name_parse(w, name);
		pd_wire_skip(w, question ? 4 : 8);
		if (!question)
			pd_wire_skip(w, pd_wire_u16(w));
	}
}

/*
 * Where the message's TSIG record starts, when its last record is one, in *off: returns 1,
 * 0 when it has none, -EINVAL when the message does not parse to its end.
 */
static int pd__find_tsig(const uint8_t *msg, size_t len, size_t *off)
{
	pd_wire_t w;
	uint8_t name[PD_NAME_MAX];
	if (len < PD__HEADER)
		return -EINVAL;
	pd_wire_init(&w, msg, len);
	pd_wire_skip(&w, 4);
	unsigned qd = pd_wire_u16(&w), an = pd_wire_u16(&w), ns = pd_wire_u16(&w);
	unsigned ar = pd_wire_u16(&w);
	pd__skip_records(&w, qd, true);
	unsigned records = an + ns + ar;
	pd__skip_records(&w, records ? records - 1 : 0, false);
	size_t last = pd_wire_offset(&w);
	uint16_t type = 0;
	if (records) {
		pd_name_parse(&w, name);
		type = pd_wire_u16(&w);
		pd_wire_skip(&w, 6);
		pd_wire_skip(&w, pd_wire_u16(&w));
	}
	if (w.err || pd_wire_left(&w))
		return -EINVAL;
	*off = last;
	return ar && type == PD_TYPE_TSIG;
}

/*
 * The running HMAC of a block of a stream (its messages since the previous MAC), begun
 * with that MAC when the block starts. NULL when libcrypto fails.
 */
static EVP_MAC_CTX *pd__running(pd_tsig_ctx_t *ctx)
{
	if (ctx->unsigned_run)
		return ctx->running;
	EVP_MAC_CTX *m = pd__mac_start(ctx->running, ctx->key);
	ctx->running = m;
	if (m && !pd__feed_mac(m, ctx->mac, ctx->mac_len))
		return NULL;
	return m;
}

/* Verifies a signed answer whose TSIG record rr starts at off. */
static int pd__verify_signed(pd_tsig_ctx_t *ctx, const uint8_t *msg, size_t off, const pd__rr_t *rr,
                             uint64_t now)
{
	const pd_tsig_key_t *k = ctx->key;
	uint8_t mac[PD_TSIG_MAC_MAX];
	if (!rr->mac_len && rr->error)
		return rr->error; /* the server's own error, unsigned as 5.3.2 has it */
	if (!pd_name_equal(rr->name, k->name) || !pd_name_equal(rr->alg, pd__algs[k->alg].wire))
		return PD_TSIG_BADKEY;
	uint16_t full = pd__algs[k->alg].mac_len;
	if (rr->mac_len != full)
		return PD_TSIG_BADSIG;
	EVP_MAC_CTX *m = pd__running(ctx);
	uint16_t arcount = (uint16_t)(pd_get_u16(msg + PD__ARCOUNT) - 1);
	if (!m || !pd__feed_msg(m, msg, off, rr->orig_id, arcount) ||
	    !pd__feed_vars(m, rr, ctx->answered == 0) || !pd__mac_end(m, mac, full))
		return -ENOMEM;
	if (CRYPTO_memcmp(mac, rr->mac, full))
		return PD_TSIG_BADSIG;
	memcpy(ctx->mac, rr->mac, full);
	ctx->mac_len = full;
	ctx->answered++;
	ctx->unsigned_run = 0;
	if (rr->error)
		return rr->error; /* BADTIME, signed as 5.2.3 has it */
	return pd__time_ok(rr->time, rr->fudge, now) ? 0 : PD_TSIG_BADTIME;
}

int pd_tsig_verify(pd_tsig_ctx_t *ctx, const uint8_t *msg, size_t len, uint64_t now,
                   size_t *body_len)
{
	size_t off = 0;
	pd__rr_t rr;
	*body_len = len;
	int found = pd__find_tsig(msg, len, &off);
	if (found < 0)
		return -EINVAL;
	if (!ctx->key)
		return found ? -EINVAL : 0;
	if (!found) {
		/* The first answer must be signed, and then one at least every 100 (5.3.1). */
		if (!ctx->answered || ctx->unsigned_run >= PD__UNSIGNED_MAX)
			return -EINVAL;
		EVP_MAC_CTX *m = pd__running(ctx);
		if (!m || !EVP_MAC_update(m, msg, len))
			return -ENOMEM;
		ctx->unsigned_run++;
		return 1;
	}
	*body_len = off;
	if (pd__parse(&rr, msg, len, off) < 0)
		return -EINVAL;
	return pd__verify_signed(ctx, msg, off, &rr, now);
}
