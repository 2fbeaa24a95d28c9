/* libFuzzer target: arbitrary bytes on a TCP connection to a real engine's TCP thread. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/engine.h"
#include "pindns/zoneset.h"

#include "fuzzutil.h"

/*
 * Each input is what one client sends on one connection before it half-closes. The
 * engine must answer every whole message it can, frame each answer, close the
 * connection once the client is done (a cut message, length 0 or garbage included),
 * and never hang: a connection still open 5 s after the client finished is a bug.
 */
#define FZ_INPUT_MAX (64 << 10)

static pd_engine_t *engine;
static uint16_t port;

static void fz_handle(void *arg, int worker, const void *data, pd_dgram_t *batch, int n)
{
	(void)arg;
	(void)worker;
	pd_answer_batch(data, &fz_conf, batch, n);
}

static pd_zoneset_t *fz_zones(void)
{
	pd_zone_t *z = NULL;
	pd_zoneset_t *zs = NULL;
	pd_zone_builder_t *b = fz_example_com(1);
	fz_add(b, "ns.example.com", PD_TYPE_A, "\x01\x02\x03\x04", 4);
	/* A big RRset: over TCP it goes out whole, some 6 KB. */
	for (int i = 0; i < 255; i++) {
		uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)i};
		fz_add(b, "big.example.com", PD_TYPE_AAAA, aaaa, 16);
	}
	if (pd_zone_builder_finish(b, &z) < 0 || pd_zoneset_new(&zs, &z, 1) < 0)
		abort();
	pd_zone_builder_free(b);
	return zs;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	pd_listen_t l;
	/* Port 0 (which configuration refuses): the UDP socket and the TCP listener each get
	 * a port of their own. */
	pd_listen_parse(&l, "127.0.0.1:1");
	((struct sockaddr_in *)&l.addr)->sin_port = 0;
	pd_engine_conf_t cfg = {
	    .listen = &l,
	    .nlisten = 1,
	    .threads = 1,
	    .rcvbuf = 1 << 20,
	    /* Timers longer than a run's 5 s: every close must come
	     * from what the client sent, not from a timeout. */
	    .tcp = {.threads = 1, .io_timeout_ms = 60000, .idle_timeout_ms = 60000}};
	if (pd_engine_new(&engine, &cfg, err, sizeof(err)) < 0 ||
	    pd_engine_start(engine, fz_handle, NULL, fz_zones()) < 0) {
		fprintf(stderr, "fuzz_tcp: %s\n", err);
		abort();
	}
	int fds[2];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	if (pd_engine_fds(engine, fds, 2) != 2 ||
	    getsockname(fds[1], (struct sockaddr *)&sa, &sl) < 0) /* the TCP listener */
		abort();
	port = ntohs(sa.sin_port);
	return 0;
}

static int64_t fz_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Checks the framing of what came back: whole messages, each a response. After a reset
 * (the server closed with input unread) the last one may be cut. */
static void fz_check_answers(const uint8_t *p, size_t len, bool reset)
{
	size_t off = 0;
	while (off + 2 <= len) {
		size_t m = (size_t)p[off] << 8 | p[off + 1];
		if (off + 2 + m > len && reset)
			return;
		if (m < 12 || off + 2 + m > len || !(p[off + 4] & 0x80))
			abort(); /* a short, cut or non-response frame */
		off += 2 + m;
	}
	if (off != len && !reset)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t got[4 << 20];
	size_t sent = 0, have = 0;
	if (size > FZ_INPUT_MAX)
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS))
		abort();
	bool done_writing = false, reset = false;
	int64_t deadline = fz_ms() + 5000;
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN | (done_writing ? 0 : POLLOUT)};
		int64_t left = deadline - fz_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			abort(); /* the server hung on this input */
		if (!done_writing && (pf.revents & POLLOUT)) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			if (sent == size || (n < 0 && errno != EAGAIN)) { /* EPIPE: closed */
				shutdown(fd, SHUT_WR);
				done_writing = true;
				deadline = fz_ms() + 5000;
			}
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, got + have, sizeof(got) - have, 0);
			reset = n < 0 && errno == ECONNRESET;
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break; /* closed by the server: after EOF, length 0 or garbage */
			if (n > 0)
				have += (size_t)n;
			if (have == sizeof(got))
				abort();
		}
	}
	close(fd);
	fz_check_answers(got, have, reset);
	return 0;
}
