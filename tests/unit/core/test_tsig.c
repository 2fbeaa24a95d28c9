/* Unit tests for TSIG (lib/core/tsig.c): kdig's and dig's signed queries, responses and
 * streams against MACs Python's hmac module computed, round trips, and every failure. */
#include "testutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <time.h>

#include "pindns/tsig.h"

/*
 * Queries for example.com SOA signed by `kdig -y ALG:Test.Key.:SECRET` and `dig -y` (the
 * latter with an OPT and a cookie before the TSIG), captured by a UDP listener.
 */
#define Q_KDIG_SHA1                                                                                \
	"88be01200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000002f09686d61632d736861310000006b1012c8012c0014a4f0eca8ad0912d65b03"         \
	"54aa4d72626e77793aa188be00000000"
#define Q_KDIG_SHA224                                                                              \
	"516501200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff0000000000390b686d61632d7368613232340000006b1012c8012c001c25c4f08893dd5332"         \
	"b32b339a6ecf8f18ea65fe2ce1e2fa98489aa109516500000000"
#define Q_KDIG_SHA256                                                                              \
	"252a01200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000003d0b686d61632d7368613235360000006b1012c8012c0020d5414e228d67d76b"         \
	"3db84b70b5a875cf49b953138b71fb6ba92d67982584567d252a00000000"
#define Q_KDIG_SHA384                                                                              \
	"f28601200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000004d0b686d61632d7368613338340000006b1012c8012c00306acda853dc42e326"         \
	"e7bec818dbe9283120452b70ef168abfad178b3c06c7d233c70dee757d7c8524de0316ea9ec22cb0"         \
	"f28600000000"
#define Q_KDIG_SHA512                                                                              \
	"94ba01200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000005d0b686d61632d7368613531320000006b1012c8012c0040deb50e574009b970"         \
	"5f6dd17a93b7d6188d878e0b3585d742e8481feafdd091b7360e992d1a98548a88d50dd0e3ba4f6a"         \
	"0adc0f2c8d481aa2c2ae3bd3c8fa556f94ba00000000"
#define Q_DIG_SHA1                                                                                 \
	"b02401200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c"         \
	"000a0008cb0e7e00fbb9fd120474657374036b65790000fa00ff00000000002f09686d61632d7368"         \
	"61310000006b1012c9012c00142f1e4d474973d9f154dbb66484082da1bab19a1db02400000000"
#define Q_DIG_SHA224                                                                               \
	"bfad01200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c"         \
	"000a000886a1c30a978942f90474657374036b65790000fa00ff0000000000390b686d61632d7368"         \
	"613232340000006b1012c9012c001c50c24ba19ce373f246d455675190a5b07305d5c16b07fd2a2f"         \
	"5bba6bbfad00000000"
#define Q_DIG_SHA256                                                                               \
	"524801200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c"         \
	"000a000893eadb9189a6d8860474657374036b65790000fa00ff00000000003d0b686d61632d7368"         \
	"613235360000006b1012c9012c00203b0edb79d05c3a60278acb2715c177ed335a99cbcc52cb8abd"         \
	"f786d4cdf82d27524800000000"
#define Q_DIG_SHA384                                                                               \
	"430701200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c"         \
	"000a0008397ea0f6a5fa4d6b0474657374036b65790000fa00ff00000000004d0b686d61632d7368"         \
	"613338340000006b1012c9012c0030e33d90cef2c4a779e4330b6327106daa2b6422d69ac4b4f658"         \
	"572c6d66c25b8db8fc5e516bf82e75d34f2c5a9ce55861430700000000"
#define Q_DIG_SHA512                                                                               \
	"6a6001200001000000000002076578616d706c6503636f6d000006000100002904d000000000000c"         \
	"000a00087eebd5082610911a0474657374036b65790000fa00ff00000000005d0b686d61632d7368"         \
	"613531320000006b1012c9012c0040a135a831d48b59b874c3ed80cd735afa977575d054c9884a4b"         \
	"f84ecbc37d479f0a2137965647caad9a1ae012979a62403dd8e69b98967214c1918aeb3178312d6a"         \
	"6000000000"

