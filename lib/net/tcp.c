/* TCP threads: pinned, SO_REUSEPORT listeners, an epoll loop over pooled connections. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "pindns/log.h"

#define PD__TCP_IN_CAP (2 + PD_TCP_MSG_MAX) /* a whole message with its length */
#define PD__TCP_SLOT (2 + PD_TCP_MSG_MAX)   /* an answer with its length */
#define PD__TCP_BLOCK (64u << 10)           /* a block of unsent output */
#define PD__NONE UINT32_MAX
#define PD__EV_STOP UINT64_MAX
#define PD__EV_INBOX (UINT64_MAX - 1)
#define PD__EV_LISTEN (1ull << 40) /* + listen slot */
#define PD__ACCEPTS 64             /* accepted per listener wake-up, for fairness */
#define PD__READS 4                /* reads of one connection per wake-up */
#define PD__EVENTS 64
#define PD__PAUSE_MS 100 /* listeners rest this long when the process is out of fds */

const char *const pd_tcp_close_names[PD_TCP_CLOSE_REASONS] = {
    "eof", "idle", "io", "bad", "evicted", "limit", "queries", "error", "stop", "handed"};

enum { PD__LIST_IDLE, PD__LIST_BUSY, PD__LIST_NONE };

/*
 * One connection. It sits on its thread's idle list (nothing half-read, nothing unsent:
 * the idle timeout runs) or busy list (a message half-read or an answer unsent: the I/O
 * timeout runs); both are kept in the order their clocks started, so only their heads
 * can be due.
 */
typedef struct pd__conn {
	int fd; /* -1: free */
	uint32_t prev, next;
	uint8_t list;
	bool closing;                         /* close once the unsent output is gone */
	bool writing;                         /* epoll waits for EPOLLOUT, not EPOLLIN */
	uint8_t end_why;                      /* the reason to count when closing completes */
	int64_t since_ms;                     /* when its list's clock started */
	uint32_t in_len;                      /* bytes read into in */
	uint8_t *in;                          /* PD__TCP_IN_CAP bytes of the thread's region */
	uint32_t out_head, out_tail, out_off; /* unsent output, a chain of blocks */
	uint32_t answered;
	uint32_t client; /* its slot in the engine's per-client counts */
	socklen_t peer_len;
	struct sockaddr_storage peer;
} pd__conn_t;

/* A connection handed in by pd_engine_adopt(), waiting for its thread. */
typedef struct pd__adoptee {
	struct pd__adoptee *next;
	int fd;
	uint32_t len;
	uint8_t unread[];
} pd__adoptee_t;

struct pd__tcp_thread {
	pd_engine_t *engine;
	int index, worker, cpu;
	int epfd, inbox_fd;
	int fds[PD_LISTEN_MAX]; /* listeners, one per address */
	pthread_t thread;
	bool started;
	pd__conn_t *conns;
	uint32_t nconns, free_conn;
	uint8_t *in_region; /* nconns x PD__TCP_IN_CAP, touched as used */
	size_t in_region_len;
	uint8_t (*blocks)[PD__TCP_BLOCK]; /* nblocks of output, touched as used */
	uint32_t *block_next, *block_len; /* kept apart, so a free block stays untouched */
	uint32_t nblocks, free_block;
	struct {
		uint32_t head, tail;
	} lists[2];
	uint8_t *scratch; /* PD_BATCH answer slots of PD__TCP_SLOT */
	int64_t paused_until;
	pd_dgram_t dgrams[PD_BATCH];
	struct iovec iov[PD_BATCH];
	pd_engine_stats_t *net;
	pd_tcp_stats_t *stats;
	pthread_mutex_t inbox_lock;
	pd__adoptee_t *inbox;
	const void *used; /* for ThreadSanitizer: the zone set in use */
};

static int64_t pd__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pd__tcp_listener_open(const pd_listen_t *l, int *out, char *err, size_t cap)
{
	int one = 1;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0 || listen(fd, 1024) < 0)
		goto fail;
	*out = fd;
	return 0;
fail:;
	int e = errno;
	snprintf(err, cap, "cannot listen on %s (TCP): %s%s%s", l->text, strerror(e),
	         *pd__bind_advice(e, l) ? " — " : "", pd__bind_advice(e, l));
	if (fd >= 0)
		close(fd);
	return -e;
}

