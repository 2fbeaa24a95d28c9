/* Zone files to compiled zones: the only place that knows ldns. */
#define _GNU_SOURCE
#include "pindns/loader.h"

#include <ctype.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <libgen.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/dns.h"

#define PD_INCLUDE_DEPTH 8  /* nested $INCLUDE levels before we call it a loop */
#define PD_LOADER_FILES 128 /* files one zone may pull in; a location keeps 7 bits */
#define PD_LOC_LINE_BITS 24

typedef struct pd__loader {
	pd_zone_builder_t *builder;
	ldns_buffer *rdata;
	char *files[PD_LOADER_FILES];
	int nfiles;
	char *err;
	size_t err_cap;
	uint32_t default_ttl;
} pd__loader_t;

static int pd__loc(int file, int line)
{
	if (line >= (1 << PD_LOC_LINE_BITS))
		line = (1 << PD_LOC_LINE_BITS) - 1;
	return file << PD_LOC_LINE_BITS | line;
}

static int pd__loader_fail(pd__loader_t *l, int loc, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int pd__loader_fail(pd__loader_t *l, int loc, int ret, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int file = loc >> PD_LOC_LINE_BITS, line = loc & ((1 << PD_LOC_LINE_BITS) - 1);
	if (line > 0)
		snprintf(l->err, l->err_cap, "%s:%d: %s", l->files[file], line, msg);
	else
		snprintf(l->err, l->err_cap, "%s: %s", l->files[file], msg);
	return ret;
}

static int pd__read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (n + 4096 + 2 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 2, f);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	/* ldns counts a line when it sees its newline: make sure the last one has one. */
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int pd__add_rr(pd__loader_t *l, ldns_rr *rr, int loc)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		char *cls = ldns_rr_class2str(ldns_rr_get_class(rr));
		int ret = pd__loader_fail(
		    l, loc, -EINVAL, "class %s records are not served (only IN)", cls ? cls : "?");
		free(cls);
		return ret;
	}
	ldns_buffer_clear(l->rdata);
	if (ldns_rr_rdata2buffer_wire(l->rdata, rr) != LDNS_STATUS_OK ||
	    ldns_buffer_position(l->rdata) > UINT16_MAX)
		return pd__loader_fail(l, loc, -EINVAL, "RDATA too long");
	int ret = pd_zone_builder_add(l->builder, ldns_rdf_data(owner), ldns_rr_get_type(rr),
	                              ldns_rr_ttl(rr), ldns_buffer_begin(l->rdata),
	                              (uint16_t)ldns_buffer_position(l->rdata), loc);
	if (ret < 0)
		return pd__loader_fail(l, pd_zone_builder_error_loc(l->builder), ret, "%s",
		                       ret == -ENOMEM ? "out of memory"
		                                      : pd_zone_builder_error(l->builder));
	return 0;
}

/* Parses one stretch of a file without $INCLUDE lines, starting at line first_line. */
static int pd__parse_segment(pd__loader_t *l, int file, char *text, size_t len, int first_line,
                             ldns_rdf **origin, ldns_rdf **prev)
{
	FILE *f = fmemopen(text, len, "r");
	int line = first_line;
	int ret = 0;

	if (!f)
		return pd__loader_fail(l, pd__loc(file, first_line), -errno, "%s", strerror(errno));
	/* ldns reads a character at a time; the stream is ours alone, so skip its lock. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	for (;;) {
		ldns_rr *rr = NULL;
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &l->default_ttl, origin, prev, &line);
		/* ldns has counted the record's last newline: the record ends on line - 1. */
		int loc = pd__loc(file, line - 1);
		if (s == LDNS_STATUS_OK) {
			ret = pd__add_rr(l, rr, loc);
			ldns_rr_free(rr);
			if (ret < 0)
				break;
		} else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_ORIGIN &&
		           s != LDNS_STATUS_SYNTAX_TTL) {
			ldns_rr_free(rr);
			ret = pd__loader_fail(l, loc, -EINVAL, "%s", ldns_get_errorstr_by_id(s));
			break;
		}
		if (feof(f))
			break;
	}
	fclose(f);
	return ret;
}

static int pd__load_file(pd__loader_t *l, const char *path, ldns_rdf *origin_in, int depth,
                         int parent_loc);

