/* Unit tests for DNS cookies (lib/core/cookie.c): RFC 9018 Appendix A, validity, rotation. */
#include "testutil.h"

#include <stdio.h>

#include "pindns/cookie.h"

static void hex(uint8_t *out, const char *h)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned b;
		sscanf(h + 2 * i, "%2x", &b);
		out[i] = (uint8_t)b;
	}
}

static pd_cookie_t *fixed(pd_cookie_conf_t *conf, const char *s0, const char *s1)
{
	pd_cookie_t *c;
	memset(conf, 0, sizeof(*conf));
	conf->enabled = true;
	conf->nsecrets = s1 ? 2 : 1;
	hex(conf->secret[0], s0);
	if (s1)
		hex(conf->secret[1], s1);
	assert_int_equal(pd_cookie_new(&c, conf), 0);
	return c;
}

static const uint8_t v4_a[4] = {198, 51, 100, 100}, v4_b[4] = {203, 0, 113, 203};
#define SECRET_A "e5e973e5a6b2a43f48e7dc849e37bfcf"

/* The four exchanges of RFC 9018 Appendix A, each reply's cookie byte for byte. */
static void rfc9018_vectors(void **state)
{
	pd_cookie_conf_t conf;
	uint8_t opt[40], out[16], want[16];
	pd_cookie_t *c = fixed(&conf, SECRET_A, NULL);
	/* A.1: a client cookie alone gets a fresh server cookie. */
	hex(opt, "2464c4abcf10c957");
	assert_int_equal(pd_cookie_check(c, opt, 8, v4_a, 4, 1559731985, out), PD_COOKIE_CLIENT);
	hex(want, "010000005cf79f111f8130c3eee29480");
	assert_memory_equal(out, want, 16);
	assert_int_equal(pd_cookie_make(conf.secret[0], opt, v4_a, 4, 1559731985, out), 0);
	assert_memory_equal(out, want, 16);
	/* A.2: 40 minutes later it is valid, and over half an hour old: renewed. */
	hex(opt, "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, 1559734385, out), PD_COOKIE_VALID);
	hex(want, "010000005cf7a871d4a564a1442aca77");
	assert_memory_equal(out, want, 16);
	/* ... ten minutes after it was made, it goes back as it came. */
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, 1559731985 + 600, out),
	                 PD_COOKIE_VALID);
	assert_memory_equal(out, opt + 8, 16);
	/* ... and from another address it is not ours. */
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_b, 4, 1559734385, out), PD_COOKIE_INVALID);
	/* A.3: reserved bytes set still hash right (valid within its hour); the reply has
	 * them zero. At the vector's own time (1 h 52 min later) it is too old. */
	hex(opt, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_b, 4, 1559727985 + 60, out),
	                 PD_COOKIE_VALID);
	assert_int_equal(out[1] | out[2] | out[3], 0);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_b, 4, 1559734700, out), PD_COOKIE_INVALID);
	hex(want, "010000005cf7a9acf73a7810aca2381e");
	assert_memory_equal(out, want, 16);
	pd_cookie_free(c);
	/* A.4: IPv6, made with the old secret, checked after a rollover: valid, and the
	 * reply is made with the new one though the cookie is recent. */
	uint8_t v6[16];
	hex(v6, "20010db80220000159ded0f4876982b8");
	c = fixed(&conf, "445536bcd2513298075a5d379663c962", "dd3bdf9344b678b185a6f5cb60fca715");
	hex(opt, "22681ab97d52c298010000005cf7c57926556bd0934c72f8");
	assert_int_equal(pd_cookie_check(c, opt, 24, v6, 16, 1559741961, out), PD_COOKIE_VALID);
	hex(want, "010000005cf7c609a6bb79d16625507a");
	assert_memory_equal(out, want, 16);
	pd_cookie_free(c);
}

