/* Control socket commands: status, reload, stats, zone-list, zone transfers, upgrade, stop. */
#define _GNU_SOURCE
#include "pindns/control.h"

#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pindns/ctlproto.h"
#include "pindns/util.h"
#include "pindns/version.h"
#include "xfr.h"

#define PD_CONTROL_REPLY_MAX (256 * 1024)

int pd_control_listen(const char *path, char *err, size_t cap)
{
	return pd_unix_listen("control socket", path, 8, err, cap);
}

/* The traffic of one transport's workers, as a text line or a JSON member. */
static void pd__transport_stats(const pd_stats_t *s, pd_transport_t tr, bool json, char *buf,
                                size_t cap, size_t *n)
{
	pd_worker_stats_t t;
	pd_stats_transport_total(s, tr, &t);
	uint32_t workers = tr == PD_TRANSPORT_TCP ? s->tcp_workers : pd_stats_udp_workers(s);
	pd_buf_printf(buf, cap, n,
	              !json ? "%s%s: workers %u queries %llu responses %llu dropped %llu "
	                      "bytes-in %llu bytes-out %llu\n"
	                    : "%s\"%s\": {\"workers\": %u, \"queries\": %llu, "
	                      "\"responses\": %llu, \"dropped\": %llu, \"bytes_in\": %llu, "
	                      "\"bytes_out\": %llu}",
	              json && tr ? ", " : "", pd_transport_name(tr), workers,
	              (unsigned long long)t.net.queries, (unsigned long long)t.net.responses,
	              (unsigned long long)t.net.dropped, (unsigned long long)t.net.bytes_in,
	              (unsigned long long)t.net.bytes_out);
}

/* The TCP connections of all TCP threads (t, their total), as text lines or a JSON member:
 * the open ones and how many came and went. */
static void pd__tcp_stats(const pd_tcp_stats_t *t, bool json, char *buf, size_t cap, size_t *n)
{
	pd_buf_printf(buf, cap, n,
	              !json ? "tcp-connections: open %llu accepted %llu adopted %llu closed %llu\n"
	                      "tcp-closed:"
	                    : "\"tcp_connections\": {\"open\": %llu, \"accepted\": %llu, "
	                      "\"adopted\": %llu, \"closed\": %llu, \"closed_by_reason\": {",
	              (unsigned long long)pd_stats_tcp_open(t),
	              (unsigned long long)pd_counter_get(&t->accepted),
	              (unsigned long long)pd_counter_get(&t->adopted),
	              (unsigned long long)pd_stats_tcp_closed(t));
	/* Every reason, also those at 0: a fixed set, so a reader finds each in its place. */
	for (int r = 0; r < PD_TCP_CLOSE_REASONS; r++)
		pd_buf_printf(buf, cap, n, !json ? " %s%s %llu" : "%s\"%s\": %llu",
		              json && r ? ", " : "", pd_tcp_close_names[r],
		              (unsigned long long)pd_counter_get(&t->closed[r]));
	pd_buf_printf(buf, cap, n, json ? "}}" : "\n");
}

/* The totals' traffic and cache counts, as the text line or the start of the JSON
 * "total" member (which the rcodes and batch fill complete). */
static void pd__total_stats(const pd_worker_stats_t *t, bool json, char *buf, size_t cap, size_t *n)
{
	pd_buf_printf(buf, cap, n,
	              !json ? "total: queries %llu responses %llu dropped %llu truncated %llu "
	                      "bytes-in %llu bytes-out %llu cache-hits %llu cache-misses %llu\n"
	                    : "], \"total\": {\"queries\": %llu, \"responses\": %llu, "
	                      "\"dropped\": %llu, \"truncated\": %llu, \"bytes_in\": %llu, "
	                      "\"bytes_out\": %llu, \"cache_hits\": %llu, \"cache_misses\": %llu",
	              (unsigned long long)t->net.queries, (unsigned long long)t->net.responses,
	              (unsigned long long)t->net.dropped, (unsigned long long)t->dns.truncated,
	              (unsigned long long)t->net.bytes_in, (unsigned long long)t->net.bytes_out,
	              (unsigned long long)t->dns.cache.hits,
	              (unsigned long long)t->dns.cache.misses);
}

