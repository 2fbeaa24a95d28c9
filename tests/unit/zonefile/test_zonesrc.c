/* Unit tests for building the zone set with secondaries (lib/zonefile/zonesrc.c). */
#include "testutil.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pindns/loader.h"
#include "pindns/zonesrc.h"
#include "pindns/zonewrite.h"

static char dir[64], zdir[96], sdir[96];
static const int rules_a = 1, rules_m = 2; /* what z->xfr points to */

static int setup(void **state)
{
	strcpy(dir, "/tmp/pindns-zonesrc-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(zdir, sizeof(zdir), "%s/zones", dir);
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	return mkdir(zdir, 0755) || mkdir(sdir, 0755);
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* A zone file for origin with serial, expire; extra records after the apex. */
static void put_zone(const char *folder, const char *origin, unsigned serial, unsigned expire,
                     const char *extra)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.zone", folder, origin);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "$ORIGIN %s.\n@ 300 SOA ns hm %u 60 60 %u 60\n@ NS ns\nns A 192.0.2.1\n%s",
	        origin, serial, expire, extra);
	fclose(f);
}

static const pd_zone_t *get(const pd_zoneset_t *zs, const char *origin)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, origin);
	return pd_zoneset_get(zs, o);
}

static const pd_zone_secondary_t secs[] = {{"a.test", &rules_a}, {"c.test.", &rules_m}};

static pd_zone_sources_t sources(void)
{
	return (pd_zone_sources_t){
	    .zones_dir = zdir, .secondaries = secs, .nsecondaries = 2, .state_dir = sdir};
}

static void state_path_is_safe(void **state)
{
	char buf[256];
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "A\\/b.Example.COM.");
	assert_int_equal(pd_zone_state_path(buf, sizeof(buf), "/st", o), 0);
	assert_string_equal(buf, "/st/a\\047b.example.com.zone");
	assert_int_equal(pd_zone_state_path(buf, 8, "/st", o), -ENAMETOOLONG);
}

/* The first build serves the kept copy, not the zone file; later ones keep it. */
static void first_build_reads_state(void **state)
{
	pd_zone_sources_t cfg = sources();
	pd_zoneset_t *zs, *next;
	pd_zones_report_t rep;
	put_zone(sdir, "a.test", 7, 86400, "kept TXT \"from the state folder\"\n");
	put_zone(zdir, "a.test", 9, 86400, "");
	put_zone(zdir, "b.test", 3, 86400, "");
	put_zone(zdir, "c.test", 5, 86400, "");
	assert_int_equal(pd_zones_build(&cfg, NULL, &zs, &rep), 0);
	assert_int_equal(zs->count, 2); /* c.test has no copy yet; its file is ignored */
	const pd_zone_t *a = get(zs, "a.test");
	assert_non_null(a);
	assert_int_equal(a->serial, 7);
	assert_int_equal(a->from, PD_ZONE_FROM_XFR);
	assert_ptr_equal(a->xfr, &rules_a);
	assert_false(a->expired);
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/a.test.zone", sdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(a->loaded_unix, st.st_mtim.tv_sec);
	assert_int_equal(get(zs, "b.test")->from, PD_ZONE_FROM_FILE);
	assert_null(get(zs, "c.test"));

	/* A reload: the copy stays as it is, whatever the files say. */
	put_zone(zdir, "a.test", 11, 86400, "");
	unlink(path);
	put_zone(zdir, "b.test", 4, 86400, "");
	assert_int_equal(pd_zones_build(&cfg, zs, &next, &rep), 0);
	assert_ptr_equal(get(next, "a.test"), a);
	assert_int_equal(get(next, "b.test")->serial, 4);
	assert_null(get(next, "c.test"));
	pd_zoneset_release(zs, next);
	zs = next;

	/* One zone reloaded by name: a secondary's is left as it is. */
	int found = 0;
	assert_int_equal(pd_zones_build_one(&cfg, zs, "a.test", &next, &rep, &found), 0);
	assert_int_equal(found, 1);
	assert_ptr_equal(get(next, "a.test"), a);
	pd_zoneset_release(zs, next);
	pd_zoneset_free(next);
}

/* A copy older than its SOA expire is served as expired. */
static void old_copy_is_expired(void **state)
{
	pd_zone_sources_t cfg = sources();
	pd_zoneset_t *zs;
	pd_zones_report_t rep;
	char path[256];
	put_zone(sdir, "a.test", 7, 3600, "");
	put_zone(sdir, "c.test", 8, 3600, "");
	snprintf(path, sizeof(path), "%s/a.test.zone", sdir);
	struct timeval tv[2] = {{.tv_sec = time(NULL) - 3700}, {.tv_sec = time(NULL) - 3700}};
	assert_int_equal(utimes(path, tv), 0);
	snprintf(path, sizeof(path), "%s/c.test.zone", sdir);
	tv[0].tv_sec = tv[1].tv_sec = time(NULL) - 3500;
	assert_int_equal(utimes(path, tv), 0);
	assert_int_equal(pd_zones_build(&cfg, NULL, &zs, &rep), 0);
	const pd_zone_t *a = get(zs, "a.test"), *c = get(zs, "c.test");
	assert_non_null(a);
	assert_true(a->expired);
	assert_int_equal(a->serial, 7);
	assert_int_equal(a->from, PD_ZONE_FROM_XFR);
	assert_ptr_equal(a->xfr, &rules_a);
	assert_non_null(c);
	assert_false(c->expired);
	assert_ptr_equal(c->xfr, &rules_m);
	pd_zoneset_free(zs);
}

/* A transferred zone no secondary names (a catalog's member) is kept too, over its file. */
static void transferred_zones_are_kept(void **state)
{
	pd_zone_sources_t cfg = {.zones_dir = zdir, .watch = true};
	pd_zoneset_t *zs, *with, *next;
	pd_zones_report_t rep;
	char path[256], err[512];
	uint8_t o[PD_NAME_MAX];
	put_zone(zdir, "b.test", 3, 86400, "");
	assert_int_equal(pd_zones_build(&cfg, NULL, &zs, &rep), 0);
	assert_int_equal(zs->count, 1);

	/* What xfrd would publish: a member's zone, from a transfer. */
	put_zone(sdir, "m.test", 21, 86400, "");
	snprintf(path, sizeof(path), "%s/m.test.zone", sdir);
	pd_zone_t *m;
	tu_name(o, "m.test");
	assert_int_equal(pd_zone_load(path, o, &m, err, sizeof(err)), 0);
	m->from = PD_ZONE_FROM_XFR;
	assert_int_equal(pd_zoneset_replace(zs, &m, 1, &with), 0);
	pd_zoneset_release(zs, with);

	/* Its name appears in zones-dir: ignored, by the watch's reload and the full one. */
	put_zone(zdir, "m.test", 99, 86400, "");
	assert_int_equal(pd_zones_build(&cfg, with, &next, &rep), 0);
	assert_ptr_equal(get(next, "m.test"), m);
	pd_zoneset_release(with, next);
	cfg.watch = false;
	assert_int_equal(pd_zones_build(&cfg, next, &zs, &rep), 0);
	assert_ptr_equal(get(zs, "m.test"), m);
	assert_int_equal(zs->count, 2);
	pd_zoneset_release(next, zs);
	pd_zoneset_free(zs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(state_path_is_safe),
	    cmocka_unit_test_setup_teardown(first_build_reads_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(old_copy_is_expired, setup, teardown),
	    cmocka_unit_test_setup_teardown(transferred_zones_are_kept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
