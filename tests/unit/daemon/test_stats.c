#define _GNU_SOURCE /* memfd_create */
/* Unit tests for the shared counter segment (src/stats.c). */
#include "testutil.h"

#include <sys/mman.h>
#include <unistd.h>

#include "pindns/stats.h"

static void workers_on_their_own_cache_lines(void **state)
{
	int fd;
	pd_stats_t *s = pd_stats_new(3, &fd);
	assert_non_null(s);
	assert_int_equal(sizeof(pd_worker_stats_t) % 64, 0);
	assert_int_equal((uintptr_t)&s->live[1] % 64, 0);
	assert_int_equal(s->workers, 3);
	assert_int_equal(s->live[2].net.queries, 0);
	pd_stats_unmap(s);
	close(fd);
}

static void totals_carry_over_a_handoff(void **state)
{
	int fd_old, fd_new;
	pd_stats_t *old = pd_stats_new(2, &fd_old);
	pd_stats_t *now = pd_stats_new(2, &fd_new);
	/* The old process had itself carried totals from an older one. */
	old->live[0].net.queries = 10;
	old->live[1].net.queries = 5;
	pd_stats_carried(old, 1)->net.queries = 100;
	old->live[0].dns.rcode[3] = 2;
	now->live[0].net.queries = 7;

	/* The successor sees the old segment through the fd it was handed. */
	pd_stats_t *seen = pd_stats_map(fd_old);
	assert_non_null(seen);
	pd_stats_carry(now, seen);
	pd_stats_unmap(seen);

	pd_worker_stats_t t;
	pd_stats_total(now, &t);
	assert_int_equal(t.net.queries, 10 + 5 + 100 + 7);
	assert_int_equal(t.dns.rcode[3], 2);
	/* Live counters stay the new workers' own. */
	assert_int_equal(now->live[0].net.queries, 7);
	assert_int_equal(pd_stats_carried(now, 1)->net.queries, 105);
	pd_stats_unmap(old);
	pd_stats_unmap(now);
	close(fd_old);
	close(fd_new);
}

/* A predecessor of layout version 1 (before the traffic and DNS counters were apart). */
static void totals_carry_over_from_version_1(void **state)
{
	int fd_old, fd_new;
	pd_stats_t *old = pd_stats_new(1, &fd_old), *now = pd_stats_new(1, &fd_new);
	assert_non_null(old);
	assert_non_null(now);
	/* Version 1's order: queries, responses, dropped, truncated, bytes_in, bytes_out,
	 * batches, batch_fill[7], cache hits, misses, uncacheable, inserts, rcode[32]. */
	uint64_t *v1 = (uint64_t *)&old->live[0];
	for (int i = 0; i < 50; i++)
		v1[i] = 1000 + (uint64_t)i;
	old->version = 1;
	pd_stats_t *seen = pd_stats_map(fd_old);
	assert_non_null(seen);
	pd_stats_carry(now, seen);
	pd_worker_stats_t t;
	pd_stats_total(now, &t);
	assert_int_equal(t.net.queries, 1000);
	assert_int_equal(t.net.responses, 1001);
	assert_int_equal(t.net.dropped, 1002);
	assert_int_equal(t.dns.truncated, 1003);
	assert_int_equal(t.net.bytes_in, 1004);
	assert_int_equal(t.net.bytes_out, 1005);
	assert_int_equal(t.net.batches, 1006);
	assert_int_equal(t.net.batch_fill[0], 1007);
	assert_int_equal(t.net.batch_fill[6], 1013);
	assert_int_equal(t.dns.cache.hits, 1014);
	assert_int_equal(t.dns.cache.inserts, 1017);
	assert_int_equal(t.dns.rcode[0], 1018);
	assert_int_equal(t.dns.rcode[31], 1049);
	pd_stats_unmap(seen);
	pd_stats_unmap(old);
	pd_stats_unmap(now);
	close(fd_old);
	close(fd_new);
}

static void foreign_memory_is_refused(void **state)
{
	int fd = memfd_create("not-stats", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_null(pd_stats_map(fd));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(workers_on_their_own_cache_lines),
	    cmocka_unit_test(totals_carry_over_a_handoff),
	    cmocka_unit_test(totals_carry_over_from_version_1),
	    cmocka_unit_test(foreign_memory_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
