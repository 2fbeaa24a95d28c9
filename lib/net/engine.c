/* Worker threads pinned to CPUs, each with its own SO_REUSEPORT sockets, batched I/O. */
#define _GNU_SOURCE
#include "pindns/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "engine_int.h"
#include "pindns/log.h"

#define PD_ENGINE_WAKE_SIGNAL SIGUSR1

struct pd__worker {
	pd_engine_t *engine;
	int index;
	int cpu;
	int epfd;
	int *fds; /* one per listen address */
	pthread_t thread;
	bool started;
	/* Batch buffers, allocated once: nothing is allocated per query. */
	struct mmsghdr rx[PD_BATCH], tx[PD_BATCH];
	struct iovec rx_iov[PD_BATCH], tx_iov[PD_BATCH];
	struct sockaddr_storage peer[PD_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} rx_ctl[PD_BATCH], tx_ctl[PD_BATCH];
	uint8_t (*rx_buf)[PD_PKT_MAX];
	uint8_t (*tx_buf)[PD_PKT_MAX];
	pd_dgram_t dgrams[PD_BATCH];
	int dgram_rx[PD_BATCH];   /* which received message each datagram came from */
	pd_engine_stats_t *stats; /* this worker's traffic counters, or NULL */
	const void *used;         /* for ThreadSanitizer: the zone set of the last batch */
};

static bool pd__is_wildcard(const pd_listen_t *l)
{
	if (l->addr.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&l->addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&l->addr)->sin6_addr);
}

static const char *pd__bind_advice(int err, const pd_listen_t *l)
{
	uint16_t port = ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	switch (err) {
	case EACCES:
		return port < 1024 ? "ports below 1024 need root or CAP_NET_BIND_SERVICE; run as "
		                     "root, or pick a high port with --listen 127.0.0.1:5300"
		                   : "permission denied";
	case EADDRINUSE:
		return "another program (another DNS server, or systemd-resolved on "
		       "127.0.0.53:53) holds this address; stop it, or pick another port with "
		       "--listen 127.0.0.1:5300";
	case EADDRNOTAVAIL:
		return "no interface on this host has this address";
	case EAFNOSUPPORT:
		return "this host has no IPv6; listen on IPv4 addresses only";
	default:
		return "";
	}
}

int pd__listen_failed(int fd, const pd_listen_t *l, const char *what, char *err, size_t cap)
{
	int e = errno;
	const char *advice = pd__bind_advice(e, l);
	snprintf(err, cap, "cannot listen on %s%s: %s%s%s", l->text, what, strerror(e),
	         *advice ? " — " : "", advice);
	if (fd >= 0)
		close(fd);
	return -e;
}

