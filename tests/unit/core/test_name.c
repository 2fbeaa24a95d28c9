/* Unit tests for domain names (src/name.c). */
#include "testutil.h"

static void text_round_trip(void **state)
{
	uint8_t n[PD_NAME_MAX];
	char s[PD_NAME_TXT_MAX];
	assert_int_equal(pd_name_from_str(n, "www.Example.com."), 17);
	assert_memory_equal(n, "\3www\7Example\3com\0", 17);
	pd_name_to_str(s, sizeof(s), n);
	assert_string_equal(s, "www.Example.com.");
	assert_int_equal(pd_name_from_str(n, "www.example.com"), 17); /* dot optional */
	assert_int_equal(pd_name_from_str(n, "."), 1);
	pd_name_to_str(s, sizeof(s), n);
	assert_string_equal(s, ".");
	assert_int_equal(pd_name_from_str(n, "a\\.b.c"), 7);
	assert_memory_equal(n, "\3a.b\1c\0", 7);
	pd_name_to_str(s, sizeof(s), n);
	assert_string_equal(s, "a\\.b.c.");
	assert_int_equal(pd_name_from_str(n, "\\065\\255"), 4);
	pd_name_to_str(s, sizeof(s), n);
	assert_string_equal(s, "A\\255.");
}

static void bad_text_names(void **state)
{
	uint8_t n[PD_NAME_MAX];
	char label[70], name[300];
	assert_int_equal(pd_name_from_str(n, "a..b"), -EINVAL);
	assert_int_equal(pd_name_from_str(n, ".a"), -EINVAL);
	assert_int_equal(pd_name_from_str(n, "\\256"), -EINVAL);
	assert_int_equal(pd_name_from_str(n, "a\\"), -EINVAL);
	memset(label, 'x', 64);
	label[64] = '\0';
	assert_int_equal(pd_name_from_str(n, label), -EINVAL);
	label[63] = '\0';
	assert_int_equal(pd_name_from_str(n, label), 65);
	/* 128 one-letter labels are 257 bytes: too long. */
	for (int i = 0; i < 128; i++) {
		name[2 * i] = 'a';
		name[2 * i + 1] = '.';
	}
	name[256] = '\0';
	assert_int_equal(pd_name_from_str(n, name), -EINVAL);
	name[2 * 127] = '\0'; /* 127 labels: 255 bytes, the maximum */
	assert_int_equal(pd_name_from_str(n, name), 255);
}

static void parse_plain_and_compressed(void **state)
{
	/* "example.com" at 12, then "www" + pointer to 12. */
	uint8_t msg[64] = {0};
	uint8_t out[PD_NAME_MAX];
	memcpy(msg + 12, "\7example\3com\0", 13);
	memcpy(msg + 25, "\3www\xC0\x0C", 6);
	msg[31] = 0x55;
	pd_wire_t w;
	pd_wire_init(&w, msg, 32);
	pd_wire_skip(&w, 12);
	assert_int_equal(pd_name_parse(&w, out), 13);
	assert_int_equal(pd_wire_offset(&w), 25);
	assert_int_equal(pd_name_parse(&w, out), 17);
	assert_memory_equal(out, "\3www\7example\3com\0", 17);
	/* The cursor continues right after the pointer, not after the target. */
	assert_int_equal(pd_wire_offset(&w), 31);
	assert_int_equal(pd_wire_u8(&w), 0x55);
	assert_int_equal(w.err, 0);
}

