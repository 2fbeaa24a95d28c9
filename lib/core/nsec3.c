/* NSEC3 owner-name hashing (RFC 5155 5) and Base32hex (RFC 4648 7), allocation-free. */
#include "pindns/nsec3.h"

/*
 * SHA1_Init/Update/Final are deprecated in OpenSSL 3, but their context lives on the
 * stack; the EVP interface that replaces them allocates a context per digest (EVP_Digest
 * included), and this hash runs for every negative answer of an NSEC3 zone. The low-level
 * API stays in OpenSSL 3, so silence the warning here, for this file only.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

void pd_nsec3_hash(uint8_t out[PD_NSEC3_HASH_LEN], const uint8_t *lname, size_t len,
                   const uint8_t *salt, size_t salt_len, uint16_t iterations)
{
	SHA_CTX c;
	SHA1_Init(&c);
	SHA1_Update(&c, lname, len);
	SHA1_Update(&c, salt, salt_len);
	SHA1_Final(out, &c);
	for (unsigned i = 0; i < iterations; i++) {
		SHA1_Init(&c);
		SHA1_Update(&c, out, PD_NSEC3_HASH_LEN);
		SHA1_Update(&c, salt, salt_len);
		SHA1_Final(out, &c);
	}
}

size_t pd_base32hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	size_t n = 0;
	for (size_t i = 0; i + 5 <= len; i += 5) {
		uint64_t v = (uint64_t)in[i] << 32 | (uint64_t)in[i + 1] << 24 |
		             (uint64_t)in[i + 2] << 16 | (uint64_t)in[i + 3] << 8 | in[i + 4];
		for (int k = 7; k >= 0; k--)
			out[n++] = digits[(v >> (5 * k)) & 31];
	}
	return n;
}

/* The value of one Base32hex digit, either case, or -1. */
static int pd__b32_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'v')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'V')
		return c - 'A' + 10;
	return -1;
}

int pd_base32hex_decode(uint8_t *out, size_t cap, const char *in, size_t len)
{
	if (len % 8 || len / 8 * 5 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = 0;
		for (size_t k = 0; k < 8; k++) {
			int d = pd__b32_value(in[i + k]);
			if (d < 0)
				return -1;
			v = v << 5 | (uint64_t)d;
		}
		for (int k = 0; k < 5; k++)
			*out++ = (uint8_t)(v >> (8 * (4 - k)));
	}
	return (int)(len / 8 * 5);
}