/* The cookies and rate limits of all workers (g, their total), as a text line or a JSON
 * member. */
static void pd__guard_stats(const pd_guard_stats_t *g, bool json, char *buf, size_t cap, size_t *n)
{
	pd_buf_printf(buf, cap, n,
	              !json ? "guard: rrl-dropped %llu rrl-slipped %llu cookie-client %llu "
	                      "cookie-valid %llu cookie-invalid %llu badcookie %llu\n"
	                    : "\"guard\": {\"rrl_dropped\": %llu, \"rrl_slipped\": %llu, "
	                      "\"cookie_client\": %llu, \"cookie_valid\": %llu, "
	                      "\"cookie_invalid\": %llu, \"badcookie\": %llu}",
	              (unsigned long long)pd_counter_get(&g->rrl_dropped),
	              (unsigned long long)pd_counter_get(&g->rrl_slipped),
	              (unsigned long long)pd_counter_get(&g->cookie_client),
	              (unsigned long long)pd_counter_get(&g->cookie_valid),
	              (unsigned long long)pd_counter_get(&g->cookie_invalid),
	              (unsigned long long)pd_counter_get(&g->badcookie));
}

/* The transfer counters, by their name in text (JSON: '-' as '_'). */
static const struct {
	const char *name;
	size_t off;
} pd__xfr_counters[] = {
    {"notify-in", offsetof(pd_xfr_stats_t, notify_in)},
    {"notify-refused", offsetof(pd_xfr_stats_t, notify_refused)},
    {"notify-out", offsetof(pd_xfr_stats_t, notify_out)},
    {"notify-acked", offsetof(pd_xfr_stats_t, notify_acked)},
    {"refresh", offsetof(pd_xfr_stats_t, refresh)},
    {"in-axfr", offsetof(pd_xfr_stats_t, xfr_in_axfr)},
    {"in-ixfr", offsetof(pd_xfr_stats_t, xfr_in_ixfr)},
    {"in-failed", offsetof(pd_xfr_stats_t, xfr_in_failed)},
    {"out-axfr", offsetof(pd_xfr_stats_t, xfr_out_axfr)},
    {"out-ixfr", offsetof(pd_xfr_stats_t, xfr_out_ixfr)},
    {"out-refused", offsetof(pd_xfr_stats_t, xfr_out_refused)},
    {"out-failed", offsetof(pd_xfr_stats_t, xfr_out_failed)},
    {"expired", offsetof(pd_xfr_stats_t, expired)},
};

/* The zone transfers of this process (x; NULL: none yet), as a text line or a JSON member. */
static void pd__xfr_stats(const pd_xfr_stats_t *x, bool json, char *buf, size_t cap, size_t *n)
{
	pd_buf_printf(buf, cap, n, json ? "\"transfers\": {" : "transfers:");
	for (size_t i = 0; i < sizeof(pd__xfr_counters) / sizeof(*pd__xfr_counters); i++) {
		char name[32];
		uint64_t v = x ? pd_counter_get((const pd_counter_t *)((const char *)x +
		                                                       pd__xfr_counters[i].off))
		               : 0;
		snprintf(name, sizeof(name), "%s", pd__xfr_counters[i].name);
		for (char *c = name; json && *c; c++)
			*c = *c == '-' ? '_' : *c;
		pd_buf_printf(buf, cap, n, json ? "%s\"%s\": %llu" : "%s%s %llu",
		              json ? (i ? ", " : "") : " ", name, (unsigned long long)v);
	}
	pd_buf_printf(buf, cap, n, json ? "}" : "\n");
}

