/* Wire cursors: bounded reading and writing of DNS messages with a sticky error. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A read cursor over a message. Every read past the end sets err to -EBADMSG and
 * yields zeroes from then on, so a parser checks err once at the end instead of
 * bounds-checking every field.
 */
typedef struct pd_wire {
	const uint8_t *base; /* start of the message; compression pointers are relative to it */
	const uint8_t *pos;
	const uint8_t *end;
	int err; /* 0 or a negative errno; once set it stays set */
} pd_wire_t;

/* A write cursor: every write that would not fit sets err to -ENOSPC and writes nothing. */
typedef struct pd_wbuf {
	uint8_t *base;
	uint8_t *pos;
	uint8_t *end;
	int err;
} pd_wbuf_t;

/** Starts reading len bytes at buf. */
void pd_wire_init(pd_wire_t *w, const uint8_t *buf, size_t len);
/** Bytes left to read (0 once an error is set). */
size_t pd_wire_left(const pd_wire_t *w);
/** Offset of the cursor from the start of the message. */
size_t pd_wire_offset(const pd_wire_t *w);
/** Reads one byte; 0 on error. */
uint8_t pd_wire_u8(pd_wire_t *w);
/** Reads a big-endian 16-bit value; 0 on error. */
uint16_t pd_wire_u16(pd_wire_t *w);
/** Reads a big-endian 32-bit value; 0 on error. */
uint32_t pd_wire_u32(pd_wire_t *w);
/** Skips n bytes. */
void pd_wire_skip(pd_wire_t *w, size_t n);
/** Copies n bytes to dst (zero-filled on error). */
void pd_wire_read(pd_wire_t *w, void *dst, size_t n);
/** Sets the sticky error if none is set yet. */
void pd_wire_fail(pd_wire_t *w, int err);

/** Starts writing into cap bytes at buf. */
void pd_wbuf_init(pd_wbuf_t *b, uint8_t *buf, size_t cap);
/** Bytes written so far. */
size_t pd_wbuf_len(const pd_wbuf_t *b);
/** Bytes still free. */
size_t pd_wbuf_room(const pd_wbuf_t *b);
/** Writes one byte. */
void pd_wbuf_u8(pd_wbuf_t *b, uint8_t v);
/** Writes a big-endian 16-bit value. */
void pd_wbuf_u16(pd_wbuf_t *b, uint16_t v);
/** Writes a big-endian 32-bit value. */
void pd_wbuf_u32(pd_wbuf_t *b, uint32_t v);
/** Writes n bytes from src. */
void pd_wbuf_put(pd_wbuf_t *b, const void *src, size_t n);

/** Reads a big-endian 16-bit value from p without a cursor. */
static inline uint16_t pd_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/** Reads a big-endian 32-bit value from p without a cursor. */
static inline uint32_t pd_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** Writes a big-endian 16-bit value to p without a cursor. */
static inline void pd_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
