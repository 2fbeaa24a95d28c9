/* Domain names in uncompressed wire form: parsing, comparing, converting. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/wire.h"

#define PD_NAME_MAX 255      /* bytes of a wire name, root label included (RFC 1035 3.1) */
#define PD_LABEL_MAX 63      /* bytes of one label */
#define PD_NAME_TXT_MAX 1024 /* enough for any name in presentation form with \DDD escapes */

/**
 * Reads a possibly compressed name at the cursor into out (at least PD_NAME_MAX
 * bytes), uncompressed and with its letter case as sent, and leaves the cursor after
 * the name as it stands in the message. Compression pointers must point backwards;
 * loops, forward pointers, bad label types and over-long names set w->err to -EBADMSG.
 * Returns the length of the name written to out, or 0 on error.
 */
size_t pd_name_parse(pd_wire_t *w, uint8_t *out);

/**
 * Reads an uncompressed name at the cursor into out, ASCII letters lower-cased: the
 * question of a query, where no compression pointer can be. A pointer, a reserved
 * label type, a name over 255 bytes or one cut short sets w->err to -EBADMSG.
 * Returns the length written, or 0 on error.
 */
size_t pd_name_read_lower(pd_wire_t *w, uint8_t *out);

/**
 * pd_name_read_lower() for the question of a query, in the same single pass: also
 * stores where each label starts in label_off (at least 128 entries; the root label
 * is the last), their number in *labels, and pd_name_hash() of the lower-cased name in
 * *hash. Returns the length written, or 0 on error (the outputs then undefined).
 */
size_t pd_name_read_question(pd_wire_t *w, uint8_t *out, uint8_t *label_off, uint8_t *labels,
                             uint32_t *hash);

/** Length of a valid uncompressed wire name, root label included. */
size_t pd_name_len(const uint8_t *name);

/** Number of labels, the root not counted ("." has 0). */
int pd_name_labels(const uint8_t *name);

/** Copies name to dst with ASCII letters lower-cased; dst may equal name. Returns the length. */
size_t pd_name_lower(uint8_t *dst, const uint8_t *name);

/** Compares two wire names ignoring ASCII case. */
bool pd_name_equal(const uint8_t *a, const uint8_t *b);

/** True when name equals parent or lies below it (ASCII case ignored). */
bool pd_name_is_under(const uint8_t *name, const uint8_t *parent);

/** The name with its first label removed; name must not be the root. */
static inline const uint8_t *pd_name_parent(const uint8_t *name)
{
	return name + 1 + name[0];
}

/** True when the first label is the single byte '*'. */
static inline bool pd_name_is_wildcard(const uint8_t *name)
{
	return name[0] == 1 && name[1] == '*';
}

/** Hash of a lower-cased wire name of length len, for lookup tables. */
uint32_t pd_name_hash(const uint8_t *lname, size_t len);

/**
 * Where each label of name starts (offsets from name, the top label first, the root's
 * left out) in starts, which has room for 128; returns how many labels there are.
 */
int pd_name_label_starts(const uint8_t *name, uint8_t *starts);

/**
 * Compares two lower-cased wire names in DNSSEC canonical order (RFC 4034 6.1: label by
 * label from the root, each as an octet string, a shorter label first when it is a prefix
 * of the other). Returns <0, 0 or >0.
 */
int pd_name_canonical_cmp(const uint8_t *a, const uint8_t *b);

/**
 * Parses a name in presentation form ("www.example.com", "\\046" escapes, a trailing
 * dot optional; relative names are taken as absolute) into out. Returns the wire
 * length, or -EINVAL for a bad name.
 */
int pd_name_from_str(uint8_t *out, const char *str);

/** Writes name in presentation form with a trailing dot. Returns the text length. */
int pd_name_to_str(char *out, size_t cap, const uint8_t *name);
