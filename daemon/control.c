/* Control socket commands: status, reload, stats, zone-list, stop. */
#define _GNU_SOURCE
#include "pindns/control.h"

#include <errno.h>
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

#include "pindns/util.h"
#include "pindns/version.h"

#define PD_CONTROL_REPLY_MAX (256 * 1024)

int pd_control_listen(const char *path, char *err, size_t cap)
{
	return pd_unix_listen("control socket", path, 8, err, cap);
}

static const char *const pd__rcode_names[16] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};

size_t pd_control_stats(const pd_stats_t *s, bool json, char *buf, size_t cap)
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
		min = ws.net.queries < min ? ws.net.queries : min;
		max = ws.net.queries > max ? ws.net.queries : max;
		double mean = ws.net.batches ? (double)ws.net.queries / (double)ws.net.batches : 0;
		if (json)
			pd_buf_printf(
			    buf, cap, &n,
			    "%s{\"worker\": %u, \"queries\": %llu, \"responses\": %llu, "
			    "\"dropped\": %llu, \"truncated\": %llu, \"cache_hits\": %llu, "
			    "\"cache_misses\": %llu, \"batches\": %llu, \"mean_batch\": %.2f}",
			    w ? ", " : "", w, (unsigned long long)ws.net.queries,
			    (unsigned long long)ws.net.responses,
			    (unsigned long long)ws.net.dropped,
			    (unsigned long long)ws.dns.truncated,
			    (unsigned long long)ws.dns.cache.hits,
			    (unsigned long long)ws.dns.cache.misses,
			    (unsigned long long)ws.net.batches, mean);
		else
			pd_buf_printf(
			    buf, cap, &n,
			    "worker %u: queries %llu responses %llu dropped %llu truncated %llu "
			    "cache-hits %llu cache-misses %llu batches %llu mean-batch %.2f\n",
			    w, (unsigned long long)ws.net.queries,
			    (unsigned long long)ws.net.responses,
			    (unsigned long long)ws.net.dropped,
			    (unsigned long long)ws.dns.truncated,
			    (unsigned long long)ws.dns.cache.hits,
			    (unsigned long long)ws.dns.cache.misses,
			    (unsigned long long)ws.net.batches, mean);
	}
	/* How evenly SO_REUSEPORT spread the load: least busy over busiest worker. */
	double spread = max ? (double)min / (double)max : 1.0;
	static const char *const fill[PD_ENGINE_FILL] = {"1",     "2-3",   "4-7", "8-15",
	                                                 "16-31", "32-63", "64+"};
	if (json) {
		pd_buf_printf(
		    buf, cap, &n,
		    "], \"total\": {\"queries\": %llu, \"responses\": %llu, \"dropped\": %llu, "
		    "\"truncated\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu, "
		    "\"cache_hits\": %llu, \"cache_misses\": %llu, \"rcodes\": {",
		    (unsigned long long)t.net.queries, (unsigned long long)t.net.responses,
		    (unsigned long long)t.net.dropped, (unsigned long long)t.dns.truncated,
		    (unsigned long long)t.net.bytes_in, (unsigned long long)t.net.bytes_out,
		    (unsigned long long)t.dns.cache.hits, (unsigned long long)t.dns.cache.misses);
		bool first = true;
		for (int r = 0; r < 16; r++)
			if (t.dns.rcode[r]) {
				pd_buf_printf(buf, cap, &n, "%s\"%s\": %llu", first ? "" : ", ",
				              pd__rcode_names[r],
				              (unsigned long long)t.dns.rcode[r]);
				first = false;
			}
		pd_buf_printf(buf, cap, &n, "}, \"batch_fill\": {");
		for (int f = 0; f < PD_ENGINE_FILL; f++)
			pd_buf_printf(buf, cap, &n, "%s\"%s\": %llu", f ? ", " : "", fill[f],
			              (unsigned long long)t.net.batch_fill[f]);
		pd_buf_printf(buf, cap, &n, "}}, \"spread\": %.3f, \"since_unix\": %llu}\n", spread,
		              (unsigned long long)s->started_unix);
		return n;
	}
	pd_buf_printf(
	    buf, cap, &n,
	    "total: queries %llu responses %llu dropped %llu truncated %llu bytes-in %llu "
	    "bytes-out %llu cache-hits %llu cache-misses %llu\n",
	    (unsigned long long)t.net.queries, (unsigned long long)t.net.responses,
	    (unsigned long long)t.net.dropped, (unsigned long long)t.dns.truncated,
	    (unsigned long long)t.net.bytes_in, (unsigned long long)t.net.bytes_out,
	    (unsigned long long)t.dns.cache.hits, (unsigned long long)t.dns.cache.misses);
	pd_buf_printf(buf, cap, &n, "rcodes:");
	for (int r = 0; r < 16; r++)
		if (t.dns.rcode[r])
			pd_buf_printf(buf, cap, &n, " %s %llu", pd__rcode_names[r],
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

void pd_control_serve(int conn, pd_control_t *ctl)
{
	char line[512];
	size_t n = 0;
	char *reply = malloc(PD_CONTROL_REPLY_MAX);
	size_t r = 0;
	if (!reply)
		goto out;
	/* One line, within a second: a stuck client must not hold up the daemon. */
	while (n + 1 < sizeof(line)) {
		struct pollfd p = {.fd = conn, .events = POLLIN};
		if (poll(&p, 1, 1000) <= 0)
			goto out;
		ssize_t k = read(conn, line + n, 1);
		if (k <= 0)
			goto out;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	const pd_zoneset_t *zs = *ctl->zones;
	if (strcmp(line, "status") == 0) {
		pd_buf_printf(
		    reply, PD_CONTROL_REPLY_MAX, &r,
		    "running: pid %ld, version %s, %d worker(s), %zu zone(s), up %lld s\n",
		    (long)getpid(), PD_VERSION, ctl->workers, zs ? zs->count : 0,
		    (long long)(time(NULL) - ctl->started_unix));
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "OK\n");
	} else if (strcmp(line, "reload") == 0) {
		char msg[300];
		if (ctl->reload(ctl->arg, arg && *arg ? arg : NULL, msg, sizeof(msg)) == 0)
			pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "%s\nOK\n", msg);
		else
			pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "ERROR %s\n", msg);
	} else if (strcmp(line, "stats") == 0) {
		r = pd_control_stats(ctl->stats, arg && strcmp(arg, "json") == 0, reply,
		                     PD_CONTROL_REPLY_MAX - 8);
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "OK\n");
	} else if (strcmp(line, "zone-list") == 0) {
		for (size_t i = 0; zs && i < zs->count; i++) {
			char origin[PD_NAME_TXT_MAX], when[32];
			const pd_zone_t *z = zs->zones[i];
			time_t t = (time_t)z->loaded_unix;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			pd_name_to_str(origin, sizeof(origin), z->origin);
			pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r,
			              "%s serial %u records %zu loaded %s\n", origin, z->serial,
			              z->record_count, when);
		}
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "OK\n");
	} else if (strcmp(line, "stop") == 0) {
		ctl->stop = true;
		pd_buf_printf(reply, PD_CONTROL_REPLY_MAX, &r, "stopping\nOK\n");
	} else {
		pd_buf_printf(
		    reply, PD_CONTROL_REPLY_MAX, &r,
		    "ERROR unknown command '%s' (status, reload [ZONE], stats [json], zone-list, "
		    "stop)\n",
		    line);
	}
	pd__send_all(conn, reply, r);
out:
	free(reply);
	close(conn);
}
