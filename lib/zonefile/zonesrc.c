/* Zone sources from the configuration, loaded into a zone set; failures keep old data. */
#define _GNU_SOURCE
#include "pindns/zonesrc.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pindns/loader.h"
#include "pindns/log.h"

#include "watch.h"

/*
 * What inotify said about the zone files since the set of generation pd__watch_gen was
 * built (only the thread that builds zone sets touches it). NULL: no watch.
 */
static pd__watch_t *pd__watch;
static uint64_t pd__watch_gen;

/*
 * The earliest signature expiry (seconds since the epoch) of the zones the last build
 * served, or of zones since replaced: a reload that reads a few zones walks the others
 * for expiring signatures only when this falls within the warning window.
 */
static int64_t pd__sig_soonest = INT64_MAX;

/* One zone the configuration names; its strings and wire origin share one block. */
typedef struct pd__source {
	char *block; /* origin text, path, then the origin in wire form */
	const char *origin;
	const char *path;
	const uint8_t *wire; /* lower-cased; NULL: the origin is not a domain name */
	uint32_t hash;
	bool dup; /* an earlier source has the same origin */
} pd__source_t;

typedef struct pd__sources {
	pd__source_t *v;
	size_t n, cap;
} pd__sources_t;

/* Appends origin (olen bytes) with the file dir/name, or name alone when dir is NULL. */
static int pd__sources_add(pd__sources_t *s, const char *origin, size_t olen, const char *dir,
                           const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		pd__source_t *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	size_t dlen = dir ? strlen(dir) + 1 : 0, nlen = strlen(name);
	char *b = malloc(olen + 1 + dlen + nlen + 1 + PD_NAME_MAX);
	if (!b)
		return -ENOMEM;
	pd__source_t *src = &s->v[s->n++];
	*src = (pd__source_t){.block = b, .origin = b, .path = b + olen + 1};
	memcpy(b, origin, olen);
	b[olen] = '\0';
	char *p = b + olen + 1;
	if (dir) {
		memcpy(p, dir, dlen - 1);
		p[dlen - 1] = '/';
	}
	memcpy(p + dlen, name, nlen + 1);
	uint8_t *wire = (uint8_t *)p + dlen + nlen + 1;
	if (pd_name_from_str(wire, src->origin) >= 0) {
		pd_name_lower(wire, wire);
		src->wire = wire;
		src->hash = pd_name_hash(wire, pd_name_len(wire));
	}
	return 0;
}

static void pd__sources_free(pd__sources_t *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].block);
	free(s->v);
}

/*
 * Which configured zone reads path, by a table of the configuration's zone files built at
 * first use (the configuration does not change while pindnsd runs).
 */
static const pd_zone_conf_t *pd__cfg_table_of;
static size_t pd__cfg_table_n;
static uint32_t *pd__cfg_table; /* index + 1 of a zone entry, 0: empty */
static uint32_t pd__cfg_mask;

/*
 * The next configured zone reading path (several may share a file): start with *pos 0;
 * -1 when there is no other.
 */
