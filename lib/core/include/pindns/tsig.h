/* TSIG (RFC 8945): signing and verifying messages and message streams with shared keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/name.h"

#define PD_TSIG_SECRET_MAX 128 /* bytes of a key's secret we accept */
#define PD_TSIG_MAC_MAX 64     /* HMAC-SHA512 */
#define PD_TSIG_FUDGE 300      /* seconds of clock skew allowed, as RFC 8945 10 advises */
/* Room a TSIG record may take at the end of a message: owner and algorithm names at
 * their longest, the fixed fields and the longest MAC, and 6 bytes of other data. */
#define PD_TSIG_RR_MAX (PD_NAME_MAX * 2 + 10 + 16 + PD_TSIG_MAC_MAX + 6)

/** The HMAC algorithms of RFC 8945 6 that we sign and verify with. */
typedef enum pd_tsig_alg {
	PD_TSIG_HMAC_SHA1 = 1,
	PD_TSIG_HMAC_SHA224,
	PD_TSIG_HMAC_SHA256,
	PD_TSIG_HMAC_SHA384,
	PD_TSIG_HMAC_SHA512,
} pd_tsig_alg_t;

/** A shared key: its name (lower-cased wire form), algorithm and secret. */
typedef struct pd_tsig_key {
	uint8_t name[PD_NAME_MAX];
	uint8_t name_len;
	pd_tsig_alg_t alg;
	uint16_t secret_len;
	uint8_t secret[PD_TSIG_SECRET_MAX];
} pd_tsig_key_t;

/** TSIG error codes (RFC 8945 4.3, 5.2): the TSIG record's Error field. */
enum {
	PD_TSIG_OK = 0,
	PD_TSIG_BADSIG = 16,
	PD_TSIG_BADKEY = 17,
	PD_TSIG_BADTIME = 18,
	PD_TSIG_BADTRUNC = 22,
};

/**
 * Fills k from a key's name (presentation form), algorithm name ("hmac-sha256", also as
 * "hmac-sha256." or in any case) and base64 secret, as Knot, NSD and BIND write keys.
 * Returns 0, or -EINVAL with what is wrong in err.
 */
int pd_tsig_key_parse(pd_tsig_key_t *k, const char *name, const char *alg, const char *secret,
                      char *err, size_t cap);

/** The algorithm's name in presentation form ("hmac-sha256"), or NULL. */
const char *pd_tsig_alg_name(pd_tsig_alg_t alg);

/**
 * The state of one signed exchange: a request and its response, or a request and the
 * stream of messages answering it (AXFR, IXFR), on either side. Holds the key and the
 * last MAC; allocates nothing but a client's running HMAC (below).
 */
typedef struct pd_tsig_ctx {
	const pd_tsig_key_t *key; /* NULL: no key (unsigned exchange, or an unsigned error) */
	uint8_t mac[PD_TSIG_MAC_MAX];
	uint16_t mac_len;      /* the previous MAC in the exchange; 0 before the first */
	uint16_t orig_id;      /* the request's original ID */
	uint16_t error;        /* answering a request whose check failed: the error to sign with */
	uint16_t fudge;        /* the request's fudge, which unsigned error responses echo */
	bool client;           /* pd_tsig_ctx_init(): signs requests and verifies answers */
	unsigned answered;     /* messages of the answer signed or verified so far */
	unsigned unsigned_run; /* stream: messages since the last signed one */
	uint64_t signed_time;  /* answering a request: its Time Signed (BADTIME echoes it) */
	/* Answering a request: its key and algorithm names (lower-cased wire form), which an
	 * error response names though we may have no such key. */
	uint8_t name[PD_NAME_MAX];
	uint8_t alg_name[PD_NAME_MAX];
	/* Verifying a stream: the running HMAC over the unsigned messages since the last
	 * signed one (the messages themselves are not kept); pd_tsig_ctx_clear() frees it. */
	void *running;
} pd_tsig_ctx_t;

