/* Zone sources from the configuration, loaded into a zone set; failures keep old data. */
#define _GNU_SOURCE
#include "pindns/zonesrc.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pindns/loader.h"
#include "pindns/log.h"

typedef struct pd__source {
	char origin[PD_NAME_TXT_MAX];
	char path[PATH_MAX];
} pd__source_t;

static int pd__name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the *.zone files of dir, sorted, to the source list. */
static int pd__scan_dir(const char *dir, pd__source_t **src, size_t *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t count = 0;
	int ret = 0;

	if (!d) {
		pd_log(PD_LOG_ERR, "cannot read zones-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".zone") != 0 || de->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (count + 1) * sizeof(*nn));
		if (!nn || !(nn[count] = strdup(de->d_name))) {
			names = nn ? nn : names;
			ret = -ENOMEM;
			break;
		}
		names = nn;
		count++;
	}
	closedir(d);
	if (ret == 0 && count)
		qsort(names, count, sizeof(*names), pd__name_cmp);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		pd__source_t *ns = realloc(*src, (*n + 1) * sizeof(*ns));
		if (!ns) {
			ret = -ENOMEM;
			break;
		}
		*src = ns;
		size_t len = strlen(names[i]);
		snprintf(ns[*n].origin, sizeof(ns[*n].origin), "%.*s", (int)(len - 5), names[i]);
		snprintf(ns[*n].path, sizeof(ns[*n].path), "%s/%s", dir, names[i]);
		(*n)++;
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return ret;
}

/*
 * The files each serving zone was loaded from, so a reload can skip zones whose files
 * did not change. Only the thread that builds zone sets touches it.
 */
typedef struct pd__zone_files {
	const pd_zone_t *zone;
	char *source; /* the configured path */
	pd_zone_files_t files;
} pd__zone_files_t;

static pd__zone_files_t *pd__registry;
static size_t pd__registry_len;

static pd__zone_files_t *pd__registry_find(const pd_zone_t *z)
{
	for (size_t i = 0; i < pd__registry_len; i++)
		if (pd__registry[i].zone == z)
			return &pd__registry[i];
	return NULL;
}

/* Keeps the entries of zones in keep, frees the others. */
static void pd__registry_prune(const pd_zone_t *const *keep, size_t nkeep)
{
	size_t out = 0;
	for (size_t i = 0; i < pd__registry_len; i++) {
		bool kept = false;
		for (size_t j = 0; j < nkeep && !kept; j++)
			kept = keep[j] == pd__registry[i].zone;
		if (kept) {
			pd__registry[out++] = pd__registry[i];
		} else {
			pd_zone_files_clear(&pd__registry[i].files);
			free(pd__registry[i].source);
		}
	}
	pd__registry_len = out;
	if (out == 0) {
		free(pd__registry);
		pd__registry = NULL;
	}
}

static void pd__registry_add(const pd_zone_t *z, const char *source, pd_zone_files_t *files)
{
	pd__zone_files_t *n = realloc(pd__registry, (pd__registry_len + 1) * sizeof(*n));
	if (!n) {
		pd_zone_files_clear(files);
		return;
	}
	pd__registry = n;
	n[pd__registry_len].zone = z;
	n[pd__registry_len].source = strdup(source);
	n[pd__registry_len].files = *files;
	files->count = 0;
	pd__registry_len++;
}

static const pd_zone_t *pd__old_zone(const pd_zoneset_t *old, const uint8_t *origin)
{
	for (size_t i = 0; old && i < old->count; i++)
		if (pd_name_equal(old->zones[i]->origin, origin))
			return old->zones[i];
	return NULL;
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
static void pd__warn_kept_sigs(const char *origin, const pd_zone_t *z, uint32_t window)
{
	int64_t now = (int64_t)time(NULL), at;
	char when[64];
	if (window && pd_zone_sig_expiry(z, now, &at, when, sizeof(when)) && at <= now + window)
		pd_log(PD_LOG_WARN, "zone %s: warning: a signature %s %s; re-sign the zone", origin,
		       at <= now ? "expired" : "expires", when);
}

/* The log line of a zone just loaded: records, how it is signed, serial, warnings, time. */
static void pd__log_loaded(const char *origin, const char *path, const pd_zone_t *z,
                           unsigned warnings, double ms)
{
	char signed_as[32] = "", warned[32] = "", when[64], expiry[96] = "";
	int64_t at;
	if (pd_zone_dnssec_str(z))
		snprintf(signed_as, sizeof(signed_as), ", signed (%s)", pd_zone_dnssec_str(z));
	if (warnings)
		snprintf(warned, sizeof(warned), ", %u warning%s", warnings,
		         warnings > 1 ? "s" : "");
	if (pd_zone_sig_expiry(z, (int64_t)time(NULL), &at, when, sizeof(when)))
		snprintf(expiry, sizeof(expiry), "; earliest signature expiry %s", when);
	pd_log(PD_LOG_INFO, "zone %s loaded from %s: %zu records%s, serial %u%s, %.1f ms%s", origin,
	       path, z->record_count, signed_as, z->serial, warned, ms, expiry);
}

static int pd__zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                           pd_zoneset_t **out, int *failed, int *found);

int pd_zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, pd_zoneset_t **out,
                   int *failed)
{
	int found;
	return pd__zones_build(cfg, old, NULL, out, failed, &found);
}

int pd_zones_build_one(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                       pd_zoneset_t **out, int *failed, int *found)
{
	return pd__zones_build(cfg, old, only, out, failed, found);
}

