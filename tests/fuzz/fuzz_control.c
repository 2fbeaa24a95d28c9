/* libFuzzer target: a control socket client's bytes, served by pd_control_serve() itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/control.h"
#include "pindns/ctlproto.h"
#include "pindns/name.h"
#include "pindns/stats.h"
#include "pindns/zoneset.h"

/*
 * Each input is what one client sends before it half-closes its end of a socketpair,
 * whose other end pd_control_serve() reads in a thread of its own (the reply may be
 * larger than a socket's buffer, so this thread reads it meanwhile). The daemon's side
 * is faked where it would act: reload, upgrade and the zone transfer commands record
 * their calls, "stop" only sets the flag, and the zones are fixed sets with origins chosen to
 * trouble the zone-list globbing: the root, glob characters, escapes, the longest names there are,
 * and in one set hundreds of those, so that a "*" fills the reply. The reply is checked against
 * what pindns/ctlproto.h promises and against what the command should have done.
 */
#define FZ_INPUT_MAX 4096
#define FZ_REPLY_MAX (256 * 1024) /* PD_CONTROL_REPLY_MAX in control.c */
#define FZ_LONG_FEW 4             /* the longest names, in the set most inputs get */
#define FZ_LONG_MANY 300          /* lines of ~1000 bytes: more than a reply holds */
#define FZ_ZONES_MAX (FZ_LONG_MANY + 6)

/* A fake zone set, with its origins as pd_name_to_str() writes them, in the set's order. */
typedef struct fz_zones {
	pd_zoneset_t *set;
	size_t count;
	char origin[FZ_ZONES_MAX][PD_NAME_TXT_MAX];
	size_t len[FZ_ZONES_MAX];
} fz_zones_t;

/* Most inputs get the few zones; those of a length of 8n + 7 the many, whose names cost
 * the daemon some 7 ms to write out at each zone-list. */
static fz_zones_t few, many;
static pd_zoneset_t *served;
static pd_control_t ctl;

/* What the fake daemon was asked to do during one input. */
static struct {
	int reloads, upgrades, xfrs;
	char xfr_cmd[PD_CTL_LINE_MAX], xfr_zone[PD_CTL_LINE_MAX];
	bool xfr_all;    /* the last transfer command named no zone */
	bool reload_all; /* the last reload was of all zones */
	char reload_zone[PD_CTL_LINE_MAX];
	bool reload_fails, upgrade_takes;
	int taken; /* the connection an upgrade took, answered once served; -1: none */
} fake;

static int fz_reload(void *arg, const char *zone, char *msg, size_t cap)
{
	fake.reloads++;
	fake.reload_all = zone == NULL;
	snprintf(fake.reload_zone, sizeof(fake.reload_zone), "%s", zone ? zone : "");
	/* As long as the daemon's own message can be: the zone's name echoed. */
	snprintf(msg, cap, "fake reload of '%s'", zone ? zone : "all");
	return fake.reload_fails ? -EIO : 0;
}

/* The transfer side: one line naming the command and the zone, then another (without a
 * last newline, which the daemon adds), or a reason of two lines, of which the first is
 * the ERROR line. */
static int fz_xfr(void *arg, const char *cmd, const char *zone, char *buf, size_t cap)
{
	fake.xfrs++;
	fake.xfr_all = zone == NULL;
	snprintf(fake.xfr_cmd, sizeof(fake.xfr_cmd), "%s", cmd);
	snprintf(fake.xfr_zone, sizeof(fake.xfr_zone), "%s", zone ? zone : "");
	if (fake.reload_fails) {
		snprintf(buf, cap, "fake %s refused\nnot this line", cmd);
		return -EINVAL;
	}
	snprintf(buf, cap, "fake %s of '%s'\nline two", cmd, zone ? zone : "all");
	return 0;
}

