/* Unit tests for xfrd's commands and what it takes from the zone set (daemon/xfrd.c); the
 * transfers themselves are tests/integration/test_xfr_in.py's, against Knot. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pindns/loader.h"
/* Private to the daemon's folder, which the unit tests' include path leaves out. */
#include "../../../daemon/xfr.h"

static pd_xfr_remote_t primary, target;
static pd_xfr_secondary_t sec;
static pd_xfr_notify_t notify;
static pd_xfr_conf_t conf;
static pd_xfr_stats_t stats;
static int published;

static int publish(void *arg, pd_zone_t *z, const uint8_t *remove_origin)
{
	published++;
	pd_zone_free(z);
	return -ENOSYS;
}

static void remote(pd_xfr_remote_t *r, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->addr;
	memset(r, 0, sizeof(*r));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->addr_len = sizeof(*sin);
}

static int setup(void **state)
{
	remote(&primary, 5300);
	remote(&target, 5301);
	sec = (pd_xfr_secondary_t){.origin = "sec.test", .primaries = &primary, .nprimaries = 1};
	pd_name_from_str(sec.wire, "sec.test");
	notify = (pd_xfr_notify_t){.origin = "prim.test", .target = target};
	pd_name_from_str(notify.wire, "prim.test");
	conf = (pd_xfr_conf_t){.secondaries = &sec,
	                       .nsecondaries = 1,
	                       .notify = &notify,
	                       .nnotify = 1,
	                       .state_dir = "/nonexistent",
	                       .timeout_ms = 1000};
	return 0;
}

static pd_xfrd_t *make(const pd_zoneset_t *zones)
{
	pd_xfrd_t *x = NULL;
	char err[256];
	pd_xfrd_hooks_t hooks = {.publish = publish};
	assert_int_equal(pd_xfrd_new(&x, &conf, zones, &hooks, &stats, err, sizeof(err)), 0);
	return x;
}

