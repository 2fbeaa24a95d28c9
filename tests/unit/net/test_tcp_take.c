/* Unit tests for the TCP engine's take (lib/net/tcp.c): a connection leaving the engine. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/engine.h"

#define TAKE_ID 0xAA /* a message whose ID starts with this is taken */
#define BIG_ID 0xBB  /* ... answered with BIG bytes */
#define BIG 60000

static int published; /* the data the engine is started with: its address */

/* What the take function was given, copied: its pointers live for the call alone. */
typedef struct taken {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls, worker, fd;
	const void *data;
	uint8_t *unread, *unsent;
	size_t unread_len, unsent_len;
	int nunsent;
	int family;
} taken_t;

static taken_t tk = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void handle(void *arg, int worker, const void *data, pd_dgram_t *batch, int n)
{
	(void)arg;
	(void)worker;
	assert_ptr_equal(data, &published);
	for (int i = 0; i < n; i++) {
		pd_dgram_t *d = &batch[i];
		if (d->in[0] == TAKE_ID) {
			d->take = true;
			continue;
		}
		size_t len = d->in[0] == BIG_ID ? BIG : d->in_len;
		memset(d->out, 0x5A, len);
		memcpy(d->out, d->in, d->in_len);
		d->out[2] |= 0x80;
		d->out_len = len;
	}
}

static void take(void *arg, int worker, const void *data, const pd_engine_conn_t *conn,
                 const struct sockaddr *peer, socklen_t peer_len)
{
	(void)arg;
	(void)peer_len;
	pthread_mutex_lock(&tk.lock);
	tk.calls++;
	tk.worker = worker;
	tk.data = data;
	tk.fd = conn->fd;
	tk.family = peer->sa_family;
	tk.unread = malloc(conn->unread_len + 1);
	memcpy(tk.unread, conn->unread, conn->unread_len);
	tk.unread_len = conn->unread_len;
	tk.nunsent = conn->nunsent;
	tk.unsent_len = 0;
	for (int i = 0; i < conn->nunsent; i++)
		tk.unsent_len += conn->unsent[i].iov_len;
	tk.unsent = malloc(tk.unsent_len + 1);
	size_t off = 0;
	for (int i = 0; i < conn->nunsent; i++) {
		memcpy(tk.unsent + off, conn->unsent[i].iov_base, conn->unsent[i].iov_len);
		off += conn->unsent[i].iov_len;
	}
	assert_false(conn->closing);
	pthread_cond_signal(&tk.cond);
	pthread_mutex_unlock(&tk.lock);
}

typedef struct fixture {
	pd_engine_t *e;
	pd_tcp_stats_t stats;
	pd_engine_stats_t net; /* the TCP thread's traffic */
	uint16_t port;
} fixture_t;