static int fz_upgrade(void *arg, int conn, char *msg, size_t cap)
{
	fake.upgrades++;
	if (!fake.upgrade_takes) {
		snprintf(msg, cap, "fake upgrade refused");
		return -EAGAIN;
	}
	fake.taken = conn;
	return 0;
}

/* One zone with origin (wire form): an SOA and an NS, serial i. */
static pd_zone_t *fz_zone(const uint8_t *origin, uint32_t i)
{
	uint8_t soa[22] = {0};
	pd_zone_t *z = NULL;
	pd_zone_builder_t *b = pd_zone_builder_new(origin);
	soa[2] = (uint8_t)(i >> 24), soa[3] = (uint8_t)(i >> 16);
	soa[4] = (uint8_t)(i >> 8), soa[5] = (uint8_t)i;
	if (!b || pd_zone_builder_add(b, origin, 6 /* SOA */, 300, soa, sizeof(soa), 0) < 0 ||
	    pd_zone_builder_add(b, origin, 2 /* NS */, 300, (const uint8_t *)"", 1, 0) < 0 ||
	    pd_zone_builder_finish(b, &z) < 0)
		abort();
	pd_zone_builder_free(b);
	return z;
}

/* The zones: origins chosen to trouble the zone-list globbing, and nlong of the longest
 * names there are. */
static void fz_zones_make(fz_zones_t *out, int nlong)
{
	static const char *const named[] = {"example.com", "Example.ORG", ".",
	                                    "xn--bcher-kva.example"};
	/* Glob characters in a label, and ones the presentation form escapes. */
	static const uint8_t odd[][16] = {"\3a*b\3[x]\4?-!]", "\3a.b\3c d\2\\\"\1$"};
	pd_zone_t *z[FZ_ZONES_MAX];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(named) / sizeof(*named); i++) {
		uint8_t o[PD_NAME_MAX];
		if (pd_name_from_str(o, named[i]) < 0)
			abort();
		z[n] = fz_zone(o, (uint32_t)n);
		n++;
	}
	for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++, n++)
		z[n] = fz_zone(odd[i], (uint32_t)n);
	/* Up to 255 bytes, 250 of them \DDD in presentation form: about 1000 characters. */
	for (int i = 0; i < nlong; i++, n++) {
		uint8_t o[PD_NAME_MAX];
		size_t off = 0;
		/* Of lengths that differ, so that zone lines fill a reply up to any point. */
		const uint8_t labels[] = {63, 63, 63, (uint8_t)(61 - i % 8 * 4)};
		for (int l = 0; l < 4; l++) {
			o[off++] = labels[l];
			memset(o + off, 0xFF, labels[l]);
			off += labels[l];
		}
		o[off] = 0;
		snprintf((char *)o + 1, 5, "l%03d", i); /* tells them apart; its NUL is cut off */
		o[5] = 0xFF;
		z[n] = fz_zone(o, (uint32_t)n);
	}
	if (pd_zoneset_new(&out->set, z, n) < 0)
		abort();
	out->count = n;
	for (size_t i = 0; i < n; i++)
		out->len[i] = (size_t)pd_name_to_str(out->origin[i], sizeof(out->origin[i]),
		                                     out->set->zones[i]->origin);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_zones_make(&few, FZ_LONG_FEW);
	fz_zones_make(&many, FZ_LONG_MANY);
	int fd;
	ctl.zones = &served;
	ctl.stats = pd_stats_new(2, 1, &fd);
	if (!ctl.stats)
		abort();
	ctl.started_unix = (int64_t)time(NULL);
	ctl.reload = fz_reload;
	return 0;
}

static void *fz_serve(void *arg)
{
	pd_control_serve(*(int *)arg, &ctl);
	/* What the daemon does once the successor has taken over, or failed to. */
	if (fake.taken >= 0)
		pd_control_reply(fake.taken, true, "fake successor took over\nfrom here");
	return NULL;
}

/* Whether origin (as pd_name_to_str() writes it, len bytes) matches a zone-list pattern,
 * by the rule pindnsctl(8) gives: a glob, any case, with or without the final dot. */
