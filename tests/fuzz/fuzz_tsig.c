/*
 * libFuzzer target: TSIG. Messages through the server's pd_tsig_check_request() (the TSIG
 * found as pd_query_parse() finds it) and its response signed, the client's
 * pd_tsig_verify() over a stream of messages, and a message signed, one byte changed,
 * checked: untouched it must check, and a response must verify.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/query.h"
#include "pindns/tsig.h"

#include "fuzzutil.h"

#define PD_FUZZ_NOW 1700000000u

static pd_tsig_key_t keys[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[128];
	(void)argc;
	(void)argv;
	if (pd_tsig_key_parse(&keys[0], "key.example", "hmac-sha256", "c2VjcmV0LXNoYTI1Ng==", err,
	                      sizeof(err)) ||
	    pd_tsig_key_parse(&keys[1], "key.example", "hmac-sha1", "c2VjcmV0LXNoYTE=", err,
	                      sizeof(err)) ||
	    pd_tsig_key_parse(&keys[2], "other.key", "hmac-sha512", "b3RoZXI=", err, sizeof(err)))
		abort();
	return 0;
}

/* The server's side: check, then sign a response made of the request into a small room. */
static void server(const uint8_t *data, size_t size, uint64_t now)
{
	pd_query_t q;
	pd_tsig_ctx_t ctx;
	uint8_t *msg = fz_copy(data, size);
	pd_query_parse(&q, msg, size);
	size_t off = q.tsig_off;
	if (!off && size > 2) /* none found: anywhere the input says */
		off = pd_get_u16(data) % size;
	int ret = pd_tsig_check_request(&ctx, keys, 3, msg, size, off, now);
	if (ret > 0 && ret != PD_TSIG_BADKEY && ret != PD_TSIG_BADSIG && ret != PD_TSIG_BADTIME &&
	    ret != PD_TSIG_BADTRUNC)
		abort();
	size_t body = ret == -EINVAL ? size : off;
	size_t cap = body + (size % (PD_TSIG_RR_MAX + 1));
	uint8_t *resp = malloc(cap ? cap : 1);
	if (!resp)
		abort();
	memcpy(resp, msg, body);
	size_t n = pd_tsig_sign(&ctx, resp, body, cap, now);
	if (n && n > cap)
		abort();
	free(resp);
	free(msg);
}

/* The client's side: the input cut into messages (2-byte lengths) verified in turn. */
static void client(const uint8_t *data, size_t size, uint64_t now)
{
	pd_tsig_ctx_t ctx;
	pd_tsig_ctx_init(&ctx, &keys[size % 2]);
	ctx.mac_len = keys[size % 2].alg == PD_TSIG_HMAC_SHA1 ? 20 : 32;
	memset(ctx.mac, 0x5A, ctx.mac_len);
	while (size >= 2) {
		size_t len = pd_get_u16(data) % 4096;
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		uint8_t *msg = fz_copy(data, len);
		size_t body = 0;
		int ret = pd_tsig_verify(&ctx, msg, len, now, &body);
		free(msg);
		if (body > len)
			abort();
		data += len;
		size -= len;
		if (ret != 0 && ret != 1)
			break;
	}
	pd_tsig_ctx_clear(&ctx);
}

/*
 * A message of the input's bytes that parses: its header, a question for example.com,
 * and an answer record holding the rest. Returns its length at out (size + 33 room).
 */
static size_t make_message(uint8_t *out, const uint8_t *data, size_t size)
{
	static const uint8_t question[] = "\007example\003com\000\000\006\000\001";
	memcpy(out, data, 12);
	memset(out + 4, 0, 8);
	out[5] = out[7] = 1; /* QDCOUNT, ANCOUNT */
	memcpy(out + 12, question, 17);
	uint8_t *rr = out + 29;
	pd_put_u16(rr, 0xC00C);
	memcpy(rr + 2, data + 12, 8); /* type, class, TTL */
	pd_put_u16(rr + 10, (uint16_t)(size - 20));
	memcpy(rr + 12, data + 20, size - 20);
	return 29 + 12 + size - 20;
}

/*
 * A request made of the input (make_message()), signed; the byte at changes by delta
 * (0: none), then checked: untouched it must pass, and its response verify.
 */
static void signed_roundtrip(const uint8_t *data, size_t size, uint64_t now)
{
	if (size < 4 + 20 || size > 4096)
		return;
	uint16_t at = pd_get_u16(data);
	uint8_t delta = data[2], k = data[3] % 3;
	size_t cap = size + 64 + PD_TSIG_RR_MAX;
	uint8_t *msg = malloc(cap);
	pd_tsig_ctx_t client, server;
	if (!msg)
		abort();
	size_t len = make_message(msg, data + 4, size - 4);
	pd_tsig_ctx_init(&client, &keys[k]);
	size_t n = pd_tsig_sign(&client, msg, len, cap, now);
	if (n <= len)
		abort();
	if (delta)
		msg[at % n] ^= delta;
	int ret = pd_tsig_check_request(&server, keys, 3, msg, n, len, now);
	if (!delta && ret != PD_TSIG_OK)
		abort();
	if (ret == PD_TSIG_OK) {
		make_message(msg, data + 4, size - 4); /* the response: the same message */
		size_t body = 0, r = pd_tsig_sign(&server, msg, len, cap, now);
		if (!delta &&
		    (!r || pd_tsig_verify(&client, msg, r, now, &body) != 0 || body != len))
			abort();
	}
	pd_tsig_ctx_clear(&client);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint64_t now = PD_FUZZ_NOW + (data[0] >> 2) * 97u; /* inside and outside the fudge */
	switch (data[0] & 3) {
	case 0:
		server(data + 1, size - 1, now);
		break;
	case 1:
		client(data + 1, size - 1, now);
		break;
	default:
		signed_roundtrip(data + 1, size - 1, PD_FUZZ_NOW);
		break;
	}
	return 0;
}
