/* The primary side of zone transfers: NOTIFY in, AXFR and IXFR out, and the IXFR journals. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/log.h"
#include "pindns/tsig.h"
#include "pindns/wire.h"
#include "pindns/xfr.h"
#include "xfr.h"

/* Transfers out at once, each on a thread of its own: more are answered SERVFAIL (a
 * secondary retries later), so that a crowd of secondaries cannot spawn threads at will. */
#define PD__XFR_OUT_MAX 8
#define PD__IXFR_DIFFS 256  /* differences one IXFR sends at most; past them, AXFR form */
#define PD__SIGNED_MAX 4096 /* a signed query (not a transfer) longer than this is refused */
/* The most a TSIG record of ours takes past its key's name: the longest algorithm name
 * (hmac-sha512.), the fixed fields, the longest MAC, Other Data of a BADTIME. */
#define PD__TSIG_ROOM 109

/* One zone's IXFR history, kept for the zones some provide-xfr rule covers. */
typedef struct pd__journal {
	uint8_t origin[PD_NAME_MAX];
	pd_journal_t *j;
	/* The zone changed once without its serial moving: a secondary at this serial may
	 * hold either version, so no IXFR may start from it (RFC 1995 has no way to tell). */
	bool tainted;
	uint32_t tainted_serial;
} pd__journal_t;

typedef struct pd__xfer pd__xfer_t;

struct pd_xfr_serve {
	const pd_xfr_conf_t *conf;
	pd_xfrd_t *xfrd;
	pd_xfr_stats_t *stats;
	const pd_answer_conf_t *answer; /* for signed ordinary queries; NULL: left to the rules */
	pd_engine_t *engine;            /* takes connections back after a transfer; NULL: none */
	pthread_mutex_t lock;           /* journals, slots, stopping */
	pthread_cond_t idle;            /* signalled as each transfer ends */
	pd__journal_t *journals;
	size_t njournals;
	pd__xfer_t *slots[PD__XFR_OUT_MAX];
	atomic_int active; /* transfers running (or being set up) */
	bool stopping;
};

/* One transfer out: the connection, the query it answers and the messages to send. */
struct pd__xfer {
	pd_xfr_serve_t *s;
	int fd, slot;
	struct sockaddr_storage peer;
	pd_zone_t *zone; /* a reference of our own */
	pd_xfr_out_t *out;
	bool ixfr;
	pd_tsig_ctx_t tsig; /* key NULL: unsigned */
	uint8_t *owed;      /* what the engine still owed the connection */
	size_t owed_len;
	uint8_t *rest; /* what the client sent after the query, for the engine to answer */
	size_t rest_len;
	pd_query_t q;
	size_t query_len;
	uint8_t query[]; /* the query's bytes, which q points into */
};

/* Many threads count these (workers, TCP and transfer threads): an atomic add, not
 * pd_counter_add(), which is for counters with one writer. */
#define PD__COUNT(s, field)                                                                        \
	do {                                                                                       \
		if ((s)->stats)                                                                    \
			atomic_fetch_add_explicit(&(s)->stats->field, 1, memory_order_relaxed);    \
	} while (0)

/* What our answers' size limit is reckoned with when the daemon gave no conf. */
static const pd_answer_conf_t pd__default_conf = {.udp_size = PD_UDP_DEFAULT};

static const pd_answer_conf_t *pd__conf(const pd_xfr_serve_t *s)
{
	return s->answer ? s->answer : &pd__default_conf;
}

static uint64_t pd__now(void)
{
	return (uint64_t)time(NULL);
}

int pd_xfr_serve_new(pd_xfr_serve_t **out, const pd_xfr_conf_t *conf, pd_xfrd_t *xfrd,
                     pd_xfr_stats_t *stats, char *err, size_t cap)
{
	pd_xfr_serve_t *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, cap, "zone transfers: out of memory");
		return -ENOMEM;
	}
	s->conf = conf;
	s->xfrd = xfrd;
	s->stats = stats;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	*out = s;
	return 0;
}

void pd_xfr_serve_set_answer(pd_xfr_serve_t *s, const pd_answer_conf_t *conf)
{
	s->answer = conf;
}

void pd_xfr_serve_set_engine(pd_xfr_serve_t *s, pd_engine_t *engine)
{
	s->engine = engine;
}

