/* The engine: pinned UDP workers and TCP threads on SO_REUSEPORT sockets; no DNS rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pindns/counter.h"
#include "pindns/dgram.h"
#include "pindns/listen.h"

/*
 * Datagrams per recvmmsg/sendmmsg call. 32 amortises the system call over enough
 * packets that its cost stops mattering (halving it again saves little), while the
 * per-worker buffers stay small (32 x 2 x 4 KiB) and a lightly loaded worker never
 * waits to fill a batch: recvmmsg returns whatever is queued.
 */
#define PD_BATCH 32
#define PD_PKT_MAX 4096 /* largest datagram read or written; bigger queries are dropped */

/**
 * Answers a batch of datagrams: sets out_len of each (0 drops it). A whole batch at
 * once lets the answering side overlap its memory accesses. worker is the calling
 * worker's index (0 to threads - 1), for state that worker alone owns. data is the
 * pointer last published with pd_engine_publish(), stable for the call.
 */
typedef void (*pd_engine_handler_fn)(void *arg, int worker, const void *data, pd_dgram_t *batch,
                                     int n);

typedef struct pd_engine pd_engine_t;

#define PD_TCP_MSG_MAX 65535 /* the most a 2-byte length can frame */

/** TCP's limits (RFC 7766): what one connection and all of them together may take. */
typedef struct pd_tcp_conf {
	int threads;          /* TCP threads; 0: the default, half the UDP workers (at least 1) */
	int max_clients;      /* open connections in all, across the TCP threads */
	int max_per_client;   /* open connections from one client address */
	int idle_timeout_ms;  /* an open connection with nothing to do is closed after this */
	int io_timeout_ms;    /* a message half-received, or an answer the client does not
	                       * read, is given this long */
	unsigned max_queries; /* messages answered on one connection; 0: no limit */
} pd_tcp_conf_t;

#define PD_TCP_DEFAULT_MAX_CLIENTS 1024
#define PD_TCP_DEFAULT_MAX_PER_CLIENT 64
#define PD_TCP_DEFAULT_IDLE_MS 10000
#define PD_TCP_DEFAULT_IO_MS 1000

/** Why a TCP connection ended; counted per reason. */
enum pd_tcp_close {
	PD_TCP_CLOSE_EOF,     /* the client closed it */
	PD_TCP_CLOSE_IDLE,    /* idle past idle_timeout_ms */
	PD_TCP_CLOSE_IO,      /* a message or an answer stalled past io_timeout_ms */
	PD_TCP_CLOSE_BAD,     /* length 0, or a message that gets no answer (not DNS) */
	PD_TCP_CLOSE_EVICTED, /* the oldest idle one, closed to make room for a new client */
	PD_TCP_CLOSE_LIMIT,   /* refused at accept: max_clients or max_per_client reached */
	PD_TCP_CLOSE_QUERIES, /* max_queries answered */
	PD_TCP_CLOSE_ERROR,   /* reset by the client, or another socket error */
	PD_TCP_CLOSE_STOP,    /* closed at shutdown */
	PD_TCP_CLOSE_HANDED,  /* handed to a successor, still open there */
	PD_TCP_CLOSE_TAKEN,   /* taken out of the engine (pd_dgram_t.take), still open there */
	PD_TCP_CLOSE_REASONS
};

/** The close reasons' names as metrics and pindnsctl show them ("eof", "idle", ...). */
extern const char *const pd_tcp_close_names[PD_TCP_CLOSE_REASONS];

/** A TCP thread's connections: written by that thread alone, read by anyone. */
typedef struct pd_tcp_stats {
	pd_counter_t accepted; /* accepted from a listener (also those refused at once) */
	pd_counter_t adopted;  /* received open from a predecessor */
	pd_counter_t closed[PD_TCP_CLOSE_REASONS];
} pd_tcp_stats_t;

/** What the engine is built from: the socket set and how its sockets are set up. */
typedef struct pd_engine_conf {
	const pd_listen_t *listen;
	int nlisten;
	bool listen_is_default; /* the built-in set: an IPv6 one that cannot bind is skipped */
	int threads;            /* workers; 0: one per CPU this process may run on */
	int rcvbuf;             /* SO_RCVBUF per socket, bytes */
	bool reuseport_cpu;     /* steer packets to the worker on the receiving CPU (cBPF) */
	/* Steer each client prefix (the first bits of its address) to one worker (cBPF),
	 * for state kept per worker about clients; wins over reuseport_cpu. */
	bool steer_client;
	uint8_t steer_ipv4_bits, steer_ipv6_bits;
	pd_tcp_conf_t tcp;
} pd_engine_conf_t;

#define PD_ENGINE_FILL 7 /* batch fill histogram: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ */

/**
 * A worker's traffic: written by that worker alone (pd_counter_add), read by anyone. For
 * a TCP thread, a query is a framed message and a batch the messages of one read.
 */
typedef struct pd_engine_stats {
	pd_counter_t queries;   /* datagrams received */
	pd_counter_t responses; /* datagrams sent */
	pd_counter_t dropped;   /* received and not answered */
	pd_counter_t bytes_in, bytes_out;
	pd_counter_t batches; /* recvmmsg calls that returned datagrams */
	pd_counter_t batch_fill[PD_ENGINE_FILL];
} pd_engine_stats_t;

/**
 * Creates and binds the socket set: per address, threads UDP sockets (one per worker) and
 * tcp.threads TCP listeners (one per TCP thread), each address's in one SO_REUSEPORT group
 * per protocol. Nothing runs yet. Returns 0, or a negative errno with a message in err
 * saying what failed and what to do about it.
 */