/* An anonymous mapping whose pages are only backed once touched; NULL on failure. */
static void *pd__region(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The connection and block pools of one thread, sized once: nothing per query. */
static int pd__thread_pools(pd__tcp_thread_t *th, uint32_t nconns)
{
	th->nconns = nconns;
	th->nblocks = nconns < 32 ? 32 : nconns;
	th->conns = calloc(nconns, sizeof(*th->conns));
	th->in_region_len = (size_t)nconns * PD__TCP_IN_CAP;
	th->in_region = pd__region(th->in_region_len);
	th->blocks = pd__region((size_t)th->nblocks * PD__TCP_BLOCK);
	th->block_next = calloc(th->nblocks, sizeof(*th->block_next));
	th->block_len = calloc(th->nblocks, sizeof(*th->block_len));
	th->scratch = pd__region((size_t)PD_BATCH * PD__TCP_SLOT);
	if (!th->conns || !th->in_region || !th->blocks || !th->block_next || !th->block_len ||
	    !th->scratch)
		return -ENOMEM;
	for (uint32_t b = 0; b < th->nblocks; b++)
		th->block_next[b] = b + 1 < th->nblocks ? b + 1 : PD__NONE;
	for (uint32_t i = 0; i < nconns; i++) {
		th->conns[i].fd = -1;
		th->conns[i].list = PD__LIST_NONE;
		th->conns[i].in = th->in_region + (size_t)i * PD__TCP_IN_CAP;
		th->conns[i].next = i + 1 < nconns ? i + 1 : PD__NONE;
	}
	th->free_conn = 0;
	th->free_block = 0;
	return 0;
}

int pd__tcp_alloc(pd_engine_t *e, int ntcp)
{
	e->ntcp = ntcp;
	e->tcp = calloc((size_t)ntcp, sizeof(*e->tcp));
	e->clients = calloc(PD__CLIENT_SLOTS, sizeof(*e->clients));
	if (!e->tcp || !e->clients)
		return -ENOMEM;
	for (int t = 0; t < ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		th->epfd = th->inbox_fd = -1;
		for (int i = 0; i < PD_LISTEN_MAX; i++)
			th->fds[i] = -1;
		pthread_mutex_init(&th->inbox_lock, NULL);
	}
	return 0;
}

int *pd__tcp_fd(pd_engine_t *e, int t, int slot)
{
	return &e->tcp[t].fds[slot];
}

void pd__tcp_set_stats(pd_engine_t *e, int t, pd_engine_stats_t *net, pd_tcp_stats_t *tcp)
{
	if (net)
		e->tcp[t].net = net;
	if (tcp)
		e->tcp[t].stats = tcp;
}

/* ---- lists ---- */

static void pd__list_remove(pd__tcp_thread_t *th, pd__conn_t *c)
{
	if (c->list == PD__LIST_NONE)
		return;
	if (c->prev != PD__NONE)
		th->conns[c->prev].next = c->next;
	else
		th->lists[c->list].head = c->next;
	if (c->next != PD__NONE)
		th->conns[c->next].prev = c->prev;
	else
		th->lists[c->list].tail = c->prev;
	c->list = PD__LIST_NONE;
}

static void pd__list_append(pd__tcp_thread_t *th, pd__conn_t *c, uint8_t list, int64_t now)
{
	uint32_t idx = (uint32_t)(c - th->conns);
	pd__list_remove(th, c);
	c->list = list;
	c->since_ms = now;
	c->next = PD__NONE;
	c->prev = th->lists[list].tail;
	if (c->prev != PD__NONE)
		th->conns[c->prev].next = idx;
	else
		th->lists[list].head = idx;
	th->lists[list].tail = idx;
}

/*
 * Puts c on the list its state calls for. The I/O clock restarts only on progress (a
 * whole message taken, or output sent): a message trickling in a byte at a time must
 * still be whole within the I/O timeout.
 */
static void pd__conn_settle(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now, bool progress)
{
	bool busy = c->in_len > 0 || c->out_head != PD__NONE;
	if (!busy)
		pd__list_append(th, c, PD__LIST_IDLE, now);
	else if (c->list != PD__LIST_BUSY || progress)
		pd__list_append(th, c, PD__LIST_BUSY, now);
}

/* ---- blocks of unsent output ---- */

static uint32_t pd__block_get(pd__tcp_thread_t *th)
{
	uint32_t b = th->free_block;
	if (b == PD__NONE)
		return PD__NONE;
	th->free_block = th->block_next[b];
	th->block_next[b] = PD__NONE;
	th->block_len[b] = 0;
	return b;
}

static void pd__block_put(pd__tcp_thread_t *th, uint32_t b)
{
	th->block_next[b] = th->free_block;
	th->free_block = b;
}

/* Appends len bytes to c's unsent output. Returns false when the pool is out of blocks. */
static bool pd__out_append(pd__tcp_thread_t *th, pd__conn_t *c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		uint32_t t = c->out_tail;
		if (t == PD__NONE || th->block_len[t] == PD__TCP_BLOCK) {
			uint32_t b = pd__block_get(th);
			if (b == PD__NONE)
				return false;
			if (t != PD__NONE)
				th->block_next[t] = b;
			else
				c->out_head = b;
			c->out_tail = t = b;
		}
		size_t n = PD__TCP_BLOCK - th->block_len[t];
		if (n > len)
			n = len;
		memcpy(th->blocks[t] + th->block_len[t], p, n);
		th->block_len[t] += (uint32_t)n;
		p += n;
		len -= n;
	}
	return true;
}

