/* Zone files to compiled zones: the only place that knows ldns. */
#define _GNU_SOURCE
#include "pindns/loader.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <libgen.h>
#include <time.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pindns/dns.h"
#include "pindns/log.h"

#include "fastrr.h"

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
	pd_zone_file_t seen[PD_LOADER_FILES]; /* what identified each file read (path unset) */
	bool seen_ok[PD_LOADER_FILES];        /* its stat() worked */
	/* Progress on a terminal: records parsed so far, and whether it is shown. */
	size_t parsed;
	bool prints; /* a progress line was drawn */
	const char *zone_path;
	struct timespec started, printed;
} pd__loader_t;

#define PD_PROGRESS_STEP 4096 /* records between looks at the clock for the progress line */

/* After a second of loading, shows on a terminal how far it got, twice a second. */
static void pd__progress(pd__loader_t *l)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double since = (double)(now.tv_sec - l->started.tv_sec) +
	               (double)(now.tv_nsec - l->started.tv_nsec) / 1e9;
	double last = (double)(now.tv_sec - l->printed.tv_sec) +
	              (double)(now.tv_nsec - l->printed.tv_nsec) / 1e9;
	if (since < 1.0 || last < 0.5)
		return;
	l->printed = now;
	l->prints = true;
	pd_log_progress("loading %s: %zu records so far", l->zone_path, l->parsed);
}

static int pd__loc(int file, int line)
{
	if (line >= (1 << PD_LOC_LINE_BITS))
		line = (1 << PD_LOC_LINE_BITS) - 1;
	return file << PD_LOC_LINE_BITS | line;
}

/* Writes "file:line: text" for a location of pd__loc(), or "file: text" without a line. */
static void pd__at(const pd__loader_t *l, int loc, const char *text, char *out, size_t cap)
{
	int file = loc >> PD_LOC_LINE_BITS, line = loc & ((1 << PD_LOC_LINE_BITS) - 1);
	const char *name = file < l->nfiles ? l->files[file] : l->zone_path;
	if (line > 0)
		snprintf(out, cap, "%s:%d: %s", name, line, text);
	else
		snprintf(out, cap, "%s: %s", name, text);
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
	pd__at(l, loc, msg, l->err, l->err_cap);
	return ret;
}

/*
 * The most a zone file may hold: its records' data is addressed with 32-bit offsets, and a
 * file that never ends (a device, one growing while read) must not take all memory.
 */
#define PD_ZONE_FILE_MAX ((size_t)4 << 30)
#define PD__ENOTREG EMEDIUMTYPE /* our code for "not a regular file" (pd__read_strerror) */

/* What pd__read_file()'s negative errno means, for the messages. */
static const char *pd__read_strerror(int ret)
{
	return ret == -PD__ENOTREG ? "not a regular file" : strerror(-ret);
}

static int pd__read_file(const char *path, char **out, size_t *len)
{
	/* O_NONBLOCK: a FIFO opens at once (to be refused) instead of waiting for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf = NULL;
	size_t cap = 0, n = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int ret = fstat(fd, &st) < 0    ? -errno
		          : S_ISDIR(st.st_mode) ? -EISDIR
		                                : -PD__ENOTREG;
		close(fd);
		return ret;
	}
	if ((unsigned long long)st.st_size > PD_ZONE_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n + 4096 + 2 > cap) {
			if (cap > PD_ZONE_FILE_MAX) { /* it grew while read */
				free(buf);
				fclose(f);
				return -EFBIG;
			}
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

/* Adds one record in wire form to the builder. */
static int pd__add_wire(pd__loader_t *l, const uint8_t *owner, uint16_t type, uint32_t ttl,
                        const uint8_t *rdata, uint16_t rdlen, int loc)
{
	int ret = pd_zone_builder_add(l->builder, owner, type, ttl, rdata, rdlen, loc);
	if (ret < 0)
		return pd__loader_fail(l, pd_zone_builder_error_loc(l->builder), ret, "%s",
		                       ret == -ENOMEM ? "out of memory"
		                                      : pd_zone_builder_error(l->builder));
	return 0;
}