static void parse_rejects_bad_pointers(void **state)
{
	uint8_t out[PD_NAME_MAX];
	pd_wire_t w;
	/* A pointer to itself. */
	const uint8_t self[] = {0xC0, 0x00};
	pd_wire_init(&w, self, sizeof(self));
	assert_int_equal(pd_name_parse(&w, out), 0);
	assert_int_equal(w.err, -EBADMSG);
	/* A forward pointer. */
	const uint8_t fwd[] = {0xC0, 0x02, 0x00};
	pd_wire_init(&w, fwd, sizeof(fwd));
	assert_int_equal(pd_name_parse(&w, out), 0);
	/* Two pointers pointing at each other: a loop. */
	const uint8_t loop[] = {0xC0, 0x02, 0xC0, 0x00};
	pd_wire_init(&w, loop, sizeof(loop));
	pd_wire_skip(&w, 2);
	assert_int_equal(pd_name_parse(&w, out), 0);
	assert_int_equal(w.err, -EBADMSG);
	/* Reserved label types 0x40 and 0x80. */
	const uint8_t ext[] = {0x41, 'a', 0x00};
	pd_wire_init(&w, ext, sizeof(ext));
	assert_int_equal(pd_name_parse(&w, out), 0);
	const uint8_t ext2[] = {0x81, 'a', 0x00};
	pd_wire_init(&w, ext2, sizeof(ext2));
	assert_int_equal(pd_name_parse(&w, out), 0);
	/* A label running past the end, and a missing root label. */
	const uint8_t trunc[] = {0x05, 'a', 'b'};
	pd_wire_init(&w, trunc, sizeof(trunc));
	assert_int_equal(pd_name_parse(&w, out), 0);
	const uint8_t noroot[] = {0x01, 'a'};
	pd_wire_init(&w, noroot, sizeof(noroot));
	assert_int_equal(pd_name_parse(&w, out), 0);
	/* A pointer cut in half. */
	const uint8_t half[] = {0x00, 0xC0};
	pd_wire_init(&w, half, sizeof(half));
	pd_wire_skip(&w, 1);
	assert_int_equal(pd_name_parse(&w, out), 0);
}

static void parse_rejects_long_names_built_by_pointers(void **state)
{
	/* Each name adds 63+1 bytes in front of the previous one: the fifth is too long. */
	uint8_t msg[400];
	uint8_t out[PD_NAME_MAX];
	size_t n = 0, prev = 0;
	msg[n++] = 0;
	for (int i = 0; i < 4; i++) {
		size_t here = n;
		msg[n++] = 63;
		memset(msg + n, 'a' + i, 63);
		n += 63;
		msg[n++] = 0xC0 | (uint8_t)(prev >> 8);
		msg[n++] = (uint8_t)prev;
		prev = here;
	}
	pd_wire_t w;
	pd_wire_init(&w, msg, n);
	pd_wire_skip(&w, prev);
	assert_int_equal(pd_name_parse(&w, out), 0); /* 4 x 64 + 1 = 257 bytes */
	assert_int_equal(w.err, -EBADMSG);
}

static void read_lower_takes_only_uncompressed_names(void **state)
{
	uint8_t out[PD_NAME_MAX];
	pd_wire_t w;
	const uint8_t ok[] = {3, 'W', 'w', 'W', 2, 'N', 'l', 0, 0xAA};
	pd_wire_init(&w, ok, sizeof(ok));
	assert_int_equal(pd_name_read_lower(&w, out), 8);
	assert_memory_equal(out, "\3www\2nl\0", 8);
	assert_int_equal(pd_wire_u8(&w), 0xAA); /* the cursor is right after the name */
	/* A pointer, reserved label types, a cut label, a missing root label. */
	const uint8_t *bad[] = {(const uint8_t *)"\1a\xC0\x00",
	                        (const uint8_t *)"\x41"
	                                         "a\0",
	                        (const uint8_t *)"\x81"
	                                         "a\0",
	                        (const uint8_t *)"\5ab", (const uint8_t *)"\1a"};
	const size_t len[] = {4, 3, 3, 3, 2};
	for (int i = 0; i < 5; i++) {
		pd_wire_init(&w, bad[i], len[i]);
		assert_int_equal(pd_name_read_lower(&w, out), 0);
		assert_int_equal(w.err, -EBADMSG);
	}
	/* 4 labels of 63 make 257 bytes: too long. */
	uint8_t big[300];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		big[n++] = 63;
		memset(big + n, 'x', 63);
		n += 63;
	}
	big[n++] = 0;
	pd_wire_init(&w, big, n);
	assert_int_equal(pd_name_read_lower(&w, out), 0);
}

static void read_question_notes_labels_and_hash(void **state)
{
	uint8_t out[PD_NAME_MAX], off[128], labels = 0;
	uint32_t hash = 0;
	pd_wire_t w;
	const uint8_t q[] = {3,   'W', 'w', 'W', 7, 'E', 'x', 'a',
	                     'm', 'p', 'l', 'e', 2, 'N', 'l', 0};
	pd_wire_init(&w, q, sizeof(q));
	assert_int_equal(pd_name_read_question(&w, out, off, &labels, &hash), sizeof(q));
	assert_memory_equal(out, "\3www\7example\2nl\0", sizeof(q));
	assert_int_equal(labels, 4); /* the root's included */
	assert_int_equal(off[0], 0);
	assert_int_equal(off[1], 4);
	assert_int_equal(off[2], 12);
	assert_int_equal(off[3], 15);
	assert_int_equal(hash, pd_name_hash(out, sizeof(q)));
	/* The root alone. */
	pd_wire_init(&w, q + 15, 1);
	assert_int_equal(pd_name_read_question(&w, out, off, &labels, &hash), 1);
	assert_int_equal(labels, 1);
	assert_int_equal(hash, pd_name_hash((const uint8_t *)"", 1));
}