static int pd__socket_open(const pd_listen_t *l, bool wildcard, int rcvbuf, int *out, char *err,
                           size_t cap)
{
	int one = 1;
	int fd = socket(l->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* Each worker gets its own socket; the kernel spreads flows by 4-tuple hash. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6) {
		/* [::] must not swallow IPv4: 0.0.0.0 has sockets of its own. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			goto fail;
		if (wildcard &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			goto fail;
	} else if (wildcard && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) {
		goto fail;
	}
	/* FORCE passes rmem_max when we may; otherwise the kernel caps it, which is fine. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0)
		goto fail;
	*out = fd;
	return 0;
fail:
	return pd__listen_failed(fd, l, "", err, cap);
}

/* The CPUs this process may use, in order; worker i goes to the (i mod n)-th. */
int pd__cpu_for(int index, int *ncpu_out)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	if (ncpu_out)
		*ncpu_out = n ? n : 1;
	return n ? cpus[index % n] : -1;
}

/* TCP threads when not configured: half the UDP workers, at least one. */
static int pd__tcp_threads(const pd_engine_conf_t *cfg, int udp)
{
	if (cfg->tcp.threads > 0)
		return cfg->tcp.threads;
	return udp / 2 > 1 ? udp / 2 : 1;
}

/* TCP limits with the defaults filled in for what is 0. */
static pd_tcp_conf_t pd__tcp_conf(const pd_engine_conf_t *cfg)
{
	pd_tcp_conf_t t = cfg->tcp;
	if (t.max_clients <= 0)
		t.max_clients = PD_TCP_DEFAULT_MAX_CLIENTS;
	if (t.max_per_client <= 0)
		t.max_per_client = PD_TCP_DEFAULT_MAX_PER_CLIENT;
	if (t.idle_timeout_ms <= 0)
		t.idle_timeout_ms = PD_TCP_DEFAULT_IDLE_MS;
	if (t.io_timeout_ms <= 0)
		t.io_timeout_ms = PD_TCP_DEFAULT_IO_MS;
	return t;
}

/*
 * An engine of threads workers and ntcp TCP threads with no sockets yet (every fd slot
 * -1) and its stop eventfd: what every way of building one starts from. NULL when out of
 * resources.
 */
static pd_engine_t *pd__engine_alloc(const pd_engine_conf_t *cfg, int threads, int ntcp)
{
	pd_engine_t *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->nthreads = threads;
	e->tcp_conf = pd__tcp_conf(cfg);
	e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->workers = calloc((size_t)threads, sizeof(*e->workers));
	/* All first: pd_engine_free must not take calloc's zeroes for fd 0. */
	for (int w = 0; e->workers && w < threads; w++)
		e->workers[w].epfd = -1;
	if (e->stop_fd < 0 || !e->workers || pd__tcp_alloc(e, ntcp) < 0)
		goto fail;
	for (int w = 0; w < threads; w++) {
		pd__worker_t *wk = &e->workers[w];
		wk->fds = malloc(PD_LISTEN_MAX * sizeof(int));
		if (!wk->fds)
			goto fail;
		for (int i = 0; i < PD_LISTEN_MAX; i++)
			wk->fds[i] = -1;
	}
	return e;
fail:
	pd_engine_free(e);
	return NULL;
}

/* Closes what slot has of UDP sockets and TCP listeners, for an address given up. */
static void pd__slot_close(pd_engine_t *e, int slot)
{
	for (int w = 0; w < e->nthreads; w++)
		if (e->workers[w].fds[slot] >= 0) {
			close(e->workers[w].fds[slot]);
			e->workers[w].fds[slot] = -1;
		}
	for (int t = 0; t < e->ntcp; t++)
		if (*pd__tcp_fd(e, t, slot) >= 0) {
			close(*pd__tcp_fd(e, t, slot));
			*pd__tcp_fd(e, t, slot) = -1;
		}
}

/*
 * Binds whatever slot still lacks for l: the UDP socket of each worker and the listener
 * of each TCP thread whose fd is -1. Returns 0 or -errno with err set.
 */
static int pd__slot_bind(pd_engine_t *e, int slot, const pd_listen_t *l, int rcvbuf, char *err,
                         size_t cap)
{
	bool wildcard = pd__is_wildcard(l);
	for (int w = 0; w < e->nthreads; w++) {
		int *fd = &e->workers[w].fds[slot];
		int ret = *fd >= 0 ? 0 : pd__socket_open(l, wildcard, rcvbuf, fd, err, cap);
		if (ret < 0)
			return ret;
	}
	for (int t = 0; t < e->ntcp; t++) {
		int *fd = pd__tcp_fd(e, t, slot);
		int ret = *fd >= 0 ? 0 : pd__tcp_listener_open(l, fd, err, cap);
		if (ret < 0)
			return ret;
	}
	e->listen[slot] = *l;
	e->wildcard[slot] = wildcard;
	return 0;
}

int pd_engine_new(pd_engine_t **out, const pd_engine_conf_t *cfg, char *err, size_t err_cap)
{
	int ret = -ENOMEM, ncpu;
	pd__cpu_for(0, &ncpu);
	int threads = cfg->threads > 0 ? cfg->threads : ncpu;
	pd_engine_t *e = pd__engine_alloc(cfg, threads, pd__tcp_threads(cfg, threads));

	*out = NULL;
	err[0] = '\0';
	if (!e)
		goto fail;
	for (int i = 0; i < cfg->nlisten; i++) {
		const pd_listen_t *l = &cfg->listen[i];
		int slot = e->nlisten;
		ret = pd__slot_bind(e, slot, l, cfg->rcvbuf, err, err_cap);
		/* The default [::] is optional: a host without IPv6 still serves IPv4. */
		if (ret < 0 && cfg->listen_is_default && l->addr.ss_family == AF_INET6 &&
		    (ret == -EAFNOSUPPORT || ret == -EADDRNOTAVAIL)) {
			pd_log(PD_LOG_WARN, "%s; serving IPv4 only", err);
			err[0] = '\0';
			pd__slot_close(e, slot);
			continue;
		}
		if (ret < 0)
			goto fail;
		ret = pd__steer(e->workers[0].fds[slot], cfg, e->nthreads, false);
		if (ret < 0) {
			snprintf(err, err_cap,
			         "cannot attach the reuseport steering program on %s: %s", l->text,
			         strerror(-ret));
			goto fail;
		}
		e->nlisten++;
	}
	*out = e;
	return 0;
fail:
	if (!err[0])
		snprintf(err, err_cap, "%s", strerror(-ret));
	pd_engine_free(e);
	return ret;
}

int pd_engine_new_from_fds(pd_engine_t **out, const pd_engine_conf_t *cfg, int threads,
                           int tcp_threads, int nlisten, const pd_listen_t *listen, const int *fds,
                           char *err, size_t err_cap)
{
	pd_engine_t *e = NULL;
	int nfds = threads * nlisten + tcp_threads * nlisten, ret = -ENOMEM;
	*out = NULL;
	err[0] = '\0';
	if (threads < 1 || tcp_threads < 0 || nlisten < 1 || nlisten > PD_LISTEN_MAX ||
	    !(e = pd__engine_alloc(cfg, threads,
	                           tcp_threads ? tcp_threads : pd__tcp_threads(cfg, threads)))) {
		snprintf(err, err_cap, "cannot build the engine on handed-over sockets: %s",
		         strerror(errno ? errno : ENOMEM));
		for (int i = 0; i < nfds; i++)
			close(fds[i]); /* ours, also on failure */
		return -ENOMEM;
	}
	for (int i = 0; i < nlisten; i++) {
		for (int w = 0; w < threads; w++)
			e->workers[w].fds[i] = fds[i * threads + w];
		for (int t = 0; t < tcp_threads; t++)
			*pd__tcp_fd(e, t, i) = fds[threads * nlisten + i * tcp_threads + t];
	}
	e->nlisten = nlisten;
	/* A predecessor without TCP: its listeners are bound here, the rest is as it was,
	 * but the steering program, which follows our configuration. */
	for (int i = 0; i < nlisten; i++) {
		if ((ret = pd__slot_bind(e, i, &listen[i], 0, err, err_cap)) < 0) {
			pd_engine_free(e);
			return ret;
		}
		if ((ret = pd__steer(e->workers[0].fds[i], cfg, e->nthreads, true)) < 0) {
			snprintf(err, err_cap,
			         "cannot set the reuseport steering program on %s: %s",
			         listen[i].text, strerror(-ret));
			pd_engine_free(e);
			return ret;
		}
	}
	*out = e;
	return 0;
}

/* Sorts a passed socket into its address's slot of the UDP or TCP sockets. */
typedef struct pd__passed {
	pd_listen_t listen[PD_LISTEN_MAX];
	int udp[PD_LISTEN_MAX][PD_LISTEN_MAX], tcp[PD_LISTEN_MAX][PD_LISTEN_MAX];
	int nudp[PD_LISTEN_MAX], ntcp[PD_LISTEN_MAX];
	int nlisten, threads, tcp_threads;
} pd__passed_t;

static int pd__passed_add(pd__passed_t *p, int fd, char *err, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	pd_listen_t l;
	int type = 0, listening = 0;
	socklen_t tl = sizeof(type), al = sizeof(listening);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    (type == SOCK_STREAM &&
	     (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &al) < 0 || !listening)) ||
	    (type != SOCK_DGRAM && type != SOCK_STREAM) ||
	    pd_listen_from_sockaddr(&l, (struct sockaddr *)&ss, sl) < 0) {
		snprintf(err, cap,
		         "socket activation: fd %d is neither a UDP socket nor a listening TCP one",
		         fd);
		return -EINVAL;
	}
	int slot = 0;
	while (slot < p->nlisten && strcmp(p->listen[slot].text, l.text) != 0)
		slot++;
	if (slot == p->nlisten) {
		if (p->nlisten == PD_LISTEN_MAX)
			goto many;
		p->listen[p->nlisten++] = l;
	}
	int *count = type == SOCK_DGRAM ? &p->nudp[slot] : &p->ntcp[slot];
	if (*count == PD_LISTEN_MAX)
		goto many;
	(type == SOCK_DGRAM ? p->udp : p->tcp)[slot][(*count)++] = fd;
	if (type == SOCK_DGRAM && *count > p->threads)
		p->threads = *count;
	if (type == SOCK_STREAM && *count > p->tcp_threads)
		p->tcp_threads = *count;
	return 0;
