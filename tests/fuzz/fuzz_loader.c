/* libFuzzer target: whole zone files through the loader, against ldns reading every line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/loader.h"
#include "pindns/name.h"
#include "pindns/zoneset.h"

/*
 * Each input is a zone file for example.com, written to a folder of its own and loaded
 * with pd_zone_load_ex(): directives, the fast path and ldns taking turns, the compile.
 * Whatever the file, the load succeeds with a zone that answers for its apex, or fails
 * with a message naming one of our files.
 *
 * A file without $INCLUDE is also read the slow way, every line by ldns as the loader
 * would have it read the lines its fast path declines: both must fail, or give the same
 * compiled zone. fuzz_fastrr compares one line in a fixed context; this compares the
 * context the two hand each other along a file (origin, previous owner, default TTL,
 * where a record of several lines ends).
 *
 * $INCLUDE may name only what is in the folder (an input with a '/' on a line that says
 * $include, in any case, is skipped): the input itself (a loop), a file with records,
 * one including that, nothing, a folder, a FIFO, a link to /dev/zero and a sparse file
 * larger than a zone may be. Starting, the target checks that each of the last five is
 * refused with its reason (the FIFO, the link and the sparse file without being read)
 * and that the input including itself is found to be a loop.
 */
#define FZ_INPUT_MAX (64 << 10)

static char dir[256], zone_path[300];
static uint8_t origin[PD_NAME_MAX];

static void fz_put(const char *name, const char *text)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static void fz_cleanup(void)
{
	static const char *const names[] = {"zone", "inc", "nested", "fifo", "zero", "big"};
	char path[300];
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/dir", dir);
	rmdir(path);
	rmdir(dir);
}

/* Each warning names one of our files and says it is one. */
static void fz_warn(void *arg, const char *text)
{
	size_t n = strlen(dir);
	if (strncmp(text, dir, n) != 0 || text[n] != '/' || !strstr(text, ": "))
		abort();
}

/* Loads the zone file, which must fail with a message holding want. */
static void fz_refused(const char *text, const char *want)
{
	pd_zone_t *z = NULL;
	char err[1024];
	fz_put("zone", text);
	if (pd_zone_load(zone_path, origin, &z, err, sizeof(err)) >= 0 || z || !strstr(err, want)) {
		fprintf(stderr, "fuzz_loader: '%s' loaded, or failed otherwise: %s\n", text, err);
		abort();
	}
}

#define FZ_APEX "@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[300];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/pindns-fuzz-loader-XXXXXX", tmp) >=
	        sizeof(dir) ||
	    !mkdtemp(dir)) {
		fprintf(stderr, "fuzz_loader: cannot make a folder in %s\n", tmp);
		abort();
	}
	atexit(fz_cleanup);
	snprintf(zone_path, sizeof(zone_path), "%s/zone", dir);
	pd_name_from_str(origin, "example.com");
	fz_put("inc", "www 60 A 192.0.2.80\n  AAAA 2001:db8::80\nsub NS ns.example.net.\n");
	fz_put("nested", "$INCLUDE inc sub\nmail MX 10 mail\n");
	snprintf(path, sizeof(path), "%s/dir", dir);
	if (mkdir(path, 0700) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/zero", dir);
	if (symlink("/dev/zero", path) < 0)
		abort();
	/* A hole: it takes no room, and reading it would take 4 GiB of memory. */
	snprintf(path, sizeof(path), "%s/big", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, ((off_t)4 << 30) + 1) < 0 || close(fd) < 0)
		abort();

	fz_refused(FZ_APEX "$INCLUDE zero\n", "zero: not a regular file");
	fz_refused(FZ_APEX "$INCLUDE fifo\n", "fifo: not a regular file");
	fz_refused(FZ_APEX "$INCLUDE big\n", strerror(EFBIG));
	fz_refused(FZ_APEX "$INCLUDE dir\n", strerror(EISDIR));
	fz_refused(FZ_APEX "$INCLUDE missing\n", strerror(ENOENT));
	fz_refused(FZ_APEX "$INCLUDE zone\n", "nested more than");
	return 0;
}