static fixture_t *start(bool with_take)
{
	fixture_t *f = calloc(1, sizeof(*f));
	char err[256];
	pd_listen_t l;
	pd_listen_parse(&l, "127.0.0.1:1");
	((struct sockaddr_in *)&l.addr)->sin_port = 0;
	pd_engine_conf_t cfg = {.listen = &l,
	                        .nlisten = 1,
	                        .threads = 1,
	                        .rcvbuf = 1 << 20,
	                        .tcp = {.threads = 1,
	                                .io_timeout_ms = 10000,
	                                .idle_timeout_ms = 10000,
	                                .max_clients = 16,
	                                .max_per_client = 16}};
	assert_int_equal(pd_engine_new(&f->e, &cfg, err, sizeof(err)), 0);
	pd_engine_set_tcp_stats(f->e, 0, &f->stats);
	pd_engine_set_stats(f->e, 1, &f->net); /* after the one UDP worker */
	if (with_take)
		pd_engine_set_take(f->e, take, NULL);
	assert_int_equal(pd_engine_start(f->e, handle, NULL, &published), 0);
	int fds[2];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(pd_engine_fds(f->e, fds, 2), 2);
	assert_int_equal(getsockname(fds[1], (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	pthread_mutex_lock(&tk.lock);
	free(tk.unread);
	free(tk.unsent);
	tk.unread = tk.unsent = NULL;
	tk.calls = 0;
	tk.fd = -1;
	pthread_mutex_unlock(&tk.lock);
	return f;
}

static void stop(fixture_t *f)
{
	pd_engine_free(f->e);
	free(f);
}

static int dial(const fixture_t *f, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Appends a framed 16-byte query with ID hi:lo to p; returns its framed length. */
static size_t frame(uint8_t *p, uint8_t hi, uint8_t lo)
{
	memset(p, 0, 18);
	p[1] = 16;
	p[2] = hi;
	p[3] = lo;
	return 18;
}

/*
 * The engine's end of the client connection fd (the same process holds both), once it
 * has accepted it: the descriptor whose peer is fd's local address.
 */
static int server_end(int fd)
{
	struct sockaddr_in mine, peer;
	socklen_t sl = sizeof(mine);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &sl), 0);
	for (int tries = 0; tries < 500; tries++) {
		for (int s = 3; s < 1024; s++) {
			sl = sizeof(peer);
			if (s != fd && getpeername(s, (struct sockaddr *)&peer, &sl) == 0 &&
			    peer.sin_family == AF_INET && peer.sin_port == mine.sin_port &&
			    peer.sin_addr.s_addr == mine.sin_addr.s_addr)
				return s;
		}
		usleep(10000);
	}
	fail_msg("the engine never accepted the connection");
	return -1;
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes (5 s at most): false at EOF first. */
static bool read_all(int fd, uint8_t *p, size_t len)
{
	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void wait_taken(void)
{
	pthread_mutex_lock(&tk.lock);
	while (tk.calls == 0)
		pthread_cond_wait(&tk.cond, &tk.lock);
	pthread_mutex_unlock(&tk.lock);
}

/*
 * Three messages in one write, the second taken: the first is answered by the engine,
 * then the take function gets the connection open, with the taken message and the one
 * after it unread, on the TCP thread (its handler index), with the published data; the
 * engine counts a "taken" close and never touches the descriptor again.
 */
static void a_taken_connection_leaves_open(void **state)
{
	(void)state;
	fixture_t *f = start(true);
	int fd = dial(f, 0);
	uint8_t q[64];
	size_t len = frame(q, 0x01, 0x01);
	len += frame(q + len, TAKE_ID, 0x02);
	len += frame(q + len, 0x03, 0x03);
	write_all(fd, q, len);
	wait_taken();
	assert_int_equal(tk.calls, 1);
	assert_int_equal(tk.worker, 1); /* the first TCP thread after 1 UDP worker */
	assert_ptr_equal(tk.data, &published);
	assert_int_equal(tk.family, AF_INET);
	assert_int_equal(tk.unread_len, 36);
	assert_memory_equal(tk.unread, q + 18, 36);
	/* The engine sent the first answer (or left it owed: then the taker sends it). */
	write_all(tk.fd, tk.unsent, tk.unsent_len);
	uint8_t a[18];
	assert_true(read_all(fd, a, 18));
	assert_int_equal(a[2], 0x01);
	assert_int_equal(a[4], 0x80);
	/* The descriptor is open and ours: what we write arrives. */
	write_all(tk.fd, (const uint8_t *)"xfr", 3);
	assert_true(read_all(fd, a, 3));
	assert_memory_equal(a, "xfr", 3);
	assert_int_equal(pd_counter_get(&f->stats.closed[PD_TCP_CLOSE_TAKEN]), 1);
	uint64_t closed = 0;
	for (int r = 0; r < PD_TCP_CLOSE_REASONS; r++)
		closed += pd_counter_get(&f->stats.closed[r]);
	assert_int_equal(closed, 1);
	/* The engine's new connections still work beside it. */
	int fd2 = dial(f, 0);
	write_all(fd2, q, 18);
	assert_true(read_all(fd2, a, 18));
	assert_int_equal(a[2], 0x01);
	close(fd2);
	close(tk.fd);
	close(fd);
	stop(f);
}

static void *send_owed(void *arg)
{
	(void)arg;
	/* The engine's descriptors are non-blocking: this one need not be. */
	fcntl(tk.fd, F_SETFL, fcntl(tk.fd, F_GETFL) & ~O_NONBLOCK);
	write_all(tk.fd, tk.unsent, tk.unsent_len);
	return NULL;
}

/*
 * Answers the client has not read when the take comes are handed over owed, in order:
 * what the engine sent and what the taker sends make every answer once.
 */
static void owed_answers_are_handed_over(void **state)
{
	(void)state;
	enum { NSMALL = 4, NBIG = 27 }; /* a batch: 32 messages at most */
	fixture_t *f = start(true);
	int fd = dial(f, 4096); /* a client that reads slowly */
	/* and a small send buffer on the engine's side: loopback's would take it all. */
	int small = 4096;
	assert_int_equal(setsockopt(server_end(fd), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
	                 0);
	uint8_t q[(NSMALL + NBIG + 1) * 18];
	size_t len = 0;
	for (int i = 0; i < NSMALL; i++)
		len += frame(q + len, 0x01, (uint8_t)i); /* sent whole, before the cut one */
	for (int i = 0; i < NBIG; i++)
		len += frame(q + len, BIG_ID, (uint8_t)i);
	len += frame(q + len, TAKE_ID, 0);
	write_all(fd, q, len);
	wait_taken();
	assert_int_equal(tk.unread_len, 18);
	assert_true(tk.nunsent > 0); /* 1.6 MB is more than the socket takes */
	assert_true(tk.unsent_len < (size_t)NBIG * (BIG + 2));
	/* The taker sends what is owed while the client reads, from another thread. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_owed, NULL), 0);
	uint8_t *a = malloc(BIG + 2);
	for (int i = 0; i < NSMALL; i++) {
		assert_true(read_all(fd, a, 18));
		assert_int_equal(a[3], i);
	}
	for (int i = 0; i < NBIG; i++) {
		assert_true(read_all(fd, a, BIG + 2));
		assert_int_equal((a[0] << 8 | a[1]), BIG);
		assert_int_equal(a[2], BIG_ID);
		assert_int_equal(a[3], i);
		assert_int_equal(a[BIG + 1], 0x5A);
	}
	free(a);
	pthread_join(t, NULL);
	close(tk.fd);
	assert_false(read_all(fd, q, 1)); /* nothing more: EOF once the taker closed */
	close(fd);
	stop(f);
}

/* Without a take function a taken message ends the connection, after the answers before it. */
static void without_a_taker_it_closes(void **state)
{
	(void)state;
	fixture_t *f = start(false);
	int fd = dial(f, 0);
	uint8_t q[64];
	size_t len = frame(q, 0x01, 0x01);
	len += frame(q + len, TAKE_ID, 0x02);
	write_all(fd, q, len);
	uint8_t a[18];
	assert_true(read_all(fd, a, 18));
	assert_int_equal(a[2], 0x01);
	assert_false(read_all(fd, a, 1));
	close(fd);
	assert_int_equal(tk.calls, 0);
	assert_int_equal(pd_counter_get(&f->stats.closed[PD_TCP_CLOSE_TAKEN]), 0);
	assert_int_equal(pd_counter_get(&f->stats.closed[PD_TCP_CLOSE_BAD]), 1);
	stop(f);
}

/*
 * The taken message is answered, by the transfer that takes it: the TCP thread's
 * traffic counts it a query and a response, not a drop (each AXFR and IXFR served over
 * TCP used to show in the dropped counter, as if the query had gone unanswered).
 */
static void a_taken_message_is_not_a_drop(void **state)
{
	(void)state;
	fixture_t *f = start(true);
	int fd = dial(f, 0);
	uint8_t q[64];
	size_t len = frame(q, 0x01, 0x01);
	len += frame(q + len, TAKE_ID, 0x02);
	write_all(fd, q, len);
	wait_taken(); /* counted before the take function is called */
	assert_int_equal(pd_counter_get(&f->net.queries), 2);
	assert_int_equal(pd_counter_get(&f->net.responses), 2);
	assert_int_equal(pd_counter_get(&f->net.dropped), 0);
	assert_int_equal(pd_counter_get(&f->net.bytes_in), 36);
	close(tk.fd);
	close(fd);
	stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_taken_connection_leaves_open),
	    cmocka_unit_test(owed_answers_are_handed_over),
	    cmocka_unit_test(without_a_taker_it_closes),
	    cmocka_unit_test(a_taken_message_is_not_a_drop),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	free(tk.unread);
	free(tk.unsent);
	return failed;
}