size_t pd_control_stats(const pd_stats_t *s, const pd_xfr_stats_t *xfr, bool json, char *buf,
                        size_t cap)
{
	size_t n = 0;
	uint64_t min = UINT64_MAX, max = 0;
	pd_worker_stats_t t;
	pd_stats_total(s, &t);
	if (json)
		pd_buf_printf(buf, cap, &n, "{\"workers\": [");
	for (uint32_t w = 0; w < s->workers; w++) {
		pd_worker_stats_t ws;
		pd_stats_worker(s, w, &ws);
		pd_transport_t tr = pd_stats_transport(s, w);
		/* SO_REUSEPORT spreads UDP queries, but TCP connections, each with as many
		 * queries as its client sends: the TCP threads would only blur the spread. */
		if (tr == PD_TRANSPORT_UDP) {
			min = ws.net.queries < min ? ws.net.queries : min;
			max = ws.net.queries > max ? ws.net.queries : max;
		}
		double mean = ws.net.batches ? (double)ws.net.queries / (double)ws.net.batches : 0;
		/* One worker, as text or JSON: the same fields in the same order. Two literals
		 * in a ?: keep both formats checked against the arguments. */
		pd_buf_printf(
		    buf, cap, &n,
		    !json ? "%sworker %u: transport %s queries %llu responses %llu dropped %llu "
		            "truncated %llu cache-hits %llu cache-misses %llu batches %llu "
		            "mean-batch %.2f\n"
		          : "%s{\"worker\": %u, \"transport\": \"%s\", \"queries\": %llu, "
		            "\"responses\": %llu, \"dropped\": %llu, \"truncated\": %llu, "
		            "\"cache_hits\": %llu, \"cache_misses\": %llu, \"batches\": %llu, "
		            "\"mean_batch\": %.2f}",
		    json && w ? ", " : "", w, pd_transport_name(tr),
		    (unsigned long long)ws.net.queries, (unsigned long long)ws.net.responses,
		    (unsigned long long)ws.net.dropped, (unsigned long long)ws.dns.truncated,
		    (unsigned long long)ws.dns.cache.hits, (unsigned long long)ws.dns.cache.misses,
		    (unsigned long long)ws.net.batches, mean);
	}
	/* How evenly SO_REUSEPORT spread the load: least busy over busiest UDP worker. */
	double spread = max ? (double)min / (double)max : 1.0;
	static const char *const fill[PD_ENGINE_FILL] = {"1",     "2-3",   "4-7", "8-15",
	                                                 "16-31", "32-63", "64+"};
	if (json) {
		pd__total_stats(&t, true, buf, cap, &n);
		pd_buf_printf(buf, cap, &n, ", \"rcodes\": {");
		bool first = true;
		for (int r = 0; r < 16; r++)
			if (t.dns.rcode[r]) {
				pd_buf_printf(buf, cap, &n, "%s\"%s\": %llu", first ? "" : ", ",
				              pd_rcode_name((unsigned)r),
				              (unsigned long long)t.dns.rcode[r]);
				first = false;
			}
		pd_buf_printf(buf, cap, &n, "}, \"batch_fill\": {");
		for (int f = 0; f < PD_ENGINE_FILL; f++)
			pd_buf_printf(buf, cap, &n, "%s\"%s\": %llu", f ? ", " : "", fill[f],
			              (unsigned long long)t.net.batch_fill[f]);
		pd_buf_printf(buf, cap, &n, "}}, \"transports\": {");
		for (int tr = 0; tr < PD_TRANSPORTS; tr++)
			pd__transport_stats(s, (pd_transport_t)tr, true, buf, cap, &n);
		pd_buf_printf(buf, cap, &n, "}, ");
		pd__tcp_stats(&t.tcp, true, buf, cap, &n);
		pd_buf_printf(buf, cap, &n, ", ");
		pd__guard_stats(&t.guard, true, buf, cap, &n);
		pd_buf_printf(buf, cap, &n, ", ");
		pd__xfr_stats(xfr, true, buf, cap, &n);
		pd_buf_printf(buf, cap, &n, ", \"spread\": %.3f, \"since_unix\": %llu}\n", spread,
		              (unsigned long long)s->started_unix);
		return n;
	}
	pd__total_stats(&t, false, buf, cap, &n);
	for (int tr = 0; tr < PD_TRANSPORTS; tr++)
		pd__transport_stats(s, (pd_transport_t)tr, false, buf, cap, &n);
	pd__tcp_stats(&t.tcp, false, buf, cap, &n);
	pd__guard_stats(&t.guard, false, buf, cap, &n);
	pd__xfr_stats(xfr, false, buf, cap, &n);
	pd_buf_printf(buf, cap, &n, "rcodes:");
	for (int r = 0; r < 16; r++)
		if (t.dns.rcode[r])
			pd_buf_printf(buf, cap, &n, " %s %llu", pd_rcode_name((unsigned)r),
			              (unsigned long long)t.dns.rcode[r]);
	pd_buf_printf(buf, cap, &n, "\nbatch-fill:");
	for (int f = 0; f < PD_ENGINE_FILL; f++)
		pd_buf_printf(buf, cap, &n, " %s:%llu", fill[f],
		              (unsigned long long)t.net.batch_fill[f]);
	pd_buf_printf(buf, cap, &n, "\nspread (least/most busy worker): %.3f\n", spread);
	return n;
}