/* ---- access ---- */

/* Whether the provide-xfr rules let peer (signed with key, or NULL) transfer origin: the
 * rules naming the zone first, then those for every zone. */
static bool pd__may_transfer(const pd_xfr_conf_t *c, const uint8_t *origin,
                             const struct sockaddr *peer, const pd_tsig_key_t *key)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->nprovide; i++) {
			const pd_xfr_provide_t *p = &c->provide[i];
			bool mine =
			    pass == 0 ? p->origin && pd_name_equal(p->wire, origin) : !p->origin;
			if (mine && pd_xfr_acl_allows(&p->acl, peer, key))
				return true;
		}
	return false;
}

/* Whether some provide-xfr rule names origin or every zone: its changes are journaled. */
static bool pd__provided(const pd_xfr_conf_t *c, const uint8_t *origin)
{
	for (size_t i = 0; i < c->nprovide; i++)
		if (!c->provide[i].origin || pd_name_equal(c->provide[i].wire, origin))
			return true;
	return false;
}

/* ---- answers made here ---- */

/*
 * Answers q in d with rcode and nothing else but the question (when question) and, for
 * a signed exchange (tsig), a TSIG record: signed, or with the error of a failed check.
 */
static bool pd__reply(const pd_xfr_serve_t *s, pd_dgram_t *d, const pd_query_t *q, int rcode,
                      bool aa, bool question, pd_tsig_ctx_t *tsig)
{
	size_t qlen = question && q->qdcount >= 1 ? q->question_end - PD_HEADER_LEN : 0;
	if (d->out_cap < PD_HEADER_LEN + qlen)
		return false;
	uint16_t flags = PD_FLAG_QR | (q->flags & (PD_OPCODE_MASK | PD_FLAG_RD)) |
	                 (aa ? PD_FLAG_AA : 0) | (uint16_t)rcode;
	/* NOTIFY's answers and NOTAUTH have the query's flags, as NSD (and the rules,
	 * pd__answer_early()) answer them. */
	if (q->opcode == PD_OPCODE_NOTIFY || rcode == PD_RCODE_NOTAUTH)
		flags = PD_FLAG_QR | (q->flags & (uint16_t) ~(PD_FLAG_AD | PD_RCODE_MASK)) |
		        (uint16_t)rcode;
	memcpy(d->out, q->wire, 2);
	pd_put_u16(d->out + 2, flags);
	pd_put_u16(d->out + 4, qlen ? 1 : 0);
	memset(d->out + 6, 0, 6);
	memcpy(d->out + PD_HEADER_LEN, q->wire + PD_HEADER_LEN, qlen);
	size_t len = PD_HEADER_LEN + qlen;
	if (tsig) {
		size_t cap = pd_answer_limit(pd__conf(s), q, d->out_cap);
		size_t signed_len = pd_tsig_sign(tsig, d->out, len, cap, pd__now());
		if (signed_len)
			len = signed_len;
	}
	d->out_len = len;
	d->rcode = (uint8_t)(rcode & PD_RCODE_MASK);
	d->truncated = false;
	return true;
}

/*
 * IXFR over UDP (RFC 1995 2): the zone's SOA alone, which tells the client to come over
 * TCP when its serial is older, and that it is current otherwise.
 */
static bool pd__reply_soa(const pd_xfr_serve_t *s, pd_dgram_t *d, const pd_query_t *q,
                          const pd_zone_t *z, pd_tsig_ctx_t *tsig)
{
	pd_rr_t soa;
	pd_zone_soa(z, &soa);
	size_t limit = pd_answer_limit(pd__conf(s), q, d->out_cap);
	size_t qend = q->question_end;
	size_t room = tsig && tsig->key ? tsig->key->name_len + PD__TSIG_ROOM : 0;
	if (qend + 12 + soa.rdlen + room > limit)
		return pd__reply(s, d, q, PD_RCODE_SERVFAIL, true, true, tsig);
	pd__reply(s, d, q, PD_RCODE_NOERROR, true, true, NULL);
	uint8_t *p = d->out + qend;
	pd_put_u16(p, 0xC000 | PD_HEADER_LEN); /* the question's name is the origin */
	pd_put_u16(p + 2, PD_TYPE_SOA);
	pd_put_u16(p + 4, PD_CLASS_IN);
	pd_put_u16(p + 6, (uint16_t)(soa.ttl >> 16));
	pd_put_u16(p + 8, (uint16_t)soa.ttl);
	pd_put_u16(p + 10, soa.rdlen);
	memcpy(p + 12, soa.rdata, soa.rdlen);
	pd_put_u16(d->out + 6, 1);
	d->out_len = qend + 12 + soa.rdlen;
	if (tsig) {
		size_t signed_len = pd_tsig_sign(tsig, d->out, d->out_len, limit, pd__now());
		if (signed_len)
			d->out_len = signed_len;
	}
	return true;
}