static int pd__zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                           pd_zoneset_t **out, int *failed, int *found)
{
	pd__source_t *src = NULL;
	size_t nsrc = 0;
	pd_zone_t **zones = NULL;
	size_t nzones = 0;
	int ret = 0;

	*out = NULL;
	*failed = 0;
	*found = 0;
	uint8_t only_wire[PD_NAME_MAX];
	if (only && pd_name_from_str(only_wire, only) < 0) {
		*found = -1;
		only = NULL;
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		pd__source_t *ns = realloc(src, (nsrc + 1) * sizeof(*ns));
		if (!ns) {
			ret = -ENOMEM;
			goto out;
		}
		src = ns;
		snprintf(src[nsrc].origin, sizeof(src[nsrc].origin), "%s", cfg->zones[i].origin);
		snprintf(src[nsrc].path, sizeof(src[nsrc].path), "%s", cfg->zones[i].file);
		nsrc++;
	}
	bool dir_unreadable = cfg->zones_dir && pd__scan_dir(cfg->zones_dir, &src, &nsrc) < 0;
	if (dir_unreadable)
		(*failed)++;
	zones = calloc(nsrc + (old ? old->count : 0) + 1, sizeof(*zones));
	if (!zones) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nsrc; i++) {
		uint8_t origin[PD_NAME_MAX];
		char err[1024];
		pd_zone_t *z = NULL;
		struct timespec t0, t1;

		if (pd_name_from_str(origin, src[i].origin) < 0) {
			pd_log(PD_LOG_ERR, "zone '%s' (%s) not served: not a valid domain name",
			       src[i].origin, src[i].path);
			(*failed)++;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < nzones && !dup; j++)
			dup = pd_name_equal(zones[j]->origin, origin);
		if (dup) {
			pd_log(PD_LOG_ERR,
			       "zone %s from %s not served: the zone is already loaded "
			       "from another file",
			       src[i].origin, src[i].path);
			(*failed)++;
			continue;
		}
		/* Unchanged files: keep serving what was compiled from them. */
		const pd_zone_t *prev = pd__old_zone(old, origin);
		pd__zone_files_t *reg = prev ? pd__registry_find(prev) : NULL;
		bool wanted = only && pd_name_equal(origin, only_wire);
		if (wanted)
			*found = 1;
		if (prev && only && !wanted) {
			zones[nzones++] = (pd_zone_t *)prev; /* not the one asked for */
			continue;
		}
		if (!wanted && reg && reg->source && strcmp(reg->source, src[i].path) == 0 &&
		    pd_zone_files_unchanged(&reg->files)) {
			pd_log(PD_LOG_INFO, "zone %s: %s unchanged, serial %u kept", src[i].origin,
			       src[i].path, prev->serial);
			pd__warn_kept_sigs(src[i].origin, prev, cfg->sig_warn_secs);
			zones[nzones++] = (pd_zone_t *)prev;
			continue;
		}
		pd_zone_files_t *files = calloc(1, sizeof(*files));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pd_zone_load_opts_t opts = {.files = files,
		                            .sig_warn_secs = cfg->sig_warn_secs,
		                            .warn = pd__log_warning,
		                            .warn_arg = src[i].origin};
		int rc = pd_zone_load_ex(src[i].path, origin, &z, err, sizeof(err), &opts);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc == 0 && files) {
			pd__registry_add(z, src[i].path, files);
		} else if (files) {
			pd_zone_files_clear(files);
		}
		free(files);
		if (rc < 0) {
			const pd_zone_t *keep = pd__old_zone(old, origin);
			(*failed)++;
			if (keep) {
				pd_log(PD_LOG_ERR,
				       "zone %s: reload failed, still serving serial %u: %s",
				       src[i].origin, keep->serial, err);
				zones[nzones++] = (pd_zone_t *)keep;
			} else {
				pd_log(PD_LOG_ERR, "zone %s not served: %s", src[i].origin, err);
			}
			continue;
		}
		double ms =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		z->loaded_unix = (int64_t)time(NULL);
		pd__log_loaded(src[i].origin, src[i].path, z, opts.warnings, ms);
		zones[nzones++] = z;
	}
	/*
	 * A zones-dir that cannot be read now (gone, or not readable by the user we run as)
	 * says nothing about its zones: keep serving the old ones, as for a zone that fails.
	 */
	for (size_t i = 0; dir_unreadable && old && i < old->count; i++) {
		bool listed = false;
		for (size_t j = 0; j < nzones && !listed; j++)
			listed = pd_name_equal(zones[j]->origin, old->zones[i]->origin);
		if (!listed) {
			char o[PD_NAME_TXT_MAX];
			pd_name_to_str(o, sizeof(o), old->zones[i]->origin);
			pd_log(PD_LOG_ERR, "zone %s: still serving serial %u", o,
			       old->zones[i]->serial);
			zones[nzones++] = old->zones[i];
		}
	}
	ret = pd_zoneset_new(out, zones, nzones);
	pd__registry_prune((const pd_zone_t *const *)zones, ret == 0 ? nzones : 0);
	if (ret < 0) {
		for (size_t i = 0; i < nzones; i++)
			if (!old || !pd__old_zone(old, zones[i]->origin) ||
			    pd__old_zone(old, zones[i]->origin) != zones[i])
				pd_zone_free(zones[i]);
	}
out:
	free(zones);
	free(src);
	return ret;
}