static bool fz_matches(const char *origin, size_t len, const char *pattern)
{
	char bare[PD_NAME_TXT_MAX];
	memcpy(bare, origin, len - 1);
	bare[len - 1] = '\0';
	return fnmatch(pattern, origin, FNM_CASEFOLD) == 0 ||
	       (len > 1 && fnmatch(pattern, bare, FNM_CASEFOLD) == 0);
}

/* The reply to "zone-list [pattern]" from zs: a line per zone listed, a line saying how
 * many were left out if any were, then the count; lines[nlines - 1] is "OK". */
static void fz_check_zone_list(const fz_zones_t *zs, char **lines, int nlines, const char *pattern)
{
	char want[PD_CTL_LINE_MAX + 64];
	bool match[FZ_ZONES_MAX], seen[FZ_ZONES_MAX] = {false};
	size_t matched = 0;
	for (size_t i = 0; i < zs->count; i++)
		matched += match[i] = !pattern || fz_matches(zs->origin[i], zs->len[i], pattern);
	if (pattern)
		snprintf(want, sizeof(want), "%zu of %zu zone(s) match '%s'", matched, zs->count,
		         pattern);
	else
		snprintf(want, sizeof(want), "%zu zone(s)", zs->count);
	if (nlines < 2 || strcmp(lines[nlines - 2], want) != 0)
		abort();
	/* Zone lines start with the origin, which has no space: the other lines cannot
	 * pass for one. */
	bool cut = nlines >= 3 && strstr(lines[nlines - 3], " zone(s) matching listed; ");
	size_t listed = (size_t)nlines - 2 - cut;
	for (size_t l = 0; l < listed; l++) {
		const char *sp = strchr(lines[l], ' ');
		size_t n = sp ? (size_t)(sp - lines[l]) : 0, i = 0;
		while (i < zs->count &&
		       (zs->len[i] != n || memcmp(zs->origin[i], lines[l], n) != 0))
			i++;
		if (i == zs->count || strncmp(sp, " serial ", 8) != 0 || !match[i] || seen[i])
			abort(); /* a zone we do not have, one not matching, or one listed twice */
		seen[i] = true;
	}
	snprintf(want, sizeof(want),
	         "%zu of %zu zone(s) matching listed; a pattern shows the others", listed, matched);
	if ((matched && !listed) || (listed < matched) != cut ||
	    (cut && strcmp(lines[nlines - 3], want) != 0))
		abort(); /* zones left out without a word */
}

/* The reply to a zone transfer command with zone (NULL: none given); the number of
 * calls of the transfer side it should have made. */
static int fz_check_xfr(const fz_zones_t *zs, const char *cmd, const char *zone, char **lines,
                        int nlines, bool ok)
{
	char want[2 * PD_CTL_LINE_MAX + 64];
	uint8_t wire[PD_NAME_MAX];
	bool status = strcmp(cmd, PD_CTL_ZONE_STATUS) == 0;
	if (!zone && !status) {
		snprintf(want, sizeof(want), PD_CTL_ERROR "%s wants a zone: '%s example.com'", cmd,
		         cmd);
		if (nlines != 1 || strcmp(lines[0], want) != 0)
			abort();
		return 0;
	}
	if (zone && pd_name_from_str(wire, zone) <= 0) {
		snprintf(want, sizeof(want), PD_CTL_ERROR "'%s' is not a domain name", zone);
		if (nlines != 1 || strcmp(lines[0], want) != 0)
			abort();
		return 0;
	}
	if (ctl.xfr) {
		if (fake.xfrs != 1 || strcmp(fake.xfr_cmd, cmd) != 0 || fake.xfr_all != !zone ||
		    (zone && strcmp(fake.xfr_zone, zone) != 0))
			abort(); /* asked the transfer side something else */
		if (fake.reload_fails)
			snprintf(want, sizeof(want), PD_CTL_ERROR "fake %s refused", cmd);
		else
			snprintf(want, sizeof(want), "fake %s of '%s'", cmd, zone ? zone : "all");
		if (nlines != (fake.reload_fails ? 1 : 3) || strcmp(lines[0], want) != 0 ||
		    (!fake.reload_fails && strcmp(lines[1], "line two") != 0))
			abort();
		return 1;
	}
	/* No transfers: every zone is a primary from its file; only zone-status succeeds. */
	const pd_zone_t *z = NULL;
	if (zone) {
		pd_name_lower(wire, wire);
		z = pd_zoneset_get(zs->set, wire);
	}
	if (ok != (status && (!zone || z)) || nlines != (ok ? 2 : 1))
		abort();
	if (zone && !z) {
		snprintf(want, sizeof(want), PD_CTL_ERROR "no zone %s here", zone);
		if (strcmp(lines[0], want) != 0)
			abort();
	}
	if (ok && z && !strstr(lines[0], " role primary (zone file) serial "))
		abort();
	return 0;
}