many:
	snprintf(err, cap, "socket activation: too many sockets");
	return -EINVAL;
}

int pd_engine_new_from_activation(pd_engine_t **out, const pd_engine_conf_t *cfg, const int *fds,
                                  int nfds, char *err, size_t err_cap)
{
	pd__passed_t *p = calloc(1, sizeof(*p));
	pd_engine_t *e = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	err[0] = '\0';
	if (!p)
		goto fail;
	p->threads = 1;
	for (int i = 0; i < nfds; i++)
		if ((ret = pd__passed_add(p, fds[i], err, err_cap)) < 0)
			goto fail;
	int threads = cfg->threads > p->threads ? cfg->threads : p->threads;
	int ntcp = pd__tcp_threads(cfg, threads);
	if (p->tcp_threads > ntcp)
		ntcp = p->tcp_threads;
	if (threads > PD_LISTEN_MAX || ntcp > PD_LISTEN_MAX) {
		snprintf(err, err_cap, "socket activation: at most %d workers", PD_LISTEN_MAX);
		ret = -EINVAL;
		goto fail;
	}
	if (!(e = pd__engine_alloc(cfg, threads, ntcp))) {
		ret = -ENOMEM;
		goto fail;
	}
	for (int slot = 0; slot < p->nlisten; slot++) {
		for (int k = 0; k < p->nudp[slot]; k++)
			e->workers[k].fds[slot] = p->udp[slot][k];
		for (int k = 0; k < p->ntcp[slot]; k++)
			*pd__tcp_fd(e, k, slot) = p->tcp[slot][k];
	}
	e->nlisten = p->nlisten;
	nfds = 0; /* the engine's now */
	for (int slot = 0; slot < p->nlisten; slot++) {
		/* Joining a group needs SO_REUSEPORT on systemd's socket: ReusePort=yes. */
		ret = pd__slot_bind(e, slot, &p->listen[slot], cfg->rcvbuf, err, err_cap);
		if (ret < 0) {
			size_t n = strlen(err);
			snprintf(err + n, err_cap - n,
			         " (for more workers than passed sockets, or TCP beside passed UDP "
			         "sockets, the socket unit needs ReusePort=yes)");
			goto fail;
		}
		ret = pd__steer(e->workers[0].fds[slot], cfg, e->nthreads, true);
		if (ret < 0) {
			snprintf(err, err_cap,
			         "cannot set the reuseport steering program on %s: %s",
			         p->listen[slot].text, strerror(-ret));
			goto fail;
		}
	}
	free(p);
	*out = e;
	return 0;
fail:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	pd_engine_free(e);
	free(p);
	if (!err[0])
		snprintf(err, err_cap, "socket activation: %s", strerror(-ret));
	return ret;
}

