/* What the UDP workers (engine.c) and the TCP threads (tcp.c) share inside the engine. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <urcu-qsbr.h>

#include "pindns/engine.h"
#include "pindns/sanitizer.h"

/*
 * ThreadSanitizer sees none of the ordering liburcu provides: the pointer exchange and
 * the grace period happen in the library, which is not instrumented. Without being told,
 * it reports each zone set a reload publishes (written by the main thread, then read by
 * a worker) and frees (read by a worker, then freed) as a data race. These say what RCU
 * guarantees and no more, keyed on the zone set itself so that each names only the
 * threads that really handed it on: a worker that picks up a published set sees what was
 * written before that set was published, and what a worker did with a set before its next
 * quiescent state, or before going offline, happens before the end of the grace period
 * after which that set is freed. A worker still using a set past its quiescent state is
 * still reported.
 */
#if PD_TSAN
#include <sanitizer/tsan_interface.h>
#define PD__HAPPENS_BEFORE(addr) __tsan_release((void *)(addr))
#define PD__HAPPENS_AFTER(addr) __tsan_acquire((void *)(addr))
#else
#define PD__HAPPENS_BEFORE(addr) ((void)0)
#define PD__HAPPENS_AFTER(addr) ((void)0)
#endif

#define PD__CLIENT_SLOTS 4096 /* per-client connection counts, by address hash */

typedef struct pd__worker pd__worker_t;
typedef struct pd__tcp_thread pd__tcp_thread_t;

struct pd_engine {
	int nthreads;
	int ntcp; /* TCP threads */
	int nlisten;
	pd_listen_t listen[PD_LISTEN_MAX];
	bool wildcard[PD_LISTEN_MAX]; /* bound to 0.0.0.0 or ::, so replies need pktinfo */
	pd__worker_t *workers;
	pd__tcp_thread_t *tcp;
	pd_tcp_conf_t tcp_conf;
	/* Open connections per client address hash, across the TCP threads. Collisions only
	 * make the per-client limit stricter for the few addresses that share a slot. */
	_Atomic uint32_t *clients;
	uint64_t client_seed;   /* random, so no one can aim an address at another's slot */
	atomic_uint adopt_next; /* the TCP thread the next adopted connection goes to */
	int stop_fd;
	pd_engine_handler_fn handler;
	void *handler_arg;
	pd_engine_take_fn take; /* NULL: a taken connection is closed */
	void *take_arg;
	void *data; /* published with rcu_assign_pointer, read with rcu_dereference */
	atomic_bool stopping;
	bool running;
};

/* The CPU for thread index of the ones this process may use; -1 when unknown. */
int pd__cpu_for(int index, int *ncpu_out);

/**
 * Attaches to the reuseport group of fd the program cfg asks for, for workers sockets:
 * steering by client prefix or by CPU (steer.c). With neither, and detach, removes the
 * program a handed-over socket came with. Returns 0 or -errno.
 */
int pd__steer(int fd, const pd_engine_conf_t *cfg, int workers, bool detach);

/* Starts fn(arg) as a thread pinned to cpu (unless -1) and named name. 0 or -errno. */
int pd__thread_start(pthread_t *thread, int cpu, const char *name, void *(*fn)(void *), void *arg);

/* A socket for l could not be set up (errno says why): closes fd (unless -1), writes
 * "cannot listen on ADDR<what>: why — what to do" to err, returns -errno. */
int pd__listen_failed(int fd, const pd_listen_t *l, const char *what, char *err, size_t cap);

/* Counts one batch of n messages, nout of them answered, in and out bytes: the sums are
 * made by the caller and added once, as each add is an atomic store. */
void pd__count_traffic(pd_engine_stats_t *st, int n, int nout, uint64_t in, uint64_t out);

/* Tells ThreadSanitizer (PD_TSAN) that a thread picked up data, published before;
 * *used is what that thread last used, until its next quiescent state. */
static inline void pd__using_data(const void **used, const void *data)
{
#if PD_TSAN
	if (data)
		PD__HAPPENS_AFTER(data);
	/* Several reads happen between two quiescent states, and a reload may come in
	 * between: what was done with the set used before is as done now as it will be at the
	 * quiescent state, which its grace period waits for too. */
	if (*used && *used != data)
		PD__HAPPENS_BEFORE(*used);
	*used = data;
#else
	(void)used;
	(void)data;
#endif
}

/* Tells ThreadSanitizer that the thread is done with the set it used: its next quiescent
 * state or going offline ends that use. */
static inline void pd__done_with_data(const void **used)
{
#if PD_TSAN
	if (*used)
		PD__HAPPENS_BEFORE(*used);
	*used = NULL; /* an idle thread has nothing more to hand on */
#else
	(void)used;
#endif
}

/* rcu_quiescent_state(), and what it means told to ThreadSanitizer. */
static inline void pd__quiescent(const void **used)
{
	pd__done_with_data(used);
	rcu_quiescent_state();
}

/* rcu_thread_offline(), and what it means told to ThreadSanitizer. */
static inline void pd__offline(const void **used)
{
	pd__done_with_data(used);
	rcu_thread_offline();
}

/* A listening TCP socket for l in the SO_REUSEPORT group of its address, non-blocking. */
int pd__tcp_listener_open(const pd_listen_t *l, int *out, char *err, size_t cap);

/* The TCP threads' state, with every listener slot -1; -ENOMEM. */
int pd__tcp_alloc(pd_engine_t *e, int ntcp);

/* The listener fd of TCP thread t for listen slot (an lvalue). */
int *pd__tcp_fd(pd_engine_t *e, int t, int slot);

/* Sets TCP thread t's counters. */
void pd__tcp_set_stats(pd_engine_t *e, int t, pd_engine_stats_t *net, pd_tcp_stats_t *tcp);

/* Starts the TCP threads, once the handler and data are set. 0 or -errno. */
int pd__tcp_start(pd_engine_t *e);

/* Joins the TCP threads, which stop on e->stopping, leaving their connections open. */
void pd__tcp_stop(pd_engine_t *e);

/* Sends what open connections are owed (a bounded time), closes them and the listeners,
 * and frees the TCP threads' state. */
void pd__tcp_free(pd_engine_t *e);
