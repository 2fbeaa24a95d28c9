/* A compiled zone written out as a zone file, atomically, records formatted by ldns. */
#define _GNU_SOURCE
#include "pindns/zonewrite.h"

#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pindns/xfr.h"

#define PD__WIRE_MAX (PD_NAME_MAX + 10 + 65535) /* owner, fixed fields, longest RDATA */

typedef struct pd__writer {
	FILE *f;
	uint8_t *wire;      /* one record in wire form, for ldns_wire2rr() */
	ldns_buffer *rdata; /* the RDATA of the record read back from its text */
	size_t generic;     /* records ldns could not round-trip, written as RFC 3597 */
	pd_rr_t bad;        /* -EINVAL: the record no text ldns reads back */
} pd__writer_t;

/* The record in wire form (class IN), as a message's answer section holds it. */
static size_t pd__rr_wire(uint8_t *w, const pd_rr_t *rr)
{
	size_t n = rr->owner_len;
	memcpy(w, rr->owner, n);
	w[n++] = (uint8_t)(rr->type >> 8);
	w[n++] = (uint8_t)rr->type;
	w[n++] = 0;
	w[n++] = 1; /* IN */
	for (int s = 24; s >= 0; s -= 8)
		w[n++] = (uint8_t)(rr->ttl >> s);
	w[n++] = (uint8_t)(rr->rdlen >> 8);
	w[n++] = (uint8_t)rr->rdlen;
	memcpy(w + n, rr->rdata, rr->rdlen);
	return n + rr->rdlen;
}

/* Whether text, read by ldns, gives back the record rr: type and RDATA alike. */
static bool pd__reads_back(pd__writer_t *w, const char *text, const pd_rr_t *rr)
{
	ldns_rr *back = NULL;
	bool same = false;
	if (ldns_rr_new_frm_str(&back, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return false;
	ldns_buffer_clear(w->rdata);
	if (ldns_rr_get_type(back) == rr->type && ldns_rr_ttl(back) == rr->ttl &&
	    ldns_rr_rdata2buffer_wire(w->rdata, back) == LDNS_STATUS_OK &&
	    ldns_buffer_position(w->rdata) == rr->rdlen &&
	    memcmp(ldns_buffer_begin(w->rdata), rr->rdata, rr->rdlen) == 0)
		same = true;
	ldns_rr_free(back);
	return same;
}

/* The record in RFC 3597 generic syntax, which ldns reads back for most types. */
static char *pd__generic_text(const pd_rr_t *rr)
{
	ldns_rdf *owner = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, rr->owner_len, rr->owner);
	char *name = owner ? ldns_rdf2str(owner) : NULL, *text = NULL;
	size_t cap = (name ? strlen(name) : 0) + 64 + 2 * (size_t)rr->rdlen;
	if (name && (text = malloc(cap))) {
		int n = snprintf(text, cap, "%s\t%u\tIN\tTYPE%u\t\\# %u ", name, rr->ttl, rr->type,
		                 rr->rdlen);
		for (unsigned i = 0; i < rr->rdlen; i++)
			n += snprintf(text + n, cap - (size_t)n, "%02x", rr->rdata[i]);
		snprintf(text + n, cap - (size_t)n, "\n");
	}
	free(name);
	if (owner)
		ldns_rdf_deep_free(owner);
	return text;
}

/*
 * An RRSIG whose times ldns prints as dates it cannot read back (past 2038, when it
 * wraps to 19xx): the times as the integers RFC 4034 3.2 allows instead.
 */
static void pd__rrsig_int_times(ldns_rr *lrr)
{
	for (size_t i = 4; i <= 5 && i < ldns_rr_rd_count(lrr); i++) {
		const ldns_rdf *t = ldns_rr_rdf(lrr, i);
		ldns_rdf *n =
		    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT32, ldns_rdf_size(t), ldns_rdf_data(t));
		if (n)
			ldns_rdf_deep_free(ldns_rr_set_rdf(lrr, n, i));
	}
}