/* Whether the input could include a file outside the folder. */
static bool fz_escapes(const uint8_t *data, size_t size)
{
	for (size_t pos = 0; pos < size;) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - data) : size;
		bool include = false, slash = false;
		for (size_t i = pos; i < end; i++) {
			slash |= data[i] == '/';
			include |=
			    end - i >= 8 && strncasecmp((const char *)data + i, "$include", 8) == 0;
		}
		if (include && slash)
			return true;
		pos = end + 1;
	}
	return false;
}

/* Whether the input has "$include" anywhere, in any case: no directive can be without. */
static bool fz_includes(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 8 <= size; i++)
		if (strncasecmp((const char *)data + i, "$include", 8) == 0)
			return true;
	return false;
}

/*
 * The slow way: ldns reads each record or directive from where the last ended, as the
 * loader has it read those its fast path declines (pd__parse_ldns), and the records go
 * to the builder as the loader adds them. Returns 0 with *out, or -1.
 */
static int fz_ldns_load(const uint8_t *data, size_t size, pd_zone_t **out, unsigned *warnings)
{
	/* The text as the loader reads it: a newline ends the last line. */
	char *text = malloc(size + 2);
	ldns_rdf *o = ldns_dname_new_frm_str("example.com."), *prev = NULL;
	ldns_buffer *rd = ldns_buffer_new(65536);
	pd_zone_builder_t *b = pd_zone_builder_new(origin);
	uint32_t ttl = 3600;
	int line = 1, ret = 0;
	size_t len = size;
	if (!text || !o || !rd || !b)
		abort();
	memcpy(text, data, size);
	if (len == 0 || text[len - 1] != '\n')
		text[len++] = '\n';
	text[len] = '\0';
	FILE *f = fmemopen(text, len, "r");
	if (!f)
		abort();
	for (size_t pos = 0; pos < len && ret == 0;) {
		ldns_rr *rr = NULL;
		if (fseek(f, (long)pos, SEEK_SET) < 0)
			abort();
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &o, &prev, &line);
		if (s == LDNS_STATUS_OK) {
			ldns_buffer_clear(rd);
			if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ldns_rr_rdata2buffer_wire(rd, rr) != LDNS_STATUS_OK ||
			    ldns_buffer_position(rd) > UINT16_MAX ||
			    pd_zone_builder_add(b, ldns_rdf_data(ldns_rr_owner(rr)),
			                        ldns_rr_get_type(rr), ldns_rr_ttl(rr),
			                        ldns_buffer_begin(rd),
			                        (uint16_t)ldns_buffer_position(rd), 0) < 0)
				ret = -1;
		} else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_ORIGIN &&
		           s != LDNS_STATUS_SYNTAX_TTL) {
			ret = -1;
		}
		ldns_rr_free(rr);
		long at = ftell(f);
		pos = feof(f) || at < 0 ? SIZE_MAX : (size_t)at;
	}
	fclose(f);
	if (ret == 0) {
		pd_zone_builder_check_sigs(b, 1700000000, PD_ZONE_SIG_WARN_DEFAULT);
		ret = pd_zone_builder_finish(b, out) < 0 ? -1 : 0;
	}
	*warnings = pd_zone_builder_warning_count(b);
	pd_zone_builder_free(b);
	ldns_buffer_free(rd);
	ldns_rdf_deep_free(o);
	if (prev)
		ldns_rdf_deep_free(prev);
	free(text);
	return ret;
}

#define FZ_SAME(field) (a->field == b->field)
#define FZ_SAME_ARRAY(ptr, count)                                                                  \
	(a->count == b->count &&                                                                   \
	 (a->count == 0 || memcmp(a->ptr, b->ptr, a->count * sizeof(*a->ptr)) == 0))

