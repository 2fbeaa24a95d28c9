/* Unit tests for NSEC3 hashing and Base32hex (lib/core/nsec3.c). */
#include "testutil.h"

#include "pindns/nsec3.h"

/* RFC 5155 Appendix A: SHA-1, salt aabbccdd, 12 iterations. */
static void rfc5155_hash_vectors(void **state)
{
	static const struct {
		const char *name, *hash;
	} v[] = {
	    {"example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
	    {"a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
	    {"ai.example", "gjeqe526plbf1g8mklp59enfd789njgi"},
	    {"ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
	    {"ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r"},
	    {"w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h"},
	    {"*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
	    {"x.w.example", "b4um86eghhds6nea196smvmlo4ors995"},
	    {"y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"},
	    {"x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s"},
	    {"xx.example", "t644ebqk9bibcna874givr6joj62mlhv"},
	    {"2t7b4g4vsa5smi47k61mv5bv1a22bojr.example", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi"},
	    /* Appendix B.1: the next closer name and the wildcard of a.c.x.w.example. */
	    {"c.x.w.example", "0va5bpr2ou0vk0lbqeeljri88laipsfh"},
	    {"*.x.w.example", "92pqneegtaue7pjatc3l3qnk738c6v5m"},
	};
	static const uint8_t salt[] = {0xaa, 0xbb, 0xcc, 0xdd};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t name[PD_NAME_MAX], hash[PD_NSEC3_HASH_LEN];
		char b32[PD_NSEC3_B32_LEN + 1];
		size_t len = tu_name(name, v[i].name);
		pd_nsec3_hash(hash, name, len, salt, sizeof(salt), 12);
		b32[pd_base32hex_encode(b32, hash, sizeof(hash))] = '\0';
		assert_string_equal(b32, v[i].hash);
	}
	/* No salt, no extra iteration: SHA-1 of the name alone (BIND's nsec3hash test). */
	uint8_t com[PD_NAME_MAX], hash[PD_NSEC3_HASH_LEN];
	char b32[PD_NSEC3_B32_LEN + 1];
	size_t len = tu_name(com, "com");
	pd_nsec3_hash(hash, com, len, NULL, 0, 0);
	b32[pd_base32hex_encode(b32, hash, sizeof(hash))] = '\0';
	assert_string_equal(b32, "ck0pojmg874ljref7efn8430qvit8bsm");
}

static void base32hex(void **state)
{
	uint8_t out[40], in[40];
	char text[64];
	/* RFC 4648 10: BASE32-HEX("fooba") = "CPNMUOJ1". */
	assert_int_equal(pd_base32hex_encode(text, (const uint8_t *)"fooba", 5), 8);
	assert_memory_equal(text, "cpnmuoj1", 8);
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), "CPNMUOJ1", 8), 5);
	assert_memory_equal(out, "fooba", 5);
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), "cpnmuoj1", 8), 5);
	assert_memory_equal(out, "fooba", 5);
	/* Every byte value survives, and the order of the bytes is the order of the text. */
	for (int i = 0; i < 40; i++)
		in[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(pd_base32hex_encode(text, in, 40), 64);
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), text, 64), 40);
	assert_memory_equal(out, in, 40);
	uint8_t lo[5] = {1, 2, 3, 4, 5}, hi[5] = {1, 2, 3, 4, 6};
	char tlo[8], thi[8];
	pd_base32hex_encode(tlo, lo, 5);
	pd_base32hex_encode(thi, hi, 5);
	assert_true(memcmp(tlo, thi, 8) < 0);
	/* Not Base32hex: letters past V, padding, a length that is not a multiple of 8, no
	 * room. */
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), "cpnmuojw", 8), -1);
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), "cpnmuoj=", 8), -1);
	assert_int_equal(pd_base32hex_decode(out, sizeof(out), "cpnmuoj", 7), -1);
	assert_int_equal(pd_base32hex_decode(out, 4, "cpnmuoj1", 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc5155_hash_vectors),
	    cmocka_unit_test(base32hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