/*
 * The exchange tests/unit/core/tsig_vectors.py computes with Python's hmac from RFC 8945's
 * layout: kdig's hmac-sha256 query REQ, its response RESP signed at T_RESP, the next
 * message NEXT at T_RESP + 1, the BADTIME answer at T_BADTIME, a stream (RESP_SIGNED,
 * then STREAM2 and STREAM3 unsigned, STREAM4 and STREAM5 signed at T_RESP + 2 and + 3),
 * and 99 unsigned UNSIGNED7 after RESP_SIGNED, then AFTER99 signed at T_RESP + 4.
 */
#define REQ                                                                                        \
	"dbcb01200001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000003d0b686d61632d7368613235360000006b101296012c0020a02c9dae44f02d97"         \
	"ae2ea9773b325bfde4951455c5c16da0a5220d4cf5015b74dbcb00000000"
#define RESP "dbcb84000001000000000000076578616d706c6503636f6d0000060001"
#define RESP_SIGNED                                                                                \
	"dbcb84000001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff00000000003d0b686d61632d7368613235360000006b1012a0012c0020292035fac9e774ec"         \
	"73bd727194498c799d4c894701d3eb4d50128c8e6ac70cfadbcb00000000"
#define NEXT "dbcb84000000000100000000076578616d706c6503636f6d00000100010000006400040a000002"
#define NEXT_SIGNED                                                                                \
	"dbcb84000000000100000001076578616d706c6503636f6d00000100010000006400040a00000204"         \
	"74657374036b65790000fa00ff00000000003d0b686d61632d7368613235360000006b1012a1012c"         \
	"00205547f24463c4b5ae562066017d34ee01e9feecdacd3229e2c19089c80e7fb608dbcb00000000"
#define BADTIME_SIGNED                                                                             \
	"dbcb84000001000000000001076578616d706c6503636f6d00000600010474657374036b65790000"         \
	"fa00ff0000000000430b686d61632d7368613235360000006b101296012c00205bef7087c18de8d6"         \
	"0bcd0c854acdba86a9b323f3fa5b718a2e7c99c080649889dbcb0012000600006b109999"
#define STREAM2 "dbcb84000000000100000000076578616d706c6503636f6d00000100010000006400040a000002"
#define STREAM3 "dbcb84000000000100000000076578616d706c6503636f6d00000100010000006400040a000003"
#define STREAM4                                                                                    \
	"dbcb84000000000100000001076578616d706c6503636f6d00000100010000006400040a00000404"         \
	"74657374036b65790000fa00ff00000000003d0b686d61632d7368613235360000006b1012a2012c"         \
	"0020854e7298bbc316efa2520e46548e6fbf6c094ce8be4d3f4a1f832bc67df1ee09dbcb00000000"
#define STREAM5                                                                                    \
	"dbcb84000000000100000001076578616d706c6503636f6d00000100010000006400040a00000504"         \
	"74657374036b65790000fa00ff00000000003d0b686d61632d7368613235360000006b1012a3012c"         \
	"0020b9098ed76c8959486d1f90d523fd88e3000262aa1512f9c2483de5854bee142edbcb00000000"
#define UNSIGNED7 "dbcb84000000000100000000076578616d706c6503636f6d00000100010000006400040a000007"
#define AFTER99                                                                                    \
	"dbcb84000000000100000001076578616d706c6503636f6d00000100010000006400040a00000804"         \
	"74657374036b65790000fa00ff00000000003d0b686d61632d7368613235360000006b1012a4012c"         \
	"0020c77ed31b78b33b8483f74a07d2a1a15436e2eb282ae35461be90d9d543dd65c8dbcb00000000"
#define T_REQ 0x6b101296u
#define T_RESP 0x6b1012a0u
#define T_BADTIME 0x6b109999u

static const struct {
	const char *alg, *secret;
} secrets[] = {
    {"hmac-sha1", "dGVzdHNlY3JldDE="},
    {"hmac-sha224", "c2VjcmV0LTIyNA=="},
    {"hmac-sha256", "cGluZG5zIHRzaWcgdGVzdCBrZXkgc2hhMjU2IQ=="},
    {"hmac-sha384", "MzgzODM4Mzg="},
    {"hmac-sha512", "NTEyIGJpdHMgb2Ygc2VjcmV0IGZvciB0aGUgdGVzdCBvZiBzaGE1MTIgLi4uLi4uLg=="},
};

/* Bytes from hex (string literals joined); returns their number. */
static size_t hex(uint8_t *out, const char *h)
{
	size_t n = strlen(h) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n;
}