static int pd__add_rr(pd__loader_t *l, ldns_rr *rr, int loc)
{
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
	return pd__add_wire(l, ldns_rdf_data(ldns_rr_owner(rr)), ldns_rr_get_type(rr),
	                    ldns_rr_ttl(rr), ldns_buffer_begin(l->rdata),
	                    (uint16_t)ldns_buffer_position(l->rdata), loc);
}

/* Counts a parsed record toward the progress line. */
static void pd__count(pd__loader_t *l)
{
	if (++l->parsed % PD_PROGRESS_STEP == 0)
		pd__progress(l);
}

/* ldns's origin and previous owner as the fast parser keeps them (wire form). */
static void pd__fast_sync_in(pd__fastrr_t *fc, const ldns_rdf *origin, const ldns_rdf *prev)
{
	fc->origin_len = ldns_rdf_size(origin);
	memcpy(fc->origin, ldns_rdf_data(origin), fc->origin_len);
	fc->prev_len = prev ? ldns_rdf_size(prev) : 0;
	if (prev)
		memcpy(fc->prev, ldns_rdf_data(prev), fc->prev_len);
}

/* The fast parser's previous owner back into ldns's, when it moved on since. */
static int pd__fast_sync_out(const pd__fastrr_t *fc, ldns_rdf **prev)
{
	if (!fc->prev_len || (*prev && ldns_rdf_size(*prev) == fc->prev_len &&
	                      memcmp(ldns_rdf_data(*prev), fc->prev, fc->prev_len) == 0))
		return 0;
	ldns_rdf *p = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, fc->prev_len, fc->prev);
	if (!p)
		return -ENOMEM;
	if (*prev)
		ldns_rdf_deep_free(*prev);
	*prev = p;
	return 0;
}

/* The most characters of a record's RDATA ldns keeps (measured: ldns 1.8.3 cuts the RDATA
 * text from its 65,537th character on, whatever comes before it on the line). */
#define PD__LDNS_RDATA_TEXT_MAX 65535

/*
 * Where the RDATA text of the record at text (len bytes) starts: past its type, the
 * mnemonic type_name or TYPEnnn, at most the fourth token (owner, TTL, class, type; a
 * line starting with a blank has no owner). text itself when the type is not found.
 */
static const char *pd__rdata_text(const char *text, size_t len, const char *type_name,
                                  unsigned type)
{
	char generic[16];
	snprintf(generic, sizeof(generic), "TYPE%u", type);
	size_t i = 0;
	for (int tok = 0; tok < 4 && i < len; tok++) {
		while (i < len && (isspace((unsigned char)text[i]) || text[i] == '('))
			i++;
		size_t start = i;
		while (i < len && !isspace((unsigned char)text[i]) && text[i] != '(')
			i++;
		size_t n = i - start;
		bool owner = tok == 0 && start == 0;
		if (!owner &&
		    ((type_name && n == strlen(type_name) &&
		      strncasecmp(text + start, type_name, n) == 0) ||
		     (n == strlen(generic) && strncasecmp(text + start, generic, n) == 0)))
			return text + i;
	}
	return text;
}

/*
 * Whether ldns just cut the RDATA of the record it read from text (len bytes): it keeps
 * PD__LDNS_RDATA_TEXT_MAX characters of it and drops the rest without a word, so a 100
 * MB TXT would load as its first 64 KiB. Counts the RDATA text as ldns does, near enough
 * never to miss a cut: comments and parentheses out, quotes and blanks in (one more
 * blank may make it refuse a record a few characters short of the limit).
 */