int pd_engine_listens(const pd_engine_t *e, pd_listen_t *out)
{
	for (int i = 0; i < e->nlisten; i++)
		out[i] = e->listen[i];
	return e->nlisten;
}

int pd_engine_fds(const pd_engine_t *e, int *fds, int cap)
{
	int n = 0;
	for (int i = 0; i < e->nlisten; i++)
		for (int w = 0; w < e->nthreads && n < cap; w++)
			fds[n++] = e->workers[w].fds[i];
	for (int i = 0; i < e->nlisten; i++)
		for (int t = 0; t < e->ntcp && n < cap; t++)
			fds[n++] = *pd__tcp_fd((pd_engine_t *)e, t, i);
	return n;
}

int pd_engine_threads(const pd_engine_t *e)
{
	return e->nthreads;
}

int pd_engine_tcp_threads(const pd_engine_t *e)
{
	return e->ntcp;
}

/* Reads up to a batch from the worker's socket in slot; returns the count, or -errno. */
static int pd__worker_recv(pd__worker_t *wk, int slot, int flags)
{
	bool pktinfo = wk->engine->wildcard[slot];
	for (int i = 0; i < PD_BATCH; i++) {
		struct msghdr *h = &wk->rx[i].msg_hdr;
		wk->rx_iov[i].iov_base = wk->rx_buf[i];
		wk->rx_iov[i].iov_len = PD_PKT_MAX;
		h->msg_iov = &wk->rx_iov[i];
		h->msg_iovlen = 1;
		h->msg_name = &wk->peer[i];
		h->msg_namelen = sizeof(wk->peer[i]);
		h->msg_control = pktinfo ? wk->rx_ctl[i].buf : NULL;
		h->msg_controllen = pktinfo ? sizeof(wk->rx_ctl[i].buf) : 0;
		h->msg_flags = 0;
	}
	int got = recvmmsg(wk->fds[slot], wk->rx, PD_BATCH, flags, NULL);
	return got < 0 ? -errno : got;
}

