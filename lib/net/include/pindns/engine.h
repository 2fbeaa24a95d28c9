/* The UDP engine: per-CPU workers, SO_REUSEPORT sockets, batched I/O; no DNS rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/** What the engine is built from: the socket set and how its sockets are set up. */
typedef struct pd_engine_conf {
	const pd_listen_t *listen;
	int nlisten;
	bool listen_is_default; /* the built-in set: an IPv6 one that cannot bind is skipped */
	int threads;            /* workers; 0: one per CPU this process may run on */
	int rcvbuf;             /* SO_RCVBUF per socket, bytes */
	bool reuseport_cpu;     /* steer packets to the worker on the receiving CPU (cBPF) */
} pd_engine_conf_t;

#define PD_ENGINE_FILL 7 /* batch fill histogram: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ */

/** A worker's traffic: written by that worker alone (pd_counter_add), read by anyone. */
typedef struct pd_engine_stats {
	pd_counter_t queries;   /* datagrams received */
	pd_counter_t responses; /* datagrams sent */
	pd_counter_t dropped;   /* received and not answered */
	pd_counter_t bytes_in, bytes_out;
	pd_counter_t batches; /* recvmmsg calls that returned datagrams */
	pd_counter_t batch_fill[PD_ENGINE_FILL];
} pd_engine_stats_t;

/**
 * Creates and binds threads x nlisten sockets (one per worker per address, all in one
 * SO_REUSEPORT group per address). Nothing runs yet. Returns 0, or a negative errno
 * with a message in err saying what failed and what to do about it.
 */
int pd_engine_new(pd_engine_t **out, const pd_engine_conf_t *cfg, char *err, size_t err_cap);

/**
 * Builds an engine on sockets bound by another process (handed over, or from systemd):
 * fds[slot * threads + worker] for each of nlisten addresses. The engine owns the fds.
 */
int pd_engine_new_from_fds(pd_engine_t **out, int threads, int nlisten, const pd_listen_t *listen,
                           const int *fds, char *err, size_t err_cap);

/**
 * Builds an engine on sockets passed by socket activation: grouped by their local
 * address, with more SO_REUSEPORT sockets bound beside them when cfg asks for more
 * workers than were passed per address. The engine owns the fds.
 */
int pd_engine_new_from_activation(pd_engine_t **out, const pd_engine_conf_t *cfg, const int *fds,
                                  int nfds, char *err, size_t err_cap);

/** Listen addresses in use; returns how many (at most PD_LISTEN_MAX). */
int pd_engine_listens(const pd_engine_t *e, pd_listen_t *out);

/** The bound sockets, fds[slot * threads + worker]; returns how many. */
int pd_engine_fds(const pd_engine_t *e, int *fds, int cap);

/** Worker threads the engine was built with. */
int pd_engine_threads(const pd_engine_t *e);

/**
 * Counts worker's traffic (queries, responses, drops, bytes, batches) into stats, which
 * must outlive the engine and be written by no one else. Call before pd_engine_start().
 */
void pd_engine_set_stats(pd_engine_t *e, int worker, pd_engine_stats_t *stats);

/** Starts the workers with the given handler and first published data. */
int pd_engine_start(pd_engine_t *e, pd_engine_handler_fn handler, void *arg, void *data);

/**
 * Publishes new data for the workers and waits until no worker can still see the old
 * one (an RCU grace period). Returns the old data, now the caller's to free.
 */
void *pd_engine_publish(pd_engine_t *e, void *data);

/** Stops and joins the workers; queued datagrams are left to the kernel. */
void pd_engine_stop(pd_engine_t *e);

/** Closes the sockets and frees the engine (stopping it first if needed). */
void pd_engine_free(pd_engine_t *e);