static bool pd__cut_by_ldns(const char *text, size_t len, const ldns_rr *rr)
{
	size_t kept = 0;
	bool quoted = false;
	if (len < PD__LDNS_RDATA_TEXT_MAX)
		return false;
	char *name = ldns_rr_type2str(ldns_rr_get_type(rr));
	const char *p = pd__rdata_text(text, len, name, ldns_rr_get_type(rr));
	free(name);
	const char *end = text + len;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end) {
			kept += 2;
			p++;
		} else if (*p == '"') {
			quoted = !quoted;
			kept++;
		} else if (*p == ';' && !quoted) {
			while (p + 1 < end && p[1] != '\n')
				p++;
		} else if (quoted || (*p != '(' && *p != ')')) {
			kept++;
		}
	}
	return kept >= PD__LDNS_RDATA_TEXT_MAX;
}

/* Has ldns read the one record (or directive) at text + *pos, and moves *pos past it. */
static int pd__parse_ldns(pd__loader_t *l, FILE *f, const char *text, int file, size_t *pos,
                          int *line, ldns_rdf **origin, ldns_rdf **prev)
{
	ldns_rr *rr = NULL;
	int ret = 0, first = *line;
	if (fseek(f, (long)*pos, SEEK_SET) < 0)
		return pd__loader_fail(l, pd__loc(file, *line), -errno, "%s", strerror(errno));
	ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &l->default_ttl, origin, prev, line);
	/* ldns has counted the record's last newline: the record ends on line - 1. */
	int loc = pd__loc(file, *line - 1);
	long end = ftell(f);
	if (s == LDNS_STATUS_OK && end > 0 && pd__cut_by_ldns(text + *pos, (size_t)end - *pos, rr))
		ret = pd__loader_fail(l, pd__loc(file, first), -EINVAL,
		                      "RDATA of 65,535 characters or more: refused, since ldns, "
		                      "which reads it, keeps only its first 65,536 and drops the "
		                      "rest without an error");
	else if (s == LDNS_STATUS_OK)
		ret = pd__add_rr(l, rr, loc);
	else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_ORIGIN &&
	         s != LDNS_STATUS_SYNTAX_TTL)
		ret = pd__loader_fail(l, loc, -EINVAL, "%s", ldns_get_errorstr_by_id(s));
	ldns_rr_free(rr);
	*pos = feof(f) || end < 0 ? SIZE_MAX : (size_t)end;
	return ret < 0 ? ret : s == LDNS_STATUS_OK;
}

/*
 * Parses one stretch of a file without $INCLUDE lines, starting at line first_line.
 * Lines the fast parser takes (most of any zone file) skip ldns, whose tokenizer and
 * allocations cost several times the rest of loading; ldns reads the others from the
 * same place, and the two hand each other the origin and the previous owner.
 */
static int pd__parse_segment(pd__loader_t *l, int file, char *text, size_t len, int first_line,
                             ldns_rdf **origin, ldns_rdf **prev)
{
	FILE *f = fmemopen(text, len, "r");
	pd__fastrr_t *fc = malloc(sizeof(*fc));
	int line = first_line;
	int ret = 0;

	if (!f || !fc) {
		ret = pd__loader_fail(l, pd__loc(file, first_line), -ENOMEM, "out of memory");
		goto out;
	}
	/* ldns reads a character at a time; the stream is ours alone, so skip its lock. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	fc->default_ttl = &l->default_ttl;
	pd__fast_sync_in(fc, *origin, *prev);
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - text) : len;
		int r = pd__fastrr_parse(fc, text + pos, eol - pos);
		if (r == PD__FASTRR_RR) {
			ret = pd__add_wire(l, fc->prev, fc->type, fc->ttl, fc->rdata, fc->rdlen,
			                   pd__loc(file, line));
			if (ret < 0)
				goto out;
			pd__count(l);
		}
		if (r != PD__FASTRR_NO) {
			line++;
			pos = eol + 1;
			/* What ldns skips after each line it reads (ldns_fskipcs_l), so that the
			 * next line starts where it would have had ldns read this one. */
			for (; pos < len && strchr("\f\n\r\v", text[pos]) && text[pos]; pos++)
				line += text[pos] == '\n';
			continue;
		}
		ret = pd__fast_sync_out(fc, prev);
		if (ret < 0)
			goto out;
		ret = pd__parse_ldns(l, f, text, file, &pos, &line, origin, prev);
		if (ret < 0)
			goto out;
		if (ret > 0)
			pd__count(l);
		pd__fast_sync_in(fc, *origin, *prev);
	}
	ret = pd__fast_sync_out(fc, prev);