static void key(pd_tsig_key_t *k, const char *name, size_t alg)
{
	char err[160];
	assert_int_equal(
	    pd_tsig_key_parse(k, name, secrets[alg].alg, secrets[alg].secret, err, sizeof(err)), 0);
}

/* The Time Signed of the TSIG record at off of msg. */
static uint64_t time_signed(const uint8_t *msg, size_t off)
{
	const uint8_t *p = msg + off + pd_name_len(msg + off) + 10;
	p += pd_name_len(p);
	return (uint64_t)pd_get_u16(p) << 32 | pd_get_u32(p + 2);
}

static const char *const kdig_queries[] = {Q_KDIG_SHA1, Q_KDIG_SHA224, Q_KDIG_SHA256, Q_KDIG_SHA384,
                                           Q_KDIG_SHA512};
static const char *const dig_queries[] = {Q_DIG_SHA1, Q_DIG_SHA224, Q_DIG_SHA256, Q_DIG_SHA384,
                                          Q_DIG_SHA512};

/* Every query kdig and dig signed checks, at its time and within the fudge, not past it. */
static void kdig_and_dig_queries_check(void **state)
{
	uint8_t q[512];
	pd_tsig_key_t keys[5];
	pd_tsig_ctx_t ctx;
	for (size_t a = 0; a < 5; a++)
		key(&keys[a], "Test.Key.", a);
	for (size_t tool = 0; tool < 2; tool++) {
		for (size_t a = 0; a < 5; a++) {
			size_t len = hex(q, (tool ? dig_queries : kdig_queries)[a]);
			size_t off = tool ? 52 : 29; /* dig's OPT comes first */
			uint64_t t = time_signed(q, off);
			assert_int_equal(pd_tsig_check_request(&ctx, keys, 5, q, len, off, t),
			                 PD_TSIG_OK);
			assert_ptr_equal(ctx.key, &keys[a]);
			assert_int_equal(ctx.orig_id, pd_get_u16(q));
			assert_int_equal(pd_tsig_check_request(&ctx, keys, 5, q, len, off, t + 300),
			                 0);
			assert_int_equal(pd_tsig_check_request(&ctx, keys, 5, q, len, off, t - 300),
			                 0);
			assert_int_equal(pd_tsig_check_request(&ctx, keys, 5, q, len, off, t + 301),
			                 PD_TSIG_BADTIME);
			assert_int_equal(ctx.error, PD_TSIG_BADTIME);
			assert_int_equal(pd_tsig_check_request(&ctx, keys, 5, q, len, off, t - 301),
			                 PD_TSIG_BADTIME);
			/* Another key of the same name and algorithm: its MAC does not match. */
			pd_tsig_key_t other = keys[a];
			other.secret[0] ^= 1;
			assert_int_equal(pd_tsig_check_request(&ctx, &other, 1, q, len, off, t),
			                 PD_TSIG_BADSIG);
			assert_null(ctx.key);
		}
	}
}

/* The server's side of the exchange Python computed: response, next message, BADTIME. */
static void responses_match_python_hmac(void **state)
{
	uint8_t q[512], msg[512], want[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t ctx;
	key(&k, "test.key", 2);
	size_t qlen = hex(q, REQ);
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, qlen, 29, T_REQ + 10), 0);
	size_t len = hex(msg, RESP);
	size_t n = pd_tsig_sign(&ctx, msg, len, sizeof(msg), T_RESP);
	assert_int_equal(n, hex(want, RESP_SIGNED));
	assert_memory_equal(msg, want, n);
	len = hex(msg, NEXT);
	n = pd_tsig_sign(&ctx, msg, len, sizeof(msg), T_RESP + 1);
	assert_int_equal(n, hex(want, NEXT_SIGNED));
	assert_memory_equal(msg, want, n);
	/* Past the fudge: BADTIME, signed, with the request's time and ours in Other Data. */
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, qlen, 29, T_BADTIME),
	                 PD_TSIG_BADTIME);
	len = hex(msg, RESP);
	n = pd_tsig_sign(&ctx, msg, len, sizeof(msg), T_BADTIME);
	assert_int_equal(n, hex(want, BADTIME_SIGNED));
	assert_memory_equal(msg, want, n);
	/* Not enough room: nothing written. */
	len = hex(msg, RESP);
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, qlen, 29, T_REQ), 0);
	assert_int_equal(pd_tsig_sign(&ctx, msg, len, strlen(RESP_SIGNED) / 2 - 1, T_RESP), 0);
	assert_int_equal(pd_get_u16(msg + 10), 0);
}