static void case_folding_and_comparison(void **state)
{
	uint8_t a[PD_NAME_MAX], b[PD_NAME_MAX], l[PD_NAME_MAX];
	tu_name(a, "WwW.ExAmple.COM");
	tu_name(b, "www.example.com");
	assert_true(pd_name_equal(a, b));
	assert_int_equal(pd_name_lower(l, a), 17);
	assert_memory_equal(l, b, 17);
	assert_int_equal(pd_name_hash(l, 17), pd_name_hash(b, 17));
	assert_int_equal(pd_name_labels(a), 3);
	tu_name(b, "www.example.co");
	assert_false(pd_name_equal(a, b));
	/* Label lengths count: "a.bc" is not "ab.c". */
	tu_name(a, "a.bc");
	tu_name(b, "ab.c");
	assert_false(pd_name_equal(a, b));
	/* Only ASCII letters fold: 0xC1 and 0xE1 differ. */
	a[0] = 1;
	a[1] = 0xC1;
	a[2] = 0;
	b[0] = 1;
	b[1] = 0xE1;
	b[2] = 0;
	assert_false(pd_name_equal(a, b));
}

static void subdomains(void **state)
{
	uint8_t n[PD_NAME_MAX], p[PD_NAME_MAX];
	tu_name(n, "a.b.Example.com");
	tu_name(p, "example.COM");
	assert_true(pd_name_is_under(n, p));
	assert_true(pd_name_is_under(p, p));
	assert_false(pd_name_is_under(p, n));
	tu_name(p, "ample.com");
	assert_false(pd_name_is_under(n, p));
	tu_name(p, ".");
	assert_true(pd_name_is_under(n, p));
	tu_name(n, "*.apps.example.com");
	assert_true(pd_name_is_wildcard(n));
	assert_false(pd_name_is_wildcard(pd_name_parent(n)));
}

/* RFC 4034 6.1's example, in canonical order; compared lower-cased, as the zone keeps them. */
static void canonical_order(void **state)
{
	static const char *const order[] = {
	    "example",         "a.example",      "yljkjljk.a.example",
	    "Z.a.example",     "zABC.a.EXAMPLE", "z.example",
	    "\\001.z.example", "*.z.example",    "\\200.z.example",
	};
	enum { N = sizeof(order) / sizeof(order[0]) };
	uint8_t names[N][PD_NAME_MAX];
	for (int i = 0; i < N; i++) {
		uint8_t n[PD_NAME_MAX];
		assert_true(pd_name_from_str(n, order[i]) > 0);
		pd_name_lower(names[i], n);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			int c = pd_name_canonical_cmp(names[i], names[j]);
			if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
				fail_msg("%s vs %s: %d", order[i], order[j], c);
		}
	/* A label that is a prefix of another sorts first; a parent before its children, and
	 * both before a later sibling; the root first of all. */
	uint8_t ab[PD_NAME_MAX], abc[PD_NAME_MAX], x_ab[PD_NAME_MAX], root[1] = {0};
	pd_name_from_str(ab, "ab.example");
	pd_name_from_str(abc, "abc.example");
	pd_name_from_str(x_ab, "zz.ab.example");
	assert_true(pd_name_canonical_cmp(ab, abc) < 0);
	assert_true(pd_name_canonical_cmp(ab, x_ab) < 0);
	assert_true(pd_name_canonical_cmp(x_ab, abc) < 0);
	assert_true(pd_name_canonical_cmp(root, ab) < 0);
	assert_int_equal(pd_name_canonical_cmp(root, root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(text_round_trip),
	    cmocka_unit_test(bad_text_names),
	    cmocka_unit_test(parse_plain_and_compressed),
	    cmocka_unit_test(parse_rejects_bad_pointers),
	    cmocka_unit_test(parse_rejects_long_names_built_by_pointers),
	    cmocka_unit_test(read_lower_takes_only_uncompressed_names),
	    cmocka_unit_test(read_question_notes_labels_and_hash),
	    cmocka_unit_test(case_folding_and_comparison),
	    cmocka_unit_test(subdomains),
	    cmocka_unit_test(canonical_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
