/* A datagram in and the reply out: what the engine hands to whoever answers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** One received datagram and room for its reply; out_len 0 means no reply. */
typedef struct pd_dgram {
	const void *peer; /* the sender's struct sockaddr, peer_len bytes */
	unsigned peer_len;
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_cap;
	size_t out_len;
} pd_dgram_t;