/* RFC 9018 4.3: an hour old at most, five minutes ahead at most; other lengths invalid. */
static void validity_window(void **state)
{
	pd_cookie_conf_t conf;
	uint8_t opt[40], out[16];
	pd_cookie_t *c = fixed(&conf, SECRET_A, NULL);
	const uint32_t t = 1700000000;
	hex(opt, "0102030405060708");
	assert_int_equal(pd_cookie_make(conf.secret[0], opt, v4_a, 4, t, opt + 8), 0);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t + 3600, out), PD_COOKIE_VALID);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t + 3601, out), PD_COOKIE_INVALID);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t - 300, out), PD_COOKIE_VALID);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t - 301, out), PD_COOKIE_INVALID);
	/* A fresh cookie is always made for an invalid one, and is itself valid. */
	assert_int_equal(out[0], 1);
	memcpy(opt + 8, out, 16);
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t - 301, out), PD_COOKIE_VALID);
	/* One bit anywhere in the hash, version or timestamp breaks it. */
	for (int byte = 8; byte < 24; byte++) {
		if (byte >= 9 && byte <= 11)
			continue; /* reserved: hashed too, tested by A.3 */
		opt[byte] ^= 0x10;
		assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t - 301, out),
		                 PD_COOKIE_INVALID);
		opt[byte] ^= 0x10;
	}
	/* Server cookies of other lengths (another server's) are not ours. */
	assert_int_equal(pd_cookie_check(c, opt, 16, v4_a, 4, t, out), PD_COOKIE_INVALID);
	assert_int_equal(pd_cookie_check(c, opt, 40, v4_a, 4, t, out), PD_COOKIE_INVALID);
	pd_cookie_free(c);
}

/* A generated secret: derived per lifetime period, the period before still accepted. */
static void derived_rotation(void **state)
{
	pd_cookie_conf_t conf = {.enabled = true, .lifetime = 7200};
	uint8_t opt[24], out[16];
	pd_cookie_t *c, *other;
	hex(conf.master, "00112233445566778899aabbccddeeff");
	assert_int_equal(pd_cookie_new(&c, &conf), 0);
	assert_int_equal(pd_cookie_new(&other, &conf), 0); /* another worker */
	const uint32_t t = 7200u * 100000 + 7000;          /* 200 s before a rotation */
	hex(opt, "0102030405060708");
	assert_int_equal(pd_cookie_check(c, opt, 8, v4_a, 4, t, opt + 8), PD_COOKIE_CLIENT);
	/* Every worker derives the same secret. */
	assert_int_equal(pd_cookie_check(other, opt, 24, v4_a, 4, t + 10, out), PD_COOKIE_VALID);
	/* Past the rotation: still valid, renewed with the new secret. */
	assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, t + 600, out), PD_COOKIE_VALID);
	assert_memory_not_equal(out, opt + 8, 16);
	uint8_t renewed[24];
	memcpy(renewed, opt, 8);
	memcpy(renewed + 8, out, 16);
	/* The renewed one holds on the other worker too, which rotates on its own. */
	assert_int_equal(pd_cookie_check(other, renewed, 24, v4_a, 4, t + 600, out),
	                 PD_COOKIE_VALID);
	pd_cookie_free(other);
	conf.lifetime = 7199;
	assert_int_equal(pd_cookie_new(&other, &conf), -EINVAL);
	conf.lifetime = 7200;
	/* A cookie the fixed secret of another key made is refused. */
	pd_cookie_conf_t f;
	pd_cookie_t *fc = fixed(&f, SECRET_A, NULL);
	assert_int_equal(pd_cookie_check(fc, opt, 24, v4_a, 4, t + 600, out), PD_COOKIE_INVALID);
	pd_cookie_free(fc);
	pd_cookie_free(c);
}

/* Nothing allocated per check: the contexts are made once (ASan would see a leak or a
 * use after free; here, many checks in a row keep working). */
static void many_checks(void **state)
{
	pd_cookie_conf_t conf;
	uint8_t opt[24], out[16];
	pd_cookie_t *c = fixed(&conf, SECRET_A, NULL);
	hex(opt, "2464c4abcf10c957");
	for (uint32_t i = 0; i < 10000; i++) {
		assert_int_equal(pd_cookie_check(c, opt, 8, v4_a, 4, 1559731985 + i, opt + 8),
		                 PD_COOKIE_CLIENT);
		assert_int_equal(pd_cookie_check(c, opt, 24, v4_a, 4, 1559731985 + i, out),
		                 PD_COOKIE_VALID);
	}
	pd_cookie_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc9018_vectors),
	    cmocka_unit_test(validity_window),
	    cmocka_unit_test(derived_rotation),
	    cmocka_unit_test(many_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