int pd_engine_new(pd_engine_t **out, const pd_engine_conf_t *cfg, char *err, size_t err_cap);

/**
 * Builds an engine on sockets bound by another process (handed over): for each of
 * nlisten addresses, fds[slot * threads + worker] are the UDP sockets, and after all of
 * them fds[threads * nlisten + slot * tcp_threads + t] the TCP listeners. tcp_threads 0
 * (a predecessor without TCP) binds cfg->tcp.threads listeners per address here. Only
 * cfg's TCP limits and steering are read (the sockets get the steering program cfg asks
 * for, or none). The engine owns the fds, also on failure.
 */
int pd_engine_new_from_fds(pd_engine_t **out, const pd_engine_conf_t *cfg, int threads,
                           int tcp_threads, int nlisten, const pd_listen_t *listen, const int *fds,
                           char *err, size_t err_cap);

/**
 * Builds an engine on sockets passed by socket activation, datagram and stream ones,
 * grouped by their local address, with more SO_REUSEPORT sockets bound beside them when
 * cfg asks for more workers or TCP threads than were passed per address (and TCP
 * listeners bound for an address passed with UDP only). The engine owns the fds.
 */
int pd_engine_new_from_activation(pd_engine_t **out, const pd_engine_conf_t *cfg, const int *fds,
                                  int nfds, char *err, size_t err_cap);

/** Listen addresses in use; returns how many (at most PD_LISTEN_MAX). */
int pd_engine_listens(const pd_engine_t *e, pd_listen_t *out);

/**
 * The bound sockets as pd_engine_new_from_fds() takes them: the UDP ones
 * (fds[slot * threads + worker]), then the TCP listeners; returns how many.
 */
int pd_engine_fds(const pd_engine_t *e, int *fds, int cap);

/** UDP worker threads the engine was built with. */
int pd_engine_threads(const pd_engine_t *e);

/**
 * TCP threads the engine was built with. The handler sees TCP thread t as worker
 * pd_engine_threads() + t: counters and caches are indexed by that.
 */
int pd_engine_tcp_threads(const pd_engine_t *e);

/**
 * Counts worker's traffic (queries, responses, drops, bytes, batches) into stats, which
 * must outlive the engine and be written by no one else. worker runs over the UDP
 * workers, then the TCP threads. Call before pd_engine_start().
 */
void pd_engine_set_stats(pd_engine_t *e, int worker, pd_engine_stats_t *stats);

/** Counts TCP thread t's connections into stats, like pd_engine_set_stats(). */
void pd_engine_set_tcp_stats(pd_engine_t *e, int t, pd_tcp_stats_t *stats);

/** Starts the workers and TCP threads with the given handler and first published data. */
int pd_engine_start(pd_engine_t *e, pd_engine_handler_fn handler, void *arg, void *data);

/**
 * Publishes new data for the workers and waits until no worker can still see the old
 * one (an RCU grace period). Returns the old data, now the caller's to free.
 */
void *pd_engine_publish(pd_engine_t *e, void *data);

/**
 * Stops and joins the workers and TCP threads; queued datagrams are left to the kernel,
 * and TCP connections stay open as they are, with what they read and what they owe, for
 * pd_engine_conns() or pd_engine_free().
 */
void pd_engine_stop(pd_engine_t *e);

/** One open TCP connection, as pd_engine_conns() hands it on. */
typedef struct pd_engine_conn {
	int fd;
	const uint8_t *unread; /* read from it, not yet a whole message: unread_len bytes */
	size_t unread_len;
	const struct iovec *unsent; /* answers owed to it, in order, nunsent pieces */
	int nunsent;
	bool closing; /* once what is owed is sent, it is to end (a limit, or the client's EOF) */
} pd_engine_conn_t;

/**
 * Takes a TCP connection out of the engine (pd_dgram_t.take): called on the TCP thread
 * (worker is its handler index) with the data published then, the connection (fd, the
 * taken message and what followed it as unread, what it was owed as unsent) and its
 * peer. The descriptor is the function's from then on, also when it closes it at once.
 */
typedef void (*pd_engine_take_fn)(void *arg, int worker, const void *data,
                                  const pd_engine_conn_t *conn, const struct sockaddr *peer,
                                  socklen_t peer_len);

/** Sets the function taking connections (before pd_engine_start()); without, a take
 * closes the connection. */
void pd_engine_set_take(pd_engine_t *e, pd_engine_take_fn fn, void *arg);

/** Called by pd_engine_conns() for each open connection; non-zero stops the walk. */
typedef int (*pd_engine_conn_fn)(void *arg, const pd_engine_conn_t *conn);

/**
 * After pd_engine_stop(), for a handoff: calls fn with each open TCP connection. A
 * connection fn returns 0 for counts as handed over and is closed here (the successor
 * holds its own descriptor). Returns how many were handed over.
 */
int pd_engine_conns(pd_engine_t *e, pd_engine_conn_fn fn, void *arg);

/**
 * Takes an open TCP connection, handed over as pd_engine_conns() gives it (conn->unsent
 * as one piece or none), into one of the running TCP threads: what is owed is sent
 * first, then the unread bytes are taken as if just read. The engine owns conn->fd from
 * now on, also on failure. Returns 0 or -errno. Not for the TCP threads themselves.
 */
int pd_engine_adopt(pd_engine_t *e, const pd_engine_conn_t *conn);

/**
 * Closes the sockets and frees the engine (stopping it first if needed). Open TCP
 * connections first get what they are owed, for up to tcp.io_timeout_ms (2 s at most).
 */
void pd_engine_free(pd_engine_t *e);
