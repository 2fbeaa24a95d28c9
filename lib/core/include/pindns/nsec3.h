/* NSEC3 owner-name hashing (RFC 5155 5) and the Base32hex form of a hash (RFC 4648 7). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PD_NSEC3_SHA1 1      /* the only NSEC3 hash algorithm there is */
#define PD_NSEC3_HASH_LEN 20 /* SHA-1 */
#define PD_NSEC3_B32_LEN 32  /* Base32hex of 20 bytes, no padding */

/**
 * The NSEC3 hash of the lower-cased wire name lname (len bytes): SHA-1 of the name and
 * salt, then iterations more times of the hash and salt. Writes PD_NSEC3_HASH_LEN bytes
 * to out. Allocates nothing: it runs on the query path for every negative answer.
 */
void pd_nsec3_hash(uint8_t out[PD_NSEC3_HASH_LEN], const uint8_t *lname, size_t len,
                   const uint8_t *salt, size_t salt_len, uint16_t iterations);

/**
 * Writes the lower-case Base32hex form of len bytes of in to out (8 characters per 5
 * bytes, no padding; len a multiple of 5). Returns the characters written. Base32hex keeps
 * the order of the bytes, so encoded hashes sort as the hashes do.
 */
size_t pd_base32hex_encode(char *out, const uint8_t *in, size_t len);

/**
 * Decodes len Base32hex characters (either case) of in into out. Returns the bytes
 * written, or -1 when in is not Base32hex or len is not a multiple of 8.
 */
int pd_base32hex_decode(uint8_t *out, size_t cap, const char *in, size_t len);
