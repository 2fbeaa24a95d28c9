/* The TCP threads' state: connections, their lists and buffers (tcp_pool.c, tcp.c). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "engine_int.h"

#define PD__TCP_IN_CAP (2 + PD_TCP_MSG_MAX) /* a whole message with its length */
#define PD__TCP_SLOT (2 + PD_TCP_MSG_MAX)   /* an answer with its length */
#define PD__TCP_BLOCK (64u << 10)           /* a block of unsent output */
/* Blocks one connection may fill beyond the two a cut answer needs: past them, answers
 * wait for the client to read. The pool has room for every connection's most, so no
 * number of clients that do not read can spend it. */
#define PD__TCP_CONN_BLOCKS 2
#define PD__TCP_POOL_BLOCKS (PD__TCP_CONN_BLOCKS + 2)
#define PD__NONE UINT32_MAX

enum { PD__LIST_IDLE, PD__LIST_BUSY, PD__LIST_NONE };

/* No reason to count: one was counted when the end began (or by a predecessor). */
#define PD__WHY_COUNTED 0xff

/*
 * One connection. It sits on its thread's idle list (nothing half-read, nothing unsent:
 * the idle timeout runs) or busy list (a message half-read, an answer unsent, or an end
 * in progress: the I/O timeout runs); both are kept in the order their clocks started,
 * so only their heads can be due.
 */
typedef struct pd__conn {
	int fd; /* -1: free */
	uint32_t prev, next;
	uint8_t list;
	bool closing;     /* send what is owed, then end (read nothing more) */
	bool lingering;   /* our side is shut down: reads are discarded until the client's EOF */
	bool writing;     /* epoll waits for EPOLLOUT, not EPOLLIN */
	uint8_t end_why;  /* counted when closing completes; PD__WHY_COUNTED: nothing to count */
	int64_t since_ms; /* when its list's clock started */
	uint32_t in_len;  /* bytes read into in */
	uint8_t *in;      /* PD__TCP_IN_CAP bytes of the thread's region */
	uint32_t out_head, out_tail, out_off; /* unsent output, a chain of blocks */
	uint32_t out_blocks;
	uint32_t answered;
	uint8_t batch_max; /* messages cut per batch: fewer while the client reads slowly */
	uint32_t client;   /* its slot in the engine's per-client counts */
	socklen_t peer_len;
	struct sockaddr_storage peer;
} pd__conn_t;

/* A connection handed in by pd_engine_adopt(), waiting for its thread. */
typedef struct pd__adoptee {
	struct pd__adoptee *next;
	int fd;
	bool closing;
	uint32_t len, unsent_len; /* unread bytes, then unsent ones, in data */
	uint8_t data[];
} pd__adoptee_t;

struct pd__tcp_thread {
	pd_engine_t *engine;
	int worker, cpu; /* the handler's worker index: threads + t */
	int epfd, inbox_fd;
	int fds[PD_LISTEN_MAX]; /* listeners, one per address */
	pthread_t thread;
	bool started;
	pd__conn_t *conns;
	uint32_t nconns, free_conn;
	uint8_t *in_region; /* nconns x PD__TCP_IN_CAP, touched as used */
	size_t in_region_len;
	uint8_t (*blocks)[PD__TCP_BLOCK];          /* nblocks of output, touched as used */
	uint32_t *block_next, *block_len;          /* kept apart, so a free block stays untouched */
	uint32_t nblocks, free_block, free_blocks; /* the free list, and its length */
	struct {
		uint32_t head, tail;
	} lists[2];
	uint8_t *scratch; /* PD_BATCH answer slots of PD__TCP_SLOT */
	int64_t paused_until;
	int64_t warned_ms; /* when running out of descriptors was last logged */
	pd_dgram_t dgrams[PD_BATCH];
	uint32_t starts[PD_BATCH]; /* where each message of the batch starts in its input */
	struct iovec iov[PD_BATCH];
	pd_engine_stats_t *net;
	pd_tcp_stats_t *stats;
	pthread_mutex_t inbox_lock;
	pd__adoptee_t *inbox;
	const void *used; /* for ThreadSanitizer: the zone set in use */
};

/* The connection and block pools of a thread, sized once. 0 or -ENOMEM; either way
 * pd__pools_free() may follow. */
int pd__pools_new(pd__tcp_thread_t *th, uint32_t nconns);

/* Frees what pd__pools_new() made; the connections' descriptors are the caller's. */
void pd__pools_free(pd__tcp_thread_t *th);

/* A free connection slot, or NULL; pd__slot_put() returns it. */
pd__conn_t *pd__slot_get(pd__tcp_thread_t *th);
void pd__slot_put(pd__tcp_thread_t *th, pd__conn_t *c);

/* Takes c off its list (if on one). */
void pd__list_remove(pd__tcp_thread_t *th, pd__conn_t *c);

/* Puts c at the tail of list, its clock starting at now. */
void pd__list_append(pd__tcp_thread_t *th, pd__conn_t *c, uint8_t list, int64_t now);

/*
 * Appends len bytes to c's unsent output, all or nothing: refused when the pool has not
 * blocks enough or, with cap, when they would take c past PD__TCP_CONN_BLOCKS.
 */
bool pd__out_append(pd__tcp_thread_t *th, pd__conn_t *c, const uint8_t *p, size_t len, bool cap);

/* Frees c's unsent output. */
void pd__out_free(pd__tcp_thread_t *th, pd__conn_t *c);

/* c's unsent output as iovecs, at most cap of them; returns how many. */
int pd__out_iov(const pd__tcp_thread_t *th, const pd__conn_t *c, struct iovec *iov, int cap);

/* Drops n sent bytes from the front of c's unsent output. */
void pd__out_consume(pd__tcp_thread_t *th, pd__conn_t *c, size_t n);

/* The per-client count slot of a peer address, keyed by the engine's seed. */
uint32_t pd__client_slot(const pd_engine_t *e, const struct sockaddr_storage *ss);

/* Counts a connection in; false (nothing counted) when its client is at the limit,
 * unless force. pd__client_leave() counts it out. */
bool pd__client_enter(pd_engine_t *e, uint32_t slot, bool force);
void pd__client_leave(pd_engine_t *e, uint32_t slot);