static void pd__send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		buf += k;
		len -= (size_t)k;
	}
}

/* Reads one command line, within a second: a stuck client must not hold up the daemon.
 * Returns 0 with the line (newline cut) in line, or -errno. */
static int pd__read_command(int conn, char *line, size_t cap)
{
	/* One second for the whole line, not per byte: the main loop serves this, and a
	 * client dripping a byte a second would hold signals and handoffs for minutes. */
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 1;
	size_t n = 0;
	while (n + 1 < cap) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left =
		    (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
		struct pollfd p = {.fd = conn, .events = POLLIN};
		int rc = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (rc <= 0)
			return rc == 0 ? -ETIMEDOUT : -errno;
		ssize_t k = read(conn, line + n, 1);
		if (k <= 0)
			return k == 0 ? -ECONNRESET : -errno;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return 0;
}

static void pd__status(const pd_control_t *ctl, char *reply, size_t *r)
{
	const pd_zoneset_t *zs = *ctl->zones;
	/* The counter segment knows which workers are UDP ones and which TCP threads. */
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
	              "running: pid %ld, version %s, %u worker(s) and %u TCP thread(s), %zu "
	              "zone(s), up %lld s\n",
	              (long)getpid(), PD_VERSION, pd_stats_udp_workers(ctl->stats),
	              ctl->stats->tcp_workers, zs ? zs->count : 0,
	              (long long)(time(NULL) - ctl->started_unix));
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_OK "\n");
}

static void pd__reload_cmd(pd_control_t *ctl, const char *zone, char *reply, size_t *r)
{
	char msg[300];
	if (ctl->reload(ctl->arg, zone && *zone ? zone : NULL, msg, sizeof(msg)) == 0)
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, "%s\n" PD_CTL_OK "\n", msg);
	else
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_ERROR "%s\n", msg);
}

static void pd__stats_cmd(const pd_control_t *ctl, const char *arg, char *reply, size_t *r)
{
	/* Room kept for the last line, which a full buffer must not cut off. */
	*r =
	    pd_control_stats(ctl->stats, ctl->xfr_stats, arg && strcmp(arg, PD_CTL_STATS_JSON) == 0,
	                     reply, PD_CONTROL_REPLY_MAX - 8);
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_OK "\n");
}

/* Whether a zone's origin (presentation form, with its dot) matches a zone-list pattern:
 * a glob, any case, with or without the final dot. */
static bool pd__zone_matches(const char *origin, const char *pattern)
{
	char bare[PD_NAME_TXT_MAX];
	size_t n = strlen(origin);
	if (fnmatch(pattern, origin, FNM_CASEFOLD) == 0)
		return true;
	if (n < 2 || origin[n - 1] != '.')
		return false;
	memcpy(bare, origin, n - 1);
	bare[n - 1] = '\0';
	return fnmatch(pattern, bare, FNM_CASEFOLD) == 0;
}