/* A client's view of the same: the response and the next message verify. */
static void client_verifies_python_stream(void **state)
{
	uint8_t msg[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t ctx;
	size_t body;
	key(&k, "test.key", 2);
	pd_tsig_ctx_init(&ctx, &k);
	/* The request's MAC, as kdig made it, is what the response's digest starts with. */
	size_t len = hex(msg, REQ);
	memcpy(ctx.mac, msg + 72, 32);
	ctx.mac_len = 32;
	len = hex(msg, RESP_SIGNED);
	assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body), 0);
	assert_int_equal(body, strlen(RESP) / 2);
	len = hex(msg, NEXT_SIGNED);
	assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP + 1, &body), 0);
	assert_int_equal(body, strlen(NEXT) / 2);
	pd_tsig_ctx_clear(&ctx);
}

/* A client whose request was REQ (its MAC set as pd_tsig_sign() would have). */
static void client_after_req(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *k)
{
	uint8_t q[512];
	hex(q, REQ);
	pd_tsig_ctx_init(ctx, k);
	memcpy(ctx->mac, q + 72, 32);
	ctx->mac_len = 32;
}

/* Five messages, the second and third unsigned: they count in the fourth's MAC. */
static void stream_with_unsigned_messages(void **state)
{
	uint8_t msg[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t ctx;
	size_t body;
	key(&k, "test.key", 2);
	const char *stream[] = {RESP_SIGNED, STREAM2, STREAM3, STREAM4, STREAM5};
	const int want[] = {0, 1, 1, 0, 0};
	client_after_req(&ctx, &k);
	for (size_t i = 0; i < 5; i++) {
		size_t len = hex(msg, stream[i]);
		assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP + i, &body), want[i]);
	}
	pd_tsig_ctx_clear(&ctx);
	/* A bit flipped in an unsigned message fails the next signed one. */
	client_after_req(&ctx, &k);
	for (size_t i = 0; i < 4; i++) {
		size_t len = hex(msg, stream[i]);
		if (i == 2)
			msg[len - 1] ^= 1;
		assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body),
		                 i == 3 ? PD_TSIG_BADSIG : want[i]);
	}
	pd_tsig_ctx_clear(&ctx);
	/* Left out, too. */
	client_after_req(&ctx, &k);
	for (size_t i = 0; i < 4; i++) {
		size_t len = hex(msg, stream[i]);
		if (i != 2)
			assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body),
			                 i == 3 ? PD_TSIG_BADSIG : want[i]);
	}
	pd_tsig_ctx_clear(&ctx);
	/* The first answer unsigned is refused. */
	client_after_req(&ctx, &k);
	size_t len = hex(msg, STREAM2);
	assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body), -EINVAL);
	pd_tsig_ctx_clear(&ctx);
}

/* 99 unsigned messages in a row are taken; the 100th is refused. */
static void stream_of_100_unsigned_fails(void **state)
{
	uint8_t msg[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t ctx;
	size_t body;
	key(&k, "test.key", 2);
	for (int run = 0; run < 2; run++) {
		client_after_req(&ctx, &k);
		size_t len = hex(msg, RESP_SIGNED);
		assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body), 0);
		len = hex(msg, UNSIGNED7);
		for (int i = 0; i < 99; i++)
			assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body), 1);
		if (run == 0) {
			assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP, &body), -EINVAL);
		} else {
			len = hex(msg, AFTER99);
			assert_int_equal(pd_tsig_verify(&ctx, msg, len, T_RESP + 4, &body), 0);
		}
		pd_tsig_ctx_clear(&ctx);
	}
}

/* A query for example.com SOA with ID id: 29 bytes at q. */
static size_t query(uint8_t *q, uint16_t id)
{
	size_t len = hex(q, "000001000001000000000000076578616d706c6503636f6d0000060001");
	pd_put_u16(q, id);
	return len;
}