/*
 * A signed query that is neither NOTIFY nor a transfer (a secondary's SOA check): the
 * rules answer it as if unsigned, and the answer is signed, in the room the TSIG record
 * leaves.
 */
static bool pd__signed_query(pd_xfr_serve_t *s, const pd_zoneset_t *zs, const pd_query_t *q,
                             pd_dgram_t *d, pd_tsig_ctx_t *tsig)
{
	uint8_t wire[PD__SIGNED_MAX];
	if (!s->answer || q->tsig_off > sizeof(wire))
		return false;
	memcpy(wire, q->wire, q->tsig_off);
	pd_put_u16(wire + 10, (uint16_t)(pd_get_u16(wire + 10) - 1));
	pd_query_t plain;
	pd_query_parse(&plain, wire, q->tsig_off);
	plain.tcp = q->tcp;
	size_t limit = pd_answer_limit(s->answer, q, d->out_cap);
	size_t room = tsig->key->name_len + PD__TSIG_ROOM;
	/* The rules want 512 bytes of room at least; what the TSIG record then pushes past
	 * the limit is cut to the question, with TC (the client asks again over TCP). */
	size_t cap = limit >= PD_UDP_MIN + room ? limit - room : PD_UDP_MIN;
	pd_answer_info_t info;
	size_t len = pd_answer_query(zs, s->answer, &plain, d->out, cap, &info);
	if (len == 0)
		return false;
	if (len + room > limit && !q->tcp) {
		len = plain.question_end;
		pd_put_u16(d->out + 2, pd_get_u16(d->out + 2) | PD_FLAG_TC);
		memset(d->out + 6, 0, 6);
		info.truncated = true;
	}
	size_t signed_len = pd_tsig_sign(tsig, d->out, len, limit, pd__now());
	d->out_len = signed_len ? signed_len : len;
	d->rcode = (uint8_t)(info.rcode & PD_RCODE_MASK);
	d->truncated = info.truncated;
	return true;
}

/* The zone whose apex q asks for, or NULL. */
static const pd_zone_t *pd__apex_zone(const pd_zoneset_t *zs, const pd_query_t *q)
{
	const pd_zone_t *z = zs ? pd_zoneset_find_labels(zs, q->question, q->qname_len, q->hash,
	                                                 q->label_off, q->labels)
	                        : NULL;
	return z && z->origin_len == q->qname_len ? z : NULL;
}

/*
 * NOTIFY (RFC 1996) for a zone we keep as a secondary, from a peer its notify-from rules
 * let in: NOERROR, AA, the question echoed, and xfrd told. A peer not let in is REFUSED.
 * For other zones, what NSD answers: NXDOMAIN for a name that is none of our zones,
 * REFUSED for the zones we serve as a primary.
 */
static bool pd__notify(pd_xfr_serve_t *s, const pd_zoneset_t *zs, const pd_query_t *q,
                       pd_dgram_t *d, pd_tsig_ctx_t *tsig)
{
	const pd_tsig_key_t *key = tsig ? tsig->key : NULL;
	const pd_xfr_secondary_t *sec =
	    q->qdcount == 1 ? pd_xfr_secondary_find(s->conf, q->question) : NULL;
	const pd_zone_t *kept = q->qdcount == 1 ? pd_zoneset_get(zs, q->question) : NULL;
	if (!sec && kept && kept->from == PD_ZONE_FROM_XFR && kept->xfr)
		sec = kept->xfr; /* a catalog's member: its rules are xfrd's */
	if (!sec) {
		if (!tsig)
			return false; /* the rules answer as NSD does */
		PD__COUNT(s, notify_refused);
		return pd__reply(s, d, q,
		                 pd__apex_zone(zs, q) ? PD_RCODE_REFUSED : PD_RCODE_NXDOMAIN, true,
		                 false, tsig);
	}
	if (!pd_xfr_acl_allows(&sec->notify_from, d->peer, key)) {
		PD__COUNT(s, notify_refused);
		return pd__reply(s, d, q, PD_RCODE_REFUSED, true, false, tsig);
	}
	PD__COUNT(s, notify_in);
	if (s->xfrd)
		pd_xfrd_notified(s->xfrd, sec->wire);
	return pd__reply(s, d, q, PD_RCODE_NOERROR, true, true, tsig);
}

