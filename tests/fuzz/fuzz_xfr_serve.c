/* libFuzzer target: NOTIFY, AXFR, IXFR and signed queries through the primary side. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/log.h"
#include "pindns/tsig.h"
#include "pindns/zoneset.h"
#include "xfr.h"

#include "fuzzutil.h"

/*
 * Each input is one flags byte and a message: bit 0 says it came over TCP, bit 1 from a
 * peer the rules let in. What pd_xfr_serve_special() answers must parse as a response
 * header; what it takes is handed to pd_xfr_serve_take() on a socket pair, whose every
 * byte is read until the transfer thread closes its end.
 */
void pd_xfrd_notified(pd_xfrd_t *x, const uint8_t *origin)
{
	(void)x;
	(void)origin;
}

static pd_xfr_serve_t *serve;
static pd_zoneset_t *zones;
static pd_tsig_key_t key;
static pd_xfr_rule_t rule = {.family = AF_INET, .addr = {127}, .prefix = 8};
static pd_xfr_secondary_t secondary;
static pd_xfr_provide_t provide;
static pd_xfr_conf_t conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[128];
	pd_log_set_level(PD_LOG_WARN); /* not a line per transfer */
	if (pd_tsig_key_parse(&key, "k", "hmac-sha256", "a2V5a2V5a2V5a2V5", err, sizeof(err)) < 0)
		abort();
	secondary.origin = "sec.test";
	pd_name_from_str(secondary.wire, "sec.test");
	secondary.notify_from = (pd_xfr_acl_t){.rules = &rule, .n = 1};
	provide.acl = (pd_xfr_acl_t){.rules = &rule, .n = 1}; /* every zone */
	conf = (pd_xfr_conf_t){.keys = &key,
	                       .nkeys = 1,
	                       .secondaries = &secondary,
	                       .nsecondaries = 1,
	                       .provide = &provide,
	                       .nprovide = 1,
	                       .journal_size = 1 << 20,
	                       .timeout_ms = 1000};
	pd_zone_t *z = NULL;
	pd_zone_builder_t *b = fz_example_com(1);
	fz_add(b, "www.example.com", PD_TYPE_A, "\x01\x02\x03\x04", 4);
	if (pd_zone_builder_finish(b, &z) < 0 || pd_zoneset_new(&zones, &z, 1) < 0 ||
	    pd_xfr_serve_new(&serve, &conf, (pd_xfrd_t *)&conf, NULL, err, sizeof(err)) < 0)
		abort();
	pd_zone_builder_free(b);
	pd_xfr_serve_set_answer(serve, &fz_conf);
	return 0;
}

/* Hands the connection over as the engine does, and reads it to its end. */
static void fz_take(const uint8_t *msg, size_t len, const struct sockaddr_in *peer)
{
	int sv[2];
	static uint8_t framed[2 + 65535], sink[65536];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	framed[0] = (uint8_t)(len >> 8);
	framed[1] = (uint8_t)len;
	memcpy(framed + 2, msg, len);
	pd_engine_conn_t conn = {.fd = sv[0], .unread = framed, .unread_len = len + 2};
	pd_xfr_serve_take(serve, 0, zones, &conn, (const struct sockaddr *)peer, sizeof(*peer));
	for (;;) {
		struct pollfd pfd = {.fd = sv[1], .events = POLLIN};
		if (poll(&pfd, 1, 5000) != 1)
			abort(); /* a transfer that never ends */
		ssize_t n = read(sv[1], sink, sizeof(sink));
		if (n == 0)
			break;
		if (n < 0)
			abort();
	}
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535];
	if (size < 1 || size > 65536)
		return 0;
	uint8_t *msg = fz_copy(data + 1, size - 1);
	struct sockaddr_in peer = {.sin_family = AF_INET};
	peer.sin_addr.s_addr = htonl(data[0] & 2 ? 0x7F000001u : 0xC0000201u);
	pd_dgram_t d = {.peer = &peer,
	                .peer_len = sizeof(peer),
	                .in = msg,
	                .in_len = size - 1,
	                .out = out,
	                .out_cap = sizeof(out),
	                .tcp = data[0] & 1};
	pd_query_t q;
	pd_query_parse_dgram(&q, &d);
	if (!q.drop && q.rcode == 0 && q.question_ok &&
	    pd_xfr_serve_special(serve, zones, &q, &d)) {
		if (d.out_len && (d.out_len < 12 || !(out[2] & 0x80)))
			abort(); /* an answer that is no response */
		if (d.take && d.tcp)
			fz_take(msg, size - 1, &peer);
	}
	free(msg);
	return 0;
}
