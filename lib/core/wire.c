/* Bounded read and write cursors over DNS messages. */
#include "pindns/wire.h"

void pd_wire_init(pd_wire_t *w, const uint8_t *buf, size_t len)
{
	w->base = buf;
	w->pos = buf;
	w->end = buf + len;
	w->err = 0;
}

size_t pd_wire_left(const pd_wire_t *w)
{
	return w->err ? 0 : (size_t)(w->end - w->pos);
}

size_t pd_wire_offset(const pd_wire_t *w)
{
	return (size_t)(w->pos - w->base);
}

void pd_wire_fail(pd_wire_t *w, int err)
{
	if (!w->err)
		w->err = err;
}

static int pd__wire_need(pd_wire_t *w, size_t n)
{
	if (w->err)
		return 0;
	if ((size_t)(w->end - w->pos) < n) {
		w->err = -EBADMSG;
		return 0;
	}
	return 1;
}

uint8_t pd_wire_u8(pd_wire_t *w)
{
	if (!pd__wire_need(w, 1))
		return 0;
	return *w->pos++;
}

uint16_t pd_wire_u16(pd_wire_t *w)
{
	if (!pd__wire_need(w, 2))
		return 0;
	uint16_t v = pd_get_u16(w->pos);
	w->pos += 2;
	return v;
}

uint32_t pd_wire_u32(pd_wire_t *w)
{
	if (!pd__wire_need(w, 4))
		return 0;
	uint32_t v = pd_get_u32(w->pos);
	w->pos += 4;
	return v;
}

void pd_wire_skip(pd_wire_t *w, size_t n)
{
	if (pd__wire_need(w, n))
		w->pos += n;
}

void pd_wire_read(pd_wire_t *w, void *dst, size_t n)
{
	if (!pd__wire_need(w, n)) {
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, w->pos, n);
	w->pos += n;
}

void pd_wbuf_init(pd_wbuf_t *b, uint8_t *buf, size_t cap)
{
	b->base = buf;
	b->pos = buf;
	b->end = buf + cap;
	b->err = 0;
}

size_t pd_wbuf_len(const pd_wbuf_t *b)
{
	return (size_t)(b->pos - b->base);
}

size_t pd_wbuf_room(const pd_wbuf_t *b)
{
	return b->err ? 0 : (size_t)(b->end - b->pos);
}

static int pd__wbuf_need(pd_wbuf_t *b, size_t n)
{
	if (b->err)
		return 0;
	if ((size_t)(b->end - b->pos) < n) {
		b->err = -ENOSPC;
		return 0;
	}
	return 1;
}

void pd_wbuf_u8(pd_wbuf_t *b, uint8_t v)
{
	if (pd__wbuf_need(b, 1))
		*b->pos++ = v;
}

void pd_wbuf_u16(pd_wbuf_t *b, uint16_t v)
{
	if (!pd__wbuf_need(b, 2))
		return;
	pd_put_u16(b->pos, v);
	b->pos += 2;
}

void pd_wbuf_u32(pd_wbuf_t *b, uint32_t v)
{
	if (!pd__wbuf_need(b, 4))
		return;
	b->pos[0] = (uint8_t)(v >> 24);
	b->pos[1] = (uint8_t)(v >> 16);
	b->pos[2] = (uint8_t)(v >> 8);
	b->pos[3] = (uint8_t)v;
	b->pos += 4;
}

void pd_wbuf_put(pd_wbuf_t *b, const void *src, size_t n)
{
	if (!pd__wbuf_need(b, n))
		return;
	memcpy(b->pos, src, n);
	b->pos += n;
}