/* Client signs, server checks and signs a stream of 5, client verifies: every algorithm. */
static void round_trips(void **state)
{
	uint8_t q[512], r[512];
	pd_tsig_key_t keys[5];
	pd_tsig_ctx_t client, server;
	size_t body;
	uint64_t now = (uint64_t)time(NULL);
	for (size_t a = 0; a < 5; a++)
		key(&keys[a], "xfr.example", a);
	for (size_t a = 0; a < 5; a++) {
		pd_tsig_ctx_init(&client, &keys[a]);
		size_t qlen = query(q, (uint16_t)(0x1000 + a));
		size_t signed_len = pd_tsig_sign(&client, q, qlen, sizeof(q), now);
		assert_true(signed_len > qlen);
		assert_int_equal(pd_get_u16(q + 10), 1);
		assert_int_equal(
		    pd_tsig_check_request(&server, keys, 5, q, signed_len, qlen, now + 5),
		    PD_TSIG_OK);
		assert_ptr_equal(server.key, &keys[a]);
		for (unsigned m = 0; m < 5; m++) {
			size_t rlen = query(r, (uint16_t)(0x1000 + a));
			r[2] |= 0x84;
			r[rlen++] = (uint8_t)m; /* each message its own */
			size_t n = pd_tsig_sign(&server, r, rlen - 1, sizeof(r), now + m);
			assert_true(n > rlen);
			assert_int_equal(pd_tsig_verify(&client, r, n, now + m, &body), 0);
			assert_int_equal(body, rlen - 1);
		}
		pd_tsig_ctx_clear(&client);
		/* A message signed for another exchange does not verify in this one. */
		pd_tsig_ctx_init(&client, &keys[a]);
		qlen = query(q, 7);
		pd_tsig_sign(&client, q, qlen, sizeof(q), now);
		size_t rlen = query(r, 7);
		size_t n = pd_tsig_sign(&server, r, rlen, sizeof(r), now);
		assert_int_equal(pd_tsig_verify(&client, r, n, now, &body), PD_TSIG_BADSIG);
		pd_tsig_ctx_clear(&client);
	}
	/* Unsigned exchanges: nothing added, nothing required. */
	pd_tsig_ctx_init(&client, NULL);
	size_t qlen = query(q, 1);
	assert_int_equal(pd_tsig_sign(&client, q, qlen, sizeof(q), now), qlen);
	assert_int_equal(pd_tsig_verify(&client, q, qlen, now, &body), 0);
	assert_int_equal(body, qlen);
}

/*
 * Whether flipping bit of byte i of REQ or RESP_SIGNED leaves the TSIG as good: the
 * header's ID (the Original ID stands for it) and the case of the TSIG's names (digested
 * lower-cased, RFC 8945 4.3.2).
 */
static bool harmless_flip(const uint8_t *msg, size_t i, int bit)
{
	bool in_names = (i >= 29 && i < 39) || (i >= 49 && i < 62);
	return i < 2 || (in_names && bit == 5 && isalpha(msg[i]));
}

/* kdig's hmac-sha256 query with the server keys given: the check and the error record. */
static int check_req(const pd_tsig_key_t *keys, size_t n, uint8_t *q, size_t len,
                     pd_tsig_ctx_t *ctx)
{
	return pd_tsig_check_request(ctx, keys, n, q, len, 29, T_REQ);
}