/* The text of rr that ldns reads back as rr: as ldns formats it, else in other forms. */
static char *pd__rr_text(pd__writer_t *w, const pd_rr_t *rr)
{
	size_t len = pd__rr_wire(w->wire, rr), pos = 0;
	ldns_rr *lrr = NULL;
	char *text = NULL;
	if (ldns_wire2rr(&lrr, w->wire, len, &pos, LDNS_SECTION_ANSWER) == LDNS_STATUS_OK &&
	    pos == len) {
		text = ldns_rr2str_fmt(ldns_output_format_nocomments, lrr);
		if (text && !pd__reads_back(w, text, rr) && rr->type == LDNS_RR_TYPE_RRSIG) {
			free(text);
			pd__rrsig_int_times(lrr);
			text = ldns_rr2str_fmt(ldns_output_format_nocomments, lrr);
		}
	}
	ldns_rr_free(lrr);
	if (text && pd__reads_back(w, text, rr))
		return text;
	free(text);
	w->generic++;
	text = pd__generic_text(rr);
	if (text && pd__reads_back(w, text, rr))
		return text;
	free(text);
	return NULL;
}

/* pd_rr_fn: one record a line. */
static int pd__write_rr(void *arg, const pd_rr_t *rr)
{
	pd__writer_t *w = arg;
	char *text = pd__rr_text(w, rr);
	if (!text) {
		w->bad = *rr;
		return -EINVAL;
	}
	fputs(text, w->f); /* ends with its newline */
	free(text);
	return 0;
}

/* The header: what the file is, and the origin its names are relative to (none are). */
static int pd__write_head(FILE *f, const pd_zone_t *z)
{
	char origin[PD_NAME_TXT_MAX], when[64];
	time_t now = time(NULL);
	struct tm tm;
	ldns_rdf *o = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, z->origin_len, z->origin);
	char *otext = o ? ldns_rdf2str(o) : NULL;
	if (o)
		ldns_rdf_deep_free(o);
	if (!otext)
		return -ENOMEM;
	snprintf(origin, sizeof(origin), "%s", otext);
	free(otext);
	if (!gmtime_r(&now, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof(when), "%lld", (long long)now);
	fprintf(f, "; %s serial %u, %zu records, written by pindnsd at %s\n$ORIGIN %s\n", origin,
	        z->serial, z->record_count, when, origin);
	return 0;
}

/* Makes the rename durable: the folder's entry for path synced. */
static int pd__sync_folder(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = fd < 0 || fsync(fd) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

/* Writes z's records into f; 0 or a negative errno (-EINVAL: says which record in err). */
static int pd__write_all(FILE *f, const pd_zone_t *z, char *err, size_t cap)
{
	pd__writer_t w = {.f = f, .wire = malloc(PD__WIRE_MAX), .rdata = ldns_buffer_new(65536)};
	int ret = -ENOMEM;
	if (w.wire && w.rdata && (ret = pd__write_head(f, z)) == 0)
		ret = pd_zone_foreach(z, pd__write_rr, &w);
	if (ret == -EINVAL) {
		char owner[PD_NAME_TXT_MAX];
		pd_name_to_str(owner, sizeof(owner), w.bad.owner);
		snprintf(err, cap, "the type %u record at %s has no text ldns reads back as it",
		         w.bad.type, owner);
	}
	free(w.wire);
	if (w.rdata)
		ldns_buffer_free(w.rdata);
	return ret;
}

int pd_zone_write(const pd_zone_t *z, const char *path, char *err, size_t cap)
{
	char tmp[4096];
	const char *what = "cannot write";
	int ret;

	/* A name of its own: during an upgrade two pindnsd may write the same zone at once,
	 * and each must rename a whole file of its own into place. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, cap, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd >= 0 && fchmod(fd, 0644) < 0) {
		close(fd);
		unlink(tmp);
		fd = -1;
	}
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, cap, "%s: cannot create: %s", tmp, strerror(-ret));
		return ret;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	char why[PD_NAME_TXT_MAX + 100] = "";
	ret = pd__write_all(f, z, why, sizeof(why));
	if (ret == 0 && (fflush(f) != 0 || ferror(f)))
		ret = -(errno ? errno : EIO);
	if (ret == 0 && fsync(fileno(f)) < 0) {
		ret = -errno;
		what = "cannot sync";
	}
	if (fclose(f) != 0 && ret == 0)
		ret = -(errno ? errno : EIO);
	if (ret == 0 && rename(tmp, path) < 0) {
		ret = -errno;
		what = "cannot rename into place";
	}
	if (ret < 0) {
		snprintf(err, cap, "%s: %s: %s", tmp, what, why[0] ? why : strerror(-ret));
		unlink(tmp);
		return ret;
	}
	ret = pd__sync_folder(path);
	if (ret < 0)
		snprintf(err, cap, "%s: written, but its folder cannot be synced: %s", path,
		         strerror(-ret));
	return ret;
}