static ptrdiff_t pd__cfg_next(const pd_zone_sources_t *cfg, const char *path, uint32_t *pos)
{
	if (!cfg->nzones)
		return -1;
	if (pd__cfg_table_of != cfg->zones || pd__cfg_table_n != cfg->nzones) {
		uint32_t cap = 8;
		while (cap < cfg->nzones * 2)
			cap *= 2;
		uint32_t *t = calloc(cap, sizeof(*t));
		if (!t) { /* out of memory: the long way, *pos the next entry to look at */
			for (size_t i = *pos; i < cfg->nzones; i++)
				if (strcmp(cfg->zones[i].file, path) == 0) {
					*pos = (uint32_t)i + 1;
					return (ptrdiff_t)i;
				}
			return -1;
		}
		for (size_t i = 0; i < cfg->nzones; i++) {
			uint32_t j = pd__str_hash(cfg->zones[i].file, strlen(cfg->zones[i].file)) &
			             (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = (uint32_t)i + 1;
		}
		free(pd__cfg_table);
		pd__cfg_table = t;
		pd__cfg_mask = cap - 1;
		pd__cfg_table_of = cfg->zones;
		pd__cfg_table_n = cfg->nzones;
	}
	/* *pos counts the probe's steps taken (table sizes are powers of two below 2^32). */
	uint32_t h = pd__str_hash(path, strlen(path));
	for (uint32_t j; pd__cfg_table[j = (h + *pos) & pd__cfg_mask];) {
		uint32_t i = pd__cfg_table[j] - 1;
		(*pos)++;
		if (strcmp(cfg->zones[i].file, path) == 0)
			return (ptrdiff_t)i;
	}
	return -1;
}

/* Whether some configured zone reads path. */
static bool pd__cfg_reads(const pd_zone_sources_t *cfg, const char *path)
{
	uint32_t pos = 0;
	return pd__cfg_next(cfg, path, &pos) >= 0;
}

/*
 * The configured secondaries by origin, a table built at first use as the one above:
 * index + 1 into cfg->secondaries, 0: empty.
 */
static const pd_zone_secondary_t *pd__sec_table_of;
static size_t pd__sec_table_n;
static pd__sources_t pd__secs; /* their origins in wire form, in cfg's order */
static uint32_t *pd__sec_table;
static uint32_t pd__sec_mask;

static int pd__secs_index(const pd_zone_sources_t *cfg)
{
	if (pd__sec_table_of == cfg->secondaries && pd__sec_table_n == cfg->nsecondaries)
		return 0;
	pd__sources_t s = {0};
	uint32_t cap = 8;
	while (cap < cfg->nsecondaries * 2)
		cap *= 2;
	uint32_t *t = calloc(cap, sizeof(*t));
	int ret = t ? 0 : -ENOMEM;
	for (size_t i = 0; ret == 0 && i < cfg->nsecondaries; i++) {
		const char *o = cfg->secondaries[i].origin;
		ret = pd__sources_add(&s, o, strlen(o), NULL, "");
		if (ret < 0 || !s.v[i].wire)
			continue;
		uint32_t j = s.v[i].hash & (cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = (uint32_t)i + 1;
	}
	if (ret < 0) {
		free(t);
		pd__sources_free(&s);
		return ret;
	}
	free(pd__sec_table);
	pd__sources_free(&pd__secs);
	pd__sec_table = t;
	pd__secs = s;
	pd__sec_mask = cap - 1;
	pd__sec_table_of = cfg->secondaries;
	pd__sec_table_n = cfg->nsecondaries;
	return 0;
}

/* The configured secondary of origin wire (lower-cased), or NULL. */
static const pd_zone_secondary_t *pd__secondary(const pd_zone_sources_t *cfg, const uint8_t *wire)
{
	if (!cfg->nsecondaries || !wire || pd__secs_index(cfg) < 0)
		return NULL;
	uint32_t h = pd_name_hash(wire, pd_name_len(wire));
	for (uint32_t j = h & pd__sec_mask; pd__sec_table[j]; j = (j + 1) & pd__sec_mask) {
		uint32_t i = pd__sec_table[j] - 1;
		if (pd__secs.v[i].hash == h && pd_name_equal(pd__secs.v[i].wire, wire))
			return &cfg->secondaries[i];
	}
	return NULL;
}

/*
 * Whether the zone wire is a secondary's, whose data never comes from the zone files: a
 * configured secondary, or a zone old has from a transfer (a catalog's member).
 */
static bool pd__is_secondary(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                             const uint8_t *wire)
{
	const pd_zone_t *prev = wire ? pd_zoneset_get(old, wire) : NULL;
	return (prev && prev->from == PD_ZONE_FROM_XFR) || pd__secondary(cfg, wire);
}

int pd_zone_state_path(char *buf, size_t cap, const char *state_dir, const uint8_t *origin)
{
	char name[PD_NAME_TXT_MAX], safe[PD_NAME_TXT_MAX * 4];
	uint8_t lower[PD_NAME_MAX];
	pd_name_lower(lower, origin);
	int len = pd_name_to_str(name, sizeof(name), lower);
	if (len > 1 && name[len - 1] == '.')
		name[--len] = '\0';
	size_t n = 0;
	for (int i = 0; i < len; i++) {
		if (name[i] == '/') { /* a label's slash must not make a folder */
			memcpy(safe + n, "\\047", 4);
			n += 4;
		} else {
			safe[n++] = name[i];
		}
	}
	safe[n] = '\0';
	if (snprintf(buf, cap, "%s/%s.zone", state_dir, safe) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* The SOA expire of z (RFC 1035 3.3.13): the fourth of the five numbers ending its RDATA. */
static uint32_t pd__soa_expire(const pd_zone_t *z)
{
	const pd_rrset_t *rs = pd_zone_rrset(z, &z->nodes[z->apex], 6);
	if (!rs || !rs->count)
		return 0;
	const uint8_t *p = pd_zone_rrset_data(z, rs);
	uint16_t len = (uint16_t)(p[0] << 8 | p[1]);
	if (len < 20)
		return 0;
	p += 2 + len - 8;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pd_zone_state_load(const char *path, const uint8_t *origin, const void *xfr, pd_zone_t **out,
                       char *err, size_t cap)
{
	struct stat st;
	pd_zone_t *z = NULL;
	*out = NULL;
	if (stat(path, &st) < 0) {
		int ret = -errno;
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return ret;
	}
	int ret = pd_zone_load(path, origin, &z, err, cap);
	if (ret < 0)
		return ret == -ENOENT ? -EIO : ret; /* there, but not readable as a zone */
	z->from = PD_ZONE_FROM_XFR;
	z->xfr = xfr;
	z->loaded_unix = (int64_t)st.st_mtim.tv_sec;
	if (z->loaded_unix + (int64_t)pd__soa_expire(z) < (int64_t)time(NULL)) {
		pd_zone_t *ez = pd_zone_expired_new(z);
		if (!ez) {
			pd_zone_free(z);
			snprintf(err, cap, "%s: out of memory", path);
			return -ENOMEM;
		}
		ez->loaded_unix = z->loaded_unix;
		pd_zone_free(z);
		z = ez;
	}
	*out = z;
	return 0;
}

/* The name of a zone as the log names it: no final dot. */
static void pd__zone_name(char *o, size_t cap, const uint8_t *wire)
{
	int len = pd_name_to_str(o, cap, wire);
	if (len > 1)
		o[len - 1] = '\0';
}

/*
 * The first build: the secondaries' kept copies, appended to zones (*n of them so far).
 * One that cannot be read is logged and left to the first transfer.
 */
static void pd__state_zones(const pd_zone_sources_t *cfg, pd_zone_t **zones, size_t *n,
                            pd_zones_report_t *rep)
{
	char path[4096], err[1024], o[PD_NAME_TXT_MAX];
	for (size_t i = 0; cfg->state_dir && i < cfg->nsecondaries; i++) {
		const pd_zone_secondary_t *sec = &cfg->secondaries[i];
		const uint8_t *wire = pd__secs_index(cfg) == 0 ? pd__secs.v[i].wire : NULL;
		pd_zone_t *z;
		if (!wire || pd_zone_state_path(path, sizeof(path), cfg->state_dir, wire) < 0)
			continue;
		pd__zone_name(o, sizeof(o), wire);
		int ret = pd_zone_state_load(path, wire, sec->xfr, &z, err, sizeof(err));
		if (ret == -ENOENT) {
			pd_log(PD_LOG_INFO, "zone %s: no copy in %s yet: served once transferred",
			       o, cfg->state_dir);
			continue;
		}
		if (ret < 0) {
			pd_log(PD_LOG_ERR, "zone %s: kept copy not served: %s", o, err);
			rep->failed++;
			continue;
		}
		if (z->expired)
			pd_log(PD_LOG_WARN,
			       "zone %s: kept copy %s (serial %u) is past its SOA expire: SERVFAIL "
			       "until a transfer succeeds",
			       o, path, z->serial);
		else
			pd_log(PD_LOG_INFO,
			       "zone %s: kept copy loaded from %s: %zu records, serial %u", o, path,
			       z->record_count, z->serial);
		rep->loaded++;
		rep->added++;
		rep->records += z->record_count;
		zones[(*n)++] = z;
	}
}

/* Later builds: old's transferred zones, as they are. */
static void pd__keep_xfr_zones(const pd_zoneset_t *old, pd_zone_t **zones, size_t *n,
                               pd_zones_report_t *rep)
{
	for (size_t i = 0; old && i < old->count; i++)
		if (old->zones[i]->from == PD_ZONE_FROM_XFR) {
			zones[(*n)++] = old->zones[i];
			rep->unchanged++;
		}
}

/* A zone file with a secondary's origin: not read, and said so. */
static bool pd__skip_secondary(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                               const pd__source_t *src)
{
	if (!pd__is_secondary(cfg, old, src->wire))
		return false;
	pd_log(PD_LOG_WARN,
	       "zone %s: %s ignored: the zone is a secondary, served from its transfers",
	       src->origin, src->path);
	return true;
}

/* Whether s has a source read from path. */
static bool pd__sources_has_path(const pd__sources_t *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return true;
	return false;
}

/*
 * The sources that failed to load: those of the last full build, and of reloads since. A
 * reload that reads only what the watch names tries them again too, as a full one does:
 * what fixes them may be a file no zone was known to read (an $INCLUDE of the broken
 * version). A build notes its failures in pd__failed_next, which replaces the list only
 * once the build is done, so a build that fails loses none.
 */
static pd__sources_t pd__failed;
static pd__sources_t *pd__failed_next;
static bool pd__failed_lost; /* one could not be noted: the next reload reads every source */

#define PD__FAILED_RETRIED 1024 /* more failed sources: a reload reads every source */

static void pd__failed_note(const pd__source_t *src)
{
	if (pd__failed_next &&
	    pd__sources_add(pd__failed_next, src->origin, strlen(src->origin), NULL, src->path) < 0)
		pd__failed_lost = true;
}

/* Takes out the failed source of the zone wire (lower-cased), if there is one. */
static void pd__failed_drop(const uint8_t *wire)
{
	for (size_t i = 0; i < pd__failed.n; i++)
		if (pd__failed.v[i].wire && pd_name_equal(pd__failed.v[i].wire, wire)) {
			free(pd__failed.v[i].block);
			pd__failed.v[i] = pd__failed.v[--pd__failed.n];
			return;
		}
}

/*
 * A build is over: when done, its failures replace the list (it tried every source on
 * it) or join it (it tried one zone); else they are forgotten and the list stays.
 */
static void pd__failed_settle(pd__sources_t *next, bool done, bool replace)
{
	pd__failed_next = NULL;
	if (done && replace) {
		pd__sources_free(&pd__failed);
		pd__failed = *next;
		pd__failed_lost = false;
		return;
	}
	for (size_t i = 0; done && i < next->n; i++)
		if (pd__sources_add(&pd__failed, next->v[i].origin, strlen(next->v[i].origin), NULL,
		                    next->v[i].path) < 0)
			pd__failed_lost = true;
	pd__sources_free(next);
}

static int pd__source_origin_cmp(const void *a, const void *b)
{
	return strcmp(((const pd__source_t *)a)->origin, ((const pd__source_t *)b)->origin);
}

/* Appends the *.zone files of dir, sorted by origin. */
static int pd__scan_dir(const char *dir, pd__sources_t *s)
{
	DIR *d = opendir(dir);
	size_t first = s->n;
	int ret = 0;

	if (!d) {
		ret = -errno;
		pd_log(PD_LOG_ERR, "cannot read zones-dir %s: %s", dir, strerror(errno));
		return ret;
	}
	for (struct dirent *de; ret == 0 && (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".zone") != 0 || de->d_name[0] == '.')
			continue;
		ret = pd__sources_add(s, de->d_name, len - 5, dir, de->d_name);
	}
	closedir(d);
	if (ret == 0 && s->n > first)
		qsort(s->v + first, s->n - first, sizeof(*s->v), pd__source_origin_cmp);
	return ret;
}

static int pd__hash_index_cmp(const void *a, const void *b, void *arg)
{
	const pd__source_t *v = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (v[x].hash != v[y].hash)
		return v[x].hash < v[y].hash ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Marks every source whose origin an earlier one has: sorted by hash, equal origins meet. */
static int pd__mark_dups(pd__sources_t *s)
{
	size_t *idx = malloc((s->n ? s->n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	qsort_r(idx, s->n, sizeof(*idx), pd__hash_index_cmp, s->v);
	for (size_t i = 0; i < s->n; i++) {
		pd__source_t *a = &s->v[idx[i]];
		for (size_t j = i + 1; a->wire && !a->dup && j < s->n; j++) {
			pd__source_t *b = &s->v[idx[j]];
			if (b->hash != a->hash)
				break;
			if (b->wire && pd_name_equal(a->wire, b->wire))
				b->dup = true; /* idx is in source order within a hash */
		}
	}
	free(idx);
	return 0;
}

/* pd_zone_load_opts_t.warn: one line of the log per warning, at warning level. */
static void pd__log_warning(void *origin, const char *text)
{
	pd_log(PD_LOG_WARN, "zone %s: %s", (const char *)origin, text);
}

/*
 * A zone kept because its files did not change was not checked again, but time went on:
 * say so when its first signature now falls within the warning window.
 */
/* Counts z's earliest signature expiry into pd__sig_soonest; false for an unsigned zone. */
static bool pd__sig_note(const pd_zone_t *z, int64_t now, int64_t *at, char *when, size_t cap)
{
	if (!pd_zone_sig_expiry(z, now, at, when, cap))
		return false;
	if (*at < pd__sig_soonest)
		pd__sig_soonest = *at;
	return true;
}

static void pd__warn_kept_sigs(const char *origin, const pd_zone_t *z, uint32_t window)
{
	int64_t now = (int64_t)time(NULL), at;
	char when[64];
	if (!pd__sig_note(z, now, &at, when, sizeof(when)))
		return;
	if (window && at <= now + window)
		pd_log(PD_LOG_WARN, "zone %s: warning: a signature %s %s; re-sign the zone", origin,
		       at <= now ? "expired" : "expires", when);
}

/*
 * After a reload that read only a few zones: the others' signatures (the zones set kept
 * from old) went on ageing, so when one may be close to expiring, each is looked at.
 */
static void pd__warn_kept_all(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                              const pd_zoneset_t *set)
{
	if (!cfg->sig_warn_secs || pd__sig_soonest > (int64_t)time(NULL) + cfg->sig_warn_secs)
		return;
	pd__sig_soonest = INT64_MAX;
	for (size_t i = 0; i < set->count; i++) {
		const pd_zone_t *z = set->zones[i];
		int64_t at;
		char when[64];
		if (!z->sig_expire_first)
			continue;
		if (pd_zoneset_get(old, z->origin) != z) { /* just read, and warned of */
			pd__sig_note(z, (int64_t)time(NULL), &at, when, sizeof(when));
			continue;
		}
		char o[PD_NAME_TXT_MAX];
		int len = pd_name_to_str(o, sizeof(o), z->origin);
		if (len > 1)
			o[len - 1] = '\0'; /* as zones are named in the log: no final dot */
		pd__warn_kept_sigs(o, z, cfg->sig_warn_secs);
	}
}

/* The log line of a zone just loaded: records, how it is signed, serial, warnings, time. */
static void pd__log_loaded(const char *origin, const char *path, const pd_zone_t *z,
                           const pd_zone_t *prev, unsigned warnings, double ms)
{
	char signed_as[32] = "", warned[32] = "", when[64], expiry[96] = "", serial[48];
	int64_t at;
	if (pd_zone_dnssec_str(z))
		snprintf(signed_as, sizeof(signed_as), ", signed (%s)", pd_zone_dnssec_str(z));
	if (warnings)
		snprintf(warned, sizeof(warned), ", %u warning%s", warnings,
		         warnings > 1 ? "s" : "");
	if (pd_zone_sig_expiry(z, (int64_t)time(NULL), &at, when, sizeof(when)))
		snprintf(expiry, sizeof(expiry), "; earliest signature expiry %s", when);
	if (prev)
		snprintf(serial, sizeof(serial), "serial %u (was %u)", z->serial, prev->serial);
	else
		snprintf(serial, sizeof(serial), "serial %u", z->serial);
	pd_log(PD_LOG_INFO, "zone %s loaded from %s: %zu records%s, %s%s, %.1f ms%s", origin, path,
	       z->record_count, signed_as, serial, warned, ms, expiry);
}

static double pd__ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Whether the watch vouches for every file of a zone. */
static bool pd__files_watched(const pd_zone_files_t *files)
{
	for (unsigned i = 0; i < files->count; i++)
		if (!pd__watch_unchanged(pd__watch, files->file[i].path))
			return false;
	return true;
}

/* A zone just loaded: its folders are watched from now on. */
static void pd__watch_zone(const pd_zone_files_t *files)
{
	for (unsigned i = 0; pd__watch && i < files->count; i++)
		pd__watch_file(pd__watch, files->file[i].path, i > 0);
}

/*
 * The zone to serve for src: old's when its files did not change (unless force), else
 * compiled from its file, else old's again when that fails, else NULL.
 */
static pd_zone_t *pd__source_zone(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                                  const pd__source_t *src, bool force, pd_zones_report_t *rep)
{
	/* The watch speaks of changes since the set it last settled with. */
	bool watched = pd__watch && old && old->generation == pd__watch_gen;
	const pd_zone_t *prev = pd_zoneset_get(old, src->wire);
	const pd_zone_files_t *files = prev ? prev->source : NULL;
	char err[1024];
	pd_zone_t *z = NULL;
	pd_zone_files_t *read = NULL;
	struct timespec t0;

	if (!force && files && files->count && !files->stale &&
	    strcmp(files->file[0].path, src->path) == 0 &&
	    ((watched && pd__files_watched(files)) || pd_zone_files_unchanged(files))) {
		pd_log(PD_LOG_DEBUG, "zone %s: %s unchanged, serial %u kept", src->origin,
		       src->path, prev->serial);
		pd__warn_kept_sigs(src->origin, prev, cfg->sig_warn_secs);
		rep->unchanged++;
		return (pd_zone_t *)prev;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pd_zone_load_opts_t opts = {.files = &read,
	                            .sig_warn_secs = cfg->sig_warn_secs,
	                            .warn = pd__log_warning,
	                            .warn_arg = (void *)src->origin};
	if (pd_zone_load_ex(src->path, src->wire, &z, err, sizeof(err), &opts) < 0) {
		rep->failed++;
		pd__failed_note(src);
		if (files) /* kept, but not as read from its files: read them again next time */
			((pd_zone_files_t *)files)->stale = true;
		if (prev)
			pd_log(PD_LOG_ERR, "zone %s: reload failed, still serving serial %u: %s",
			       src->origin, prev->serial, err);
		else
			pd_log(PD_LOG_ERR, "zone %s not served: %s", src->origin, err);
		return (pd_zone_t *)prev;
	}
	z->source = read;
	pd__watch_zone(read);
	int64_t at;
	char when[64];
	pd__sig_note(z, (int64_t)time(NULL), &at, when, sizeof(when));
	z->loaded_unix = (int64_t)time(NULL);
	rep->loaded++;
	rep->added += !prev;
	rep->records += z->record_count;
	pd__log_loaded(src->origin, src->path, z, prev, opts.warnings, pd__ms_since(&t0));
	return z;
}

/* Says how far the load got, on a terminal, after a second and then four times a second. */
typedef struct pd__progress {
	struct timespec started, shown;
	bool drawn;
} pd__progress_t;

static void pd__progress_step(pd__progress_t *p, size_t done, size_t total, size_t failed)
{
	if (done % 256 != 0)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (pd__ms_since(&p->started) < 1000 || (p->drawn && pd__ms_since(&p->shown) < 250))
		return;
	p->shown = now;
	p->drawn = true;
	pd_log_progress("loading zones: %zu of %zu (%zu%%), %zu failed", done, total,
	                done * 100 / total, failed);
}

/* The sources: the configured zones, then zones-dir's. *dir_failed: it could not be read. */
static int pd__collect(const pd_zone_sources_t *cfg, pd__sources_t *s, bool *dir_failed)
{
	*dir_failed = false;
	for (size_t i = 0; i < cfg->nzones; i++) {
		const char *o = cfg->zones[i].origin;
		if (pd__sources_add(s, o, strlen(o), NULL, cfg->zones[i].file) < 0)
			return -ENOMEM;
	}
	if (cfg->zones_dir) {
		int rc = pd__scan_dir(cfg->zones_dir, s);
		if (rc == -ENOMEM)
			return rc;
		*dir_failed = rc < 0;
	}
	return pd__mark_dups(s);
}

/* Whether a source can be served at all; says why not. */
static bool pd__source_ok(const pd__source_t *src)
{
	if (!src->wire) {
		pd_log(PD_LOG_ERR, "zone '%s' (%s) not served: not a valid domain name",
		       src->origin, src->path);
		return false;
	}
	if (src->dup) {
		pd_log(PD_LOG_ERR,
		       "zone %s from %s not served: the zone is already loaded from another file",
		       src->origin, src->path);
		return false;
	}
	return true;
}

/*
 * Old zones the new set does not have: removed, and logged so; or, when zones-dir could
 * not be read (gone, or not readable by the user we run as), kept, since that says
 * nothing about its zones. Replaces *set when it keeps any.
 */
static int pd__settle_old(const pd_zoneset_t *old, pd_zoneset_t **set, pd_zone_t **zones,
                          size_t nzones, bool keep, pd_zones_report_t *rep)
{
	size_t n = nzones;
	for (size_t i = 0; old && i < old->count; i++) {
		const pd_zone_t *z = old->zones[i];
		if (pd_zoneset_get(*set, z->origin))
			continue;
		char o[PD_NAME_TXT_MAX];
		int len = pd_name_to_str(o, sizeof(o), z->origin);
		if (len > 1)
			o[len - 1] = '\0';
		if (keep) {
			pd_log(PD_LOG_ERR, "zone %s: still serving serial %u", o, z->serial);
			zones[n++] = (pd_zone_t *)z;
		} else {
			pd_log(PD_LOG_INFO,
			       "zone %s removed: no longer configured, or its file is gone", o);
			rep->removed++;
		}
	}
	if (n == nzones)
		return 0;
	pd_zoneset_t *with_old;
	int ret = pd_zoneset_new(&with_old, zones, n);
	if (ret < 0)
		return ret;
	pd_zoneset_release(*set, with_old);
	*set = with_old;
	return 0;
}

/* After a failed build: frees the zones compiled for it, not old's. */
static void pd__drop_new(const pd_zoneset_t *old, pd_zone_t **zones, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pd_zoneset_get(old, zones[i]->origin) != zones[i])
			pd_zone_free(zones[i]);
}

/* The first build with cfg->watch starts the watch, on the folders it will read. */
static void pd__watch_start(const pd_zone_sources_t *cfg, const pd_zoneset_t *old)
{
	if (!cfg->watch || pd__watch || old || !(pd__watch = pd__watch_new()))
		return;
	if (cfg->zones_dir)
		pd__watch_dir(pd__watch, cfg->zones_dir);
	for (size_t i = 0; i < cfg->nzones; i++)
		pd__watch_file(pd__watch, cfg->zones[i].file, false);
}

/*
 * A build is done and will be served: the watch speaks of changes since it, from now.
 * full: it looked at every zone's files; else it read again every zone the events named.
 */
static void pd__watch_built(const pd_zoneset_t *set, bool full)
{
	if (!pd__watch)
		return;
	if (full)
		pd__watch_settle(pd__watch);
	else
		pd__watch_forget(pd__watch);
	pd__watch_gen = set->generation;
}

/* Adds the source of a zone unless verify asks to and its files are as read. */
static int pd__changed_add(pd__sources_t *s, const char *origin, size_t olen, const char *path,
                           const pd_zone_t *prev, bool verify)
{
	const pd_zone_files_t *files = prev ? prev->source : NULL;
	if (verify && files && files->count && !files->stale &&
	    strcmp(files->file[0].path, path) == 0 && pd_zone_files_unchanged(files))
		return 0;
	return pd__sources_add(s, origin, olen, NULL, path);
}

/*
 * What a path means for the zones: a zone file to read again (added to s), nothing (0),
 * or -EAGAIN when only reading every zone's sources will tell (a zone file added under
 * another spelling, one removed, an included file). verify: the path is one no event
 * would name (a link), so it is read again only when its files changed.
 */
static int pd__changed_source(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                              const char *path, bool verify, pd__sources_t *s)
{
	uint8_t w[PD_NAME_MAX];
	uint32_t pos = 0;
	bool configured = false;
	for (ptrdiff_t ci; (ci = pd__cfg_next(cfg, path, &pos)) >= 0;) {
		const char *o = cfg->zones[ci].origin;
		const pd_zone_t *prev = NULL;
		if (pd_name_from_str(w, o) >= 0 && pd_name_lower(w, w))
			prev = pd_zoneset_get(old, w);
		int ret = pd__changed_add(s, o, strlen(o), path, prev, verify);
		if (ret < 0)
			return ret;
		configured = true;
	}
	if (configured)
		return 0;
	if (pd__watch_included(pd__watch, path))
		return -EAGAIN;
	const char *slash = strrchr(path, '/');
	if (!cfg->zones_dir || !slash || strlen(cfg->zones_dir) != (size_t)(slash - path) ||
	    strncmp(cfg->zones_dir, path, (size_t)(slash - path)) != 0)
		return 0; /* a file no zone reads */
	const char *base = slash + 1;
	size_t blen = strlen(base);
	if (blen <= 5 || strcmp(base + blen - 5, ".zone") != 0 || base[0] == '.')
		return 0;
	char origin[PD_NAME_TXT_MAX];
	uint8_t wire[PD_NAME_MAX];
	snprintf(origin, sizeof(origin), "%.*s", (int)(blen - 5), base);
	if (pd_name_from_str(wire, origin) < 0)
		return -EAGAIN; /* for its error */
	pd_name_lower(wire, wire);
	const pd_zone_t *prev = pd_zoneset_get(old, wire);
	const pd_zone_files_t *files = prev ? prev->source : NULL;
	bool there = access(path, F_OK) == 0;
	if (pd__is_secondary(cfg, old, wire))
		return there ? pd__sources_add(s, origin, blen - 5, NULL, path) : 0; /* to warn */
	if (!prev)
		return there ? pd__sources_add(s, origin, blen - 5, NULL, path) : 0;
	if (!files || !files->count || strcmp(files->file[0].path, path) != 0 || !there)
		return -EAGAIN; /* another file with its origin, or a zone removed */
	return pd__changed_add(s, origin, blen - 5, path, prev, verify);
}

/*
 * A reload when the watch knows every path that changed and each is a zone's own file:
 * those zones are read again and put into a copy of old's index. -EAGAIN: it takes a
 * build from every source (nothing was loaded then).
 */
static int pd__build_changed(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                             pd_zoneset_t **out, pd_zones_report_t *rep)
{
	const char *const *paths, *const *links;
	size_t npaths, nlinks, nz = 0;
	pd__sources_t s = {0}, failed = {0};
	pd_zone_t **zones = NULL;
	int ret = 0;

	if (!pd__watch_changes(pd__watch, &paths, &npaths) || pd__failed.n > PD__FAILED_RETRIED ||
	    pd__failed_lost)
		return -EAGAIN;
	pd__watch_suspects(pd__watch, &links, &nlinks);
	for (size_t i = 0; ret == 0 && i < npaths; i++)
		ret = pd__changed_source(cfg, old, paths[i], false, &s);
	for (size_t i = 0; ret == 0 && i < nlinks; i++)
		if (!pd__watch_events(pd__watch, links[i])) /* else taken above */
			ret = pd__changed_source(cfg, old, links[i], true, &s);
	for (size_t i = 0; ret == 0 && i < pd__failed.n; i++) {
		const pd__source_t *f = &pd__failed.v[i];
		/* A zones-dir file that failed and is gone is no source any more. */
		if (!pd__sources_has_path(&s, f->path) &&
		    (access(f->path, F_OK) == 0 || pd__cfg_reads(cfg, f->path)))
			ret = pd__sources_add(&s, f->origin, strlen(f->origin), NULL, f->path);
	}
	if (ret < 0)
		goto out;
	/* Tried again below: those that fail again are noted again. */
	pd__failed_next = &failed;
	ret = -ENOMEM;
	if (!(zones = malloc((s.n + 1) * sizeof(*zones))))
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		const pd_zone_t *prev = pd_zoneset_get(old, s.v[i].wire);
		if (pd__skip_secondary(cfg, old, &s.v[i]))
			continue;
		pd_zone_t *z = pd__source_zone(cfg, old, &s.v[i], true, rep);
		if (z && z != prev)
			zones[nz++] = z;
	}
	ret = pd_zoneset_replace(old, zones, nz, out);
	pd__failed_settle(&failed, ret == 0, true);
	if (ret < 0) {
		pd__drop_new(old, zones, nz);
		ret = ret == -EEXIST ? -EAGAIN : ret; /* two new files of one origin */
		goto out;
	}
	rep->serving = (*out)->count;
	rep->unchanged = old->count - (rep->loaded - rep->added);
	pd__warn_kept_all(cfg, old, *out);
out:
	if (pd__failed_next) /* not reached the loads */
		pd__failed_settle(pd__failed_next, false, false);
	free(zones);
	pd__sources_free(&s);
	return ret;
}

int pd_zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, pd_zoneset_t **out,
                   pd_zones_report_t *rep)
{
	pd__sources_t s = {0}, failed = {0};
	pd_zone_t **zones = NULL;
	size_t nzones = 0;
	bool dir_failed;
	pd__progress_t prog = {0};
	int ret;

	*out = NULL;
	*rep = (pd_zones_report_t){0};
	clock_gettime(CLOCK_MONOTONIC, &prog.started);
	pd__watch_start(cfg, old);
	if (pd__watch)
		pd__watch_drain(pd__watch);
	if (pd__watch && old && old->generation == pd__watch_gen) {
		ret = pd__build_changed(cfg, old, out, rep);
		if (ret != -EAGAIN) {
			if (ret == 0)
				pd__watch_built(*out, false);
			goto out;
		}
		*rep = (pd_zones_report_t){0};
	}
	if (pd__watch)
		pd__watch_begin(pd__watch);
	pd__failed_next = &failed;   /* every source is tried: those that fail make the list */
	pd__sig_soonest = INT64_MAX; /* every zone served is looked at again */
	ret = pd__collect(cfg, &s, &dir_failed);
	if (ret < 0)
		goto out;
	rep->failed += dir_failed;
	ret = -ENOMEM;
	zones = malloc((s.n + (old ? old->count : 0) + cfg->nsecondaries + 1) * sizeof(*zones));
	if (!zones)
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		pd__progress_step(&prog, i, s.n, rep->failed);
		if (!pd__source_ok(&s.v[i])) {
			rep->failed++;
			continue;
		}
		if (pd__skip_secondary(cfg, old, &s.v[i]))
			continue;
		pd_zone_t *z = pd__source_zone(cfg, old, &s.v[i], false, rep);
		if (z)
			zones[nzones++] = z;
	}
	if (prog.drawn)
		pd_log_progress_end();
	if (old)
		pd__keep_xfr_zones(old, zones, &nzones, rep);
	else
		pd__state_zones(cfg, zones, &nzones, rep);
	ret = pd_zoneset_new(out, zones, nzones);
	if (ret == 0)
		ret = pd__settle_old(old, out, zones, nzones, dir_failed, rep);
	if (ret < 0) {
		if (*out)
			pd_zoneset_release(*out, old);
		else
			pd__drop_new(old, zones, nzones);
		*out = NULL;
		goto out;
	}
	rep->serving = (*out)->count;
	pd__watch_built(*out, true);
out:
	if (pd__failed_next == &failed)
		pd__failed_settle(&failed, ret == 0, true);
	rep->ms = pd__ms_since(&prog.started);
	free(zones);
	pd__sources_free(&s);
	return ret;
}

/*
 * The source of the zone named by wire (lower-cased): the configured zone, else the file
 * old loaded it from, else its file in zones-dir, else none (s->n stays 0).
 */
static int pd__find_source(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                           const uint8_t *wire, pd__sources_t *s)
{
	uint8_t w[PD_NAME_MAX];
	for (size_t i = 0; i < cfg->nzones; i++)
		if (pd_name_from_str(w, cfg->zones[i].origin) >= 0 && pd_name_equal(w, wire))
			return pd__sources_add(s, cfg->zones[i].origin,
			                       strlen(cfg->zones[i].origin), NULL,
			                       cfg->zones[i].file);
	const pd_zone_t *prev = pd_zoneset_get(old, wire);
	const pd_zone_files_t *files = prev ? prev->source : NULL;
	if (files && files->count)
		return pd__sources_add(s, only, strlen(only), NULL, files->file[0].path);
	if (!cfg->zones_dir)
		return 0;
	/* A zone new in zones-dir, its file named as written; any other spelling needs the
	 * folder read. */
	size_t len = strlen(only);
	if (len > 1 && only[len - 1] == '.')
		len--;
	char name[PD_NAME_TXT_MAX + 8];
	snprintf(name, sizeof(name), "%.*s.zone", (int)len, only);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", cfg->zones_dir, name);
	if (access(path, F_OK) == 0)
		return pd__sources_add(s, name, len, cfg->zones_dir, name);
	pd__sources_t all = {0};
	int ret = pd__scan_dir(cfg->zones_dir, &all);
	for (size_t i = 0; ret == 0 && i < all.n; i++)
		if (all.v[i].wire && pd_name_equal(all.v[i].wire, wire)) {
			ret = pd__sources_add(s, all.v[i].origin, strlen(all.v[i].origin), NULL,
			                      all.v[i].path);
			break;
		}
	pd__sources_free(&all);
	return ret == -ENOMEM ? ret : 0;
}

/*
 * Whether each path the watch named since the last build means at most that the zone
 * wire is to be read again: a reload of that zone alone then leaves the watch nothing
 * to tell, and settles it, or the next reload would read the zone again, unchanged.
 */
static bool pd__changes_only(const pd_zone_sources_t *cfg, const pd_zoneset_t *old,
                             const uint8_t *wire)
{
	const char *const *paths;
	size_t npaths;
	pd__sources_t s = {0};
	bool only = pd__watch_changes(pd__watch, &paths, &npaths);
	for (size_t i = 0; only && i < npaths; i++)
		only = pd__changed_source(cfg, old, paths[i], false, &s) == 0;
	for (size_t i = 0; only && i < s.n; i++)
		only = s.v[i].wire && pd_name_equal(s.v[i].wire, wire);
	pd__sources_free(&s);
	return only;
}

int pd_zones_build_one(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                       pd_zoneset_t **out, pd_zones_report_t *rep, int *found)
{
	pd__sources_t s = {0}, failed = {0};
	uint8_t wire[PD_NAME_MAX];
	struct timespec t0;
	int ret;

	*out = NULL;
	*found = 0;
	*rep = (pd_zones_report_t){0};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pd_name_from_str(wire, only) < 0)
		return -EINVAL;
	pd_name_lower(wire, wire);
	if (pd__is_secondary(cfg, old, wire)) {
		*found = 1;
		pd_log(PD_LOG_INFO,
		       "zone %s is a secondary: its copy is kept (pindnsctl zone-refresh checks it "
		       "with its primaries)",
		       only);
		ret = old ? pd_zoneset_replace(old, NULL, 0, out) : pd_zoneset_new(out, NULL, 0);
		if (ret == 0)
			rep->serving = rep->unchanged = (*out)->count;
		goto out;
	}
	ret = pd__find_source(cfg, old, only, wire, &s);
	if (ret < 0 || s.n == 0)
		goto out;
	*found = 1;
	/* Drained before the file is read: an event that comes after is kept for the next. */
	bool in_step = pd__watch && old && old->generation == pd__watch_gen;
	if (in_step)
		pd__watch_drain(pd__watch);
	bool settle = in_step && pd__changes_only(cfg, old, s.v[0].wire);
	const pd_zone_t *prev = pd_zoneset_get(old, s.v[0].wire);
	pd__failed_next = &failed;
	pd_zone_t *z = pd__source_zone(cfg, old, &s.v[0], true, rep);
	bool fresh = z && z != prev;
	if (old)
		ret = pd_zoneset_replace(old, &z, fresh, out);
	else
		ret = pd_zoneset_new(out, &z, fresh);
	if (ret == 0)
		pd__failed_drop(s.v[0].wire); /* its entry, if any, is in failed again */
	pd__failed_settle(&failed, ret == 0, false);
	if (ret < 0) {
		if (fresh)
			pd_zone_free(z);
		goto out;
	}
	rep->serving = (*out)->count;
	rep->unchanged = rep->serving - fresh;
	/* One zone read again changes nothing the watch knows of the others. */
	if (settle && fresh)
		pd__watch_built(*out, false);
	else if (in_step)
		pd__watch_gen = (*out)->generation;
out:
	rep->ms = pd__ms_since(&t0);
	pd__sources_free(&s);
	return ret;
}