/* Each failure a request can have, and what the response to it carries. */
static void request_failures(void **state)
{
	uint8_t q[512], r[512], want[512];
	pd_tsig_key_t k, wrong;
	pd_tsig_ctx_t ctx;
	char err[160];
	key(&k, "test.key", 2);
	size_t len = hex(q, REQ);
	assert_int_equal(check_req(&k, 1, q, len, &ctx), PD_TSIG_OK);
	/* Wrong name, wrong algorithm: BADKEY; no keys at all, too. */
	key(&wrong, "other.key", 2);
	assert_int_equal(check_req(&wrong, 1, q, len, &ctx), PD_TSIG_BADKEY);
	assert_int_equal(pd_tsig_key_parse(&wrong, "test.key", "hmac-sha512", secrets[2].secret,
	                                   err, sizeof(err)),
	                 0);
	assert_int_equal(check_req(&wrong, 1, q, len, &ctx), PD_TSIG_BADKEY);
	assert_int_equal(check_req(NULL, 0, q, len, &ctx), PD_TSIG_BADKEY);
	/* ... answered unsigned (RFC 8945 5.3.2): the request's names, time, fudge, ID. */
	size_t rlen = hex(r, RESP);
	size_t n = pd_tsig_sign(&ctx, r, rlen, sizeof(r), T_BADTIME);
	size_t wlen = hex(want, "dbcb84000001000000000001076578616d706c6503636f6d0000060001"
	                        "0474657374036b65790000fa00ff00000000001d0b686d61632d7368"
	                        "613235360000006b101296012c0000dbcb00110000");
	assert_int_equal(n, wlen);
	assert_memory_equal(r, want, n);
	/* Wrong secret: BADSIG, unsigned likewise. */
	key(&wrong, "test.key", 1);
	wrong.alg = PD_TSIG_HMAC_SHA256;
	assert_int_equal(check_req(&wrong, 1, q, len, &ctx), PD_TSIG_BADSIG);
	rlen = hex(r, RESP);
	n = pd_tsig_sign(&ctx, r, rlen, sizeof(r), T_BADTIME);
	want[wlen - 3] = PD_TSIG_BADSIG;
	assert_memory_equal(r, want, n);
	/* Every bit flipped but the harmless: never OK (a name may read as another key). */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			bool harmless = harmless_flip(q, i, bit);
			q[i] ^= (uint8_t)(1 << bit);
			int ret = check_req(&k, 1, q, len, &ctx);
			if (harmless)
				assert_int_equal(ret, PD_TSIG_OK);
			else
				assert_true(ret != PD_TSIG_OK);
			q[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* Cut short anywhere, or with bytes after it: malformed. */
	for (size_t cut = 29; cut < len; cut++)
		assert_int_equal(check_req(&k, 1, q, cut, &ctx), -EINVAL);
	q[len] = 0;
	assert_int_equal(check_req(&k, 1, q, len + 1, &ctx), -EINVAL);
	/* The record not where it says, or ARCOUNT 0. */
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, len, 28, T_REQ), -EINVAL);
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, len, 4, T_REQ), -EINVAL);
	q[11] = 0;
	assert_int_equal(check_req(&k, 1, q, len, &ctx), -EINVAL);
	q[11] = 1;
	/* A malformed request is answered unsigned, without a TSIG. */
	rlen = hex(r, RESP);
	assert_int_equal(pd_tsig_sign(&ctx, r, rlen, sizeof(r), T_REQ), rlen);
	/* Time outside the fudge: BADTIME (the MAC good). */
	assert_int_equal(pd_tsig_check_request(&ctx, &k, 1, q, len, 29, T_REQ + 301),
	                 PD_TSIG_BADTIME);
}