/* What an AXFR or IXFR query gets: refused, answered here, or taken (TCP). */
static bool pd__transfer(pd_xfr_serve_t *s, const pd_zoneset_t *zs, const pd_query_t *q,
                         pd_dgram_t *d, pd_tsig_ctx_t *tsig)
{
	const pd_tsig_key_t *key = tsig ? tsig->key : NULL;
	if (q->qclass != PD_CLASS_IN || q->qdcount != 1)
		return false;
	const pd_zone_t *z = pd__apex_zone(zs, q);
	bool udp_axfr = !d->tcp && q->qtype == PD_TYPE_AXFR;
	if (!z || !pd__may_transfer(s->conf, z->origin, d->peer, key)) {
		if (z)
			PD__COUNT(s, xfr_out_refused);
		/* Unsigned: the rules' answers of today, which are NSD's (NOTIMP for AXFR over
		 * UDP, else REFUSED with its EDE); signed, the same signed. */
		if (!tsig)
			return false;
		return pd__reply(s, d, q, udp_axfr ? PD_RCODE_NOTIMP : PD_RCODE_REFUSED, false,
		                 true, tsig);
	}
	if (udp_axfr) /* a zone transfer needs TCP (RFC 5936 4.2) */
		return tsig ? pd__reply(s, d, q, PD_RCODE_NOTIMP, false, true, tsig) : false;
	if (z->expired)
		return pd__reply(s, d, q, PD_RCODE_SERVFAIL, false, true, tsig);
	uint32_t from;
	if (q->qtype == PD_TYPE_IXFR && pd_xfr_ixfr_serial(q, &from) < 0)
		return pd__reply(s, d, q, PD_RCODE_FORMERR, false, true, tsig); /* as Knot */
	if (!d->tcp)
		return pd__reply_soa(s, d, q, z, tsig);
	if (atomic_load_explicit(&s->active, memory_order_relaxed) >= PD__XFR_OUT_MAX)
		return pd__reply(s, d, q, PD_RCODE_SERVFAIL, false, true, tsig);
	d->take = true;
	d->out_len = 0;
	return true;
}

/* Checks q's TSIG record: PD_TSIG_OK with ctx set up, an error to answer, or -EINVAL. */
static int pd__check_tsig(const pd_xfr_serve_t *s, const pd_query_t *q, pd_tsig_ctx_t *ctx)
{
	return pd_tsig_check_request(ctx, s->conf->keys, s->conf->nkeys, q->wire, q->len,
	                             q->tsig_off, pd__now());
}

bool pd_xfr_serve_special(void *arg, const pd_zoneset_t *zs, const pd_query_t *q, pd_dgram_t *d)
{
	pd_xfr_serve_t *s = arg;
	pd_tsig_ctx_t ctx;
	pd_tsig_ctx_t *tsig = NULL;
	bool notify = q->opcode == PD_OPCODE_NOTIFY;
	if (notify && q->tsig_malformed)
		return false; /* FORMERR by the rules */
	if (q->tsig_off) {
		int rc = pd__check_tsig(s, q, &ctx);
		/* A key we do not have, or a record it cannot check: the rules' NOTAUTH with
		 * BADKEY, as NSD answers it. */
		if (rc < 0 || rc == PD_TSIG_BADKEY) {
			pd_tsig_ctx_clear(&ctx);
			return false;
		}
		if (rc != PD_TSIG_OK) {
			/* RFC 8945 5.2: NOTAUTH, with the error in our TSIG record. */
			if (notify)
				PD__COUNT(s, notify_refused);
			else if (q->qtype == PD_TYPE_AXFR || q->qtype == PD_TYPE_IXFR)
				PD__COUNT(s, xfr_out_refused);
			pd__reply(s, d, q, PD_RCODE_NOTAUTH, notify, false, &ctx);
			pd_tsig_ctx_clear(&ctx);
			return true;
		}
		tsig = &ctx;
	}
	bool done = notify ? pd__notify(s, zs, q, d, tsig)
	            : q->qtype == PD_TYPE_AXFR || q->qtype == PD_TYPE_IXFR
	                ? pd__transfer(s, zs, q, d, tsig)
	            : tsig ? pd__signed_query(s, zs, q, d, tsig)
	                   : false;
	if (tsig)
		pd_tsig_ctx_clear(tsig);
	return done;
}

