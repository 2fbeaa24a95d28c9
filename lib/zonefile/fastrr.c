/* Simple one-line zone file records parsed without ldns, which costs ~1 µs a record. */
#include "fastrr.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pindns/dns.h"
#include "pindns/nsec3.h"
#include "pindns/wire.h"

#define PD__TYPES_MAX 64 /* types in one NSEC or NSEC3 bitmap this parser takes */

static void pd__put_u32(uint8_t *p, uint32_t v)
{
	pd_put_u16(p, (uint16_t)(v >> 16));
	pd_put_u16(p + 2, (uint16_t)v);
}

typedef struct pd__tok {
	const char *p, *end;
} pd__tok_t;

/* The next blank-separated token of [*cur, end); false at the end. */
static bool pd__tok(const char **cur, const char *end, pd__tok_t *t)
{
	const char *s = *cur;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return false;
	t->p = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	t->end = s;
	*cur = s;
	return true;
}

static size_t pd__tok_len(const pd__tok_t *t)
{
	return (size_t)(t->end - t->p);
}

static bool pd__tok_is(const pd__tok_t *t, const char *s)
{
	size_t n = strlen(s);
	return pd__tok_len(t) == n && strncasecmp(t->p, s, n) == 0;
}

/* Decimal digits only, at most max_digits of them, no larger than max. */
static bool pd__tok_uint(const pd__tok_t *t, size_t max_digits, uint64_t max, uint64_t *out)
{
	size_t n = pd__tok_len(t);
	uint64_t v = 0;
	if (n == 0 || n > max_digits)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(t->p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/*
 * A name in wire form, relative ones completed with the origin, "@" the origin (as ldns
 * does in owners and RDATA). Returns its length, or 0 for anything ldns should judge:
 * empty labels, labels over 63 bytes, names over 255, "@x".
 */
static size_t pd__name(const pd__fastrr_t *c, const pd__tok_t *t, uint8_t *out)
{
	const char *p = t->p, *end = t->end;
	size_t n = 0;
	if (*p == '@') {
		if (end - p != 1)
			return 0;
		memcpy(out, c->origin, c->origin_len);
		return c->origin_len;
	}
	if (end - p == 1 && *p == '.') {
		out[0] = 0;
		return 1;
	}
	bool absolute = end[-1] == '.';
	const char *q = end - absolute;
	while (p < q) {
		const char *dot = memchr(p, '.', (size_t)(q - p));
		const char *le = dot ? dot : q;
		size_t ll = (size_t)(le - p);
		if (ll == 0 || ll > 63 || n + 1 + ll >= PD_NAME_MAX)
			return 0;
		out[n++] = (uint8_t)ll;
		memcpy(out + n, p, ll);
		n += ll;
		if (dot && dot + 1 == q)
			return 0; /* "a..": an empty label */
		p = dot ? dot + 1 : q;
	}
	if (absolute) {
		out[n++] = 0;
		return n;
	}
	if (n + c->origin_len > PD_NAME_MAX)
		return 0;
	memcpy(out + n, c->origin, c->origin_len);
	return n + c->origin_len;
}

/* A type mnemonic; 0 when ldns does not know it either. */
static uint16_t pd__type(const pd__tok_t *t)
{
	static const struct {
		const char *s;
		uint16_t t;
	} common[] = {{"A", PD_TYPE_A},
	              {"AAAA", PD_TYPE_AAAA},
	              {"NS", PD_TYPE_NS},
	              {"CNAME", PD_TYPE_CNAME},
	              {"SOA", PD_TYPE_SOA},
	              {"PTR", PD_TYPE_PTR},
	              {"MX", PD_TYPE_MX},
	              {"TXT", PD_TYPE_TXT},
	              {"SRV", PD_TYPE_SRV},
	              {"DS", PD_TYPE_DS},
	              {"RRSIG", PD_TYPE_RRSIG},
	              {"NSEC", PD_TYPE_NSEC},
	              {"DNSKEY", 48},
	              {"NSEC3", 50},
	              {"NSEC3PARAM", 51},
	              {"DNAME", PD_TYPE_DNAME},
	              {"CAA", 257}};
	char buf[32];
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (pd__tok_is(t, common[i].s))
			return common[i].t;
	if (pd__tok_len(t) >= sizeof(buf))
		return 0;
	memcpy(buf, t->p, pd__tok_len(t));
	buf[pd__tok_len(t)] = '\0';
	return (uint16_t)ldns_get_rr_type_by_name(buf);
}

/* An IPv4 or IPv6 address (inet_pton, as ldns). */
static bool pd__addr(const pd__tok_t *t, int af, uint8_t *out)
{
	char buf[64];
	if (pd__tok_len(t) >= sizeof(buf))
		return false;
	memcpy(buf, t->p, pd__tok_len(t));
	buf[pd__tok_len(t)] = '\0';
	return inet_pton(af, buf, out) == 1;
}

/* Base64 digit values plus one, 0 for what is not a digit: a table, signatures are long. */
static const uint8_t pd__b64_digit[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64};

static int pd__b64_value(char ch)
{
	return (int)pd__b64_digit[(unsigned char)ch] - 1;
}

/*
 * What ends the simple part of a line (a comment, 1) or sends it to ldns (2): quotes,
 * parentheses, escapes, directives, and control characters, which ldns's tokenizer
 * treats in ways of its own.
 */
static const uint8_t pd__special[256] = {
    [0] = 2,   [1] = 2,   [2] = 2,   [3] = 2,   [4] = 2,    [5] = 2,  [6] = 2,  [7] = 2,
    [8] = 2,   [10] = 2,  [11] = 2,  [12] = 2,  [13] = 2,   [14] = 2, [15] = 2, [16] = 2,
    [17] = 2,  [18] = 2,  [19] = 2,  [20] = 2,  [21] = 2,   [22] = 2, [23] = 2, [24] = 2,
    [25] = 2,  [26] = 2,  [27] = 2,  [28] = 2,  [29] = 2,   [30] = 2, [31] = 2, [127] = 2,
    [';'] = 1, ['('] = 2, [')'] = 2, ['"'] = 2, ['\\'] = 2, ['$'] = 2};

static int pd__hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Base64 with its padding, as one token; -1 if it is not exactly that. */
static int pd__b64(const pd__tok_t *t, uint8_t *out, size_t cap)
{
	size_t n = pd__tok_len(t), pad = 0, o = 0;
	if (n == 0 || n % 4)
		return -1;
	while (pad < 2 && t->p[n - 1 - pad] == '=')
		pad++;
	if ((n / 4) * 3 - pad > cap)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			int d = i + k >= n - pad ? 0 : pd__b64_value(t->p[i + k]);
			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		/* Padded: the bits past the last whole byte must be zero (b64_pton's rule). */
		if (i + 4 >= n && (v & (pad == 2 ? 0xFFFFu : pad == 1 ? 0xFFu : 0)))
			return -1;
		out[o++] = (uint8_t)(v >> 16);
		if (i + 4 < n || pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (i + 4 < n || pad < 1)
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}

/* Base32hex without padding (NSEC3 next owner), in whole 8-digit groups; -1 otherwise. */
static int pd__b32hex(const pd__tok_t *t, uint8_t *out, size_t cap)
{
	size_t n = pd__tok_len(t);
	if (n == 0)
		return -1; /* an empty hash: ldns judges it */
	return pd_base32hex_decode(out, cap, t->p, n);
}

/*
 * A signature time: 14 digits are YYYYMMDDHHmmSS in UTC (checked and converted as ldns
 * does, ldns_mktime_from_utc included), other digit strings seconds since the epoch.
 */
static bool pd__time(const pd__tok_t *t, uint32_t *out)
{
	uint64_t v;
	if (pd__tok_len(t) != 14)
		return pd__tok_uint(t, 10, UINT32_MAX, &v) && (*out = (uint32_t)v, true);
	int f[6], width[6] = {4, 2, 2, 2, 2, 2};
	const char *p = t->p;
	for (int i = 0; i < 6; i++) {
		f[i] = 0;
		for (int k = 0; k < width[i]; k++, p++) {
			if (*p < '0' || *p > '9')
				return false;
			f[i] = f[i] * 10 + (*p - '0');
		}
	}
	if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
	    f[4] > 59 || f[5] > 59)
		return false;
	struct tm tm = {.tm_year = f[0] - 1900,
	                .tm_mon = f[1] - 1,
	                .tm_mday = f[2],
	                .tm_hour = f[3],
	                .tm_min = f[4],
	                .tm_sec = f[5]};
	*out = (uint32_t)ldns_mktime_from_utc(&tm);
	return true;
}

static int pd__u16_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The rest of the line as an NSEC type bitmap (RFC 4034 4.1.2); -1 if not simple. */
static int pd__bitmap(const char **cur, const char *end, uint8_t *out, size_t cap)
{
	uint16_t types[PD__TYPES_MAX];
	size_t n = 0, o = 0;
	pd__tok_t t;
	while (pd__tok(cur, end, &t)) {
		if (n == PD__TYPES_MAX || !(types[n++] = pd__type(&t)))
			return -1;
	}
	if (n == 0)
		return -1; /* an empty bitmap: leave ldns to say what it makes of it */
	qsort(types, n, sizeof(types[0]), pd__u16_cmp);
	for (size_t i = 0; i < n;) {
		uint8_t window = (uint8_t)(types[i] >> 8), bits[32] = {0};
		int len = 0;
		for (; i < n && types[i] >> 8 == window; i++) {
			uint8_t lo = (uint8_t)types[i];
			bits[lo / 8] |= (uint8_t)(0x80 >> (lo % 8));
			if (lo / 8 + 1 > len)
				len = lo / 8 + 1;
		}
		if (o + 2 + (size_t)len > cap)
			return -1;
		out[o++] = window;
		out[o++] = (uint8_t)len;
		memcpy(out + o, bits, (size_t)len);
		o += (size_t)len;
	}
	return (int)o;
}

/* Writes a name at rd + *o; false if it is not a simple one. */
static bool pd__put_name(const pd__fastrr_t *c, const pd__tok_t *t, uint8_t *rd, size_t *o)
{
	size_t n = pd__name(c, t, rd + *o);
	*o += n;
	return n > 0;
}

/* "type alg labels ttl expire incept tag signer signature" (RFC 4034 3.2). */
static size_t pd__rrsig(pd__fastrr_t *c, const char **cur, const char *end)
{
	uint8_t *rd = c->rdata;
	pd__tok_t t[9];
	uint64_t alg, labels, ttl, tag;
	uint32_t expire, incept;
	for (int i = 0; i < 9; i++)
		if (!pd__tok(cur, end, &t[i]))
			return 0;
	uint16_t covered = pd__type(&t[0]);
	if (!covered || !pd__tok_uint(&t[1], 3, 255, &alg) ||
	    !pd__tok_uint(&t[2], 3, 255, &labels) || !pd__tok_uint(&t[3], 10, UINT32_MAX, &ttl) ||
	    !pd__time(&t[4], &expire) || !pd__time(&t[5], &incept) ||
	    !pd__tok_uint(&t[6], 5, 65535, &tag))
		return 0;
	pd_put_u16(rd, covered);
	rd[2] = (uint8_t)alg;
	rd[3] = (uint8_t)labels;
	pd__put_u32(rd + 4, (uint32_t)ttl);
	pd__put_u32(rd + 8, expire);
	pd__put_u32(rd + 12, incept);
	pd_put_u16(rd + 16, (uint16_t)tag);
	size_t o = 18;
	if (!pd__put_name(c, &t[7], rd, &o))
		return 0;
	int sig = pd__b64(&t[8], rd + o, sizeof(c->rdata) - o);
	return sig > 0 ? o + (size_t)sig : 0;
}

/* "alg flags iterations salt next-hash types..." (RFC 5155 3.3). */
static size_t pd__nsec3(pd__fastrr_t *c, const char **cur, const char *end)
{
	uint8_t *rd = c->rdata;
	pd__tok_t t[5];
	uint64_t alg, flags, iter;
	for (int i = 0; i < 5; i++)
		if (!pd__tok(cur, end, &t[i]))
			return 0;
	if (!pd__tok_uint(&t[0], 3, 255, &alg) || !pd__tok_uint(&t[1], 3, 255, &flags) ||
	    !pd__tok_uint(&t[2], 5, 65535, &iter))
		return 0;
	rd[0] = (uint8_t)alg;
	rd[1] = (uint8_t)flags;
	pd_put_u16(rd + 2, (uint16_t)iter);
	size_t o = 5, slen = pd__tok_len(&t[3]);
	if (slen == 1 && t[3].p[0] == '-') {
		rd[4] = 0;
	} else {
		if (slen % 2 || slen > 510)
			return 0;
		for (size_t i = 0; i < slen; i += 2) {
			int hi = pd__hex_value(t[3].p[i]), lo = pd__hex_value(t[3].p[i + 1]);
			if (hi < 0 || lo < 0)
				return 0;
			rd[o++] = (uint8_t)(hi << 4 | lo);
		}
		rd[4] = (uint8_t)(slen / 2);
	}
	int hl = pd__b32hex(&t[4], rd + o + 1, 255);
	if (hl <= 0)
		return 0;
	rd[o] = (uint8_t)hl;
	o += 1 + (size_t)hl;
	int bm = pd__bitmap(cur, end, rd + o, sizeof(c->rdata) - o);
	return bm > 0 ? o + (size_t)bm : 0;
}

/* The RDATA of the types this parser takes; 0 if it is not simple (or not one of them). */
static size_t pd__rdata(pd__fastrr_t *c, const char **cur, const char *end)
{
	uint8_t *rd = c->rdata;
	pd__tok_t t, u;
	uint64_t v;
	size_t o = 0;
	switch (c->type) {
	case PD_TYPE_A:
	case PD_TYPE_AAAA:
		if (!pd__tok(cur, end, &t) ||
		    !pd__addr(&t, c->type == PD_TYPE_A ? AF_INET : AF_INET6, rd))
			return 0;
		o = c->type == PD_TYPE_A ? 4 : 16;
		break;
	case PD_TYPE_NS:
	case PD_TYPE_CNAME:
	case PD_TYPE_PTR:
	case PD_TYPE_DNAME:
		if (!pd__tok(cur, end, &t) || !pd__put_name(c, &t, rd, &o))
			return 0;
		break;
	case PD_TYPE_MX:
		if (!pd__tok(cur, end, &t) || !pd__tok(cur, end, &u) ||
		    !pd__tok_uint(&t, 5, 65535, &v))
			return 0;
		pd_put_u16(rd, (uint16_t)v);
		o = 2;
		if (!pd__put_name(c, &u, rd, &o))
			return 0;
		break;
	case PD_TYPE_NSEC:
		if (!pd__tok(cur, end, &t) || !pd__put_name(c, &t, rd, &o))
			return 0;
		int bm = pd__bitmap(cur, end, rd + o, sizeof(c->rdata) - o);
		return bm > 0 ? o + (size_t)bm : 0;
	case PD_TYPE_RRSIG:
		o = pd__rrsig(c, cur, end);
		break;
	case 50: /* NSEC3 */
		return pd__nsec3(c, cur, end);
	default:
		return 0;
	}
	/* Anything after the RDATA: ldns's to judge. */
	return o && !pd__tok(cur, end, &t) ? o : 0;
}

int pd__fastrr_parse(pd__fastrr_t *c, const char *line, size_t len)
{
	const char *end = line + len, *cur = line;
	if (len > UINT16_MAX)
		return PD__FASTRR_NO; /* ldns refuses RDATA text past 65,535 characters */
	for (const char *s = line; s < end; s++) {
		uint8_t k = pd__special[(unsigned char)*s];
		if (k == 1) {
			end = s; /* a comment: there are no quotes before it */
			break;
		}
		if (k)
			return PD__FASTRR_NO;
	}
	pd__tok_t t;
	if (!pd__tok(&cur, end, &t))
		return PD__FASTRR_EMPTY;
	uint8_t owner[PD_NAME_MAX];
	size_t owner_len = 0;
	if (line[0] != ' ' && line[0] != '\t') {
		owner_len = pd__name(c, &t, owner);
		if (!owner_len || !pd__tok(&cur, end, &t))
			return PD__FASTRR_NO;
	} else if (!c->prev_len) {
		return PD__FASTRR_NO;
	}
	/* [TTL] [IN] TYPE, in that order, as ldns reads them. */
	uint64_t ttl;
	bool has_ttl = pd__tok_uint(&t, 9, UINT32_MAX, &ttl);
	if (has_ttl && !pd__tok(&cur, end, &t))
		return PD__FASTRR_NO;
	if (pd__tok_is(&t, "IN") && !pd__tok(&cur, end, &t))
		return PD__FASTRR_NO;
	/* ldns reads the type into a buffer of 16 (after a TTL or class) or 21 bytes and
	 * refuses what does not fit: leave such a word to it. */
	if (pd__tok_len(&t) >= 16)
		return PD__FASTRR_NO;
	c->type = pd__type(&t);
	if (!has_ttl)
		ttl = *c->default_ttl ? *c->default_ttl : 3600; /* ldns's LDNS_DEFAULT_TTL */
	c->ttl = (uint32_t)ttl;
	size_t rdlen = c->type ? pd__rdata(c, &cur, end) : 0;
	if (!rdlen)
		return PD__FASTRR_NO; /* prev stays: ldns reads the line as if we never had */
	if (owner_len) {
		memcpy(c->prev, owner, owner_len);
		c->prev_len = owner_len;
	}
	c->rdlen = (uint16_t)rdlen;
	return PD__FASTRR_RR;
}