/* MAC sizes (RFC 8945 5.2.2.1): truncated to 16 is BADTRUNC, to 8 or past 32 malformed. */
static void truncated_macs(void **state)
{
	uint8_t q[512], t[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t ctx;
	key(&k, "test.key", 2);
	size_t len = hex(q, REQ);
	size_t mac_size = 29 + 10 + 10 + 13 + 8; /* MAC Size, then the MAC at 72 */
	const struct {
		uint16_t size;
		int want;
	} cases[] = {{16, PD_TSIG_BADTRUNC}, {31, PD_TSIG_BADTRUNC}, {8, -EINVAL}, {0, -EINVAL}};
	for (size_t c = 0; c < 4; c++) {
		uint16_t cut = (uint16_t)(32 - cases[c].size);
		memcpy(t, q, mac_size);
		memcpy(t + mac_size, q + mac_size, 2 + cases[c].size);
		memcpy(t + mac_size + 2 + cases[c].size, q + 72 + 32, len - 72 - 32);
		pd_put_u16(t + mac_size, cases[c].size);
		pd_put_u16(t + 29 + 18, (uint16_t)(pd_get_u16(q + 29 + 18) - cut)); /* RDLENGTH */
		assert_int_equal(check_req(&k, 1, t, len - cut, &ctx), cases[c].want);
	}
	/* Longer than the hash: malformed. */
	memcpy(t, q, len);
	memmove(t + 72 + 33, t + 72 + 32, len - 72 - 32);
	pd_put_u16(t + mac_size, 33);
	pd_put_u16(t + 29 + 18, (uint16_t)(pd_get_u16(q + 29 + 18) + 1));
	assert_int_equal(check_req(&k, 1, t, len + 1, &ctx), -EINVAL);
}

/* Responses a client refuses, and the servers' errors it reports as such. */
static void response_failures(void **state)
{
	uint8_t r[512], want[512];
	pd_tsig_key_t k, wrong;
	pd_tsig_ctx_t ctx;
	size_t body;
	key(&k, "test.key", 2);
	size_t len = hex(want, RESP_SIGNED);
	/* Every bit flipped but the harmless: refused. */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(r, want, len);
			r[i] ^= (uint8_t)(1 << bit);
			client_after_req(&ctx, &k);
			int ret = pd_tsig_verify(&ctx, r, len, T_RESP, &body);
			if (harmless_flip(want, i, bit))
				assert_int_equal(ret, 0);
			else
				assert_true(ret != 0 && ret != 1);
			pd_tsig_ctx_clear(&ctx);
		}
	}
	/* Time outside the fudge. */
	client_after_req(&ctx, &k);
	assert_int_equal(pd_tsig_verify(&ctx, want, len, T_RESP + 301, &body), PD_TSIG_BADTIME);
	pd_tsig_ctx_clear(&ctx);
	/* Another secret, another key name. */
	key(&wrong, "test.key", 1);
	wrong.alg = PD_TSIG_HMAC_SHA256;
	client_after_req(&ctx, &wrong);
	assert_int_equal(pd_tsig_verify(&ctx, want, len, T_RESP, &body), PD_TSIG_BADSIG);
	pd_tsig_ctx_clear(&ctx);
	key(&wrong, "other.key", 2);
	client_after_req(&ctx, &wrong);
	assert_int_equal(pd_tsig_verify(&ctx, want, len, T_RESP, &body), PD_TSIG_BADKEY);
	pd_tsig_ctx_clear(&ctx);
	/* Cut short: malformed. */
	for (size_t cut = 12; cut < len; cut++) {
		client_after_req(&ctx, &k);
		int ret = pd_tsig_verify(&ctx, want, cut, T_RESP, &body);
		assert_int_equal(ret, -EINVAL);
		pd_tsig_ctx_clear(&ctx);
	}
	/* The server's BADTIME, signed: verified, and reported. */
	client_after_req(&ctx, &k);
	len = hex(r, BADTIME_SIGNED);
	assert_int_equal(pd_tsig_verify(&ctx, r, len, T_BADTIME, &body), PD_TSIG_BADTIME);
	pd_tsig_ctx_clear(&ctx);
	/* The server's BADKEY and BADSIG, unsigned: reported. */
	len = hex(r, "dbcb84000001000000000001076578616d706c6503636f6d0000060001"
	             "0474657374036b65790000fa00ff00000000001d0b686d61632d7368"
	             "613235360000006b101296012c0000dbcb00110000");
	for (uint8_t e = PD_TSIG_BADSIG; e <= PD_TSIG_BADKEY; e++) {
		r[len - 3] = e;
		client_after_req(&ctx, &k);
		assert_int_equal(pd_tsig_verify(&ctx, r, len, T_RESP, &body), e);
		assert_int_equal(body, strlen(RESP) / 2);
		pd_tsig_ctx_clear(&ctx);
	}
	/* No MAC and no error: a bad signature. */
	r[len - 3] = 0;
	client_after_req(&ctx, &k);
	assert_int_equal(pd_tsig_verify(&ctx, r, len, T_RESP, &body), PD_TSIG_BADSIG);
	pd_tsig_ctx_clear(&ctx);
	/* A signed answer when we sent none. */
	pd_tsig_ctx_init(&ctx, NULL);
	len = hex(r, RESP_SIGNED);
	assert_int_equal(pd_tsig_verify(&ctx, r, len, T_RESP, &body), -EINVAL);
}