/* Whether two compiled zones are the same, but for when and from what they were loaded. */
static bool fz_same_zone(const pd_zone_t *a, const pd_zone_t *b)
{
	if (!(FZ_SAME(origin_len) && memcmp(a->origin, b->origin, a->origin_len) == 0 &&
	      FZ_SAME(origin_labels) && FZ_SAME(serial) && FZ_SAME(neg_ttl) && FZ_SAME(apex) &&
	      FZ_SAME(record_count) && FZ_SAME_ARRAY(nodes, node_count) &&
	      FZ_SAME_ARRAY(rrsets, rrset_count) && FZ_SAME(table_mask) &&
	      memcmp(a->table, b->table, ((size_t)a->table_mask + 1) * sizeof(*a->table)) == 0 &&
	      FZ_SAME_ARRAY(names, names_len) && FZ_SAME_ARRAY(data, data_len) && FZ_SAME(dnssec) &&
	      FZ_SAME_ARRAY(nsec, nsec_count) && FZ_SAME(nsec3_count) &&
	      FZ_SAME(nsec3_iterations) && FZ_SAME(nsec3_salt_len) && FZ_SAME(nsec3_salt_off) &&
	      FZ_SAME(sig_expire_first)))
		return false;
	for (uint32_t i = 0; i < a->nsec3_count; i++) /* field by field: it has padding */
		if (a->nsec3[i].name_off != b->nsec3[i].name_off ||
		    a->nsec3[i].name_len != b->nsec3[i].name_len ||
		    a->nsec3[i].flags != b->nsec3[i].flags ||
		    a->nsec3[i].rrset != b->nsec3[i].rrset)
			return false;
	return true;
}

/* A loaded zone answers a question for its apex SOA with itself. */
static void fz_check_answers(pd_zone_t *z)
{
	static const pd_answer_conf_t conf = {.udp_size = 1232};
	static const uint8_t q[] = {0,   1,   0,   0,   0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
	                            'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 6, 0, 1};
	uint8_t resp[PD_UDP_MAX];
	pd_zoneset_t *zs = NULL;
	if (pd_zoneset_new(&zs, &z, 1) < 0)
		abort();
	size_t len = pd_answer(zs, &conf, q, sizeof(q), resp, sizeof(resp), NULL);
	if (len < PD_HEADER_LEN || (resp[3] & 0xF) != PD_RCODE_NOERROR ||
	    !(pd_get_u16(resp + 2) & PD_FLAG_AA) || pd_get_u16(resp + 6) == 0)
		abort();
	pd_zoneset_free(zs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pd_zone_t *z = NULL, *ref = NULL;
	pd_zone_files_t *files = NULL;
	char err[2048];
	if (size > FZ_INPUT_MAX || fz_escapes(data, size))
		return 0;
	int fd = open(zone_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
		abort();
	pd_zone_load_opts_t opts = {.files = &files,
	                            .sig_warn_secs = PD_ZONE_SIG_WARN_DEFAULT,
	                            .now = 1700000000,
	                            .warn = fz_warn};
	int ret = pd_zone_load_ex(zone_path, origin, &z, err, sizeof(err), &opts);
	size_t n = strlen(dir);
	if (ret < 0 && (z || files || strncmp(err, dir, n) != 0 || err[n] != '/'))
		abort(); /* a failure must say where, in one of our files */
	if (ret == 0 &&
	    (!z || !files || files->count < 1 || strcmp(files->file[0].path, zone_path)))
		abort();
	for (unsigned i = 0; files && i < files->count; i++)
		if (strncmp(files->file[i].path, dir, n) != 0 || files->file[i].path[n] != '/')
			abort(); /* it read a file outside the folder */
	free(files);

	if (!fz_includes(data, size)) {
		unsigned warnings = 0;
		int slow = fz_ldns_load(data, size, &ref, &warnings);
		if ((ret < 0) != (slow < 0) || (ret == 0 && !fz_same_zone(z, ref)) ||
		    warnings != opts.warnings) {
			fprintf(stderr,
			        "fuzz_loader: the loader %s (%s), ldns alone %s; warnings %u, %u\n",
			        ret < 0 ? "failed" : "loaded", ret < 0 ? err : "-",
			        slow < 0 ? "failed" : "loaded", opts.warnings, warnings);
			abort();
		}
		pd_zone_free(ref);
	}
	if (z)
		fz_check_answers(z); /* frees z */
	return 0;
}