/* ---- transfers out ---- */

/* Waits until fd is ready for events, for up to timeout_ms: 0, or -ETIMEDOUT, -EPIPE. */
static int pd__wait(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int n;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0 || (pfd.revents & (POLLERR | POLLNVAL)))
		return -EPIPE;
	return 0;
}

/* Sends len bytes, each wait for the socket bounded by the timeout. 0 or -errno. */
static int pd__send_all(int fd, const uint8_t *p, size_t len, int timeout_ms)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int ret = pd__wait(fd, POLLOUT, timeout_ms);
			if (ret < 0)
				return ret;
			continue;
		}
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Streams x's messages, each signed in a signed exchange. 0 or -errno. */
static int pd__stream(pd__xfer_t *x, uint8_t *buf)
{
	int timeout =
	    x->s->conf->timeout_ms > 0 ? x->s->conf->timeout_ms : PD_XFR_DEFAULT_TIMEOUT_MS;
	size_t reserve = x->tsig.key ? PD_TSIG_RR_MAX : 0;
	if (x->owed_len && pd__send_all(x->fd, x->owed, x->owed_len, timeout) < 0)
		return -EPIPE;
	for (;;) {
		int len = pd_xfr_out_next(x->out, buf + 2, PD_MSG_MAX, reserve);
		if (len <= 0)
			return len;
		size_t n = (size_t)len;
		if (x->tsig.key) {
			n = pd_tsig_sign(&x->tsig, buf + 2, n, PD_MSG_MAX, pd__now());
			if (!n)
				return -EMSGSIZE;
		}
		pd_put_u16(buf, (uint16_t)n);
		int ret = pd__send_all(x->fd, buf, n + 2, timeout);
		if (ret < 0)
			return ret;
	}
}

/*
 * Without an engine to hand it back to: our side shuts down, so that closing with its
 * input unread does not reset the connection and destroy what the client has not read
 * yet; what it still sends is read and dropped until its EOF, or the timeout.
 */
static void pd__linger(int fd, int timeout_ms)
{
	uint8_t buf[512];
	shutdown(fd, SHUT_WR);
	while (pd__wait(fd, POLLIN, timeout_ms) == 0) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
}

static void pd__xfer_free(pd__xfer_t *x)
{
	if (x->out)
		pd_xfr_out_free(x->out);
	if (x->zone)
		pd_zone_free(x->zone); /* our reference */
	pd_tsig_ctx_clear(&x->tsig);
	free(x->owed);
	free(x->rest);
	free(x);
}

/* Lets a transfer's slot go, before its descriptor is closed: pd_xfr_serve_free() shuts
 * down the descriptors of the slots in use. */
static void pd__slot_leave(pd_xfr_serve_t *s, int slot)
{
	pthread_mutex_lock(&s->lock);
	if (slot >= 0)
		s->slots[slot] = NULL;
	pthread_mutex_unlock(&s->lock);
}

