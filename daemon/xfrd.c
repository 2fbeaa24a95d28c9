/* The secondary side: refresh, transfer in, expire and catalogs of zones, and NOTIFY out. */
#define _GNU_SOURCE
#include "xfr.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pindns/dns.h"
#include "pindns/log.h"
#include "pindns/name.h"
#include "pindns/tsig.h"
#include "pindns/wire.h"
#include "pindns/xfr.h"
#include "pindns/zonesrc.h"
#include "pindns/zonewrite.h"

#include "xfrd_int.h"

#define PD__MSG_MAX 65535
#define PD__SOA_TIMEOUT_MS 2000 /* per try of an SOA query over UDP; two tries */
#define PD__FIRST_RETRY_S 1     /* before a first copy: retry after 1 s, doubling to retry */
#define PD__NOTIFY_TRIES 5
#define PD__NOTIFY_GAP_MS 2000
#define PD__NOTIFY_MAX 4096 /* NOTIFYs waiting for an answer; more replace nothing */
#define PD__ERR_MAX 256

/* Default SOA timers until a copy gives its own (RFC 1912 2.2's ranges). */
#define PD__DEFAULT_REFRESH 3600
#define PD__DEFAULT_RETRY 600
#define PD__DEFAULT_EXPIRE 1209600

/* One zone kept as a secondary: configured, or a catalog's member. */
typedef struct pd__sec {
	const pd_xfr_secondary_t *conf;
	pd_xfr_secondary_t *owned;  /* a catalog member's conf, ours (lives as long as xfrd) */
	char name[PD_NAME_TXT_MAX]; /* as the log names it: no final dot */
	struct pd__sec *catalog;    /* the catalog it is a member of, or NULL */
	/* The version served (published by us alone: a reload keeps it as it is); NULL:
	 * none yet. An expired stand-in has no records to apply an IXFR to. */
	pd_zone_t *cur;
	uint32_t serial;
	uint32_t refresh, retry, expire; /* from cur's SOA */
	int64_t last_ok;                 /* unix time of the last refresh that succeeded */
	int64_t last_try;                /* unix time of the last refresh tried */
	int64_t next_ms;                 /* monotonic: the next SOA check */
	unsigned fails;                  /* refreshes failed in a row */
	bool want;                       /* NOTIFY or zone-refresh: check now */
	bool want_axfr;                  /* zone-retransfer: AXFR now */
	bool removed;                    /* a member gone from its catalog */
	bool seen;                       /* a catalog's update: still a member */
	size_t primary;                  /* the primary that answered last */
	char last_error[PD__ERR_MAX];
} pd__sec_t;

/* A NOTIFY to send (or sent, waiting for its answer). */
typedef struct pd__notify {
	uint8_t origin[PD_NAME_MAX];
	uint32_t serial;
	/* The zone's SOA, sent in the answer section as RFC 1996 3.7 allows, so the target
	 * knows the serial (Knot logs it, and skips the refresh when it has it); soa_len 0:
	 * not known (zone-notify of a zone not published since start). */
	uint8_t soa[2 * PD_NAME_MAX + 20];
	uint16_t soa_len;
	uint32_t soa_ttl;
	const pd_xfr_remote_t *target;
	unsigned tries;
	int64_t next_ms; /* the next try */
	int fd;          /* the socket of the try waiting for an answer, or -1 */
	uint16_t id;
	pd_tsig_ctx_t tsig;
} pd__notify_t;

struct pd_xfrd {
	const pd_xfr_conf_t *conf;
	pd_xfrd_hooks_t hooks;
	pd_xfr_stats_t *stats;
	pthread_t thread;
	bool started;
	int wake_fd, stop_fd; /* eventfds: work to look at; stop (never read) */
	/* Guards what other threads touch: the secondaries' flags and state (read by
	 * commands), the notify queue. Never held across network I/O or a publish. */
	pthread_mutex_t lock;
	pd__sec_t **secs;
	size_t nsecs, secs_cap;
	pd__notify_t *notifies;
	size_t nnotifies;
	uint8_t *msg, *resp; /* the thread's message buffers */
	int timeout_ms;      /* conf's, or the defaults when unset */
	const char *state_dir;
};

static int64_t pd__unix_now(void)
{
	return (int64_t)time(NULL);
}

static uint16_t pd__random_id(void)
{
	uint16_t id = 0;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)(pd__xfrd_now_ms() * 2654435761u >> 16);
	return id;
}