/*
 * Checks what came back for one input against the protocol: a command is the bytes up
 * to the first newline, or the first PD_CTL_LINE_MAX - 1 bytes when no newline comes in
 * them (the daemon reads no further), read as a C string; without either, the client
 * went away mid-line and gets no reply. An argument follows the first space. Bytes
 * after the command are never read: closing with them unread, the daemon resets the
 * connection after its reply, and only then.
 */
static void fz_check(const fz_zones_t *zs, const uint8_t *data, size_t size, char *reply,
                     size_t len, bool reset)
{
	static char *lines[FZ_REPLY_MAX]; /* a byte each at least */
	char line[PD_CTL_LINE_MAX];
	const uint8_t *nl = memchr(data, '\n', size < PD_CTL_LINE_MAX ? size : PD_CTL_LINE_MAX - 1);
	size_t n = nl ? (size_t)(nl - data) : PD_CTL_LINE_MAX - 1;
	if (len > FZ_REPLY_MAX)
		abort();
	if (!nl && size < PD_CTL_LINE_MAX - 1) {
		if (len || fake.reloads || fake.upgrades || fake.xfrs || ctl.stop)
			abort(); /* acted on a line never finished */
		return;
	}
	if (reset && size <= n + !!nl)
		abort(); /* reset though the daemon read all there was */
	memcpy(line, data, n);
	line[n] = '\0';
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';

	/* Lines of text, the last "OK" or "ERROR why": what pindnsctl reads them as. */
	static char text[FZ_REPLY_MAX + 2];
	int nlines = 0;
	if (len == 0 || reply[len - 1] != '\n' || memchr(reply, '\0', len))
		abort();
	for (char *p = reply; p < reply + len;) {
		char *end = memchr(p, '\n', (size_t)(reply + len - p));
		const char *why = NULL;
		memcpy(text, p, (size_t)(end - p) + 1);
		text[end - p + 1] = '\0';
		bool last = end == reply + len - 1;
		if (last == (pd_ctl_line_kind(text, &why) == PD_CTL_LINE_TEXT))
			abort(); /* a reply must end in OK or ERROR, and only there */
		*end = '\0';
		lines[nlines++] = p;
		p = end + 1;
	}
	bool ok = strcmp(lines[nlines - 1], PD_CTL_OK) == 0;

	int reloads = 0, upgrades = 0, xfrs = 0;
	bool stop = false;
	if (strcmp(line, PD_CTL_STATUS) == 0) {
		if (!ok || nlines != 2 || strncmp(lines[0], "running: pid ", 13) != 0)
			abort();
	} else if (strcmp(line, PD_CTL_RELOAD) == 0) {
		reloads = 1;
		bool all = !arg || !*arg;
		if (fake.reloads == 1 &&
		    (fake.reload_all != all || (!all && strcmp(fake.reload_zone, arg) != 0)))
			abort(); /* reloaded the wrong zone */
		if (ok == fake.reload_fails || nlines != 2 - fake.reload_fails)
			abort();
	} else if (strcmp(line, PD_CTL_STATS) == 0) {
		bool json = arg && strcmp(arg, PD_CTL_STATS_JSON) == 0;
		if (!ok ||
		    (json && (nlines != 2 || strncmp(lines[0], "{\"workers\": [", 13) != 0)) ||
		    (!json && strncmp(lines[0], "worker 0: transport udp ", 24) != 0))
			abort();
	} else if (strcmp(line, PD_CTL_ZONE_LIST) == 0) {
		fz_check_zone_list(zs, lines, nlines, arg && *arg ? arg : NULL);
	} else if (strcmp(line, PD_CTL_ZONE_STATUS) == 0 ||
	           strcmp(line, PD_CTL_ZONE_REFRESH) == 0 ||
	           strcmp(line, PD_CTL_ZONE_RETRANSFER) == 0 ||
	           strcmp(line, PD_CTL_ZONE_NOTIFY) == 0) {
		xfrs = fz_check_xfr(zs, line, arg && *arg ? arg : NULL, lines, nlines, ok);
	} else if (strcmp(line, PD_CTL_UPGRADE) == 0 && !arg) {
		upgrades = ctl.upgrade != NULL;
		if (ok != (ctl.upgrade && fake.upgrade_takes) || nlines != (ok ? 3 : 1))
			abort();
	} else if (strcmp(line, PD_CTL_STOP) == 0) {
		stop = true;
		if (!ok || nlines != 2 || strcmp(lines[0], "stopping") != 0)
			abort();
	} else {
		char want[PD_CTL_LINE_MAX + sizeof(PD_CTL_COMMANDS) + 64];
		snprintf(want, sizeof(want),
		         PD_CTL_ERROR "unknown command '%s' (" PD_CTL_COMMANDS ")", line);
		if (nlines != 1 || strcmp(lines[0], want) != 0)
			abort();
	}
	if (fake.reloads != reloads || fake.upgrades != upgrades || fake.xfrs != xfrs ||
	    ctl.stop != stop)
		abort(); /* did what another command does, or twice */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[2 * FZ_REPLY_MAX];
	size_t len = 0;
	bool reset = false;
	int sv[2];
	pthread_t t;
	if (size > FZ_INPUT_MAX)
		return 0;
	/* The fakes' outcomes follow the input's length: deterministic, and the fuzzer finds
	 * each of them. Upgrade: not possible, refused, or taken on and answered later. */
	memset(&fake, 0, sizeof(fake));
	fake.taken = -1;
	fake.reload_fails = size % 2;
	fake.upgrade_takes = size % 3 == 2;
	ctl.upgrade = size % 3 ? fz_upgrade : NULL;
	ctl.xfr = size % 5 ? fz_xfr : NULL; /* a daemon with transfers configured, or not */
	ctl.stop = false;
	const fz_zones_t *zs = size % 8 == 7 ? &many : &few;
	served = zs->set;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* Well within the socket's buffer: the whole input is there before the daemon reads. */
	for (size_t sent = 0; sent < size;) {
		ssize_t k = write(sv[0], data + sent, size - sent);
		if (k <= 0)
			abort();
		sent += (size_t)k;
	}
	shutdown(sv[0], SHUT_WR);
	if (pthread_create(&t, NULL, fz_serve, &sv[1]) != 0)
		abort();
	for (;;) {
		ssize_t k = read(sv[0], reply + len, sizeof(reply) - len);
		if (k < 0 && errno == EINTR)
			continue;
		/* After the reply, a daemon that closed with input unread resets the socket. */
		reset = k < 0 && errno == ECONNRESET;
		if (k < 0 && !reset)
			abort();
		if (k <= 0)
			break;
		len += (size_t)k;
		if (len == sizeof(reply))
			abort(); /* a reply without end */
	}
	pthread_join(t, NULL);
	close(sv[0]);
	fz_check(zs, data, size, reply, len, reset);
	return 0;
}