/* A transfer ended; the last to end wakes pd_xfr_serve_free(). */
static void pd__xfer_done(pd_xfr_serve_t *s)
{
	pthread_mutex_lock(&s->lock);
	atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/*
 * After a transfer the connection goes back to the engine, which answers what the client
 * sends next (NSD pipelines the transfers of several zones on one connection, a Knot
 * with remote-pool-limit keeps it for later queries) and ends it at EOF or its idle
 * timeout. Without an engine, or while stopping, our side shuts down and it ends at the
 * client's EOF. Either way the descriptor is no longer x's.
 */
static void pd__hand_back(pd_xfr_serve_t *s, pd__xfer_t *x, int timeout_ms)
{
	pthread_mutex_lock(&s->lock);
	bool stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	pd__slot_leave(s, x->slot);
	if (s->engine && !stopping) {
		pd_engine_conn_t conn = {.fd = x->fd, .unread = x->rest, .unread_len = x->rest_len};
		pd_engine_adopt(s->engine, &conn); /* it owns the descriptor, also on failure */
	} else {
		pd__linger(x->fd, timeout_ms);
		close(x->fd);
	}
	x->fd = -1;
}

/* The peer as the query log writes it: ADDRESS#PORT. */
static void pd__peer_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	const void *a = ss->ss_family == AF_INET6
	                    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
	                    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	unsigned port =
	    ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
	                                    : ((const struct sockaddr_in *)ss)->sin_port);
	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)cap))
		snprintf(out, cap, "?");
	size_t n = strlen(out);
	snprintf(out + n, cap - n, "#%u", port);
}

static void *pd__xfer_main(void *arg)
{
	pd__xfer_t *x = arg;
	pd_xfr_serve_t *s = x->s;
	int timeout = s->conf->timeout_ms > 0 ? s->conf->timeout_ms : PD_XFR_DEFAULT_TIMEOUT_MS;
	uint8_t *buf = malloc(2 + PD_MSG_MAX);
	int ret = buf ? pd__stream(x, buf) : -ENOMEM;
	free(buf);
	char origin[PD_NAME_TXT_MAX], peer[INET6_ADDRSTRLEN + 8];
	pd_name_to_str(origin, sizeof(origin), x->zone->origin);
	pd__peer_str(&x->peer, peer, sizeof(peer));
	if (ret == 0) {
		if (x->ixfr)
			PD__COUNT(s, xfr_out_ixfr);
		else
			PD__COUNT(s, xfr_out_axfr);
		pd_log(PD_LOG_INFO, "%s of %s serial %u sent to %s", x->ixfr ? "IXFR" : "AXFR",
		       origin, x->zone->serial, peer);
		pd__hand_back(s, x, timeout);
	} else {
		PD__COUNT(s, xfr_out_failed);
		pd_log(PD_LOG_WARN, "%s of %s to %s failed: %s", x->ixfr ? "IXFR" : "AXFR", origin,
		       peer,
		       ret == -ETIMEDOUT  ? "the client stopped reading (xfr-timeout)"
		       : ret == -EMSGSIZE ? "a record does not fit a message"
		                          : strerror(-ret));
	}
	if (x->fd >= 0) {
		pd__slot_leave(s, x->slot);
		close(x->fd);
	}
	pd__xfer_free(x);
	pd__xfer_done(s); /* the last thing: pd_xfr_serve_free() may return then */
	return NULL;
}

/* The differences from the client's serial to z's, for an IXFR: how many, 0 for none
 * (the AXFR form, or the SOA alone when the client is current). */
static int pd__diffs(pd_xfr_serve_t *s, const pd_zone_t *z, const pd_query_t *q, pd_diff_t **diffs)
{
	uint32_t from;
	if (pd_xfr_ixfr_serial(q, &from) < 0)
		return -EINVAL;
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->njournals; i++)
		if (pd_name_equal(s->journals[i].origin, z->origin)) {
			n = pd_journal_since(s->journals[i].j, from, diffs, PD__IXFR_DIFFS);
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (n > 0 && pd_diff_to(diffs[n - 1]) != z->serial) {
		/* The journal is not at the version served (a publish on its way): AXFR form. */
		for (int i = 0; i < n; i++)
			pd_diff_unref(diffs[i]);
		n = 0;
	}
	return n < 0 ? 0 : n;
}

/* The messages answering x's query from z. 0 or -errno. */
static int pd__xfer_prepare(pd__xfer_t *x, const pd_zone_t *z)
{
	if (!x->ixfr)
		return pd_xfr_out_axfr(&x->out, z, &x->q);
	pd_diff_t *diffs[PD__IXFR_DIFFS];
	int n = pd__diffs(x->s, z, &x->q, diffs);
	if (n < 0)
		return n;
	int ret = pd_xfr_out_ixfr(&x->out, z, diffs, (size_t)n, &x->q);
	for (int i = 0; i < n; i++)
		pd_diff_unref(diffs[i]); /* the transfer holds its own */
	return ret;
}

