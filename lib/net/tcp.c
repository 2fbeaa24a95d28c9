/* TCP threads: pinned, SO_REUSEPORT listeners, an epoll loop over pooled connections. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pindns/log.h"
#include "tcp_int.h"

#define PD__EV_STOP UINT64_MAX
#define PD__EV_INBOX (UINT64_MAX - 1)
#define PD__EV_LISTEN (1ull << 40) /* + listen slot */
#define PD__ACCEPTS 64             /* accepted per listener wake-up, for fairness */
#define PD__READS 4                /* reads of one connection per wake-up */
#define PD__EVENTS 64
#define PD__PAUSE_MS 100   /* listeners rest this long when accepting fails for want */
#define PD__WARN_MS 10000  /* the least time between two such warnings */
#define PD__FINISH_MS 2000 /* the most a stop waits for clients to take what is owed */
#define PD__IOV_OWED 64    /* pieces of owed output sent per call */

const char *const pd_tcp_close_names[PD_TCP_CLOSE_REASONS] = {
    "eof", "idle", "io", "bad", "evicted", "limit", "queries", "error", "stop", "handed", "taken"};

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
fail:
	return pd__listen_failed(fd, l, " (TCP)", err, cap);
}

int pd__tcp_alloc(pd_engine_t *e, int ntcp)
{
	e->tcp = calloc((size_t)ntcp, sizeof(*e->tcp));
	if (!e->tcp)
		return -ENOMEM;
	e->ntcp = ntcp;
	/* Every descriptor -1 first: pd__tcp_free must not take calloc's zeroes for fd 0. */
	for (int t = 0; t < ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		th->epfd = th->inbox_fd = -1;
		for (int i = 0; i < PD_LISTEN_MAX; i++)
			th->fds[i] = -1;
		pthread_mutex_init(&th->inbox_lock, NULL);
	}
	e->clients = calloc(PD__CLIENT_SLOTS, sizeof(*e->clients));
	if (getrandom(&e->client_seed, sizeof(e->client_seed), GRND_NONBLOCK) !=
	    sizeof(e->client_seed))
		e->client_seed =
		    (uint64_t)pd__now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	return e->clients ? 0 : -ENOMEM;
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

/* ---- opening and ending connections ---- */

static void pd__count_close(pd__tcp_thread_t *th, int why)
{
	if (why != PD__WHY_COUNTED && th->stats)
		pd_counter_add(&th->stats->closed[why], 1);
}

/* Lets go of c: its descriptor, slot, client count and unsent output. */
static void pd__conn_release(pd__tcp_thread_t *th, pd__conn_t *c)
{
	pd__list_remove(th, c);
	pd__out_free(th, c);
	close(c->fd);
	pd__client_leave(th->engine, c->client);
	pd__slot_put(th, c);
}

/* Closes c, counting why unless its end was counted when it began. */
static void pd__conn_close(pd__tcp_thread_t *th, pd__conn_t *c, int why)
{
	pd__count_close(th, c->closing && c->end_why == PD__WHY_COUNTED ? PD__WHY_COUNTED : why);
	pd__conn_release(th, c);
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

/*
 * Our side of c is done, all it was owed sent. Closing now, with input the client still
 * sends unread, would reset the connection, and a reset destroys the answers the client
 * has not read yet: so our side shuts down, and what comes is read and dropped until the
 * client's EOF, for up to the I/O timeout.
 */
static void pd__conn_linger(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	c->closing = false;
	c->in_len = 0;
	pd__conn_want(th, c, false);
	pd__list_append(th, c, PD__LIST_BUSY, now);
}

/* Ends c from our side (why: a limit, or a message not to answer), once its answers are
 * sent. Counted now. */
static void pd__conn_end(pd__tcp_thread_t *th, pd__conn_t *c, int why, int64_t now)
{
	pd__count_close(th, why);
	c->closing = true;
	c->end_why = PD__WHY_COUNTED;
	c->in_len = 0;
	if (c->out_head == PD__NONE)
		pd__conn_linger(th, c, now);
	else
		pd__list_append(th, c, PD__LIST_BUSY, now); /* the I/O clock, never evicted */
}

/* What c's state calls for once its owed output is gone: its end, or reading again. */
static bool pd__conn_ended(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	if (!c->closing)
		return false;
	if (c->end_why == PD__WHY_COUNTED)
		pd__conn_linger(th, c, now);
	else
		pd__conn_close(th, c, c->end_why); /* the client's EOF: it sends nothing more */
	return true;
}

/*
 * Puts c on the list its state calls for. The I/O clock restarts only on progress (a
 * whole message taken, or output sent): a message trickling in a byte at a time must
 * still be whole within the I/O timeout.
 */
static void pd__conn_settle(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now, bool progress)
{
	bool busy = c->in_len > 0 || c->out_head != PD__NONE || c->closing || c->lingering;
	if (!busy)
		pd__list_append(th, c, PD__LIST_IDLE, now);
	else if (c->list != PD__LIST_BUSY || (progress && !c->lingering))
		pd__list_append(th, c, PD__LIST_BUSY, now);
}

/* A free connection slot; the oldest idle connection makes room when there is none. */
static pd__conn_t *pd__conn_slot(pd__tcp_thread_t *th)
{
	if (th->free_conn == PD__NONE && th->lists[PD__LIST_IDLE].head != PD__NONE)
		pd__conn_close(th, &th->conns[th->lists[PD__LIST_IDLE].head], PD_TCP_CLOSE_EVICTED);
	return pd__slot_get(th);
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
	c->out_off = c->out_blocks = 0;
	c->answered = 0;
	c->batch_max = PD_BATCH;
	c->closing = c->lingering = c->writing = false;
	c->end_why = PD__WHY_COUNTED;
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
 * Sends the n framed answers at iov; c owes nothing yet. What the socket does not take
 * is kept to be sent, up to c's share of the blocks: answers past it are not taken, and
 * their queries are answered again once the client has read. Returns how many answers
 * were taken, or -1 when c was closed.
 */
static int pd__conn_send(pd__tcp_thread_t *th, pd__conn_t *c, struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t sent;
	do
		sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (sent < 0 && errno == EINTR);
	if (sent < 0 && errno != EAGAIN) {
		pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
		return -1;
	}
	size_t done = sent < 0 ? 0 : (size_t)sent;
	int taken = 0;
	for (; taken < n; taken++) {
		size_t len = iov[taken].iov_len;
		if (done >= len) {
			done -= len;
			continue;
		}
		/* An answer cut by the socket must be finished, whatever c's share. */
		bool cut = done > 0;
		if (!pd__out_append(th, c, (uint8_t *)iov[taken].iov_base + done, len - done,
		                    !cut)) {
			if (!cut)
				break;
			pd__conn_close(th, c, PD_TCP_CLOSE_IO); /* the pool is spent */
			return -1;
		}
		done = 0;
	}
	if (taken < n && c->out_head == PD__NONE) {
		/* Refused with nothing owed: the pool is spent (it has room for every
		 * connection's most, so this is a guard), and nothing would wake c again. */
		pd__conn_close(th, c, PD_TCP_CLOSE_IO);
		return -1;
	}
	if (c->out_head != PD__NONE)
		pd__conn_want(th, c, true);
	return taken;
}

/* Cuts up to a batch of whole messages out of c's input from *pos on, as dgrams. Sets
 * *why when a length of 0 ends the connection. Returns how many. */
static int pd__batch_cut(pd__tcp_thread_t *th, pd__conn_t *c, uint32_t *pos, int *why)
{
	unsigned max = th->engine->tcp_conf.max_queries;
	int n = 0;
	while (n < c->batch_max && c->in_len - *pos >= 2) {
		uint32_t mlen = (uint32_t)c->in[*pos] << 8 | c->in[*pos + 1];
		if (mlen == 0) {
			*why = PD_TCP_CLOSE_BAD;
			break;
		}
		if (c->in_len - *pos - 2 < mlen || (max && c->answered + (unsigned)n >= max))
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
		d->take = false;
		th->starts[n++] = *pos;
		*pos += 2 + mlen;
	}
	return n;
}

/* Frames the answers of the batch's first n messages in th->iov; returns their bytes. */
static size_t pd__frame(pd__tcp_thread_t *th, int n)
{
	size_t len = 0;
	for (int k = 0; k < n; k++) {
		pd_dgram_t *d = &th->dgrams[k];
		d->out[-2] = (uint8_t)(d->out_len >> 8);
		d->out[-1] = (uint8_t)d->out_len;
		th->iov[k].iov_base = d->out - 2;
		th->iov[k].iov_len = d->out_len + 2;
		len += d->out_len + 2;
	}
	return len;
}

/*
 * Message k of the batch was taken (pd_dgram_t.take): the answers before it go out as
 * far as the socket takes them without waiting, and c leaves the engine for the take
 * function, owed the rest of them, with message k and all after it unread. Called before
 * the thread's next quiescent state, so the data the handler saw is still safe to use.
 * The descriptor is the taker's: it is not closed here. Returns -1: c is gone.
 */
static int pd__conn_take(pd__tcp_thread_t *th, pd__conn_t *c, int k, const void *data)
{
	pd_engine_t *e = th->engine;
	size_t owed = pd__frame(th, k), sent = 0;
	if (k) {
		struct msghdr mh = {.msg_iov = th->iov, .msg_iovlen = (size_t)k};
		ssize_t got;
		do
			got = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (got < 0 && errno == EINTR);
		if (got < 0 && errno != EAGAIN) {
			pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
			return -1;
		}
		sent = got < 0 ? 0 : (size_t)got;
	}
	uint64_t in = 0;
	for (int i = 0; i <= k; i++)
		in += 2 + th->dgrams[i].in_len;
	if (th->net)
		/* The taken message is answered, by the transfer: not a drop. */
		pd__count_traffic(th->net, k + 1, k + 1, in, owed);
	c->answered += (uint32_t)k;
	int first = 0;
	while (first < k && sent >= th->iov[first].iov_len)
		sent -= th->iov[first++].iov_len;
	if (first < k) {
		th->iov[first].iov_base = (uint8_t *)th->iov[first].iov_base + sent;
		th->iov[first].iov_len -= sent;
	}
	pd_engine_conn_t conn = {.fd = c->fd,
	                         .unread = c->in + th->starts[k],
	                         .unread_len = c->in_len - th->starts[k],
	                         .unsent = th->iov + first,
	                         .nunsent = k - first};
	epoll_ctl(th->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	pd__count_close(th, PD_TCP_CLOSE_TAKEN);
	e->take(e->take_arg, th->worker, data, &conn, (const struct sockaddr *)&c->peer,
	        c->peer_len);
	/* Its slot goes, its descriptor stays open. */
	pd__list_remove(th, c);
	pd__out_free(th, c);
	pd__client_leave(e, c->client);
	pd__slot_put(th, c);
	return -1;
}

/*
 * Answers one batch of the whole messages in c's input from *pos on. Returns 1 when more
 * may follow, 0 when there is nothing whole left or c waits for the client to read, -1
 * when c was closed or is ending.
 */
static int pd__answer_batch(pd__tcp_thread_t *th, pd__conn_t *c, uint32_t *pos, int64_t now)
{
	pd_engine_t *e = th->engine;
	int why = -1;
	int n = pd__batch_cut(th, c, pos, &why);
	const void *data = NULL;
	if (n) {
		data = rcu_dereference(e->data);
		pd__using_data(&th->used, data);
		e->handler(e->handler_arg, th->worker, data, th->dgrams, n);
	}
	int nout = 0;
	while (nout < n && th->dgrams[nout].out_len)
		nout++;
	if (nout < n && th->dgrams[nout].take && e->take)
		return pd__conn_take(th, c, nout, data);
	pd__frame(th, nout);
	if (nout < n)
		why = PD_TCP_CLOSE_BAD; /* no answer to give: not a DNS query */
	int taken = nout ? pd__conn_send(th, c, th->iov, nout) : 0;
	if (taken < 0)
		return -1;
	/* What was not taken is answered again later; a message with no answer counts. */
	int used = taken < nout ? taken : nout < n ? nout + 1 : n;
	uint64_t in = 0, out = 0;
	for (int k = 0; k < used; k++)
		in += 2 + th->dgrams[k].in_len;
	for (int k = 0; k < taken; k++)
		out += th->iov[k].iov_len;
	if (th->net && used)
		pd__count_traffic(th->net, used, taken, in, out);
	c->answered += (uint32_t)taken;
	if (taken < nout) {
		/* The rest is answered again once the client reads: as few as it took, so that
		 * a slow reader does not make every query cost many answers. */
		*pos = th->starts[taken];
		c->batch_max = (uint8_t)(taken > 1 ? taken : 1);
		return 0;
	}
	if (c->batch_max < PD_BATCH)
		c->batch_max = (uint8_t)(2 * c->batch_max < PD_BATCH ? 2 * c->batch_max : PD_BATCH);
	unsigned max = e->tcp_conf.max_queries;
	if (why < 0 && max && c->answered >= max)
		why = PD_TCP_CLOSE_QUERIES;
	if (why >= 0) {
		*pos = c->in_len;
		pd__conn_end(th, c, why, now);
		return -1;
	}
	return n && c->out_head == PD__NONE ? 1 : 0;
}

/*
 * Answers every whole message in c's input, keeping the rest. Returns 1 when it took a
 * message, 0 when it took none, -1 when c was closed or is ending.
 */
static int pd__conn_answer(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	uint32_t pos = 0;
	int more;
	while ((more = pd__answer_batch(th, c, &pos, now)) > 0)
		;
	if (more < 0)
		return -1;
	if (pos == 0)
		return 0;
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return 1;
}

/* ---- reading and writing ---- */

/* Reads and drops what a lingering c still gets, until its EOF. */
static void pd__conn_discard(pd__tcp_thread_t *th, pd__conn_t *c)
{
	for (int r = 0; r < PD__READS; r++) {
		ssize_t got = read(c->fd, c->in, PD__TCP_IN_CAP);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return;
		if (got <= 0) {
			pd__conn_release(th, c); /* its end was counted when it began */
			return;
		}
	}
}

/* Reads what c sent and answers it. */
static void pd__conn_read(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	bool progress = false;
	if (c->lingering) {
		pd__conn_discard(th, c);
		return;
	}
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
		int took = pd__conn_answer(th, c, now);
		if (took < 0)
			return;
		progress = progress || took;
		if ((size_t)got < room)
			break; /* the socket is drained */
	}
	pd__conn_settle(th, c, now, progress);
}

/* Sends what c owes; 0, or -1 when c was closed. */
static int pd__conn_write_owed(pd__tcp_thread_t *th, pd__conn_t *c, bool *progress)
{
	while (c->out_head != PD__NONE) {
		struct iovec iov[PD__IOV_OWED];
		struct msghdr mh = {.msg_iov = iov,
		                    .msg_iovlen = (size_t)pd__out_iov(th, c, iov, PD__IOV_OWED)};
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			pd__conn_close(th, c, PD_TCP_CLOSE_ERROR);
			return -1;
		}
		*progress = true;
		pd__out_consume(th, c, (size_t)n);
	}
	return 0;
}

/* Sends what c owes. Once all is gone, reads again, answering what waited meanwhile. */
static void pd__conn_flush(pd__tcp_thread_t *th, pd__conn_t *c, int64_t now)
{
	bool progress = false;
	if (pd__conn_write_owed(th, c, &progress) < 0)
		return;
	if (c->out_head == PD__NONE) {
		if (pd__conn_ended(th, c, now))
			return;
		pd__conn_want(th, c, false);
		if (pd__conn_answer(th, c, now) < 0)
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

/*
 * accept4() failed with err. Out of descriptors, the oldest idle connection makes room
 * (true: try again); when that is not possible, or the kernel is short of memory, the
 * listeners rest a moment, so that a level-triggered listener does not spin.
 */
static bool pd__accept_failed(pd__tcp_thread_t *th, int err, bool retried, int64_t now)
{
	bool fds = err == EMFILE || err == ENFILE;
	if (!fds && err != ENOBUFS && err != ENOMEM)
		return false; /* EAGAIN: another thread or process took it; or the client left */
	if (fds && !retried && th->lists[PD__LIST_IDLE].head != PD__NONE) {
		pd__conn_close(th, &th->conns[th->lists[PD__LIST_IDLE].head], PD_TCP_CLOSE_EVICTED);
		return true;
	}
	if (now - th->warned_ms >= PD__WARN_MS || !th->warned_ms) {
		th->warned_ms = now;
		pd_log(PD_LOG_WARN, "TCP: cannot accept: %s; not accepting for %d ms%s",
		       strerror(err), PD__PAUSE_MS,
		       fds ? " (raise LimitNOFILE / ulimit -n, or lower tcp-max-clients)" : "");
	}
	th->paused_until = now + PD__PAUSE_MS;
	pd__listeners_arm(th, false);
	return false;
}

static void pd__accept(pd__tcp_thread_t *th, int slot, int64_t now)
{
	pd_engine_t *e = th->engine;
	bool retried = false;
	for (int i = 0; i < PD__ACCEPTS; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(th->fds[slot], (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (!pd__accept_failed(th, errno, retried, now))
				return;
			retried = true;
			continue;
		}
		retried = false; /* one retry per failure */
		if (th->stats)
			pd_counter_add(&th->stats->accepted, 1);
		uint32_t client = pd__client_slot(e, &ss);
		pd__conn_t *c = NULL;
		bool entered = pd__client_enter(e, client, false);
		if (!entered || !(c = pd__conn_slot(th))) {
			if (entered)
				pd__client_leave(e, client);
			close(fd);
			pd__count_close(th, PD_TCP_CLOSE_LIMIT);
			continue;
		}
		if (pd__conn_open(th, c, fd, client, &ss, sl))
			pd__list_append(th, c, PD__LIST_IDLE, now);
	}
}

/* One connection from a predecessor: what it is owed goes out first. */
static void pd__adopt_one(pd__tcp_thread_t *th, pd__adoptee_t *a, int64_t now)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	if (getpeername(a->fd, (struct sockaddr *)&ss, &sl) < 0)
		sl = 0;
	uint32_t client = pd__client_slot(th->engine, &ss);
	pd__client_enter(th->engine, client, true); /* it was open already: counted */
	/* Counted in first, so that whatever closes it below keeps the open gauge right. */
	if (th->stats)
		pd_counter_add(&th->stats->adopted, 1);
	pd__conn_t *c = pd__conn_slot(th);
	if (!c) {
		close(a->fd);
		pd__client_leave(th->engine, client);
		pd__count_close(th, PD_TCP_CLOSE_LIMIT);
		return;
	}
	if (!pd__conn_open(th, c, a->fd, client, &ss, sl))
		return;
	memcpy(c->in, a->data, a->len);
	c->in_len = a->len;
	if (a->closing) {
		c->closing = true; /* its end was counted by the predecessor */
		c->in_len = 0;
	}
	if (!pd__out_append(th, c, a->data + a->len, a->unsent_len, false)) {
		pd__conn_close(th, c, PD_TCP_CLOSE_IO); /* the pool is spent */
		return;
	}
	if (c->out_head != PD__NONE) {
		pd__conn_want(th, c, true);
		pd__conn_flush(th, c, now);
	} else if (!pd__conn_ended(th, c, now) && pd__conn_answer(th, c, now) >= 0) {
		pd__conn_settle(th, c, now, true);
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
		pd__adopt_one(th, a, now);
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
			if (l == PD__LIST_IDLE)
				pd__conn_close(th, c, PD_TCP_CLOSE_IDLE);
			else if (c->lingering || (c->closing && c->end_why == PD__WHY_COUNTED))
				pd__conn_release(th, c); /* its end was counted when it began */
			else
				pd__conn_close(th, c, PD_TCP_CLOSE_IO);
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
	rcu_unregister_thread();
	return NULL;
}

/* The thread's pools and epoll set: its listeners, its adoption inbox, the engine's stop. */
static int pd__thread_prepare(pd__tcp_thread_t *th)
{
	pd_engine_t *e = th->engine;
	/* Shared evenly; each thread takes one at least. */
	uint32_t per = (uint32_t)((e->tcp_conf.max_clients + e->ntcp - 1) / e->ntcp);
	if (pd__pools_new(th, per ? per : 1) < 0)
		return -ENOMEM;
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

/* ---- handing over, adopting, finishing ---- */

int pd_engine_conns(pd_engine_t *e, pd_engine_conn_fn fn, void *arg)
{
	int handed = 0;
	for (int t = 0; t < e->ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		for (uint32_t i = 0; i < th->nconns; i++) {
			pd__conn_t *c = &th->conns[i];
			if (c->fd < 0)
				continue;
			struct iovec *iov =
			    c->out_blocks ? calloc(c->out_blocks, sizeof(*iov)) : NULL;
			if (c->out_blocks && !iov)
				continue; /* closed with the rest at pd_engine_free */
			/* A connection that ended on the client's EOF is handed as open: the
			 * successor reads the EOF again once what is owed is sent. */
			pd_engine_conn_t hc = {
			    .fd = c->fd,
			    .unread = c->in,
			    .unread_len = c->in_len,
			    .unsent = iov,
			    .nunsent = iov ? pd__out_iov(th, c, iov, (int)c->out_blocks) : 0,
			    .closing =
			        c->lingering || (c->closing && c->end_why == PD__WHY_COUNTED)};
			int ret = fn(arg, &hc);
			free(iov);
			if (ret != 0)
				return handed;
			pd__conn_close(th, c, PD_TCP_CLOSE_HANDED);
			handed++;
		}
	}
	return handed;
}

int pd_engine_adopt(pd_engine_t *e, const pd_engine_conn_t *conn)
{
	size_t unsent = 0;
	for (int i = 0; i < conn->nunsent; i++)
		unsent += conn->unsent[i].iov_len;
	pd__adoptee_t *a = NULL;
	if (e->ntcp < 1 || conn->unread_len > PD__TCP_IN_CAP || unsent > UINT32_MAX ||
	    !(a = malloc(sizeof(*a) + conn->unread_len + unsent))) {
		close(conn->fd);
		return e->ntcp < 1 || !a ? -ENOMEM : -EINVAL;
	}
	a->fd = conn->fd;
	a->closing = conn->closing;
	a->len = (uint32_t)conn->unread_len;
	a->unsent_len = (uint32_t)unsent;
	if (conn->unread_len) /* unread may be NULL then (a transfer's connection) */
		memcpy(a->data, conn->unread, conn->unread_len);
	uint8_t *p = a->data + conn->unread_len;
	for (int i = 0; i < conn->nunsent; i++) {
		memcpy(p, conn->unsent[i].iov_base, conn->unsent[i].iov_len);
		p += conn->unsent[i].iov_len;
	}
	pd__tcp_thread_t *th = &e->tcp[atomic_fetch_add(&e->adopt_next, 1) % (unsigned)e->ntcp];
	pthread_mutex_lock(&th->inbox_lock);
	a->next = th->inbox;
	th->inbox = a;
	pthread_mutex_unlock(&th->inbox_lock);
	uint64_t one = 1;
	/* Should the wake-up fail, it is queued all the same, taken at the next one. */
	if (write(th->inbox_fd, &one, sizeof(one)) < 0)
		pd_log(PD_LOG_WARN, "TCP: cannot wake a thread for a connection: %s",
		       strerror(errno));
	return 0;
}

/*
 * At the end, with the threads stopped: what open connections are owed is sent, for up
 * to the I/O timeout (PD__FINISH_MS at most), from this thread alone.
 */
static void pd__tcp_finish_owed(pd_engine_t *e)
{
	int64_t end =
	    pd__now_ms() +
	    (e->tcp_conf.io_timeout_ms < PD__FINISH_MS ? e->tcp_conf.io_timeout_ms : PD__FINISH_MS);
	size_t all = 0;
	for (int t = 0; t < e->ntcp; t++)
		all += e->tcp[t].nconns;
	struct pollfd *pfd = calloc(all ? all : 1, sizeof(*pfd));
	pd__conn_t **who = calloc(all ? all : 1, sizeof(*who));
	pd__tcp_thread_t **whose = calloc(all ? all : 1, sizeof(*whose));
	for (;;) {
		nfds_t n = 0;
		for (int t = 0; pfd && who && whose && t < e->ntcp; t++)
			for (uint32_t i = 0; i < e->tcp[t].nconns; i++) {
				pd__conn_t *c = &e->tcp[t].conns[i];
				if (c->fd < 0 || c->out_head == PD__NONE)
					continue;
				pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
				who[n] = c;
				whose[n++] = &e->tcp[t];
			}
		int64_t left = end - pd__now_ms();
		if (n == 0 || left <= 0 || poll(pfd, n, (int)left) <= 0)
			break;
		for (nfds_t k = 0; k < n; k++) {
			bool progress = false;
			if (pfd[k].revents)
				pd__conn_write_owed(whose[k], who[k], &progress);
		}
	}
	free(pfd);
	free(who);
	free(whose);
}

void pd__tcp_free(pd_engine_t *e)
{
	if (!e->tcp)
		return;
	pd__tcp_finish_owed(e);
	for (int t = 0; t < e->ntcp; t++) {
		pd__tcp_thread_t *th = &e->tcp[t];
		for (uint32_t i = 0; i < th->nconns; i++) {
			pd__conn_t *c = &th->conns[i];
			if (c->fd < 0)
				continue;
			/* Unread input would make the close a reset, destroying answers the
			 * client has not read yet: what is queued is read first. */
			while (read(c->fd, c->in, PD__TCP_IN_CAP) > 0)
				;
			bool ended = c->lingering || (c->closing && c->end_why == PD__WHY_COUNTED);
			if (ended)
				pd__conn_release(th, c);
			else
				pd__conn_close(th, c, c->closing ? c->end_why : PD_TCP_CLOSE_STOP);
		}
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
		pd__pools_free(th);
		pthread_mutex_destroy(&th->inbox_lock);
	}
	free(e->tcp);
	free(e->clients);
	e->tcp = NULL;
	e->clients = NULL;
}