out:
	if (f)
		fclose(f);
	free(fc);
	return ret < 0 ? ret : 0;
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
	struct stat st;
	l->seen_ok[l->nfiles] = stat(path, &st) == 0;
	if (l->seen_ok[l->nfiles])
		l->seen[l->nfiles] = (pd_zone_file_t){
		    .dev = st.st_dev,
		    .ino = st.st_ino,
		    .size = (unsigned long long)st.st_size,
		    .mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
	ret = pd__read_file(path, &text, &len);
	if (ret < 0) {
		if (depth == 0) {
			snprintf(l->err, l->err_cap, "%s: %s", path, pd__read_strerror(ret));
			return ret;
		}
		return pd__loader_fail(l, parent_loc, ret, "cannot read included %s: %s", path,
		                       pd__read_strerror(ret));
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
	/* line is the number of the line at text + counted; seg starts the next segment. */
	size_t seg = 0, from = 0, counted = 0;
	int seg_line = 1, line = 1;
	/* Directives are rare: jump from '$' to '$' rather than look at every line. */
	for (char *d; from < len && (d = memchr(text + from, '$', len - from));) {
		size_t pos = (size_t)(d - text);
		from = pos + 1;
		if ((pos > 0 && text[pos - 1] != '\n') || strncasecmp(d, "$INCLUDE", 8) != 0 ||
		    !isspace((unsigned char)d[8]))
			continue;
		for (char *q; (q = memchr(text + counted, '\n', pos - counted));
		     counted = (size_t)(q - text) + 1)
			line++;
		char *nl = memchr(d, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (pos > seg) {
			ret = pd__parse_segment(l, file, text + seg, pos - seg, seg_line, &origin,
			                        &prev);
			if (ret < 0)
				goto out;
		}
		text[end - 1] = '\0';
		ret = pd__include(l, file, line, text + pos + 8, origin, depth);
		if (ret < 0)
			goto out;
		seg = counted = from = end;
		seg_line = ++line;
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
	return pd_zone_load_ex(path, origin, out, err, err_cap, NULL);
}

/* The files l read, in one block: the array, then their paths. NULL when out of memory. */
static pd_zone_files_t *pd__files_pack(const pd__loader_t *l)
{
	size_t count = 0, bytes = 0;
	for (int i = 0; i < l->nfiles; i++)
		if (l->seen_ok[i]) {
			count++;
			bytes += strlen(l->files[i]) + 1;
		}
	size_t head = sizeof(pd_zone_files_t) + count * sizeof(pd_zone_file_t);
	pd_zone_files_t *f = malloc(head + bytes);
	if (!f)
		return NULL;
	char *paths = (char *)f + head;
	f->count = 0;
	f->stale = false;
	for (int i = 0; i < l->nfiles; i++) {
		if (!l->seen_ok[i])
			continue;
		size_t n = strlen(l->files[i]) + 1;
		f->file[f->count] = l->seen[i];
		f->file[f->count++].path = memcpy(paths, l->files[i], n);
		paths += n;
	}
	return f;
}

bool pd_zone_files_unchanged(const pd_zone_files_t *files)
{
	for (unsigned i = 0; i < files->count; i++) {
		struct stat st;
		if (stat(files->file[i].path, &st) < 0 || st.st_dev != files->file[i].dev ||
		    st.st_ino != files->file[i].ino ||
		    (unsigned long long)st.st_size != files->file[i].size ||
		    (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec !=
		        files->file[i].mtime_ns)
			return false;
	}
	return files->count > 0;
}

typedef struct pd__warning {
	int loc;
	unsigned i; /* the builder's order, for equal locations */
} pd__warning_t;

static int pd__warning_cmp(const void *a, const void *b)
{
	const pd__warning_t *x = a, *y = b;
	if (x->loc != y->loc)
		return x->loc < y->loc ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Hands the builder's warnings, with their file and line, to opts->warn in file order:
 * the compiler meets records in its own order, which tells an operator nothing.
 */
static void pd__warnings(const pd__loader_t *l, pd_zone_load_opts_t *opts)
{
	char what[700], text[1400];
	pd__warning_t kept[PD_ZONE_WARN_MAX];
	unsigned n = pd_zone_builder_warning_count(l->builder), nkept = 0;
	opts->warnings = n;
	if (!opts->warn)
		return;
	for (; nkept < n && nkept < PD_ZONE_WARN_MAX; nkept++) {
		kept[nkept].i = nkept;
		pd_zone_builder_warning(l->builder, nkept, &kept[nkept].loc);
	}
	qsort(kept, nkept, sizeof(*kept), pd__warning_cmp);
	for (unsigned k = 0; k < nkept; k++) {
		int loc;
		snprintf(what, sizeof(what), "warning: %s",
		         pd_zone_builder_warning(l->builder, kept[k].i, &loc));
		pd__at(l, loc, what, text, sizeof(text));
		opts->warn(opts->warn_arg, text);
	}
	if (n > nkept) {
		snprintf(what, sizeof(what), "... and %u more warnings", n - nkept);
		pd__at(l, 0, what, text, sizeof(text));
		opts->warn(opts->warn_arg, text);
	}
}

int pd_zone_load_ex(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                    size_t err_cap, pd_zone_load_opts_t *opts)
{
	pd__loader_t l;
	int ret = -ENOMEM;
	char otxt[PD_NAME_TXT_MAX];
	pd_zone_load_opts_t none = {0};

	if (!opts)
		opts = &none;
	opts->warnings = 0;
	*out = NULL;
	memset(&l, 0, sizeof(l));
	l.err = err;
	l.err_cap = err_cap;
	l.default_ttl = 3600; /* without $TTL or a TTL on the record, as NSD and BIND */
	if (opts->files)
		*opts->files = NULL;
	l.zone_path = path;
	clock_gettime(CLOCK_MONOTONIC, &l.started);
	l.printed = l.started;
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
	if (l.prints)
		pd_log_progress_end();
	if (ret < 0)
		goto out;
	if (opts->sig_warn_secs)
		pd_zone_builder_check_sigs(l.builder, opts->now ? opts->now : (int64_t)time(NULL),
		                           opts->sig_warn_secs);
	ret = pd_zone_builder_finish(l.builder, out);
	if (ret < 0) {
		int loc = pd_zone_builder_error_loc(l.builder);
		pd__loader_fail(&l, loc, ret, "%s", pd_zone_builder_error(l.builder));
	}
	/* Before the file names go: the warnings name them. */
	pd__warnings(&l, opts);
	if (ret == 0 && opts->files && !(*opts->files = pd__files_pack(&l))) {
		snprintf(err, err_cap, "%s: out of memory", path);
		pd_zone_free(*out);
		*out = NULL;
		ret = -ENOMEM;
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

const char *pd_zone_dnssec_str(const pd_zone_t *z)
{
	return z->dnssec == PD_ZONE_NSEC ? "NSEC" : z->dnssec == PD_ZONE_NSEC3 ? "NSEC3" : NULL;
}

bool pd_zone_sig_expiry(const pd_zone_t *z, int64_t now, int64_t *at, char *buf, size_t cap)
{
	if (!z->sig_expire_first)
		return false;
	/* RRSIG times wrap every 2^32 s: take the one within 68 years of now. */
	*at = now + (int32_t)(z->sig_expire_first - (uint32_t)now);
	time_t t = (time_t)*at;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, cap, "%lld", (long long)*at);
	return true;
}