/*
 * One line per zone whose origin matches pattern (all when NULL), as long as the reply
 * has room, then a count: with 100,000 zones a pattern says which ones to show.
 */
static void pd__zone_list(const pd_control_t *ctl, const char *pattern, char *reply, size_t *r)
{
	const pd_zoneset_t *zs = *ctl->zones;
	size_t total = zs ? zs->count : 0, matched = 0, listed = 0;
	for (size_t i = 0; i < total; i++) {
		char origin[PD_NAME_TXT_MAX], when[32];
		const pd_zone_t *z = zs->zones[i];
		pd_name_to_str(origin, sizeof(origin), z->origin);
		if (pattern && !pd__zone_matches(origin, pattern))
			continue;
		matched++;
		/* Room for this line and the last two, whatever their length: an origin and
		 * some 80 bytes, then the pattern (a command line at most) and some 170. */
		if (*r + PD_NAME_TXT_MAX + PD_CTL_LINE_MAX + 256 > PD_CONTROL_REPLY_MAX)
			continue;
		time_t t = (time_t)z->loaded_unix;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              "%s serial %u records %zu loaded %s\n", origin, z->serial,
		              z->record_count, when);
		listed++;
	}
	if (listed < matched)
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              "%zu of %zu zone(s) matching listed; a pattern shows the others\n",
		              listed, matched);
	if (pattern)
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, "%zu of %zu zone(s) match '%s'\n",
		              matched, total, pattern);
	else
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, "%zu zone(s)\n", total);
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_OK "\n");
}

/* A zone served from its file, which no transfer concerns: the line zone-status gives. */
static void pd__file_zone_status(const pd_zone_t *z, char *reply, size_t *r)
{
	char origin[PD_NAME_TXT_MAX];
	pd_name_to_str(origin, sizeof(origin), z->origin);
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
	              "%s role primary (zone file) serial %u notify none\n" PD_CTL_OK "\n", origin,
	              z->serial);
}

/* Without transfers configured: every zone is a primary from its file, none notified. */
static void pd__no_xfr(const char *cmd, const pd_zone_t *z, const char *zone, char *reply,
                       size_t *r)
{
	if (!zone) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              "no secondary, catalog or notify target is configured: every zone "
		              "is a primary loaded from its file (zone-list lists them)\n" PD_CTL_OK
		              "\n");
	} else if (!z) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_ERROR "no zone %s here\n",
		              zone);
	} else if (strcmp(cmd, PD_CTL_ZONE_STATUS) == 0) {
		pd__file_zone_status(z, reply, r);
	} else if (strcmp(cmd, PD_CTL_ZONE_NOTIFY) == 0) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              PD_CTL_ERROR "%s has no notify target (no notify: is configured)\n",
		              zone);
	} else {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              PD_CTL_ERROR "%s is a primary loaded from its file, not a secondary: "
		                           "reload reads the file again\n",
		              zone);
	}
}

/*
 * zone-status [ZONE], zone-refresh ZONE, zone-retransfer ZONE, zone-notify ZONE: what the
 * transfer side (ctl->xfr) answers; a zone it does not know may still be served from its
 * file, which zone-status says.
 */
