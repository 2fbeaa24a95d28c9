/* Unit tests for response rate limiting (lib/core/rrl.c): rate, burst, slip, keys. */
#include "testutil.h"

#include "pindns/rrl.h"

static pd_rrl_conf_t conf_of(uint32_t rate, uint32_t window, uint32_t slip)
{
	return (pd_rrl_conf_t){.rate = rate,
	                       .window = window,
	                       .slip = slip,
	                       .ipv4_prefix = 24,
	                       .ipv6_prefix = 56,
	                       .table_size = 1024,
	                       .seed = 42};
}

static const uint8_t a1[4] = {192, 0, 2, 1}, a2[4] = {192, 0, 2, 200}, b1[4] = {192, 0, 3, 1};

/* Passes until the tokens run out, then refills at the rate: a flood gets the rate. */
static void flood_gets_the_rate(void **state)
{
	pd_rrl_conf_t conf = conf_of(100, 1, 0);
	pd_rrl_t *r;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	unsigned passed = 0;
	/* 10 seconds of 2,000 responses a second (20x the rate), 2 each millisecond. */
	for (uint64_t ms = 1000; ms < 11000; ms++)
		for (int k = 0; k < 2; k++)
			passed += pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 7, ms) == PD_RRL_PASS;
	/* The first second's burst (100) and 100 a second after it, within one token. */
	assert_in_range(passed, 100 + 999, 100 + 1001);
	pd_rrl_free(r);
}

/* A burst of rate x window after a quiet time, no more. */
static void window_is_the_burst(void **state)
{
	pd_rrl_conf_t conf = conf_of(10, 5, 0);
	pd_rrl_t *r;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	unsigned passed = 0;
	for (int i = 0; i < 200; i++)
		passed += pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 0, 5000) == PD_RRL_PASS;
	assert_int_equal(passed, 50);
	/* 300 ms give 3 more; an hour gives the window's worth, not an hour's. */
	passed = 0;
	for (int i = 0; i < 200; i++)
		passed += pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 0, 5300) == PD_RRL_PASS;
	assert_int_equal(passed, 3);
	passed = 0;
	for (int i = 0; i < 200; i++)
		passed += pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 0, 5300 + 3600000) == PD_RRL_PASS;
	assert_int_equal(passed, 50);
	pd_rrl_free(r);
}

/* Every slip-th limited response slips; slip 0 drops them all. */
static void slip(void **state)
{
	for (uint32_t s = 0; s <= 3; s++) {
		pd_rrl_conf_t conf = conf_of(1, 1, s);
		pd_rrl_t *r;
		assert_int_equal(pd_rrl_new(&r, &conf), 0);
		assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 0, 10), PD_RRL_PASS);
		unsigned slipped = 0, dropped = 0;
		for (int i = 0; i < 60; i++) {
			pd_rrl_action_t a = pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 0, 10);
			slipped += a == PD_RRL_SLIP;
			dropped += a == PD_RRL_DROP;
		}
		assert_int_equal(slipped, s ? 60 / s : 0);
		assert_int_equal(slipped + dropped, 60);
		pd_rrl_free(r);
	}
}

/* Buckets are per prefix (/24, /56), class and zone: one's flood leaves the others be. */
static void keys(void **state)
{
	pd_rrl_conf_t conf = conf_of(1, 1, 0);
	pd_rrl_t *r;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a2, PD_RRL_ANSWER, 1, 10), PD_RRL_DROP); /* same /24 */
	assert_int_equal(pd_rrl_take(r, 4, b1, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_NXDOMAIN, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_REFERRAL, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ERROR, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 2, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 1, 10), PD_RRL_DROP);
	uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4}, v6b[16], v6c[16];
	memcpy(v6b, v6a, 16);
	v6b[7] = 0xFF; /* bits 56 on: past the /56, the same prefix */
	v6b[15] = 9;
	memcpy(v6c, v6a, 16);
	v6c[6] ^= 0x01; /* bit 55: another /56 */
	assert_int_equal(pd_rrl_take(r, 6, v6a, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 6, v6b, PD_RRL_ANSWER, 1, 10), PD_RRL_DROP);
	assert_int_equal(pd_rrl_take(r, 6, v6c, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	pd_rrl_free(r);
	/* A /32 prefix tells 192.0.2.1 from 192.0.2.200. */
	conf.ipv4_prefix = 32;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	assert_int_equal(pd_rrl_take(r, 4, a1, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	assert_int_equal(pd_rrl_take(r, 4, a2, PD_RRL_ANSWER, 1, 10), PD_RRL_PASS);
	pd_rrl_free(r);
}

/* More prefixes than buckets: a newcomer takes the least recent, starting full. */
static void table_full(void **state)
{
	pd_rrl_conf_t conf = conf_of(1, 1, 0);
	conf.ipv4_prefix = 32;
	conf.table_size = 16;
	pd_rrl_t *r;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	for (uint32_t i = 0; i < 5000; i++) {
		uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		assert_int_equal(pd_rrl_take(r, 4, a, PD_RRL_ANSWER, 0, 10 + i), PD_RRL_PASS);
	}
	pd_rrl_free(r);
}

static void exempt_and_limits(void **state)
{
	pd_rrl_conf_t conf = conf_of(1, 1, 2);
	conf.exempt[0] = (pd_rrl_prefix_t){.family = 4, .bits = 23, .addr = {192, 0, 2}};
	conf.exempt[1] = (pd_rrl_prefix_t){.family = 6, .bits = 128, .addr = {[15] = 1}};
	conf.nexempt = 2;
	uint8_t lo6[16] = {[15] = 1}, other6[16] = {[15] = 2};
	assert_true(pd_rrl_exempt(&conf, 4, a1));
	assert_true(pd_rrl_exempt(&conf, 4, b1)); /* 192.0.3.x is in 192.0.2.0/23 */
	uint8_t c[4] = {192, 0, 4, 1};
	assert_false(pd_rrl_exempt(&conf, 4, c));
	assert_true(pd_rrl_exempt(&conf, 6, lo6));
	assert_false(pd_rrl_exempt(&conf, 6, other6));
	pd_rrl_t *r;
	conf.rate = 0;
	assert_int_equal(pd_rrl_new(&r, &conf), -EINVAL);
	conf.rate = PD_RRL_RATE_MAX;
	conf.window = PD_RRL_WINDOW_MAX;
	assert_int_equal(pd_rrl_new(&r, &conf), -EINVAL); /* 6e10 thousandths: too many */
	conf.window = 2;
	assert_int_equal(pd_rrl_new(&r, &conf), 0);
	pd_rrl_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(flood_gets_the_rate),
	    cmocka_unit_test(window_is_the_burst),
	    cmocka_unit_test(slip),
	    cmocka_unit_test(keys),
	    cmocka_unit_test(table_full),
	    cmocka_unit_test(exempt_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