/* Takes a slot for x; false when all are in use (or the server stops). */
static bool pd__slot_take(pd_xfr_serve_t *s, pd__xfer_t *x)
{
	bool ok = false;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; !s->stopping && i < PD__XFR_OUT_MAX; i++)
		if (!s->slots[i]) {
			s->slots[i] = x;
			x->slot = i;
			atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
			ok = true;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/*
 * The connection's first message re-read: it was let in by pd_xfr_serve_special() with
 * this same data, so the same checks pass again unless it is not what the engine says.
 * Sets up x (the query, its TSIG, the zone referenced). 0, or -EINVAL.
 */
static int pd__xfer_parse(pd__xfer_t *x, const pd_zoneset_t *zs, const struct sockaddr *peer)
{
	pd_query_parse(&x->q, x->query, x->query_len);
	x->q.tcp = true;
	pd_query_t *q = &x->q;
	if (q->drop || q->rcode || q->opcode != PD_OPCODE_QUERY ||
	    (q->qtype != PD_TYPE_AXFR && q->qtype != PD_TYPE_IXFR))
		return -EINVAL;
	if (q->tsig_off && pd__check_tsig(x->s, q, &x->tsig) != PD_TSIG_OK)
		return -EINVAL;
	const pd_zone_t *z = pd__apex_zone(zs, q);
	if (!z || z->expired || !pd__may_transfer(x->s->conf, z->origin, peer, x->tsig.key))
		return -EINVAL;
	x->ixfr = q->qtype == PD_TYPE_IXFR;
	if (pd__xfer_prepare(x, z) < 0)
		return -EINVAL;
	/* The set may be released before the transfer ends: the zone is held. */
	x->zone = pd_zone_ref((pd_zone_t *)z);
	return 0;
}

/* Copies what the engine owed the connection. */
static int pd__xfer_owed(pd__xfer_t *x, const pd_engine_conn_t *conn)
{
	for (int i = 0; i < conn->nunsent; i++)
		x->owed_len += conn->unsent[i].iov_len;
	if (!x->owed_len)
		return 0;
	x->owed = malloc(x->owed_len);
	if (!x->owed)
		return -ENOMEM;
	size_t off = 0;
	for (int i = 0; i < conn->nunsent; i++) {
		memcpy(x->owed + off, conn->unsent[i].iov_base, conn->unsent[i].iov_len);
		off += conn->unsent[i].iov_len;
	}
	return 0;
}

void pd_xfr_serve_take(void *arg, int worker, const void *data, const pd_engine_conn_t *conn,
                       const struct sockaddr *peer, socklen_t peer_len)
{
	(void)worker;
	pd_xfr_serve_t *s = arg;
	pd__xfer_t *x = NULL;
	size_t mlen = conn->unread_len >= 2 ? pd_get_u16(conn->unread) : 0;
	if (mlen == 0 || conn->unread_len < 2 + mlen || !(x = calloc(1, sizeof(*x) + mlen)))
		goto fail;
	x->s = s;
	x->fd = conn->fd;
	x->slot = -1;
	if (peer_len <= sizeof(x->peer))
		memcpy(&x->peer, peer, peer_len);
	memcpy(x->query, conn->unread + 2, mlen);
	x->query_len = mlen;
	/* What the client sent after the query waits for the transfer to end. */
	x->rest_len = conn->unread_len - 2 - mlen;
	if (x->rest_len && !(x->rest = malloc(x->rest_len)))
		goto fail;
	if (x->rest_len)
		memcpy(x->rest, conn->unread + 2 + mlen, x->rest_len);
	if (pd__xfer_owed(x, conn) < 0 || pd__xfer_parse(x, data, peer) < 0)
		goto fail;
	if (!pd__slot_take(s, x)) {
		pd_log(PD_LOG_WARN, "zone transfer refused: %d transfers out already",
		       PD__XFR_OUT_MAX);
		goto fail; /* closed: the secondary tries again later */
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int ret = pthread_create(&t, &attr, pd__xfer_main, x);
	pthread_attr_destroy(&attr);
	if (ret != 0) {
		pd__slot_leave(s, x->slot);
		pd__xfer_done(s);
		goto fail;
	}
	return;
fail:
	PD__COUNT(s, xfr_out_failed);
	close(conn->fd);
	if (x)
		pd__xfer_free(x);
}

/* ---- journals ---- */

/* origin's journal, made when missing; NULL when out of memory. Called with the lock. */
static pd__journal_t *pd__journal(pd_xfr_serve_t *s, const uint8_t *origin)
{
	for (size_t i = 0; i < s->njournals; i++)
		if (pd_name_equal(s->journals[i].origin, origin))
			return &s->journals[i];
	pd__journal_t *more = realloc(s->journals, (s->njournals + 1) * sizeof(*more));
	if (!more)
		return NULL;
	s->journals = more;
	pd__journal_t *e = &s->journals[s->njournals];
	memset(e, 0, sizeof(*e));
	e->j = pd_journal_new(s->conf->journal_size);
	if (!e->j)
		return NULL;
	memcpy(e->origin, origin, pd_name_len(origin));
	s->njournals++;
	return e;
}

/* Journals the change of one zone from old to new, when its serial moved. */
static void pd__journal_change(pd_xfr_serve_t *s, const pd_zone_t *old, const pd_zone_t *new)
{
	if (!old || old == new || !pd__provided(s->conf, new->origin))
		return;
	char origin[PD_NAME_TXT_MAX];
	pd_name_to_str(origin, sizeof(origin), new->origin);
	if (old->serial == new->serial) {
		/* Another version under the same serial (a file edited without its serial
		 * moving): secondaries are not told, and whoever holds that serial gets AXFR,
		 * not IXFR, once it moves (BIND and Knot warn of it too). */
		pd_log(PD_LOG_WARN,
		       "%s: its data changed but its SOA serial (%u) did not: secondaries get the "
		       "change only once the serial moves, then by AXFR",
		       origin, new->serial);
		pthread_mutex_lock(&s->lock);
		pd__journal_t *e = pd__journal(s, new->origin);
		if (e) {
			pd_journal_clear(e->j);
			e->tainted = true;
			e->tainted_serial = new->serial;
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (new->expired || old->expired)
		return;
	pd_diff_t *d = NULL;
	if (pd_diff_new(old, new, &d) < 0) {
		pd_log(PD_LOG_WARN, "%s: no IXFR from serial %u (out of memory): AXFR it is",
		       origin, old->serial);
		return;
	}
	pthread_mutex_lock(&s->lock);
	pd__journal_t *e = pd__journal(s, new->origin);
	bool tainted = e && e->tainted && e->tainted_serial == old->serial;
	if (e)
		e->tainted = false;
	if (tainted)
		pd_journal_clear(e->j); /* from the serial that meant two versions: AXFR only */
	else if (!e || pd_journal_add(e->j, d) < 0)
		pd_log(PD_LOG_WARN, "%s: no IXFR from serial %u (out of memory): AXFR it is",
		       origin, old->serial);
	pthread_mutex_unlock(&s->lock);
	pd_diff_unref(d);
}

void pd_xfr_serve_published(pd_xfr_serve_t *s, const pd_zoneset_t *old, const pd_zoneset_t *new)
{
	if (!old || !new || s->conf->journal_size == 0 || s->conf->nprovide == 0)
		return;
	bool every = false;
	for (size_t i = 0; i < s->conf->nprovide; i++)
		every = every || !s->conf->provide[i].origin;
	if (!every) {
		/* Only the zones named: no walk over a large set. */
		for (size_t i = 0; i < s->conf->nprovide; i++) {
			const uint8_t *o = s->conf->provide[i].wire;
			const pd_zone_t *n = pd_zoneset_get(new, o);
			if (n)
				pd__journal_change(s, pd_zoneset_get(old, o), n);
		}
		return;
	}
	for (size_t i = 0; i < new->count; i++)
		pd__journal_change(s, pd_zoneset_get(old, new->zones[i]->origin), new->zones[i]);
}

void pd_xfr_serve_free(pd_xfr_serve_t *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	/* Each transfer's poll wakes to an error, and its thread ends. */
	for (int i = 0; i < PD__XFR_OUT_MAX; i++)
		if (s->slots[i])
			shutdown(s->slots[i]->fd, SHUT_RDWR);
	while (atomic_load_explicit(&s->active, memory_order_relaxed) > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < s->njournals; i++)
		pd_journal_free(s->journals[i].j);
	free(s->journals);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