/* Keys as Knot, NSD and BIND write them; and what is refused. */
static void key_parsing(void **state)
{
	pd_tsig_key_t k;
	char err[160];
	assert_int_equal(
	    pd_tsig_key_parse(&k, "XFR.Example.", "HMAC-SHA256.", "c2VjcmV0", err, sizeof(err)), 0);
	assert_int_equal(k.alg, PD_TSIG_HMAC_SHA256);
	assert_int_equal(k.name_len, 13);
	assert_memory_equal(k.name, "\003xfr\007example", 13);
	assert_int_equal(k.secret_len, 6);
	assert_memory_equal(k.secret, "secret", 6);
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha1", "YQ==", err, sizeof(err)), 0);
	assert_int_equal(k.secret_len, 1);
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha1", "YWI=", err, sizeof(err)), 0);
	assert_int_equal(k.secret_len, 2);
	static const char *const bad_secrets[] = {
	    "", "YQ=", "YQ", "Y===", "YQ==YQ==", "YR==", "YWJ=", "c2Vj*mV0", "c2Vj cmV0", "=c2V",
	};
	for (size_t i = 0; i < sizeof(bad_secrets) / sizeof(bad_secrets[0]); i++)
		assert_int_equal(
		    pd_tsig_key_parse(&k, "k", "hmac-sha1", bad_secrets[i], err, sizeof(err)),
		    -EINVAL);
	/* 128 bytes fit, 129 do not. */
	char long_secret[200];
	memset(long_secret, 'A', 172);
	strcpy(long_secret + 170, "==");
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha1", long_secret, err, sizeof(err)), 0);
	assert_int_equal(k.secret_len, 127);
	memset(long_secret, 'A', 172);
	strcpy(long_secret + 171, "=");
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha1", long_secret, err, sizeof(err)), 0);
	assert_int_equal(k.secret_len, 128);
	memset(long_secret, 'A', 176);
	strcpy(long_secret + 174, "==");
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha1", long_secret, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-md5", "YQ==", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "hmac-md5"));
	assert_int_equal(pd_tsig_key_parse(&k, "k", "hmac-sha256x", "YQ==", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(pd_tsig_key_parse(&k, "a..b", "hmac-sha1", "YQ==", err, sizeof(err)),
	                 -EINVAL);
	for (int a = PD_TSIG_HMAC_SHA1; a <= PD_TSIG_HMAC_SHA512; a++) {
		assert_int_equal(
		    pd_tsig_key_parse(&k, "k", pd_tsig_alg_name(a), "YQ==", err, sizeof(err)), 0);
		assert_int_equal(k.alg, a);
	}
	assert_string_equal(pd_tsig_alg_name(PD_TSIG_HMAC_SHA384), "hmac-sha384");
	assert_null(pd_tsig_alg_name(0));
	assert_null(pd_tsig_alg_name(6));
}

static double us_between(const struct timespec *a, const struct timespec *b, int n)
{
	return ((double)(b->tv_sec - a->tv_sec) * 1e9 + (double)(b->tv_nsec - a->tv_nsec)) / n /
	       1e3;
}

/* Not a check: how long signing and checking a 100-byte message takes, for the record. */
static void timing(void **state)
{
	uint8_t q[512];
	pd_tsig_key_t k;
	pd_tsig_ctx_t client, server;
	enum { N = 20000 };
	struct timespec t0, t1, t2;
	for (size_t a = 0; a < 5; a += 2) {
		key(&k, "xfr.example", a);
		size_t qlen = query(q, 1);
		memset(q + qlen, 0, 100 - qlen); /* 100 bytes: the rest an unknown record's worth */
		qlen = 100;
		size_t n = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < N; i++) {
			pd_tsig_ctx_init(&client, &k);
			pd_put_u16(q + 10, 0);
			n = pd_tsig_sign(&client, q, qlen, sizeof(q), 1000);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		for (int i = 0; i < N; i++)
			assert_int_equal(pd_tsig_check_request(&server, &k, 1, q, n, qlen, 1000),
			                 0);
		clock_gettime(CLOCK_MONOTONIC, &t2);
		printf("%s, 100-byte message: sign %.2f us, check %.2f us\n", secrets[a].alg,
		       us_between(&t0, &t1, N), us_between(&t1, &t2, N));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kdig_and_dig_queries_check),
	    cmocka_unit_test(responses_match_python_hmac),
	    cmocka_unit_test(client_verifies_python_stream),
	    cmocka_unit_test(stream_with_unsigned_messages),
	    cmocka_unit_test(stream_of_100_unsigned_fails),
	    cmocka_unit_test(round_trips),
	    cmocka_unit_test(request_failures),
	    cmocka_unit_test(truncated_macs),
	    cmocka_unit_test(response_failures),
	    cmocka_unit_test(key_parsing),
	    cmocka_unit_test(timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