static void pd__xfr_cmd(const pd_control_t *ctl, const char *cmd, const char *zone, char *reply,
                        size_t *r)
{
	uint8_t wire[PD_NAME_MAX];
	char why[512];
	const pd_zone_t *z = NULL;
	if (!zone && strcmp(cmd, PD_CTL_ZONE_STATUS) != 0) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              PD_CTL_ERROR "%s wants a zone: '%s example.com'\n", cmd, cmd);
		return;
	}
	if (zone && pd_name_from_str(wire, zone) <= 0) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              PD_CTL_ERROR "'%s' is not a domain name\n", zone);
		return;
	}
	if (zone) {
		pd_name_lower(wire, wire);
		z = pd_zoneset_get(*ctl->zones, wire);
	}
	if (!ctl->xfr) {
		pd__no_xfr(cmd, z, zone, reply, r);
		return;
	}
	/* Room kept for the last line, whatever the answer's length. */
	size_t room = PD_CONTROL_REPLY_MAX - *r - sizeof(why) - 16;
	char *text = reply + *r;
	text[0] = '\0';
	int ret = ctl->xfr(ctl->xfr_arg, cmd, zone, text, room);
	size_t len = strnlen(text, room - 1);
	text[len] = '\0';
	if (ret == -ENOENT && z && strcmp(cmd, PD_CTL_ZONE_STATUS) == 0) {
		pd__file_zone_status(z, reply, r);
		return;
	}
	if (ret < 0) {
		/* The reason's first line: the reply's last line is one line. */
		const char *reason = len ? text : strerror(-ret);
		snprintf(why, sizeof(why), "%.*s", (int)strcspn(reason, "\n"), reason);
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_ERROR "%s\n", why);
		return;
	}
	*r += len;
	if (len && text[len - 1] != '\n')
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, "\n");
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_OK "\n");
}

/* Starts an upgrade: true when the daemon took conn, to answer it once the successor has
 * taken over or failed to (pd_control_reply). */
static bool pd__upgrade_cmd(pd_control_t *ctl, int conn, char *reply, size_t *r)
{
	char msg[1024] = "";
	if (!ctl->upgrade) {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r,
		              PD_CTL_ERROR "this pindnsd cannot upgrade itself\n");
		return false;
	}
	if (ctl->upgrade(ctl->upgrade_arg, conn, msg, sizeof(msg)) == 0)
		return true;
	pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, r, PD_CTL_ERROR "%s\n", msg);
	return false;
}

void pd_control_reply(int conn, bool ok, const char *text)
{
	char *reply = malloc(PD_CONTROL_REPLY_MAX);
	size_t r = 0;
	if (reply) {
		if (ok)
			pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "%s\n" PD_CTL_OK "\n", text);
		else
			pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, PD_CTL_ERROR "%s\n", text);
		pd__send_all(conn, reply, r);
	}
	free(reply);
	close(conn);
}

void pd_control_serve(int conn, pd_control_t *ctl)
{
	char line[PD_CTL_LINE_MAX];
	size_t r = 0;
	char *reply = malloc(PD_CONTROL_REPLY_MAX);
	if (!reply || pd__read_command(conn, line, sizeof(line)) < 0)
		goto out;
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(line, PD_CTL_STATUS) == 0) {
		pd__status(ctl, reply, &r);
	} else if (strcmp(line, PD_CTL_RELOAD) == 0) {
		pd__reload_cmd(ctl, arg, reply, &r);
	} else if (strcmp(line, PD_CTL_STATS) == 0) {
		pd__stats_cmd(ctl, arg, reply, &r);
	} else if (strcmp(line, PD_CTL_ZONE_LIST) == 0) {
		pd__zone_list(ctl, arg && *arg ? arg : NULL, reply, &r);
	} else if (strcmp(line, PD_CTL_ZONE_STATUS) == 0 ||
	           strcmp(line, PD_CTL_ZONE_REFRESH) == 0 ||
	           strcmp(line, PD_CTL_ZONE_RETRANSFER) == 0 ||
	           strcmp(line, PD_CTL_ZONE_NOTIFY) == 0) {
		pd__xfr_cmd(ctl, line, arg && *arg ? arg : NULL, reply, &r);
	} else if (strcmp(line, PD_CTL_UPGRADE) == 0 && !arg) {
		if (pd__upgrade_cmd(ctl, conn, reply, &r)) {
			free(reply);
			return; /* answered once the outcome is known */
		}
	} else if (strcmp(line, PD_CTL_STOP) == 0) {
		ctl->stop = true;
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "stopping\n" PD_CTL_OK "\n");
	} else {
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r,
		              PD_CTL_ERROR "unknown command '%s' (" PD_CTL_COMMANDS ")\n", line);
	}
	pd__send_all(conn, reply, r);
out:
	free(reply);
	close(conn);
}
