/* Unit tests for the wire cursors (src/wire.c). */
#include "testutil.h"

#include "pindns/wire.h"

static void read_fields_in_order(void **state)
{
	const uint8_t buf[] = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE};
	pd_wire_t w;
	pd_wire_init(&w, buf, sizeof(buf));
	assert_int_equal(pd_wire_u8(&w), 0x12);
	assert_int_equal(pd_wire_u16(&w), 0x3456);
	assert_int_equal(pd_wire_u32(&w), 0x789ABCDE);
	assert_int_equal(pd_wire_left(&w), 0);
	assert_int_equal(pd_wire_offset(&w), 7);
	assert_int_equal(w.err, 0);
}

static void overread_is_sticky(void **state)
{
	const uint8_t buf[] = {1, 2, 3};
	uint8_t out[4] = {9, 9, 9, 9};
	pd_wire_t w;
	pd_wire_init(&w, buf, sizeof(buf));
	assert_int_equal(pd_wire_u16(&w), 0x0102);
	assert_int_equal(pd_wire_u16(&w), 0); /* one byte left: not enough */
	assert_int_equal(w.err, -EBADMSG);
	/* Every later read fails too, even one that would fit. */
	assert_int_equal(pd_wire_u8(&w), 0);
	assert_int_equal(pd_wire_left(&w), 0);
	pd_wire_read(&w, out, 4);
	assert_memory_equal(out, "\0\0\0\0", 4);
	assert_int_equal(pd_wire_offset(&w), 2);
}

static void skip_past_end_fails(void **state)
{
	const uint8_t buf[8] = {0};
	pd_wire_t w;
	pd_wire_init(&w, buf, sizeof(buf));
	pd_wire_skip(&w, 8);
	assert_int_equal(w.err, 0);
	pd_wire_skip(&w, 1);
	assert_int_equal(w.err, -EBADMSG);
	pd_wire_fail(&w, -EINVAL); /* the first error stays */
	assert_int_equal(w.err, -EBADMSG);
}

static void write_and_overflow(void **state)
{
	uint8_t buf[7];
	pd_wbuf_t b;
	pd_wbuf_init(&b, buf, sizeof(buf));
	pd_wbuf_u8(&b, 0xAA);
	pd_wbuf_u16(&b, 0x1234);
	pd_wbuf_u32(&b, 0xDEADBEEF);
	assert_int_equal(b.err, 0);
	assert_int_equal(pd_wbuf_len(&b), 7);
	assert_memory_equal(buf, "\xAA\x12\x34\xDE\xAD\xBE\xEF", 7);
	pd_wbuf_u8(&b, 1);
	assert_int_equal(b.err, -ENOSPC);
	assert_int_equal(pd_wbuf_len(&b), 7);
	assert_int_equal(pd_wbuf_room(&b), 0);
}

static void write_that_does_not_fit_writes_nothing(void **state)
{
	uint8_t buf[4] = {0};
	pd_wbuf_t b;
	pd_wbuf_init(&b, buf, sizeof(buf));
	pd_wbuf_u8(&b, 7);
	pd_wbuf_put(&b, "abcd", 4);
	assert_int_equal(b.err, -ENOSPC);
	assert_int_equal(pd_wbuf_len(&b), 1);
	assert_memory_equal(buf, "\x07\0\0\0", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(read_fields_in_order),
	    cmocka_unit_test(overread_is_sticky),
	    cmocka_unit_test(skip_past_end_fails),
	    cmocka_unit_test(write_and_overflow),
	    cmocka_unit_test(write_that_does_not_fit_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