/** Frees what a ctx holds (a stream's running HMAC); it may be used again after init. */
void pd_tsig_ctx_clear(pd_tsig_ctx_t *ctx);

/**
 * Checks a request that ends with a TSIG record (at tsig_off: where its owner name
 * starts, as pd_query_t.tsig_off says): its key among keys (name and algorithm), its MAC
 * and its time (within the request's fudge of now, seconds since the epoch), in the order
 * of RFC 8945 5.2. Sets ctx up (all of it: it need not be initialised, and holds nothing
 * to clear) to sign the response with pd_tsig_sign(), with the error the response must
 * carry when the check fails. Returns PD_TSIG_OK, PD_TSIG_BADKEY, PD_TSIG_BADSIG,
 * PD_TSIG_BADTRUNC (a MAC shorter than the algorithm's, which we do not accept: RFC 8945
 * 5.2.2.1) or PD_TSIG_BADTIME (each answered NOTAUTH), -EINVAL for a malformed record or
 * a MAC size RFC 8945 5.2.2.1 calls malformed (FORMERR, the response unsigned), or
 * -ENOMEM when libcrypto fails.
 */
int pd_tsig_check_request(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *keys, size_t nkeys,
                          const uint8_t *msg, size_t len, size_t tsig_off, uint64_t now);

/**
 * Starts a client's exchange with key (NULL: unsigned): pd_tsig_sign() then signs the
 * request, and pd_tsig_verify() the responses.
 */
void pd_tsig_ctx_init(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *key);

/**
 * Appends a TSIG record to the message of len bytes in msg (cap bytes of room) and adds
 * one to its ARCOUNT: a client's request (each call signs a request anew), a response
 * (with the request's MAC), or the next message of a stream (with the previous message's
 * MAC, RFC 8945 5.3.1), at time now; the message's ID is its Original ID. A response to a
 * request that failed its check carries ctx->error, and for BADKEY, BADSIG and BADTRUNC no
 * MAC (5.3.2), the request's names, Time Signed, Fudge and Original ID. With no key and
 * no error (an unsigned exchange, or a malformed request) it adds nothing and returns len.
 * Returns the new length, or 0 when it does not fit (or libcrypto fails).
 */
size_t pd_tsig_sign(pd_tsig_ctx_t *ctx, uint8_t *msg, size_t len, size_t cap, uint64_t now);

/**
 * Client side: checks a response, or the next message of a response stream, against the
 * exchange's MAC. A stream's messages may come unsigned between signed ones, at most 99
 * in a row (RFC 8945 5.3.1): an unsigned one is taken into the next signed one's digest,
 * and gets 1 (not yet verified) until then. The first answer and the last message of a
 * stream must be signed: the first gives -EINVAL unsigned; for the last, the caller (who
 * alone knows it is the last, e.g. the AXFR's closing SOA) checks that pd_tsig_verify()
 * gave 0 for it, and treats a transfer whose last message gave 1 as failed. *body_len is
 * set to the message length without the TSIG record (its ARCOUNT is not changed). With no
 * key (an unsigned exchange) a message without TSIG gives 0 and one with a TSIG -EINVAL.
 * Returns 0 (verified), 1 (unsigned, pending), or PD_TSIG_BADKEY, PD_TSIG_BADSIG,
 * PD_TSIG_BADTIME, PD_TSIG_BADTRUNC (the response's own Error field, which a TSIG with
 * no MAC or a verified one carries, any other nonzero one given as it came; or ours:
 * another key or algorithm, a MAC that does not match, a time outside the fudge),
 * -EINVAL (malformed, a 100th unsigned message in a row, or unsigned when it must be
 * signed), -ENOMEM when libcrypto fails. After any result but 0 and 1 the exchange is
 * over.
 */
int pd_tsig_verify(pd_tsig_ctx_t *ctx, const uint8_t *msg, size_t len, uint64_t now,
                   size_t *body_len);