/* "$INCLUDE file [origin]" (RFC 1035 5.1). */
static int pd__include(pd__loader_t *l, int file, int line, char *args, ldns_rdf *origin, int depth)
{
	char *save = NULL;
	char *name = strtok_r(args, " \t\r\n", &save);
	char *inc_origin = strtok_r(NULL, " \t\r\n", &save);
	char *extra = strtok_r(NULL, " \t\r\n", &save);
	int loc = pd__loc(file, line);
	char path[4096];
	ldns_rdf *o = NULL;

	if (!name || (extra && extra[0] != ';'))
		return pd__loader_fail(l, loc, -EINVAL, "$INCLUDE takes a file name and an origin");
	if (inc_origin && inc_origin[0] == ';')
		inc_origin = NULL;
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		char *dir = strdup(l->files[file]);
		if (!dir)
			return -ENOMEM;
		snprintf(path, sizeof(path), "%s/%s", dirname(dir), name);
		free(dir);
	}
	if (inc_origin) {
		if (ldns_str2rdf_dname(&o, inc_origin) != LDNS_STATUS_OK)
			return pd__loader_fail(l, loc, -EINVAL, "bad $INCLUDE origin '%s'",
			                       inc_origin);
		if (!ldns_dname_str_absolute(inc_origin)) {
			ldns_rdf *abs = ldns_dname_cat_clone(o, origin);
			ldns_rdf_deep_free(o);
			o = abs;
		}
	} else {
		o = ldns_rdf_clone(origin);
	}
	if (depth + 1 > PD_INCLUDE_DEPTH) {
		ldns_rdf_deep_free(o);
		return pd__loader_fail(l, loc, -ELOOP, "$INCLUDE nested more than %d deep",
		                       PD_INCLUDE_DEPTH);
	}
	int ret = pd__load_file(l, path, o, depth + 1, loc);
	ldns_rdf_deep_free(o);
	return ret;
}

static int pd__load_file(pd__loader_t *l, const char *path, ldns_rdf *origin_in, int depth,
                         int parent_loc)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (l->nfiles == PD_LOADER_FILES)
		return pd__loader_fail(l, parent_loc, -EMFILE, "more than %d included files",
		                       PD_LOADER_FILES);
	ret = pd__read_file(path, &text, &len);
	if (ret < 0) {
		if (depth == 0) {
			snprintf(l->err, l->err_cap, "%s: %s", path, strerror(-ret));
			return ret;
		}
		return pd__loader_fail(l, parent_loc, ret, "cannot read included %s: %s", path,
		                       strerror(-ret));
	}
	/* Master files run 20 to 40 bytes a record: reserve for the denser case. */
	if (depth == 0)
		pd_zone_builder_reserve(l->builder, len / 20 + 16, len / 2 + 64);
	int file = l->nfiles;
	l->files[l->nfiles] = strdup(path);
	if (!l->files[l->nfiles]) {
		free(text);
		return -ENOMEM;
	}
	l->nfiles++;

	/* The origin goes back to the includer's after an included file (RFC 1035 5.1). */
	ldns_rdf *origin = ldns_rdf_clone(origin_in);
	ldns_rdf *prev = NULL;
	size_t seg = 0;
	int seg_line = 1, line = 1;
	for (size_t pos = 0; pos < len; line++) {
		char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (strncasecmp(text + pos, "$INCLUDE", 8) == 0 &&
		    isspace((unsigned char)text[pos + 8])) {
			if (pos > seg) {
				ret = pd__parse_segment(l, file, text + seg, pos - seg, seg_line,
				                        &origin, &prev);
				if (ret < 0)
					goto out;
			}
			text[end - 1] = '\0';
			ret = pd__include(l, file, line, text + pos + 8, origin, depth);
			if (ret < 0)
				goto out;
			seg = end;
			seg_line = line + 1;
		}
		pos = end;
	}
	if (len > seg)
		ret = pd__parse_segment(l, file, text + seg, len - seg, seg_line, &origin, &prev);
out:
	ldns_rdf_deep_free(origin);
	if (prev)
		ldns_rdf_deep_free(prev);
	free(text);
	return ret;
}

int pd_zone_load(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                 size_t err_cap)
{
	pd__loader_t l;
	int ret = -ENOMEM;
	char otxt[PD_NAME_TXT_MAX];

	*out = NULL;
	memset(&l, 0, sizeof(l));
	l.err = err;
	l.err_cap = err_cap;
	l.default_ttl = 3600; /* without $TTL or a TTL on the record, as NSD and BIND */
	err[0] = '\0';
	pd_name_to_str(otxt, sizeof(otxt), origin);
	ldns_rdf *o = ldns_dname_new_frm_str(otxt);
	l.builder = pd_zone_builder_new(origin);
	l.rdata = ldns_buffer_new(65536);
	if (!o || !l.builder || !l.rdata) {
		snprintf(err, err_cap, "%s: out of memory", path);
		goto out;
	}
	ret = pd__load_file(&l, path, o, 0, 0);
	if (ret < 0)
		goto out;
	ret = pd_zone_builder_finish(l.builder, out);
	if (ret < 0) {
		int loc = pd_zone_builder_error_loc(l.builder);
		pd__loader_fail(&l, loc, ret, "%s", pd_zone_builder_error(l.builder));
	}
out:
	if (ret < 0 && !err[0])
		snprintf(err, err_cap, "%s: %s", path, strerror(-ret));
	ldns_rdf_deep_free(o);
	pd_zone_builder_free(l.builder);
	if (l.rdata)
		ldns_buffer_free(l.rdata);
	for (int i = 0; i < l.nfiles; i++)
		free(l.files[i]);
	return ret;
}