/* Not started: the commands say what the state is and change it, nothing is sent. */
static void commands(void **state)
{
	char buf[4096];
	pd_xfrd_t *x = make(NULL);
	assert_int_equal(pd_xfrd_command(x, "zone-status", NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone sec.test: secondary, serial 0, primaries "
	                            "127.0.0.1:5300, last refresh never"));
	assert_non_null(strstr(buf, "expires no copy yet"));
	assert_int_equal(pd_xfrd_command(x, "zone-status", "SEC.test.", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone sec.test: secondary"));
	assert_int_equal(pd_xfrd_command(x, "zone-refresh", "sec.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "SOA check now"));
	assert_int_equal(pd_xfrd_command(x, "zone-retransfer", "sec.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "AXFR now"));
	/* A zone notified but not a secondary: nothing to refresh. */
	assert_int_equal(pd_xfrd_command(x, "zone-refresh", "prim.test", buf, sizeof(buf)),
	                 -EINVAL);
	assert_non_null(strstr(buf, "not a secondary"));
	assert_int_equal(pd_xfrd_command(x, "zone-refresh", "nowhere.test", buf, sizeof(buf)),
	                 -ENOENT);
	assert_int_equal(pd_xfrd_command(x, "zone-refresh", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "bad..name", buf, sizeof(buf)), -EINVAL);
	/* zone-notify queues a NOTIFY to each target of the zone, shown by zone-status. */
	assert_int_equal(pd_xfrd_command(x, "zone-notify", "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "NOTIFY queued to 1 target(s)"));
	assert_int_equal(pd_xfrd_command(x, "zone-status", "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone prim.test: NOTIFY serial 0 to 127.0.0.1:5301: 0 of 5"));
	assert_int_equal(pd_xfrd_command(x, "zone-notify", "sec.test", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(published, 0);
	pd_xfrd_free(x);
}

static pd_zone_t *zone(const char *origin, uint32_t serial, uint8_t from)
{
	char path[64], text[256], err[512];
	uint8_t o[PD_NAME_MAX];
	pd_zone_t *z;
	snprintf(path, sizeof(path), "/tmp/pindns-xfrd-%d.zone", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	snprintf(text, sizeof(text), "$ORIGIN %s.\n@ SOA ns hm %u 7200 900 604800 60\n@ NS ns\n",
	         origin, serial);
	fputs(text, f);
	fclose(f);
	tu_name(o, origin);
	assert_int_equal(pd_zone_load(path, o, &z, err, sizeof(err)), 0);
	unlink(path);
	z->from = from;
	z->loaded_unix = time(NULL) - 100;
	return z;
}

/* zone-notify of a zone served here (pd_xfrd_notify_now, with the version the main
 * thread serves) sends its SOA: its serial, not 0 (Knot logged "serial none"). */
static void notify_now_carries_the_serial(void **state)
{
	(void)state;
	char buf[4096];
	pd_xfrd_t *x = make(NULL);
	pd_zone_t *z = zone("prim.test", 42, PD_ZONE_FROM_FILE);
	assert_int_equal(pd_xfrd_notify_now(x, z, "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "NOTIFY serial 42 queued to 1 target(s)"));
	assert_int_equal(pd_xfrd_command(x, "zone-status", "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone prim.test: NOTIFY serial 42 to 127.0.0.1:5301"));
	pd_zone_free(z);
	z = zone("other.test", 7, PD_ZONE_FROM_FILE); /* no notify: target covers it */
	assert_int_equal(pd_xfrd_notify_now(x, z, "other.test", buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(buf, "no notify: target"));
	pd_zone_free(z);
	pd_xfrd_free(x);
}

/* A kept copy in the first set is the secondary's, with its serial and timers. */
static void starts_from_kept_copies(void **state)
{
	char buf[4096];
	pd_zone_t *zs_zones[] = {zone("sec.test", 42, PD_ZONE_FROM_XFR),
	                         zone("prim.test", 7, PD_ZONE_FROM_FILE)};
	pd_zoneset_t *zs, *next;
	assert_int_equal(pd_zoneset_new(&zs, zs_zones, 2), 0);
	pd_xfrd_t *x = make(zs);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "sec.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "serial 42"));
	/* The copy was made 100 s before zone() returned; a second may tick since. */
	assert_true(strstr(buf, "last refresh 100 s ago") || strstr(buf, "last refresh 101 s ago"));
	assert_true(strstr(buf, "expires in 604700 s") || strstr(buf, "expires in 604699 s"));

	/* A new serial of a notified zone queues its NOTIFY; the same serial does not. */
	pd_zone_t *again = zone("sec.test", 42, PD_ZONE_FROM_XFR);
	assert_int_equal(pd_zoneset_replace(zs, &again, 1, &next), 0);
	pd_xfrd_published(x, zs, next);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "prim.test", buf, sizeof(buf)),
	                 0); /* a notified zone */
	assert_null(strstr(buf, "NOTIFY serial"));
	pd_zoneset_release(zs, next);
	zs = next;
	pd_zone_t *newer = zone("prim.test", 8, PD_ZONE_FROM_FILE);
	assert_int_equal(pd_zoneset_replace(zs, &newer, 1, &next), 0);
	pd_xfrd_published(x, zs, next);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone prim.test: NOTIFY serial 8 to 127.0.0.1:5301"));
	pd_zoneset_release(zs, next);
	zs = next;

	/* A set built anew (a full reload) is compared zone by zone. */
	pd_zone_t *all[] = {zone("prim.test", 9, PD_ZONE_FROM_FILE),
	                    (pd_zone_t *)pd_zoneset_get(zs, sec.wire)};
	assert_int_equal(pd_zoneset_new(&next, all, 2), 0);
	pd_xfrd_published(x, zs, next);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "prim.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone prim.test: NOTIFY serial 9 to 127.0.0.1:5301"));
	pd_zoneset_release(zs, next);
	pd_xfrd_free(x);
	pd_zoneset_free(next);
}

/*
 * zone-status of a secondary with 40 IPv6 primaries: their list (some 1,800 characters)
 * is longer than the line's 512-byte buffer for it. It used to be written past that
 * buffer (ASan: stack-buffer-overflow); now as many as fit are listed and the line goes
 * on, whole.
 */
static void status_many_primaries(void **state)
{
	static pd_xfr_remote_t many[40];
	for (int i = 0; i < 40; i++) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&many[i].addr;
		memset(&many[i], 0, sizeof(many[i]));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(53000);
		char a[64];
		snprintf(a, sizeof(a), "2001:db8:aaaa:bbbb:cccc:dddd:eeee:%x", 0xff00 + i);
		assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
		many[i].addr_len = sizeof(*sin6);
	}
	sec.primaries = many;
	sec.nprimaries = 40;
	char buf[8192];
	pd_xfrd_t *x = make(NULL);
	assert_int_equal(pd_xfrd_command(x, "zone-status", "sec.test", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "zone sec.test: secondary, serial 0, primaries "
	                            "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ff00]:53000 "));
	assert_non_null(strstr(buf, "last refresh never"));
	assert_non_null(strstr(buf, "expires no copy yet"));
	assert_int_equal(pd_xfrd_command(x, "zone-status", NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "expires no copy yet"));
	pd_xfrd_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(commands, setup),
	    cmocka_unit_test_setup(notify_now_carries_the_serial, setup),
	    cmocka_unit_test_setup(starts_from_kept_copies, setup),
	    cmocka_unit_test_setup(status_many_primaries, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
