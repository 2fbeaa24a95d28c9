/* Domain names in wire form: parsing with decompression, case folding, comparison. */
#include "pindns/name.h"

#include <ctype.h>
#include <stdio.h>

static inline uint8_t pd__lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

size_t pd_name_parse(pd_wire_t *w, uint8_t *out)
{
	const uint8_t *p = w->pos;
	const uint8_t *resume = NULL;  /* where the cursor goes after the first pointer */
	const uint8_t *limit = w->pos; /* a pointer must land strictly before this */
	size_t len = 0;

	if (w->err)
		return 0;
	for (;;) {
		if (p >= w->end)
			goto fail;
		uint8_t c = *p;
		if ((c & 0xC0) == 0xC0) {
			if (p + 1 >= w->end)
				goto fail;
			size_t target = (size_t)(c & 0x3F) << 8 | p[1];
			/* Strictly backwards pointers make loops impossible. */
			if (w->base + target >= limit)
				goto fail;
			if (!resume)
				resume = p + 2;
			limit = w->base + target;
			p = w->base + target;
			continue;
		}
		if (c & 0xC0)
			goto fail; /* 0x40 and 0x80 label types are obsolete or reserved */
		if (len + 1 + c > PD_NAME_MAX)
			goto fail;
		if (p + 1 + c > w->end)
			goto fail;
		memcpy(out + len, p, 1u + c);
		len += 1u + c;
		p += 1u + c;
		if (c == 0)
			break;
	}
	w->pos = resume ? resume : p;
	return len;
fail:
	pd_wire_fail(w, -EBADMSG);
	return 0;
}

/* FNV-1a, a byte at a time: names are short, so a simple hash costs little. */
#define PD__HASH_INIT 2166136261u
#define PD__HASH_PRIME 16777619u

/* Tables index by the low bits, which FNV mixes poorly: murmur3's fmix32. */
static inline uint32_t pd__hash_finish(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

size_t pd_name_read_question(pd_wire_t *w, uint8_t *out, uint8_t *label_off, uint8_t *labels,
                             uint32_t *hash)
{
	const uint8_t *p = w->pos;
	size_t len = 0;
	unsigned n = 0;
	uint32_t h = PD__HASH_INIT;
	if (w->err)
		return 0;
	for (;;) {
		if (p >= w->end)
			goto fail;
		uint8_t l = *p;
		/* Above 63 is a pointer (0xC0) or a reserved label type (0x40, 0x80). */
		if (l > PD_LABEL_MAX || len + 1u + l > PD_NAME_MAX || (size_t)(w->end - p) < 1u + l)
			goto fail;
		/* At most 128 labels fit in 255 bytes, so n stays in label_off. */
		label_off[n++] = (uint8_t)len;
		out[len++] = l;
		h = (h ^ l) * PD__HASH_PRIME;
		for (uint8_t i = 1; i <= l; i++) {
			uint8_t c = pd__lower(p[i]);
			out[len++] = c;
			h = (h ^ c) * PD__HASH_PRIME;
		}
		p += 1u + l;
		if (l == 0)
			break;
	}
	w->pos = p;
	*labels = (uint8_t)n;
	*hash = pd__hash_finish(h);
	return len;
fail:
	pd_wire_fail(w, -EBADMSG);
	return 0;
}

size_t pd_name_read_lower(pd_wire_t *w, uint8_t *out)
{
	uint8_t off[128], labels;
	uint32_t hash;
	return pd_name_read_question(w, out, off, &labels, &hash);
}

size_t pd_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += 1 + *p;
	return (size_t)(p - name) + 1;
}

int pd_name_labels(const uint8_t *name)
{
	int n = 0;
	for (; *name; name += 1 + *name)
		n++;
	return n;
}

size_t pd_name_lower(uint8_t *dst, const uint8_t *name)
{
	size_t len = pd_name_len(name);
	for (size_t i = 0; i < len;) {
		uint8_t l = name[i];
		dst[i] = l;
		for (size_t j = 1; j <= l; j++)
			dst[i + j] = pd__lower(name[i + j]);
		i += 1u + l;
	}
	return len;
}