static void pd__wake(pd_xfrd_t *x)
{
	uint64_t one = 1;
	if (write(x->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pd_log(PD_LOG_WARN, "xfrd: cannot wake its thread: %s", strerror(errno));
}

/* RFC 1982: whether serial a is newer than b. */
static bool pd__serial_newer(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

static void pd__name_of(char *out, size_t cap, const uint8_t *wire)
{
	int len = pd_name_to_str(out, cap, wire);
	if (len > 1)
		out[len - 1] = '\0';
}

static const char *pd__rcode_str(int rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	                                    "NXRRSET", "NOTAUTH", "NOTZONE"};
	return rcode >= 0 && rcode < (int)(sizeof(names) / sizeof(*names)) ? names[rcode]
	                                                                   : "rcode?";
}

static const char *pd__tsig_str(int v)
{
	switch (v) {
	case PD_TSIG_BADKEY:
		return "bad TSIG (BADKEY: the primary does not know our key)";
	case PD_TSIG_BADSIG:
		return "bad TSIG (BADSIG: the signature does not verify)";
	case PD_TSIG_BADTIME:
		return "bad TSIG (BADTIME: the clocks differ)";
	default:
		return "bad TSIG (unsigned or malformed)";
	}
}

/* Reads the SOA timers of z into s (not of an expired stand-in: it has no SOA). */
static void pd__sec_timers(pd__sec_t *s, const pd_zone_t *z)
{
	pd_rr_t soa;
	if (!z || z->expired)
		return;
	pd_zone_soa(z, &soa);
	s->serial = z->serial;
	if (soa.rdlen < 20)
		return;
	const uint8_t *p = soa.rdata + soa.rdlen - 16;
	s->refresh = pd_get_u32(p);
	s->retry = pd_get_u32(p + 4);
	s->expire = pd_get_u32(p + 8);
	/* A zero timer would spin: a second at least, as Knot clamps them too. */
	s->refresh = s->refresh ? s->refresh : 1;
	s->retry = s->retry ? s->retry : 1;
}

static bool pd__have_copy(const pd__sec_t *s)
{
	return s->cur && !s->cur->expired;
}

/* A new secondary in x's list (under the lock, or before the thread runs). */
static pd__sec_t *pd__sec_add(pd_xfrd_t *x, const pd_xfr_secondary_t *conf, pd_zone_t *cur)
{
	if (x->nsecs == x->secs_cap) {
		size_t cap = x->secs_cap ? x->secs_cap * 2 : 16;
		pd__sec_t **v = realloc(x->secs, cap * sizeof(*v));
		if (!v)
			return NULL;
		x->secs = v;
		x->secs_cap = cap;
	}
	pd__sec_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->conf = conf;
	pd__name_of(s->name, sizeof(s->name), conf->wire);
	s->refresh = PD__DEFAULT_REFRESH;
	s->retry = PD__DEFAULT_RETRY;
	s->expire = PD__DEFAULT_EXPIRE;
	s->cur = cur;
	if (cur) {
		pd__sec_timers(s, cur);
		s->serial = cur->serial;
		s->last_ok = cur->loaded_unix;
	}
	s->want = true; /* refreshed at once when the thread starts */
	x->secs[x->nsecs++] = s;
	return s;
}

/* The secondary of origin (lower-cased), removed ones skipped; under the lock. */
static pd__sec_t *pd__sec_find(pd_xfrd_t *x, const uint8_t *origin)
{
	for (size_t i = 0; i < x->nsecs; i++)
		if (!x->secs[i]->removed && pd_name_equal(x->secs[i]->conf->wire, origin))
			return x->secs[i];
	return NULL;
}

/* Notes why a refresh failed, in the log and for zone-status. */
static void pd__sec_fail(pd_xfrd_t *x, pd__sec_t *s, const pd_xfr_remote_t *r, const char *why)
{
	char addr[64];
	pd__xfrd_addr_str((const struct sockaddr *)&r->addr, addr, sizeof(addr));
	pd_log(PD_LOG_ERR, "zone %s: transfer from %s failed: %s", s->name, addr, why);
	pthread_mutex_lock(&x->lock);
	snprintf(s->last_error, sizeof(s->last_error), "from %s: %s", addr, why);
	pthread_mutex_unlock(&x->lock);
}

/* Signs the request in msg (len bytes) when r has a key: the new length, 0 when too long. */
static size_t pd__sign(pd_tsig_ctx_t *t, const pd_xfr_remote_t *r, uint8_t *msg, size_t len)
{
	pd_tsig_ctx_init(t, r->key);
	if (!r->key)
		return len;
	return pd_tsig_sign(t, msg, len, PD__MSG_MAX, (uint64_t)pd__unix_now());
}

/* Checks a response's TSIG when the exchange is signed: 0, 1 (pending), or a TSIG error. */
static int pd__verify(pd_tsig_ctx_t *t, const uint8_t *msg, size_t len)
{
	size_t body;
	if (!t->key)
		return 0;
	return pd_tsig_verify(t, msg, len, (uint64_t)pd__unix_now(), &body);
}

/*
 * Asks r for the zone's SOA over UDP (twice), and over TCP when the answer is truncated:
 * 0 and *serial, or a negative errno with the reason in why.
 */
static int pd__soa_query(pd_xfrd_t *x, pd__sec_t *s, const pd_xfr_remote_t *r, uint32_t *serial,
                         char *why, size_t cap)
{
	uint16_t id = pd__random_id();
	pd_tsig_ctx_t t;
	size_t len = pd_xfr_query(x->msg, PD__MSG_MAX, id, s->conf->wire, PD_TYPE_SOA, 0);
	ssize_t n = -ETIMEDOUT;
	int ret = 0;
	len = len ? pd__sign(&t, r, x->msg, len) : 0;
	if (!len) {
		snprintf(why, cap, "SOA query: cannot make it");
		return -EINVAL;
	}
	pd_counter_add(&x->stats->refresh, 1);
	for (int i = 0; i < 2 && n == -ETIMEDOUT; i++)
		n = pd__xfrd_udp(r, x->msg, len, x->resp, PD__MSG_MAX, PD__SOA_TIMEOUT_MS,
		                 x->stop_fd);
	if (n >= 12 && (x->resp[2] & 0x02)) { /* TC: again over TCP */
		int fd = pd__xfrd_tcp_connect(r, x->timeout_ms, x->stop_fd);
		int64_t deadline = pd__xfrd_now_ms() + x->timeout_ms;
		n = fd;
		if (fd >= 0) {
			n = pd__xfrd_tcp_send(fd, x->msg, len, deadline, x->stop_fd);
			if (n == 0)
				n = pd__xfrd_tcp_recv(fd, x->resp, PD__MSG_MAX, deadline,
				                      x->stop_fd);
			if (n == 0)
				n = -EPIPE;
			/* As over UDP: an answer to another query is none. */
			if (n >= 12 && (x->resp[0] != x->msg[0] || x->resp[1] != x->msg[1] ||
			                !(x->resp[2] & 0x80)))
				n = -EPROTO;
			close(fd);
		}
	}
	if (n < 0) {
		snprintf(why, cap, "SOA query: %s",
		         n == -ETIMEDOUT ? "timed out" : strerror((int)-n));
		ret = (int)n;
		goto out;
	}
	int v = pd__verify(&t, x->resp, (size_t)n);
	int rcode = n >= 4 ? x->resp[3] & 0x0f : PD_RCODE_FORMERR;
	if (v != 0) {
		snprintf(why, cap, "SOA query: %s%s%s", pd__tsig_str(v), rcode ? ", rcode " : "",
		         rcode ? pd__rcode_str(rcode) : "");
		ret = -EACCES;
	} else if (rcode != PD_RCODE_NOERROR) {
		snprintf(why, cap, "SOA query: %s", pd__rcode_str(rcode));
		ret = -ECONNREFUSED;
	} else if (pd__xfrd_soa_serial(x->resp, (size_t)n, s->conf->wire, serial) < 0) {
		snprintf(why, cap, "SOA query: no SOA of the zone in the answer");
		ret = -EPROTO;
	}
out:
	pd_tsig_ctx_clear(&t);
	return ret;
}

/* Whether a failed IXFR is worth an AXFR: the primary does not do IXFR, or not from us. */
static bool pd__ixfr_fallback(int ret, int rcode)
{
	if (ret == -ECONNREFUSED)
		return rcode == PD_RCODE_NOTIMP || rcode == PD_RCODE_REFUSED ||
		       rcode == PD_RCODE_FORMERR || rcode == PD_RCODE_SERVFAIL;
	return ret == -ENOENT || ret == -EPROTO;
}

/* Why a transfer failed, from what pd_xfr_in_feed() or the socket said. */
static void pd__feed_why(int ret, pd_xfr_in_t *in, const pd_xfrd_t *x, char *why, size_t cap)
{
	if (ret == -ECONNREFUSED)
		snprintf(why, cap, "%s", pd__rcode_str(pd_xfr_in_rcode(in)));
	else if (ret == -EFBIG)
		snprintf(why, cap, "too big: more than xfr-max-size (%llu bytes)",
		         (unsigned long long)x->conf->max_size);
	else if (pd_xfr_in_error(in) && pd_xfr_in_error(in)[0])
		snprintf(why, cap, "%s", pd_xfr_in_error(in));
	else
		snprintf(why, cap, "%s", strerror(-ret));
}

/*
 * One AXFR or IXFR from r over TCP: 0 and *out (NULL: we are current), -EAGAIN when an
 * IXFR failed in a way an AXFR may not, or another negative errno with why set.
 */
static int pd__transfer(pd_xfrd_t *x, pd__sec_t *s, const pd_xfr_remote_t *r, bool ixfr,
                        pd_zone_t **out, bool *was_ixfr, char *why, size_t cap)
{
	uint16_t id = pd__random_id();
	pd_tsig_ctx_t t;
	const char *kind = ixfr ? "IXFR" : "AXFR";
	size_t len = pd_xfr_query(x->msg, PD__MSG_MAX, id, s->conf->wire,
	                          ixfr ? PD_TYPE_IXFR : PD_TYPE_AXFR, s->serial);
	pd_xfr_in_t *in = NULL;
	int fd = -1, ret, v = 0;
	bool last_verified = false;
	char reason[PD__ERR_MAX] = "";

	*out = NULL;
	len = len ? pd__sign(&t, r, x->msg, len) : 0;
	if (!len) {
		snprintf(why, cap, "%s: cannot make the query", kind);
		return -EINVAL;
	}
	in = pd_xfr_in_new(s->conf->wire, ixfr ? s->cur : NULL, id, x->conf->max_size);
	if (!in) {
		ret = -ENOMEM;
		snprintf(reason, sizeof(reason), "out of memory");
		goto out;
	}
	fd = ret = pd__xfrd_tcp_connect(r, x->timeout_ms, x->stop_fd);
	if (ret >= 0)
		ret = pd__xfrd_tcp_send(fd, x->msg, len, pd__xfrd_now_ms() + x->timeout_ms,
		                        x->stop_fd);
	for (int done = 0; ret >= 0 && !done;) {
		/* The timeout bounds a stall, not the whole transfer. */
		ssize_t n = pd__xfrd_tcp_recv(fd, x->resp, PD__MSG_MAX,
		                              pd__xfrd_now_ms() + x->timeout_ms, x->stop_fd);
		if (n <= 0) {
			ret = n == 0 ? -EPIPE : (int)n;
			snprintf(reason, sizeof(reason), "connection %s after %zu records",
			         n == 0 || n == -EPIPE ? "closed"
			         : n == -ETIMEDOUT     ? "timed out"
			                               : strerror((int)-n),
			         pd_xfr_in_records(in));
			break;
		}
		v = pd__verify(&t, x->resp, (size_t)n);
		int rcode = x->resp[3] & 0x0f;
		/* An unsigned error (REFUSED, NOTIMP) is said as the rcode it is. */
		if (v != 0 && v != 1 && !(rcode && v < 0)) {
			ret = -EACCES;
			snprintf(reason, sizeof(reason), "%s", pd__tsig_str(v));
			break;
		}
		last_verified = v == 0;
		ret = done = pd_xfr_in_feed(in, x->resp, (size_t)n);
		if (ret < 0)
			pd__feed_why(ret, in, x, reason, sizeof(reason));
	}
	if (ret >= 0 && t.key && !last_verified) {
		ret = -EACCES;
		snprintf(reason, sizeof(reason), "the last message is not signed");
	}
	if (ret >= 0) {
		ret = pd_xfr_in_finish(in, out);
		if (ret < 0)
			snprintf(reason, sizeof(reason), "%s", pd_xfr_in_error(in));
		*was_ixfr = pd_xfr_in_was_ixfr(in);
	}
	if (ret < 0 && ixfr && pd__ixfr_fallback(ret, pd_xfr_in_rcode(in))) {
		pd_log(PD_LOG_INFO, "zone %s: IXFR failed (%s): trying AXFR", s->name, reason);
		ret = -EAGAIN;
	}
out:
	if (ret < 0 && ret != -EAGAIN)
		snprintf(why, cap, "%s: %s", kind, reason[0] ? reason : strerror(-ret));
	if (fd >= 0)
		close(fd);
	pd_xfr_in_free(in);
	pd_tsig_ctx_clear(&t);
	return ret;
}

static void pd__catalog_update(pd_xfrd_t *x, pd__sec_t *cat);

/* Publishes z for s (a new version, or an expired stand-in): 0 when it serves now. */
static int pd__publish(pd_xfrd_t *x, pd__sec_t *s, pd_zone_t *z)
{
	uint32_t serial = z->serial;
	/* The publish frees the old version: commands must not look at it meanwhile. */
	pthread_mutex_lock(&x->lock);
	pd_zone_t *old = s->cur;
	s->cur = NULL;
	pthread_mutex_unlock(&x->lock);
	int ret = x->hooks.publish(x->hooks.arg, z, NULL);
	pthread_mutex_lock(&x->lock);
	s->cur = ret < 0 ? old : z;
	pthread_mutex_unlock(&x->lock);
	if (ret == -EEXIST)
		pd_log(PD_LOG_ERR,
		       "zone %s: not served from %s: a zone of that name is served "
		       "from its file (RFC 9432 5.4)",
		       s->name, s->catalog ? s->catalog->name : "its primaries");
	else if (ret < 0)
		pd_log(PD_LOG_ERR, "zone %s: serial %u could not be published: %s", s->name, serial,
		       strerror(-ret));
	return ret;
}

/*
 * A transfer's new version: served, then kept in state-dir. Writing it (ldns formats each
 * record and reads it back) takes four times as long as the transfer, so the zone is not
 * made to wait for it; only this thread replaces s->cur, so z stays alive meanwhile. A
 * crash in between restarts from the copy before, which the first refresh brings up.
 */
static int pd__install(pd_xfrd_t *x, pd__sec_t *s, pd_zone_t *z, bool was_ixfr,
                       const pd_xfr_remote_t *r, int64_t started_ms)
{
	char path[4096], err[1024] = "state-dir path too long", addr[64];
	uint32_t old = s->serial;
	bool had = pd__have_copy(s);
	z->from = PD_ZONE_FROM_XFR;
	z->xfr = s->conf;
	z->loaded_unix = pd__unix_now();
	pd__xfrd_addr_str((const struct sockaddr *)&r->addr, addr, sizeof(addr));
	size_t records = z->record_count;
	uint32_t serial = z->serial;
	int ret = pd__publish(x, s, z);
	if (ret < 0)
		return ret;
	pd_counter_add(was_ixfr ? &x->stats->xfr_in_ixfr : &x->stats->xfr_in_axfr, 1);
	if (had)
		pd_log(PD_LOG_INFO, "zone %s: %s from %s: serial %u (was %u), %zu records, %lld ms",
		       s->name, was_ixfr ? "IXFR" : "AXFR", addr, serial, old, records,
		       (long long)(pd__xfrd_now_ms() - started_ms));
	else
		pd_log(PD_LOG_INFO, "zone %s: %s from %s: serial %u, %zu records, %lld ms", s->name,
		       was_ixfr ? "IXFR" : "AXFR", addr, serial, records,
		       (long long)(pd__xfrd_now_ms() - started_ms));
	if (pd_zone_state_path(path, sizeof(path), x->state_dir, s->conf->wire) < 0 ||
	    pd_zone_write(z, path, err, sizeof(err)) < 0)
		pd_log(PD_LOG_ERR, "zone %s: copy not kept (a restart transfers it again): %s",
		       s->name, err);
	return 0;
}

/* The copy is current: its file's time says so across a restart (expire counts from it). */
static void pd__confirmed(pd_xfrd_t *x, pd__sec_t *s)
{
	char path[4096];
	if (pd_zone_state_path(path, sizeof(path), x->state_dir, s->conf->wire) == 0)
		utimensat(AT_FDCWD, path, NULL, 0);
}

/*
 * One refresh of s (RFC 1035 4.3.5, RFC 1996 3.11): its SOA from each primary in turn
 * until one answers, then the transfer its serial calls for. Returns whether it worked.
 */
static bool pd__refresh(pd_xfrd_t *x, pd__sec_t *s, bool axfr)
{
	char why[PD__ERR_MAX];
	int64_t started = pd__xfrd_now_ms();
	for (size_t k = 0; k < s->conf->nprimaries; k++) {
		size_t i = (s->primary + k) % s->conf->nprimaries;
		const pd_xfr_remote_t *r = &s->conf->primaries[i];
		uint32_t serial = 0;
		pd_zone_t *z = NULL;
		bool was_ixfr = false;
		/* Knot answers no query for a catalog it generates, transfers aside (REFUSED):
		 * a catalog is asked for by IXFR at once, which says as much when current. */
		int ret = s->conf->catalog ? 0 : pd__soa_query(x, s, r, &serial, why, sizeof(why));
		if (ret == -ECANCELED)
			return false;
		if (ret < 0) {
			pd__sec_fail(x, s, r, why);
			continue;
		}
		if (!s->conf->catalog && pd__have_copy(s) && !axfr &&
		    !pd__serial_newer(serial, s->serial)) {
			if (serial != s->serial)
				pd_log(
				    PD_LOG_WARN,
				    "zone %s: the primary's serial %u is older than ours, %u: kept",
				    s->name, serial, s->serial);
			pd__confirmed(x, s);
			s->primary = i;
			return true;
		}
		bool ixfr = pd__have_copy(s) && !axfr;
		ret = pd__transfer(x, s, r, ixfr, &z, &was_ixfr, why, sizeof(why));
		if (ret == -EAGAIN)
			ret = pd__transfer(x, s, r, false, &z, &was_ixfr, why, sizeof(why));
		if (ret == -ECANCELED)
			return false;
		if (ret < 0) {
			pd_counter_add(&x->stats->xfr_in_failed, 1);
			pd__sec_fail(x, s, r, why);
			continue;
		}
		s->primary = i;
		if (!z) { /* the IXFR said we are current */
			pd__confirmed(x, s);
			return true;
		}
		if (pd__install(x, s, z, was_ixfr, r, started) < 0)
			return false;
		pthread_mutex_lock(&x->lock);
		pd__sec_timers(s, s->cur);
		pthread_mutex_unlock(&x->lock);
		if (s->conf->catalog)
			pd__catalog_update(x, s);
		return true;
	}
	return false;
}

/* After a refresh: the next one, by the SOA timers (RFC 1035 3.3.13). */
static void pd__schedule(pd_xfrd_t *x, pd__sec_t *s, bool ok)
{
	int64_t now = pd__xfrd_now_ms();
	pthread_mutex_lock(&x->lock);
	s->last_try = pd__unix_now();
	if (ok) {
		s->last_ok = s->last_try;
		s->fails = 0;
		s->last_error[0] = '\0';
		s->next_ms = now + (int64_t)s->refresh * 1000;
	} else {
		/* Without a copy, soon: 1 s, 2 s, 4 s ... up to the retry timer. */
		int64_t wait = s->retry;
		if (!pd__have_copy(s) && s->fails < 20 && (PD__FIRST_RETRY_S << s->fails) < wait)
			wait = PD__FIRST_RETRY_S << s->fails;
		s->fails++;
		s->next_ms = now + wait * 1000;
	}
	pthread_mutex_unlock(&x->lock);
}

/* Past its SOA expire since the last refresh that worked: answers SERVFAIL from now. */
static void pd__expire(pd_xfrd_t *x, pd__sec_t *s)
{
	pd_zone_t *e = pd_zone_expired_new(s->cur);
	if (e)
		e->loaded_unix = s->cur->loaded_unix;
	else
		pd_log(PD_LOG_ERR, "zone %s: expired, but out of memory to say so", s->name);
	if (!e || pd__publish(x, s, e) < 0) {
		/* Tried again after the retry timer, not at once. */
		pthread_mutex_lock(&x->lock);
		s->last_ok = pd__unix_now() - s->expire + s->retry;
		pthread_mutex_unlock(&x->lock);
		return;
	}
	pd_counter_add(&x->stats->expired, 1);
	pd_log(PD_LOG_ERR,
	       "zone %s: expired: no refresh worked for %u s (SOA expire); SERVFAIL until a "
	       "transfer succeeds",
	       s->name, s->expire);
}

/* ---- catalogs (RFC 9432) ---- */

typedef struct pd__members {
	const uint8_t *zones; /* zones.CATALOG */
	size_t zones_len;
	const uint8_t *version; /* version.CATALOG */
	bool v2;
	uint8_t (*names)[PD_NAME_MAX];
	size_t n, cap;
	int err;
} pd__members_t;

/* pd_rr_fn: the version TXT, and the PTRs one label under zones.CATALOG. */
static int pd__member_rr(void *arg, const pd_rr_t *rr)
{
	pd__members_t *m = arg;
	if (rr->type == PD_TYPE_TXT && pd_name_equal(rr->owner, m->version))
		m->v2 |= rr->rdlen == 2 && rr->rdata[0] == 1 && rr->rdata[1] == '2';
	if (rr->type != PD_TYPE_PTR || rr->owner_len <= m->zones_len + 1 ||
	    rr->owner_len != m->zones_len + 1 + rr->owner[0] ||
	    !pd_name_equal(rr->owner + 1 + rr->owner[0], m->zones))
		return 0;
	pd_wire_t w;
	uint8_t name[PD_NAME_MAX];
	pd_wire_init(&w, rr->rdata, rr->rdlen);
	if (!pd_name_parse(&w, name) || w.err)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		void *v = realloc(m->names, cap * sizeof(*m->names));
		if (!v)
			return m->err = -ENOMEM;
		m->names = v;
		m->cap = cap;
	}
	pd_name_lower(m->names[m->n++], name);
	return 0;
}

/* A member new in the catalog: a secondary from its primaries, its kept copy served. */
static void pd__member_add(pd_xfrd_t *x, pd__sec_t *cat, const uint8_t *origin)
{
	char text[PD_NAME_TXT_MAX], path[4096], err[1024];
	pd_xfr_secondary_t *c = calloc(1, sizeof(*c));
	pd_zone_t *z = NULL;
	pd_name_to_str(text, sizeof(text), origin);
	if (!c || !(c->origin = strdup(text))) {
		free(c);
		pd_log(PD_LOG_ERR, "catalog %s: member %s left out: out of memory", cat->name,
		       text);
		return;
	}
	memcpy(c->wire, origin, pd_name_len(origin));
	c->primaries = cat->conf->primaries;
	c->nprimaries = cat->conf->nprimaries;
	c->notify_from = cat->conf->notify_from;
	if (pd_zone_state_path(path, sizeof(path), x->state_dir, origin) == 0 &&
	    pd_zone_state_load(path, origin, c, &z, err, sizeof(err)) < 0 &&
	    access(path, F_OK) == 0)
		pd_log(PD_LOG_ERR, "zone %s: kept copy not served: %s", text, err);
	pthread_mutex_lock(&x->lock);
	pd__sec_t *s = pd__sec_add(x, c, NULL);
	if (s) {
		s->owned = c;
		s->catalog = cat;
		s->seen = true;
	}
	pthread_mutex_unlock(&x->lock);
	if (!s) {
		pd_zone_free(z);
		free(c->origin);
		free(c);
		pd_log(PD_LOG_ERR, "catalog %s: member %s left out: out of memory", cat->name,
		       text);
		return;
	}
	pd_log(PD_LOG_INFO, "catalog %s: member %s added", cat->name, s->name);
	if (z)
		pd_log(PD_LOG_INFO, "zone %s: kept copy loaded from %s: %zu records, serial %u%s",
		       s->name, path, z->record_count, z->serial,
		       z->expired ? ", past its SOA expire: SERVFAIL until a transfer succeeds"
		                  : "");
	if (z && pd__publish(x, s, z) == 0) {
		pthread_mutex_lock(&x->lock);
		pd__sec_timers(s, z);
		s->serial = z->serial;
		s->last_ok = z->loaded_unix;
		pthread_mutex_unlock(&x->lock);
	}
}

/* A member gone from the catalog: no longer served, its copy deleted. */
static void pd__member_remove(pd_xfrd_t *x, pd__sec_t *s)
{
	char path[4096];
	pthread_mutex_lock(&x->lock);
	s->removed = true;
	pthread_mutex_unlock(&x->lock);
	if (s->cur && x->hooks.publish(x->hooks.arg, NULL, s->conf->wire) < 0) {
		pd_log(PD_LOG_ERR, "catalog %s: member %s removed, but still served",
		       s->catalog->name, s->name);
		return;
	}
	pthread_mutex_lock(&x->lock);
	s->cur = NULL;
	pthread_mutex_unlock(&x->lock);
	if (pd_zone_state_path(path, sizeof(path), x->state_dir, s->conf->wire) == 0)
		unlink(path);
	pd_log(PD_LOG_INFO, "catalog %s: member %s removed", s->catalog->name, s->name);
}

/* After the catalog cat changed: members added and removed to match it. */
static void pd__catalog_update(pd_xfrd_t *x, pd__sec_t *cat)
{
	uint8_t zones[PD_NAME_MAX], version[PD_NAME_MAX];
	size_t olen = pd_name_len(cat->conf->wire);
	if (olen + 9 > PD_NAME_MAX || !cat->cur || cat->cur->expired)
		return;
	zones[0] = 5;
	memcpy(zones + 1, "zones", 5);
	memcpy(zones + 6, cat->conf->wire, olen);
	version[0] = 7;
	memcpy(version + 1, "version", 7);
	memcpy(version + 8, cat->conf->wire, olen);
	pd__members_t m = {.zones = zones, .zones_len = olen + 6, .version = version};
	pd_zone_foreach(cat->cur, pd__member_rr, &m);
	if (m.err || !m.v2) {
		pd_log(PD_LOG_ERR, "catalog %s: %s; its members are left as they were", cat->name,
		       m.err ? "out of memory" : "no version.CATALOG TXT \"2\" (RFC 9432 v2)");
		free(m.names);
		return;
	}
	for (size_t i = 0; i < x->nsecs; i++)
		if (x->secs[i]->catalog == cat)
			x->secs[i]->seen = false;
	for (size_t i = 0; i < m.n; i++) {
		pthread_mutex_lock(&x->lock);
		pd__sec_t *s = pd__sec_find(x, m.names[i]);
		if (s && s->catalog == cat)
			s->seen = true;
		pthread_mutex_unlock(&x->lock);
		if (!s)
			pd__member_add(x, cat, m.names[i]);
		else if (s->catalog != cat)
			pd_log(PD_LOG_WARN, "catalog %s: member %s left out: already a secondary",
			       cat->name, s->name);
	}
	for (size_t i = 0; i < x->nsecs; i++)
		if (x->secs[i]->catalog == cat && !x->secs[i]->seen && !x->secs[i]->removed)
			pd__member_remove(x, x->secs[i]);
	free(m.names);
}

/* ---- NOTIFY out (RFC 1996) ---- */

/* Queues a NOTIFY of origin to target, replacing one not yet answered (under the lock). */
static void pd__notify_queue(pd_xfrd_t *x, const uint8_t *origin, uint32_t serial,
                             const pd_rr_t *soa, const pd_xfr_remote_t *target)
{
	pd__notify_t *n = NULL;
	for (size_t i = 0; i < x->nnotifies && !n; i++)
		if (x->notifies[i].target == target && pd_name_equal(x->notifies[i].origin, origin))
			n = &x->notifies[i];
	if (!n && x->nnotifies == PD__NOTIFY_MAX) {
		char o[PD_NAME_TXT_MAX];
		pd__name_of(o, sizeof(o), origin);
		pd_log(PD_LOG_WARN, "zone %s: NOTIFY not sent: %d already wait for an answer", o,
		       PD__NOTIFY_MAX);
		return;
	}
	if (!n) {
		n = &x->notifies[x->nnotifies++];
		memset(n, 0, sizeof(*n)); /* the slot may hold a copy of one moved since */
		n->fd = -1;
	}
	memcpy(n->origin, origin, pd_name_len(origin));
	n->serial = serial;
	n->soa_len = 0;
	if (soa && soa->rdlen <= sizeof(n->soa)) {
		memcpy(n->soa, soa->rdata, soa->rdlen);
		n->soa_len = soa->rdlen;
		n->soa_ttl = soa->ttl;
	}
	n->target = target;
	n->tries = 0;
	n->next_ms = pd__xfrd_now_ms();
}

/* Queues NOTIFYs of origin to each of its targets; how many (under the lock). */
static size_t pd__notify_zone(pd_xfrd_t *x, const uint8_t *origin, uint32_t serial,
                              const pd_rr_t *soa)
{
	size_t n = 0;
	for (size_t i = 0; i < x->conf->nnotify; i++) {
		const pd_xfr_notify_t *t = &x->conf->notify[i];
		if (t->origin && !pd_name_equal(t->wire, origin))
			continue;
		pd__notify_queue(x, origin, serial, soa, &t->target);
		n++;
	}
	return n;
}

static void pd__notify_drop(pd_xfrd_t *x, size_t i)
{
	pd__notify_t *n = &x->notifies[i];
	if (n->fd >= 0)
		close(n->fd);
	pd_tsig_ctx_clear(&n->tsig);
	x->notifies[i] = x->notifies[--x->nnotifies];
}

/* One try of a NOTIFY: a query with opcode NOTIFY and AA (RFC 1996 3.7), maybe signed. */
static void pd__notify_send(pd_xfrd_t *x, pd__notify_t *n)
{
	char o[PD_NAME_TXT_MAX], addr[64];
	const pd_xfr_remote_t *r = n->target;
	n->id = pd__random_id();
	size_t len = pd_xfr_query(x->msg, PD__MSG_MAX, n->id, n->origin, PD_TYPE_SOA, 0);
	if (len && n->soa_len) { /* the SOA, its owner the question's name */
		uint8_t *p = x->msg + len;
		p[0] = 0xc0;
		p[1] = 12;
		pd_put_u16(p + 2, PD_TYPE_SOA);
		pd_put_u16(p + 4, PD_CLASS_IN);
		pd_put_u16(p + 6, (uint16_t)(n->soa_ttl >> 16));
		pd_put_u16(p + 8, (uint16_t)n->soa_ttl);
		pd_put_u16(p + 10, n->soa_len);
		memcpy(p + 12, n->soa, n->soa_len);
		len += 12 + n->soa_len;
		pd_put_u16(x->msg + 6, 1); /* ANCOUNT */
	}
	if (len) {
		x->msg[2] = (uint8_t)(PD_OPCODE_NOTIFY << 3 | 0x04);
		pd_tsig_ctx_clear(&n->tsig);
		len = pd__sign(&n->tsig, r, x->msg, len);
	}
	if (n->fd < 0) {
		n->fd = socket(r->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (n->fd >= 0 &&
		    connect(n->fd, (const struct sockaddr *)&r->addr, r->addr_len) < 0) {
			close(n->fd);
			n->fd = -1;
		}
	}
	n->tries++;
	n->next_ms = pd__xfrd_now_ms() + PD__NOTIFY_GAP_MS;
	pd_counter_add(&x->stats->notify_out, 1);
	if (len && n->fd >= 0 && send(n->fd, x->msg, len, 0) >= 0)
		return;
	pd__name_of(o, sizeof(o), n->origin);
	pd__xfrd_addr_str((const struct sockaddr *)&r->addr, addr, sizeof(addr));
	pd_log(PD_LOG_WARN, "zone %s: NOTIFY to %s not sent: %s", o, addr,
	       len ? strerror(errno) : "cannot make it");
}

/* An answer on a NOTIFY's socket: done when it matches (and verifies). */
static bool pd__notify_answer(pd_xfrd_t *x, pd__notify_t *n)
{
	ssize_t len = recv(n->fd, x->resp, PD__MSG_MAX, 0);
	if (len < 12 || pd_get_u16(x->resp) != n->id || !(x->resp[2] & 0x80) ||
	    ((x->resp[2] >> 3) & 0x0f) != PD_OPCODE_NOTIFY)
		return false;
	char o[PD_NAME_TXT_MAX], addr[64];
	int v = pd__verify(&n->tsig, x->resp, (size_t)len);
	int rcode = x->resp[3] & 0x0f;
	pd__name_of(o, sizeof(o), n->origin);
	pd__xfrd_addr_str((const struct sockaddr *)&n->target->addr, addr, sizeof(addr));
	if (v != 0) {
		pd_log(PD_LOG_WARN, "zone %s: NOTIFY answer from %s dropped: %s", o, addr,
		       pd__tsig_str(v));
		return false;
	}
	pd_counter_add(&x->stats->notify_acked, 1);
	if (rcode != PD_RCODE_NOERROR)
		pd_log(PD_LOG_WARN, "zone %s: NOTIFY serial %u to %s answered %s", o, n->serial,
		       addr, pd__rcode_str(rcode));
	else
		pd_log(PD_LOG_DEBUG, "zone %s: NOTIFY serial %u to %s answered", o, n->serial,
		       addr);
	return true;
}

/* Sends the NOTIFYs due, gives up on those tried enough; the next try's time. */
static int64_t pd__notify_due(pd_xfrd_t *x, int64_t now)
{
	int64_t next = INT64_MAX;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nnotifies;) {
		pd__notify_t *n = &x->notifies[i];
		if (n->next_ms <= now && n->tries >= PD__NOTIFY_TRIES) {
			char o[PD_NAME_TXT_MAX], addr[64];
			pd__name_of(o, sizeof(o), n->origin);
			pd__xfrd_addr_str((const struct sockaddr *)&n->target->addr, addr,
			                  sizeof(addr));
			pd_log(PD_LOG_WARN,
			       "zone %s: NOTIFY serial %u to %s: no answer after %d tries", o,
			       n->serial, addr, PD__NOTIFY_TRIES);
			pd__notify_drop(x, i);
			continue;
		}
		if (n->next_ms <= now)
			pd__notify_send(x, n);
		if (n->next_ms < next)
			next = n->next_ms;
		i++;
	}
	pthread_mutex_unlock(&x->lock);
	return next;
}

/* ---- the thread ---- */

/* The secondary most overdue for a refresh, or NULL; *next the time of the next one. */
static pd__sec_t *pd__sec_due(pd_xfrd_t *x, int64_t now, int64_t *next, bool *axfr, bool *expire)
{
	pd__sec_t *due = NULL;
	int64_t unix_now = pd__unix_now();
	*expire = false;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nsecs; i++) {
		pd__sec_t *s = x->secs[i];
		if (s->removed)
			continue;
		if (pd__have_copy(s)) {
			int64_t at = s->last_ok + s->expire;
			if (at <= unix_now) {
				due = s;
				*expire = true;
				break;
			}
			int64_t at_ms = now + (at - unix_now) * 1000;
			if (at_ms < *next)
				*next = at_ms;
		}
		int64_t when = s->want || s->want_axfr ? now : s->next_ms;
		if (when <= now && (!due || when < due->next_ms))
			due = s;
		else if (when < *next)
			*next = when;
	}
	if (due && !*expire) {
		*axfr = due->want_axfr;
		due->want = due->want_axfr = false;
	}
	pthread_mutex_unlock(&x->lock);
	return due;
}