/* Copies the query's destination address into the reply, so it leaves from there. */
static void pd__reply_source(pd__worker_t *wk, struct msghdr *rh, struct msghdr *th, int out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(rh); c; c = CMSG_NXTHDR(rh, c)) {
		struct cmsghdr *o = (struct cmsghdr *)wk->tx_ctl[out].buf;
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			th->msg_control = o;
			th->msg_controllen = CMSG_SPACE(sizeof(pi));
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			th->msg_control = o;
			th->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
}

void pd__count_traffic(pd_engine_stats_t *st, int n, int nout, uint64_t in, uint64_t out)
{
	int fill = 0;
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
 * Counts a batch of got datagrams of which nout were answered. Sums are made here and
 * added once: each add is an atomic store (for readers on other threads), which the
 * compiler would not merge across a loop.
 */
static void pd__worker_count(pd_engine_stats_t *st, const pd__worker_t *wk, int got, int nout)
{
	uint64_t in = 0, out = 0;
	for (int i = 0; i < got; i++)
		in += wk->rx[i].msg_len;
	for (int i = 0; i < nout; i++)
		out += wk->tx_iov[i].iov_len;
	pd__count_traffic(st, got, nout, in, out);
}

/* Answers the got datagrams just read from slot and sends the replies in one batch. */
static void pd__worker_answer(pd__worker_t *wk, int slot, int got)
{
	pd_engine_t *e = wk->engine;
	int fd = wk->fds[slot];
	bool pktinfo = e->wildcard[slot];
	const void *data = rcu_dereference(e->data);
	pd__using_data(&wk->used, data);
	int n = 0, nout = 0;

	for (int i = 0; i < got; i++) {
		if (wk->rx[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue; /* larger than any real query: not worth answering */
		pd_dgram_t *d = &wk->dgrams[n];
		d->peer = wk->rx[i].msg_hdr.msg_name;
		d->peer_len = wk->rx[i].msg_hdr.msg_namelen;
		d->in = wk->rx_buf[i];
		d->in_len = wk->rx[i].msg_len;
		d->tcp = false;
		d->out = wk->tx_buf[n];
		d->out_cap = PD_PKT_MAX;
		d->out_len = 0;
		wk->dgram_rx[n++] = i;
	}
	if (n)
		e->handler(e->handler_arg, wk->index, data, wk->dgrams, n);
	for (int k = 0; k < n; k++) {
		if (wk->dgrams[k].out_len == 0)
			continue;
		struct msghdr *rh = &wk->rx[wk->dgram_rx[k]].msg_hdr;
		struct msghdr *th = &wk->tx[nout].msg_hdr;
		wk->tx_iov[nout].iov_base = wk->dgrams[k].out;
		wk->tx_iov[nout].iov_len = wk->dgrams[k].out_len;
		th->msg_iov = &wk->tx_iov[nout];
		th->msg_iovlen = 1;
		th->msg_name = rh->msg_name;
		th->msg_namelen = rh->msg_namelen;
		th->msg_control = NULL;
		th->msg_controllen = 0;
		th->msg_flags = 0;
		if (pktinfo)
			pd__reply_source(wk, rh, th, nout);
		nout++;
	}
	if (wk->stats)
		pd__worker_count(wk->stats, wk, got, nout);
	for (int sent = 0; sent < nout;) {
		int done = sendmmsg(fd, wk->tx + sent, (unsigned)(nout - sent), 0);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			/* One bad peer address must not cost the rest of the batch. */
			sent++;
			continue;
		}
		sent += done;
	}
}

/*
 * One address: one blocking recvmmsg per batch, the cheapest loop there is. The worker
 * is offline for RCU only while blocked, and reports a quiescent state per batch.
 */
static void pd__worker_loop_single(pd__worker_t *wk)
{
	pd_engine_t *e = wk->engine;
	while (!atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
		pd__offline(&wk->used);
		int got = pd__worker_recv(wk, 0, MSG_WAITFORONE);
		rcu_thread_online();
		if (got > 0)
			pd__worker_answer(wk, 0, got);
		pd__quiescent(&wk->used);
	}
}

/* Several addresses: drain each socket without blocking, wait in epoll when all are idle. */
static void pd__worker_loop_multi(pd__worker_t *wk)
{
	pd_engine_t *e = wk->engine;
	struct epoll_event ev[PD_LISTEN_MAX + 1];
	while (!atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
		int total = 0;
		for (int slot = 0; slot < e->nlisten; slot++) {
			int got = pd__worker_recv(wk, slot, MSG_DONTWAIT);
			if (got > 0) {
				pd__worker_answer(wk, slot, got);
				total += got;
			}
		}
		pd__quiescent(&wk->used);
		if (total > 0)
			continue;
		pd__offline(&wk->used);
		epoll_wait(wk->epfd, ev, PD_LISTEN_MAX + 1, -1);
		rcu_thread_online();
	}
}

static void *pd__worker_main(void *arg)
{
	pd__worker_t *wk = arg;
	pd_engine_t *e = wk->engine;

	rcu_register_thread();
	if (e->nlisten == 1)
		pd__worker_loop_single(wk);
	else
		pd__worker_loop_multi(wk);
	rcu_unregister_thread();
	return NULL;
}

int pd__thread_start(pthread_t *thread, int cpu, const char *name, void *(*fn)(void *), void *arg)
{
	/* Pinned from its first instruction, not once it gets around to it. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	int rc = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -rc;
	/* Named for top -H and perf: which is a UDP worker, which a TCP thread. */
	pthread_setname_np(*thread, name);
	return 0;
}

/* Only interrupts a blocked recvmmsg (installed without SA_RESTART). */
static void pd__wake_signal(int sig)
{
	(void)sig;
}

void pd_engine_set_stats(pd_engine_t *e, int worker, pd_engine_stats_t *stats)
{
	if (worker < e->nthreads)
		e->workers[worker].stats = stats;
	else
		pd__tcp_set_stats(e, worker - e->nthreads, stats, NULL);
}

void pd_engine_set_tcp_stats(pd_engine_t *e, int t, pd_tcp_stats_t *stats)
{
	pd__tcp_set_stats(e, t, NULL, stats);
}

void pd_engine_set_take(pd_engine_t *e, pd_engine_take_fn fn, void *arg)
{
	e->take = fn;
	e->take_arg = arg;
}

int pd_engine_start(pd_engine_t *e, pd_engine_handler_fn handler, void *arg, void *data)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pd__wake_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(PD_ENGINE_WAKE_SIGNAL, &sa, NULL);
	atomic_store(&e->stopping, false);
	e->handler = handler;
	e->handler_arg = arg;
	rcu_assign_pointer(e->data, data);
	for (int w = 0; w < e->nthreads; w++) {
		pd__worker_t *wk = &e->workers[w];
		wk->engine = e;
		wk->index = w;
		wk->cpu = pd__cpu_for(w, NULL);
		wk->rx_buf = malloc(PD_BATCH * sizeof(*wk->rx_buf));
		wk->tx_buf = malloc(PD_BATCH * sizeof(*wk->tx_buf));
		wk->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!wk->rx_buf || !wk->tx_buf || wk->epfd < 0)
			goto fail;
		/*
		 * Only workers with several sockets wait in epoll. A socket on an epoll list
		 * has a waiter on its queue, and then every reply sent pays for a wake-up
		 * callback under a spinlock when its buffer is released (sock_wfree):
		 * measured at about 10% of the CPU per query.
		 */
		for (int i = 0; e->nlisten > 1 && i < e->nlisten; i++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
			if (epoll_ctl(wk->epfd, EPOLL_CTL_ADD, wk->fds[i], &ev) < 0)
				goto fail;
		}
		struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
		if (epoll_ctl(wk->epfd, EPOLL_CTL_ADD, e->stop_fd, &sev) < 0)
			goto fail;
		char name[16];
		snprintf(name, sizeof(name), "pindns-udp/%u", (unsigned)w % 10000u);
		int rc = pd__thread_start(&wk->thread, wk->cpu, name, pd__worker_main, wk);
		if (rc < 0) {
			errno = -rc;
			goto fail;
		}
		wk->started = true;
	}
	e->running = true;
	int tret = pd__tcp_start(e);
	if (tret < 0) {
		errno = -tret;
		goto fail;
	}
	return 0;
fail:;
	int ret = -errno;
	pd_log(PD_LOG_ERR, "cannot start worker threads: %s", strerror(errno));
	e->running = true;
	pd_engine_stop(e);
	return ret ? ret : -ENOMEM;
}

