/* libFuzzer target: a zone file line through the fast parser and through ldns, which must agree. */
#define _GNU_SOURCE /* fmemopen */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastrr.h"

/*
 * Input: one line (up to the first newline). Whatever the fast parser makes of it, a
 * record or an empty line, ldns must make the same of it with the same origin,
 * previous owner and default TTL; a line it declines is ldns's alone and not checked.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pd__fastrr_t fc;
	uint32_t ttl = 300;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	char *line = malloc(len + 2);
	ldns_rdf *origin = ldns_dname_new_frm_str("example.com.");
	ldns_rdf *prev = ldns_dname_new_frm_str("www.example.com.");
	ldns_buffer *rd = ldns_buffer_new(65536);
	if (!line || !origin || !prev || !rd)
		abort();
	memcpy(line, data, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	fc.default_ttl = &ttl;
	fc.origin_len = ldns_rdf_size(origin);
	memcpy(fc.origin, ldns_rdf_data(origin), fc.origin_len);
	fc.prev_len = ldns_rdf_size(prev);
	memcpy(fc.prev, ldns_rdf_data(prev), fc.prev_len);
	int r = pd__fastrr_parse(&fc, line, len);
	if (r != PD__FASTRR_NO) {
		FILE *f = fmemopen(line, len + 1, "r");
		ldns_rr *rr = NULL;
		int lnr = 1;
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &lnr);
		fclose(f);
		if (r == PD__FASTRR_EMPTY && s != LDNS_STATUS_SYNTAX_EMPTY)
			abort(); /* we skipped a line ldns reads as something */
		if (r == PD__FASTRR_RR) {
			if (s != LDNS_STATUS_OK)
				abort(); /* we took a line ldns refuses */
			const ldns_rdf *o = ldns_rr_owner(rr);
			if (ldns_rr_rdata2buffer_wire(rd, rr) != LDNS_STATUS_OK ||
			    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    (uint16_t)ldns_rr_get_type(rr) != fc.type ||
			    ldns_rr_ttl(rr) != fc.ttl || ldns_rdf_size(o) != fc.prev_len ||
			    memcmp(ldns_rdf_data(o), fc.prev, fc.prev_len) != 0 ||
			    ldns_buffer_position(rd) != fc.rdlen ||
			    memcmp(ldns_buffer_begin(rd), fc.rdata, fc.rdlen) != 0)
				abort(); /* the two read the record differently */
		}
		ldns_rr_free(rr);
	}
	ldns_buffer_free(rd);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	free(line);
	return 0;
}