static void pd__out_free(pd__tcp_thread_t *th, pd__conn_t *c)
{
	for (uint32_t b = c->out_head; b != PD__NONE;) {
		uint32_t next = th->block_next[b];
		pd__block_put(th, b);
		b = next;
	}
	c->out_head = c->out_tail = PD__NONE;
	c->out_off = 0;
}

/* ---- connections ---- */

static uint32_t pd__client_slot(const struct sockaddr_storage *ss)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const uint8_t *p;
	size_t n;
	if (ss->ss_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	/* FNV's last byte reaches only the low and the top bits: mix before taking a slot,
	 * or a whole /24 would share one. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)(h % PD__CLIENT_SLOTS);
}

/* Counts a connection from ss in; false (nothing counted) when the client is at its limit. */
static bool pd__client_enter(pd_engine_t *e, uint32_t slot, bool force)
{
	uint16_t n = atomic_fetch_add_explicit(&e->clients[slot], 1, memory_order_relaxed);
	if (force || (int)n < e->tcp_conf.max_per_client)
		return true;
	atomic_fetch_sub_explicit(&e->clients[slot], 1, memory_order_relaxed);
	return false;
}

static void pd__conn_close(pd__tcp_thread_t *th, pd__conn_t *c, int why)
{
	pd__list_remove(th, c);
	pd__out_free(th, c);
	close(c->fd);
	c->fd = -1;
	atomic_fetch_sub_explicit(&th->engine->clients[c->client], 1, memory_order_relaxed);
	if (th->stats)
		pd_counter_add(&th->stats->closed[why], 1);
	c->next = th->free_conn;
	th->free_conn = (uint32_t)(c - th->conns);
}

/* Waits for what c needs next: room to write while output is unsent, else input. */
static void pd__conn_want(pd__tcp_thread_t *th, pd__conn_t *c, bool writing)
{
	if (c->writing == writing)
		return;
	struct epoll_event ev = {.events = writing ? EPOLLOUT : EPOLLIN,
	                         .data.u64 = (uint64_t)(c - th->conns)};
	c->writing = writing;
	epoll_ctl(th->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A free connection slot; the oldest idle connection makes room when there is none. */
static pd__conn_t *pd__conn_slot(pd__tcp_thread_t *th)
{
	if (th->free_conn == PD__NONE && th->lists[PD__LIST_IDLE].head != PD__NONE)
		pd__conn_close(th, &th->conns[th->lists[PD__LIST_IDLE].head], PD_TCP_CLOSE_EVICTED);
	if (th->free_conn == PD__NONE)
		return NULL;
	pd__conn_t *c = &th->conns[th->free_conn];
	th->free_conn = c->next;
	return c;
}

/* Sets up a connection on fd from peer in slot c and watches it. false: it was closed. */
static bool pd__conn_open(pd__tcp_thread_t *th, pd__conn_t *c, int fd, uint32_t client,
                          const struct sockaddr_storage *peer, socklen_t peer_len)
{
	int one = 1;
	c->fd = fd;
	c->client = client;
	c->in_len = 0;
	c->out_head = c->out_tail = PD__NONE;
	c->out_off = 0;
	c->answered = 0;
	c->closing = false;
	c->writing = false;
	c->list = PD__LIST_NONE;
	c->peer = *peer;
	c->peer_len = peer_len;
	/* Answers go out as written: Nagle would hold one back behind the client's ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(c - th->conns)};
	if (epoll_ctl(th->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
		return false;
	}
	return true;
}

/* ---- answering ---- */

/*
 * Sends what can be sent of the iovecs; the rest goes to c's unsent output. Returns
 * false when c had to be closed.
 */
static bool pd__conn_send(pd__tcp_thread_t *th, pd__conn_t *c, struct iovec *iov, int n)
{
	ssize_t sent = 0;
	if (c->out_head == PD__NONE) {
		do
			sent = writev(c->fd, iov, n);
		while (sent < 0 && errno == EINTR);
		if (sent < 0 && errno != EAGAIN) {
			pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
			return false;
		}
		if (sent < 0)
			sent = 0;
	}
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;
		if ((size_t)sent >= len) {
			sent -= (ssize_t)len;
			continue;
		}
		if (!pd__out_append(th, c, (uint8_t *)iov[i].iov_base + sent, len - (size_t)sent)) {
			pd__conn_close(th, c, PD_TCP_CLOSE_IO); /* too much unread: pool spent */
			return false;
		}
		sent = 0;
	}
	if (c->out_head != PD__NONE)
		pd__conn_want(th, c, true);
	return true;
}

/* Counts one handler call over n messages of which nout were answered. */
static void pd__count_batch(pd__tcp_thread_t *th, int n, int nout, uint64_t in, uint64_t out)
{
	pd_engine_stats_t *st = th->net;
	int fill = 0;
	if (!st)
		return;
	for (int v = n; v > 1 && fill < PD_ENGINE_FILL - 1; v >>= 1)
		fill++;
	pd_counter_add(&st->batches, 1);
	pd_counter_add(&st->batch_fill[fill], 1);
	pd_counter_add(&st->queries, (uint64_t)n);
	pd_counter_add(&st->responses, (uint64_t)nout);
	pd_counter_add(&st->dropped, (uint64_t)(n - nout));
	pd_counter_add(&st->bytes_in, in);
	pd_counter_add(&st->bytes_out, out);
}

/*
 * Answers one batch of the whole messages at the front of c's input, from *pos on.
 * Returns 1 when more may follow, 0 when there is nothing whole left or c must wait for
 * its output to drain, -1 when c was closed.
 */
static int pd__answer_batch(pd__tcp_thread_t *th, pd__conn_t *c, uint32_t *pos)
{
	pd_engine_t *e = th->engine;
	unsigned max = e->tcp_conf.max_queries;
	int n = 0, why = -1;
	uint64_t in = 0, out = 0;
	while (n < PD_BATCH && c->in_len - *pos >= 2) {
		uint32_t mlen = (uint32_t)c->in[*pos] << 8 | c->in[*pos + 1];
		if (mlen == 0) {
			why = PD_TCP_CLOSE_BAD;
			break;
		}
		if (c->in_len - *pos - 2 < mlen)
			break;
		if (max && c->answered + (unsigned)n >= max)
			break;
		pd_dgram_t *d = &th->dgrams[n];
		d->peer = &c->peer;
		d->peer_len = c->peer_len;
		d->in = c->in + *pos + 2;
		d->in_len = mlen;
		d->out = th->scratch + (size_t)n * PD__TCP_SLOT + 2;
		d->out_cap = PD_TCP_MSG_MAX;
		d->out_len = 0;
		d->tcp = true;
		*pos += 2 + mlen;
		in += 2 + mlen;
		n++;
	}
	if (n == 0 && why < 0)
		return 0;
	int nout = 0;
	if (n) {
		const void *data = rcu_dereference(e->data);
		pd__using_data(&th->used, data);
		e->handler(e->handler_arg, th->worker, data, th->dgrams, n);
	}
	for (int k = 0; k < n; k++) {
		pd_dgram_t *d = &th->dgrams[k];
		if (d->out_len == 0) {
			why = PD_TCP_CLOSE_BAD; /* no answer to give: not a DNS query */
			break;
		}
		d->out[-2] = (uint8_t)(d->out_len >> 8);
		d->out[-1] = (uint8_t)d->out_len;
		th->iov[nout].iov_base = d->out - 2;
		th->iov[nout].iov_len = d->out_len + 2;
		out += d->out_len + 2;
		nout++;
	}
	pd__count_batch(th, n, nout, in, out);
	c->answered += (uint32_t)nout;
	if (nout && !pd__conn_send(th, c, th->iov, nout))
		return -1;
	if (why < 0 && max && c->answered >= max)
		why = PD_TCP_CLOSE_QUERIES;
	if (why >= 0) {
		/* What was answered goes out first; what came after is not read. */
		c->closing = true;
		c->end_why = (uint8_t)why;
		*pos = c->in_len;
		if (c->out_head == PD__NONE) {
			pd__conn_close(th, c, why);
			return -1;
		}
		return 0;
	}
	return c->out_head == PD__NONE ? 1 : 0;
}

/*
 * Answers every whole message in c's input, keeping the partial rest. Returns 1 when it
 * took a message, 0 when there was none whole, -1 when c was closed.
 */
static int pd__conn_answer(pd__tcp_thread_t *th, pd__conn_t *c)
{
	uint32_t pos = 0;
	int more;
	while ((more = pd__answer_batch(th, c, &pos)) > 0)
		;
	if (more < 0)
		return -1;
	if (pos == 0)
		return 0;
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return 1;
}

/* Reads what c sent and answers it. */
static void pd__conn_read(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	bool progress = false;
	for (int r = 0; r < PD__READS && !c->writing && !c->closing; r++) {
		size_t room = PD__TCP_IN_CAP - c->in_len;
		if (room == 0)
			break; /* whole messages wait for their turn (max_queries, or output) */
		ssize_t got = read(c->fd, c->in + c->in_len, room);
		if (got == 0) {
			/* A message cut off or not, the client is done: owed answers still go. */
			c->closing = true;
			c->end_why = PD_TCP_CLOSE_EOF;
			if (c->out_head == PD__NONE) {
				pd__conn_close(th, c, PD_TCP_CLOSE_EOF);
				return;
			}
			break;
		}
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
			return;
		}
		c->in_len += (uint32_t)got;
		int took = pd__conn_answer(th, c);
		if (took < 0)
			return;
		progress = progress || took;
		if ((size_t)got < room)
			break; /* the socket is drained */
	}
	pd__conn_settle(th, c, now, progress);
}

/* Sends what c owes. Once all is gone, reads again, answering what waited meanwhile. */
static void pd__conn_flush(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	bool progress = false;
	while (c->out_head != PD__NONE) {
		uint32_t b = c->out_head;
		ssize_t n = write(c->fd, th->blocks[b] + c->out_off, th->block_len[b] - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
			return;
		}
		progress = true;
		c->out_off += (uint32_t)n;
		if (c->out_off == th->block_len[b]) {
			uint32_t next = th->block_next[b];
			pd__block_put(th, b);
			c->out_head = next;
			c->out_off = 0;
			if (next == PD__NONE)
				c->out_tail = PD__NONE;
		}
	}
	if (c->out_head == PD__NONE) {
		if (c->closing) {
			pd__conn_close(th, c, c->end_why);
			return;
		}
		pd__conn_want(th, c, false);
		if (pd__conn_answer(th, c) < 0)
			return;
	}
	pd__conn_settle(th, c, now, progress);
}

/* ---- accepting and adopting ---- */

static void pd__listeners_arm(pd__tcp_thread_t *th, bool on)
{
	pd_engine_t *e = th->engine;
	for (int slot = 0; slot < e->nlisten; slot++) {
		struct epoll_event ev = {.events = on ? EPOLLIN : 0,
		                         .data.u64 = PD__EV_LISTEN + (uint64_t)slot};
		epoll_ctl(th->epfd, EPOLL_CTL_MOD, th->fds[slot], &ev);
	}
}

static void pd__accept(pd__tcp_thread_t *th, int slot, int64_t now)
{
	pd_engine_t *e = th->engine;
	for (int i = 0; i < PD__ACCEPTS; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(th->fds[slot], (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				pd_log(PD_LOG_WARN,
				       "TCP: out of file descriptors, not accepting for "
				       "%d ms (raise LimitNOFILE, or lower tcp-max-clients)",
				       PD__PAUSE_MS);
				th->paused_until = now + PD__PAUSE_MS;
				pd__listeners_arm(th, false);
			}
			return; /* EAGAIN: another thread or process took it, or none left */
		}
		if (th->stats)
			pd_counter_add(&th->stats->accepted, 1);
		uint32_t client = pd__client_slot(&ss);
		pd__conn_t *c = NULL;
		bool entered = pd__client_enter(e, client, false);
		if (!entered || !(c = pd__conn_slot(th))) {
			if (entered)
				atomic_fetch_sub_explicit(&e->clients[client], 1,
				                          memory_order_relaxed);
			close(fd);
			if (th->stats)
				pd_counter_add(&th->stats->closed[PD_TCP_CLOSE_LIMIT], 1);
			continue;
		}
		if (pd__conn_open(th, c, fd, client, &ss, sl))
			pd__list_append(th, c, PD__LIST_IDLE, now);
	}
}

/* Takes the connections pd_engine_adopt() queued for this thread. */
static void pd__adopt_queued(pd__tcp_thread_t *th, int64_t now)
{
	uint64_t v;
	if (read(th->inbox_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&th->inbox_lock);
	pd__adoptee_t *a = th->inbox;
	th->inbox = NULL;
	pthread_mutex_unlock(&th->inbox_lock);
	while (a) {
		pd__adoptee_t *next = a->next;
		struct sockaddr_storage ss = {0};
		socklen_t sl = sizeof(ss);
		if (getpeername(a->fd, (struct sockaddr *)&ss, &sl) < 0)
			sl = 0;
		uint32_t client = pd__client_slot(&ss);
		pd__client_enter(th->engine, client, true); /* it was open already: counted */
		pd__conn_t *c = pd__conn_slot(th);
		if (!c) {
			close(a->fd);
			atomic_fetch_sub_explicit(&th->engine->clients[client], 1,
			                          memory_order_relaxed);
			if (th->stats)
				pd_counter_add(&th->stats->closed[PD_TCP_CLOSE_LIMIT], 1);
		} else if (pd__conn_open(th, c, a->fd, client, &ss, sl)) {
			if (th->stats)
				pd_counter_add(&th->stats->adopted, 1);
			memcpy(c->in, a->unread, a->len);
			c->in_len = a->len;
			if (pd__conn_answer(th, c) >= 0)
				pd__conn_settle(th, c, now, true);
		}
		free(a);
		a = next;
	}
}

/* ---- the loop ---- */

/* Closes what is past its timeout; returns the ms until the next one is due, or -1. */
static int pd__expire(pd__tcp_thread_t *th, int64_t now)
{
	const pd_tcp_conf_t *tc = &th->engine->tcp_conf;
	const int64_t limit[2] = {tc->idle_timeout_ms, tc->io_timeout_ms};
	const int why[2] = {PD_TCP_CLOSE_IDLE, PD_TCP_CLOSE_IO};
	int64_t next = -1;
	for (int l = 0; l < 2; l++) {
		while (th->lists[l].head != PD__NONE) {
			pd__conn_t *c = &th->conns[th->lists[l].head];
			int64_t due = c->since_ms + limit[l];
			if (due > now) {
				if (next < 0 || due - now < next)
					next = due - now;
				break;
			}
			pd__conn_close(th, c, why[l]);
		}
	}
	if (th->paused_until) {
		if (th->paused_until <= now) {
			th->paused_until = 0;
			pd__listeners_arm(th, true);
		} else if (next < 0 || th->paused_until - now < next) {
			next = th->paused_until - now;
		}
	}
	return next > INT32_MAX ? INT32_MAX : (int)next;
}

static void pd__event(pd__tcp_thread_t *th, const struct epoll_event *ev, int64_t now)
{
	uint64_t tag = ev->data.u64;
	if (tag == PD__EV_STOP)
		return;
	if (tag == PD__EV_INBOX) {
		pd__adopt_queued(th, now);
		return;
	}
	if (tag >= PD__EV_LISTEN) {
		pd__accept(th, (int)(tag - PD__EV_LISTEN), now);
		return;
	}
	pd__conn_t *c = &th->conns[tag];
	if (c->fd < 0)
		return; /* closed earlier in this round */
	if (c->writing)
		pd__conn_flush(th, c, now);
	else
		pd__conn_read(th, c, now);
}

/*
 * After stop: no more accepting or reading; the answers owed are sent, for up to the
 * I/O timeout. What stays open is left for a successor (pd_engine_conns) or the close.
 */
static void pd__drain(pd__tcp_thread_t *th)
{
	pd_engine_t *e = th->engine;
	struct epoll_event evs[PD__EVENTS];
	int64_t end = pd__now_ms() + e->tcp_conf.io_timeout_ms;
	for (int slot = 0; slot < e->nlisten; slot++)
		epoll_ctl(th->epfd, EPOLL_CTL_DEL, th->fds[slot], NULL);
	epoll_ctl(th->epfd, EPOLL_CTL_DEL, e->stop_fd, NULL);
	epoll_ctl(th->epfd, EPOLL_CTL_DEL, th->inbox_fd, NULL);
	for (;;) {
		bool owed = false;
		for (uint32_t i = 0; i < th->nconns; i++) {
			pd__conn_t *c = &th->conns[i];
			if (c->fd < 0)
				continue;
			if (c->out_head != PD__NONE)
				owed = true;
			else if (c->closing)
				pd__conn_close(th, c, c->end_why);
			else if (!c->writing)
				epoll_ctl(th->epfd, EPOLL_CTL_DEL, c->fd, NULL); /* read no more */
		}
		int64_t now = pd__now_ms();
		if (!owed || now >= end)
			break;
		int n = epoll_wait(th->epfd, evs, PD__EVENTS, (int)(end - now));
		for (int k = 0; k < n; k++) {
			uint64_t tag = evs[k].data.u64;
			if (tag < PD__EV_LISTEN && th->conns[tag].fd >= 0 && th->conns[tag].writing)
				pd__conn_flush(th, &th->conns[tag], now);
		}
	}
	for (uint32_t i = 0; i < th->nconns; i++)
		if (th->conns[i].fd >= 0 && th->conns[i].out_head != PD__NONE)
			pd__conn_close(th, &th->conns[i], PD_TCP_CLOSE_IO);
}

static void *pd__tcp_main(void *arg)
{
	pd__tcp_thread_t *th = arg;
	pd_engine_t *e = th->engine;
	struct epoll_event evs[PD__EVENTS];
	rcu_register_thread();
	while (!atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
		int timeout = pd__expire(th, pd__now_ms());
		pd__offline(&th->used);
		int n = epoll_wait(th->epfd, evs, PD__EVENTS, timeout);
		rcu_thread_online();
		int64_t now = pd__now_ms();
		for (int k = 0; k < n; k++)
			pd__event(th, &evs[k], now);
		pd__quiescent(&th->used);
	}
	pd__offline(&th->used);
	rcu_thread_online();
	pd__drain(th);
	rcu_unregister_thread();
	return NULL;
}

/* The thread's epoll set: its listeners, its adoption inbox and the engine's stop. */
static int pd__thread_prepare(pd__tcp_thread_t *th)
{
	pd_engine_t *e = th->engine;
	uint32_t per = (uint32_t)((e->tcp_conf.max_clients + e->ntcp - 1) / e->ntcp);
	if (pd__thread_pools(th, per ? per : 1) < 0)
		return -ENOMEM;
	th->lists[0].head = th->lists[0].tail = PD__NONE;
	th->lists[1].head = th->lists[1].tail = PD__NONE;
	th->epfd = epoll_create1(EPOLL_CLOEXEC);
	th->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (th->epfd < 0 || th->inbox_fd < 0)
		return -errno;
	for (int slot = 0; slot < e->nlisten; slot++) {
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = PD__EV_LISTEN + (uint64_t)slot};
		/* Passed and handed-over listeners may be blocking: accept must not be. */
		int fl = fcntl(th->fds[slot], F_GETFL);
		if (fl < 0 || fcntl(th->fds[slot], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    epoll_ctl(th->epfd, EPOLL_CTL_ADD, th->fds[slot], &ev) < 0)
			return -errno;
	}
	struct epoll_event iev = {.events = EPOLLIN, .data.u64 = PD__EV_INBOX};
	struct epoll_event sev = {.events = EPOLLIN, .data.u64 = PD__EV_STOP};
	if (epoll_ctl(th->epfd, EPOLL_CTL_ADD, th->inbox_fd, &iev) < 0 ||
	    epoll_ctl(th->epfd, EPOLL_CTL_ADD, e->stop_fd, &sev) < 0)
		return -errno;
	return 0;
}

int pd__tcp_start(pd_engine_t *e)
{
	for (int t = 0; t < e->ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		th->engine = e;
		th->index = t;
		th->worker = e->nthreads + t;
		/* After the UDP workers' CPUs, so one TCP thread does not share the first. */
		th->cpu = pd__cpu_for(e->nthreads + t, NULL);
		int ret = pd__thread_prepare(th);
		if (ret < 0)
			return ret;
		char name[16];
		snprintf(name, sizeof(name), "pindns-tcp/%u", (unsigned)t % 10000u);
		ret = pd__thread_start(&th->thread, th->cpu, name, pd__tcp_main, th);
		if (ret < 0)
			return ret;
		th->started = true;
	}
	return 0;
}

void pd__tcp_stop(pd_engine_t *e)
{
	for (int t = 0; e->tcp && t < e->ntcp; t++) {
		if (!e->tcp[t].started)
			continue;
		pthread_join(e->tcp[t].thread, NULL);
		e->tcp[t].started = false;
	}
}

int pd_engine_conns(pd_engine_t *e, pd_engine_conn_fn fn, void *arg)
{
	int handed = 0;
	for (int t = 0; t < e->ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		for (uint32_t i = 0; i < th->nconns; i++) {
			pd__conn_t *c = &th->conns[i];
			if (c->fd < 0 || c->closing)
				continue;
			if (fn(arg, c->fd, c->in, c->in_len) != 0)
				return handed;
			/* The successor holds its own descriptor: ours can go. */
			pd__conn_close(th, c, PD_TCP_CLOSE_HANDED);
			handed++;
		}
	}
	return handed;
}

int pd_engine_adopt(pd_engine_t *e, int fd, const uint8_t *unread, size_t len)
{
	if (e->ntcp < 1 || len > PD__TCP_IN_CAP) {
		close(fd);
		return -EINVAL;
	}
	pd__adoptee_t *a = malloc(sizeof(*a) + len);
	if (!a) {
		close(fd);
		return -ENOMEM;
	}
	a->fd = fd;
	a->len = (uint32_t)len;
	memcpy(a->unread, unread, len);
	pd__tcp_thread_t *th = &e->tcp[atomic_fetch_add(&e->adopt_next, 1) % (unsigned)e->ntcp];
	pthread_mutex_lock(&th->inbox_lock);
	a->next = th->inbox;
	th->inbox = a;
	pthread_mutex_unlock(&th->inbox_lock);
	uint64_t one = 1;
	if (write(th->inbox_fd, &one, sizeof(one)) < 0)
		return -errno; /* queued all the same: taken at the thread's next wake-up */
	return 0;
}

void pd__tcp_free(pd_engine_t *e)
{
	for (int t = 0; e->tcp && t < e->ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		for (uint32_t i = 0; th->conns && i < th->nconns; i++)
			if (th->conns[i].fd >= 0)
				pd__conn_close(th, &th->conns[i], PD_TCP_CLOSE_STOP);
		for (pd__adoptee_t *a = th->inbox, *next; a; a = next) {
			next = a->next;
			close(a->fd);
			free(a);
		}
		for (int i = 0; i < PD_LISTEN_MAX; i++)
			if (th->fds[i] >= 0)
				close(th->fds[i]);
		if (th->epfd >= 0)
			close(th->epfd);
		if (th->inbox_fd >= 0)
			close(th->inbox_fd);
		free(th->conns);
		if (th->in_region)
			munmap(th->in_region, th->in_region_len);
		if (th->blocks)
			munmap(th->blocks, (size_t)th->nblocks * PD__TCP_BLOCK);
		free(th->block_next);
		free(th->block_len);
		if (th->scratch)
			munmap(th->scratch, (size_t)PD_BATCH * PD__TCP_SLOT);
		pthread_mutex_destroy(&th->inbox_lock);
	}
	free(e->tcp);
	free(e->clients);
	e->tcp = NULL;
	e->clients = NULL;
}