void *pd_engine_publish(pd_engine_t *e, void *data)
{
	if (data)
		PD__HAPPENS_BEFORE(data);
	void *old = rcu_xchg_pointer(&e->data, data);
	synchronize_rcu();
	if (old)
		PD__HAPPENS_AFTER(old);
	return old;
}

void pd_engine_stop(pd_engine_t *e)
{
	if (!e || !e->running)
		return;
	uint64_t one = 1;
	atomic_store(&e->stopping, true);
	/* Never read back: level-triggered, so every worker's epoll sees it. */
	if (write(e->stop_fd, &one, sizeof(one)) < 0)
		pd_log(PD_LOG_ERR, "cannot signal workers: %s", strerror(errno));
	for (int w = 0; w < e->nthreads; w++) {
		pd__worker_t *wk = &e->workers[w];
		if (!wk->started)
			continue;
		/* A worker blocked in recvmmsg wakes on the signal; repeat in case it was
		 * between its check of the flag and the call when the first one came. */
		for (;;) {
			pthread_kill(wk->thread, PD_ENGINE_WAKE_SIGNAL);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(wk->thread, NULL, &ts) == 0)
				break;
		}
		wk->started = false;
	}
	pd__tcp_stop(e);
	e->running = false;
}

void pd_engine_free(pd_engine_t *e)
{
	if (!e)
		return;
	pd_engine_stop(e);
	for (int w = 0; e->workers && w < e->nthreads; w++) {
		pd__worker_t *wk = &e->workers[w];
		for (int i = 0; wk->fds && i < PD_LISTEN_MAX; i++)
			if (wk->fds[i] >= 0)
				close(wk->fds[i]);
		if (wk->epfd >= 0)
			close(wk->epfd);
		free(wk->fds);
		free(wk->rx_buf);
		free(wk->tx_buf);
	}
	free(e->workers);
	pd__tcp_free(e);
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	free(e);
}