/* Waits for work until next_ms: a wake-up, a NOTIFY's answer, or the time. */
static void pd__wait_events(pd_xfrd_t *x, int64_t next_ms)
{
	struct pollfd p[2 + PD__NOTIFY_MAX];
	size_t np = 2;
	p[0] = (struct pollfd){.fd = x->wake_fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = x->stop_fd, .events = POLLIN};
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nnotifies; i++)
		p[np++] = (struct pollfd){.fd = x->notifies[i].fd, .events = POLLIN};
	pthread_mutex_unlock(&x->lock);
	int64_t left = next_ms - pd__xfrd_now_ms();
	int timeout = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
	if (poll(p, np, timeout) <= 0)
		return;
	if (p[0].revents & POLLIN) {
		uint64_t v;
		if (read(x->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			pd_log(PD_LOG_WARN, "xfrd: eventfd: %s", strerror(errno));
	}
	pthread_mutex_lock(&x->lock);
	/* Only this thread removes notifies: the first np - 2 are those polled. */
	for (size_t i = np - 2; i-- > 0;)
		if ((p[2 + i].revents & POLLIN) && i < x->nnotifies &&
		    x->notifies[i].fd == p[2 + i].fd && pd__notify_answer(x, &x->notifies[i]))
			pd__notify_drop(x, i);
	pthread_mutex_unlock(&x->lock);
}

static bool pd__stopping(const pd_xfrd_t *x)
{
	struct pollfd p = {.fd = x->stop_fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

static void *pd__thread(void *arg)
{
	pd_xfrd_t *x = arg;
	/* The catalogs kept at start name their members, whose copies are served now. */
	for (size_t i = 0; i < x->nsecs; i++)
		if (x->secs[i]->conf->catalog)
			pd__catalog_update(x, x->secs[i]);
	while (!pd__stopping(x)) {
		int64_t now = pd__xfrd_now_ms(), next = now + 60000;
		int64_t notify_next = pd__notify_due(x, now);
		bool axfr = false, expire = false;
		pd__sec_t *s = pd__sec_due(x, now, &next, &axfr, &expire);
		if (s && expire) {
			pd__expire(x, s);
			continue;
		}
		if (s) {
			bool ok = pd__refresh(x, s, axfr);
			if (!pd__stopping(x))
				pd__schedule(x, s, ok);
			continue;
		}
		pd__wait_events(x, notify_next < next ? notify_next : next);
	}
	return NULL;
}

/* ---- the interface ---- */

int pd_xfrd_new(pd_xfrd_t **out, const pd_xfr_conf_t *conf, const pd_zoneset_t *zones,
                const pd_xfrd_hooks_t *hooks, pd_xfr_stats_t *stats, char *err, size_t cap)
{
	pd_xfrd_t *x = calloc(1, sizeof(*x));
	*out = NULL;
	if (!x)
		goto nomem;
	x->conf = conf;
	x->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : PD_XFR_DEFAULT_TIMEOUT_MS;
	x->state_dir = conf->state_dir ? conf->state_dir : PD_XFR_DEFAULT_STATE_DIR;
	x->hooks = *hooks;
	x->stats = stats;
	x->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&x->lock, NULL);
	if (x->wake_fd < 0 || x->stop_fd < 0) {
		int ret = -errno;
		snprintf(err, cap, "xfrd: eventfd: %s", strerror(-ret));
		pd_xfrd_free(x);
		return ret;
	}
	x->msg = malloc(PD__MSG_MAX + 2);
	x->resp = malloc(PD__MSG_MAX + 2);
	x->notifies = calloc(PD__NOTIFY_MAX, sizeof(*x->notifies));
	if (!x->msg || !x->resp || !x->notifies)
		goto nomem;
	for (size_t i = 0; i < conf->nsecondaries; i++) {
		const pd_xfr_secondary_t *c = &conf->secondaries[i];
		pd_zone_t *z = (pd_zone_t *)pd_zoneset_get(zones, c->wire);
		if (!pd__sec_add(x, c, z && z->from == PD_ZONE_FROM_XFR ? z : NULL))
			goto nomem;
	}
	*out = x;
	return 0;
nomem:
	snprintf(err, cap, "xfrd: out of memory");
	pd_xfrd_free(x);
	return -ENOMEM;
}

int pd_xfrd_start(pd_xfrd_t *x)
{
	int ret = pthread_create(&x->thread, NULL, pd__thread, x);
	if (ret) {
		pd_log(PD_LOG_ERR, "xfrd: cannot start its thread: %s", strerror(ret));
		return -ret;
	}
	pthread_setname_np(x->thread, "pindns-xfrd");
	x->started = true;
	return 0;
}

void pd_xfrd_notified(pd_xfrd_t *x, const uint8_t *origin)
{
	uint8_t lower[PD_NAME_MAX];
	pd_name_lower(lower, origin);
	pthread_mutex_lock(&x->lock);
	pd__sec_t *s = pd__sec_find(x, lower);
	if (s)
		s->want = true;
	pthread_mutex_unlock(&x->lock);
	if (s)
		pd__wake(x);
}

/* Queues z's NOTIFYs when it is new or its serial moved from was's (under the lock). */
static size_t pd__published_zone(pd_xfrd_t *x, const pd_zone_t *z, const pd_zone_t *was)
{
	pd_rr_t soa;
	if (!z || z->expired || (was && (was == z || was->serial == z->serial)))
		return 0;
	pd_zone_soa(z, &soa);
	return pd__notify_zone(x, z->origin, z->serial, &soa);
}

void pd_xfrd_published(pd_xfrd_t *x, const pd_zoneset_t *old, const pd_zoneset_t *new)
{
	size_t queued = 0;
	if (!x->conf->nnotify || !new)
		return;
	pthread_mutex_lock(&x->lock);
	if (old && new->from_generation == old->generation) {
		/* Made from old by pd_zoneset_replace(): what it replaced, and what it added at
		 * its end, in proportion to the change rather than to the set. */
		for (size_t i = 0; i < new->retired_count; i++) {
			const pd_zone_t *was = new->retired[i];
			queued += pd__published_zone(x, pd_zoneset_get(new, was->origin), was);
		}
		for (size_t i = old->count; i < new->count; i++)
			queued += pd__published_zone(x, new->zones[i], NULL);
	} else {
		for (size_t i = 0; i < new->count; i++)
			queued += pd__published_zone(x, new->zones[i],
			                             pd_zoneset_get(old, new->zones[i]->origin));
	}
	pthread_mutex_unlock(&x->lock);
	if (queued)
		pd__wake(x);
}

/* "12 s ago", "in 30 s", or "now", for zone-status. */
static void pd__when(char *buf, size_t cap, int64_t delta_s)
{
	if (delta_s == 0)
		snprintf(buf, cap, "now");
	else if (delta_s < 0)
		snprintf(buf, cap, "%lld s ago", (long long)-delta_s);
	else
		snprintf(buf, cap, "in %lld s", (long long)delta_s);
}

/* One zone-status line for s (under the lock); how many bytes it took of buf. */
static size_t pd__status_line(const pd_xfrd_t *x, const pd__sec_t *s, char *buf, size_t cap)
{
	char prim[512] = "", last[48] = "never", next[48], exp[64], key[PD_NAME_TXT_MAX] = "";
	int64_t now = pd__unix_now(), now_ms = pd__xfrd_now_ms();
	/* As many primaries as fit; l stays below sizeof(prim), so prim stays a string. */
	for (size_t i = 0, l = 0; i < s->conf->nprimaries && l + 2 < sizeof(prim); i++) {
		if (l)
			prim[l++] = ' ';
		pd__xfrd_addr_str((const struct sockaddr *)&s->conf->primaries[i].addr, prim + l,
		                  sizeof(prim) - l);
		l += strlen(prim + l);
	}
	if (s->conf->nprimaries && s->conf->primaries[0].key)
		pd__name_of(key, sizeof(key), s->conf->primaries[0].key->name);
	if (s->last_ok)
		pd__when(last, sizeof(last), s->last_ok - now);
	pd__when(next, sizeof(next),
	         s->want || s->want_axfr ? 0 : (s->next_ms - now_ms + 999) / 1000);
	if (!s->cur)
		snprintf(exp, sizeof(exp), "no copy yet");
	else if (s->cur->expired)
		snprintf(exp, sizeof(exp), "expired");
	else
		pd__when(exp, sizeof(exp), s->last_ok + s->expire - now);
	const char *role = s->catalog         ? "catalog member"
	                   : s->conf->catalog ? "catalog"
	                                      : "secondary";
	int n = snprintf(buf, cap,
	                 "zone %s: %s%s%s, serial %u, primaries %s%s%s, last refresh %s, "
	                 "next refresh %s, expires %s, last error: %s\n",
	                 s->name, role, s->catalog ? " of " : "",
	                 s->catalog ? s->catalog->name : "", s->serial, prim, key[0] ? " key " : "",
	                 key, last, next, exp, s->last_error[0] ? s->last_error : "none");
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

/* The NOTIFYs of origin waiting for an answer, as zone-status lines (under the lock). */
static size_t pd__status_notify(const pd_xfrd_t *x, const uint8_t *origin, char *buf, size_t cap)
{
	size_t used = 0;
	for (size_t i = 0; i < x->nnotifies && used + 1 < cap; i++) {
		const pd__notify_t *n = &x->notifies[i];
		char o[PD_NAME_TXT_MAX], addr[64];
		if (origin && !pd_name_equal(n->origin, origin))
			continue;
		pd__name_of(o, sizeof(o), n->origin);
		pd__xfrd_addr_str((const struct sockaddr *)&n->target->addr, addr, sizeof(addr));
		int k = snprintf(buf + used, cap - used,
		                 "zone %s: NOTIFY serial %u to %s: %u of %d tries, no answer yet\n",
		                 o, n->serial, addr, n->tries, PD__NOTIFY_TRIES);
		used += k < 0 ? 0 : (size_t)k < cap - used ? (size_t)k : cap - used - 1;
	}
	return used;
}

/* Whether some "notify:" target covers origin. */
static bool pd__has_notify(const pd_xfrd_t *x, const uint8_t *origin)
{
	for (size_t i = 0; i < x->conf->nnotify; i++)
		if (!x->conf->notify[i].origin || pd_name_equal(x->conf->notify[i].wire, origin))
			return true;
	return false;
}

int pd_xfrd_command(pd_xfrd_t *x, const char *cmd, const char *zone, char *buf, size_t cap)
{
	uint8_t wire[PD_NAME_MAX];
	int ret = 0;
	buf[0] = '\0';
	if (zone && pd_name_from_str(wire, zone) < 0) {
		snprintf(buf, cap, "'%s' is not a domain name", zone);
		return -EINVAL;
	}
	if (zone)
		pd_name_lower(wire, wire);
	bool status = strcmp(cmd, "zone-status") == 0;
	if (!zone && !status) {
		snprintf(buf, cap, "%s needs a zone", cmd);
		return -EINVAL;
	}
	pthread_mutex_lock(&x->lock);
	pd__sec_t *s = zone ? pd__sec_find(x, wire) : NULL;
	size_t used = 0;
	if (status && !zone) {
		for (size_t i = 0; i < x->nsecs && used + 1 < cap; i++)
			if (!x->secs[i]->removed)
				used += pd__status_line(x, x->secs[i], buf + used, cap - used);
		pd__status_notify(x, NULL, buf + used, cap - used);
	} else if (status) {
		if (s)
			used = pd__status_line(x, s, buf, cap);
		used += pd__status_notify(x, wire, buf + used, cap - used);
		if (!used && pd__has_notify(x, wire))
			snprintf(buf, cap,
			         "zone %s: primary here, no NOTIFY waiting for an answer\n", zone);
		else if (!used)
			ret = -ENOENT;
	} else if (strcmp(cmd, "zone-notify") == 0) {
		pd_rr_t soa;
		bool known = s && pd__have_copy(s);
		if (known)
			pd_zone_soa(s->cur, &soa);
		size_t n = pd__notify_zone(x, wire, s ? s->serial : 0, known ? &soa : NULL);
		if (n)
			snprintf(buf, cap, "zone %s: NOTIFY queued to %zu target(s)\n", zone, n);
		else
			ret = -ENOENT;
	} else if (strcmp(cmd, "zone-refresh") == 0 || strcmp(cmd, "zone-retransfer") == 0) {
		bool axfr = strcmp(cmd, "zone-retransfer") == 0;
		if (s) {
			s->want = true;
			s->want_axfr |= axfr;
			snprintf(buf, cap, "zone %s: %s now\n", s->name,
			         axfr ? "AXFR" : "SOA check");
		} else {
			ret = pd__has_notify(x, wire) ? -EINVAL : -ENOENT;
		}
	} else {
		snprintf(buf, cap, "unknown command %s", cmd);
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&x->lock);
	if (ret == -ENOENT)
		snprintf(buf, cap, "no secondary, catalog member or notified zone %s here", zone);
	else if (ret == -EINVAL && !buf[0])
		snprintf(buf, cap, "zone %s: not a secondary here (a primary: nothing to refresh)",
		         zone);
	else if (ret == 0)
		pd__wake(x);
	return ret;
}

int pd_xfrd_notify_now(pd_xfrd_t *x, const pd_zone_t *z, const char *zone, char *buf, size_t cap)
{
	pd_rr_t soa;
	pd_zone_soa(z, &soa);
	pthread_mutex_lock(&x->lock);
	size_t n = pd__notify_zone(x, z->origin, z->serial, soa.rdlen ? &soa : NULL);
	pthread_mutex_unlock(&x->lock);
	if (!n) {
		snprintf(buf, cap, "zone %s: no notify: target covers it", zone);
		return -EINVAL;
	}
	snprintf(buf, cap, "zone %s: NOTIFY serial %u queued to %zu target(s)\n", zone, z->serial,
	         n);
	pd__wake(x);
	return 0;
}

void pd_xfrd_free(pd_xfrd_t *x)
{
	if (!x)
		return;
	if (x->started) {
		uint64_t one = 1;
		if (write(x->stop_fd, &one, sizeof(one)) < 0)
			pd_log(PD_LOG_ERR, "xfrd: cannot stop its thread: %s", strerror(errno));
		pthread_join(x->thread, NULL);
	}
	while (x->nnotifies)
		pd__notify_drop(x, x->nnotifies - 1);
	for (size_t i = 0; i < x->nsecs; i++) {
		if (x->secs[i]->owned) {
			free(x->secs[i]->owned->origin);
			free(x->secs[i]->owned);
		}
		free(x->secs[i]);
	}
	free(x->secs);
	free(x->notifies);
	free(x->msg);
	free(x->resp);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	if (x->stop_fd >= 0)
		close(x->stop_fd);
	pthread_mutex_destroy(&x->lock);
	free(x);
}