bool pd_name_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		if (*a == 0)
			return true;
		for (uint8_t i = 1; i <= *a; i++)
			if (pd__lower(a[i]) != pd__lower(b[i]))
				return false;
		a += 1 + *a;
		b += 1 + *b;
	}
}

bool pd_name_is_under(const uint8_t *name, const uint8_t *parent)
{
	int extra = pd_name_labels(name) - pd_name_labels(parent);
	if (extra < 0)
		return false;
	while (extra-- > 0)
		name = pd_name_parent(name);
	return pd_name_equal(name, parent);
}

uint32_t pd_name_hash(const uint8_t *lname, size_t len)
{
	uint32_t h = PD__HASH_INIT;
	for (size_t i = 0; i < len; i++)
		h = (h ^ lname[i]) * PD__HASH_PRIME;
	return pd__hash_finish(h);
}

int pd_name_label_starts(const uint8_t *name, uint8_t *starts)
{
	int n = 0;
	for (const uint8_t *p = name; *p; p += 1 + *p)
		starts[n++] = (uint8_t)(p - name);
	return n;
}

int pd_name_canonical_cmp(const uint8_t *a, const uint8_t *b)
{
	uint8_t sa[128], sb[128];
	int na = pd_name_label_starts(a, sa), nb = pd_name_label_starts(b, sb);
	/* From the root down: the first label that differs decides, or the shorter name. */
	while (na > 0 && nb > 0) {
		const uint8_t *la = a + sa[--na], *lb = b + sb[--nb];
		uint8_t len = la[0] < lb[0] ? la[0] : lb[0];
		int d = memcmp(la + 1, lb + 1, len);
		if (d)
			return d;
		if (la[0] != lb[0])
			return la[0] < lb[0] ? -1 : 1;
	}
	return na - nb;
}

int pd_name_from_str(uint8_t *out, const char *str)
{
	size_t len = 0;
	const char *s = str;

	if (s[0] == '.' && s[1] == '\0') {
		out[0] = 0;
		return 1;
	}
	while (*s) {
		size_t lpos = len++;
		uint8_t llen = 0;
		while (*s && *s != '.') {
			int c = (unsigned char)*s++;
			if (c == '\\') {
				if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
				    isdigit((unsigned char)s[2])) {
					c = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
					if (c > 255)
						return -EINVAL;
					s += 3;
				} else if (*s) {
					c = (unsigned char)*s++;
				} else {
					return -EINVAL;
				}
			}
			if (llen == PD_LABEL_MAX || len + 1 >= PD_NAME_MAX)
				return -EINVAL;
			out[len++] = (uint8_t)c;
			llen++;
		}
		if (llen == 0)
			return -EINVAL; /* empty label: ".." or a leading dot */
		out[lpos] = llen;
		if (*s == '.')
			s++;
	}
	if (len + 1 > PD_NAME_MAX)
		return -EINVAL;
	out[len++] = 0;
	return (int)len;
}

int pd_name_to_str(char *out, size_t cap, const uint8_t *name)
{
	size_t n = 0;
	if (cap < 2) {
		if (cap)
			out[0] = '\0';
		return 0;
	}
	if (*name == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	for (; *name; name += 1 + *name) {
		for (uint8_t i = 1; i <= *name; i++) {
			uint8_t c = name[i];
			/* Room for the longest form (\DDD), the label's dot and the NUL. */
			if (n + 6 > cap)
				goto out;
			if (c <= 0x20 || c >= 0x7F) {
				out[n++] = '\\';
				out[n++] = (char)('0' + c / 100);
				out[n++] = (char)('0' + c / 10 % 10);
				out[n++] = (char)('0' + c % 10);
				continue;
			}
			if (strchr(".\\\"();@$", c))
				out[n++] = '\\';
			out[n++] = (char)c;
		}
		out[n++] = '.';
	}
out:
	out[n] = '\0';
	return (int)n;
}
