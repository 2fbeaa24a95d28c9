/* The configuration file format and the option table shared with the command line. */
#define _GNU_SOURCE /* asprintf */
#include "pindns/config.h"

#include "config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/cache.h"
#include "pindns/dns.h"
#include "pindns/loader.h"
#include "pindns/log.h"
#include "pindns/version.h"

#ifndef PD_DEFAULT_STATE_DIR
#define PD_DEFAULT_STATE_DIR PD_XFR_DEFAULT_STATE_DIR
#endif

const char pd_config_help[] =
    "  listen: ADDR:PORT        address to answer on; repeat for more (default: all\n"
    "                           IPv4 and IPv6 addresses, port 53); [::1]:5300 for IPv6\n"
    "  threads: N               worker threads (default: one per CPU)\n"
    "  zones-dir: DIR           serve every DIR/*.zone; the origin is the file name\n"
    "                           without .zone (example.com.zone -> example.com)\n"
    "  zone: ORIGIN FILE        serve FILE as ORIGIN (FILE relative to this file)\n"
    "  udp-payload-size: N      EDNS buffer size, 512-4096 (default 1232)\n"
    "  identity: TEXT           CH TXT id.server answer (default: host name; \"\" refuses)\n"
    "  version: TEXT            CH TXT version.server answer (\"\" refuses)\n"
    "  rcvbuf: BYTES            receive buffer per socket (default 4194304)\n"
    "  cache-size: BYTES        response cache per worker thread, K/M/G suffixes\n"
    "                           allowed (default 16M; 0 turns the cache off)\n"
    "  pid-file: FILE           write the daemon's PID here\n"
    "  user: NAME               started as root, run as NAME once the sockets are\n"
    "                           bound (default pindns; 'root' to stay root)\n"
    "  group: NAME              the group to run as (default: the user's)\n"
    "  control-socket: PATH     Unix socket for pindnsctl (mode 0600)\n"
    "  metrics-listen: ADDR:PORT  serve Prometheus metrics over HTTP there (off by\n"
    "                           default; 'on' means 127.0.0.1:9153)\n"
    "  handoff-socket: PATH     Unix socket where a new pindnsd started with\n"
    "                           --takeover PATH takes over the bound sockets\n"
    "  foreground: yes|no       stay in the foreground (default no)\n"
    "  reuseport-cpu: yes|no    send each packet to the worker on the CPU that received\n"
    "                           it (cBPF); helps with multi-queue NICs, not on loopback\n"
    "  log-level: LEVEL         error, warning, info or debug (default info)\n"
    "  log: stderr|syslog       where log lines go (default stderr; a daemon that\n"
    "                           detached uses syslog)\n"
    "  query-log: N             log one query in N per worker: client, name, type,\n"
    "                           rcode (default 0: off)\n"
    "  nsid: TEXT|0xHEX         NSID (RFC 5001) for queries that ask (default: none)\n"
    "  tcp-threads: N           TCP threads (default: half the workers, at least 1)\n"
    "  tcp-max-clients: N       open TCP connections in all (default 1024); past it\n"
    "                           the oldest idle one is closed for a new client\n"
    "  tcp-max-per-client: N    open TCP connections per client address (default 64)\n"
    "  tcp-idle-timeout: TIME   close an idle TCP connection after TIME (default 10s;\n"
    "                           TIME is ms, or with an ms, s, m, h or d suffix)\n"
    "  tcp-io-timeout: TIME     close a connection whose message stays half-sent, or\n"
    "                           whose answer stays unread, after TIME (default 1s)\n"
    "  tcp-max-queries: N       close a connection after N answers (default 0: never)\n"
    "  signature-expiry-warning: TIME  warn, on each zone load, of every RRSIG that\n"
    "                           has expired or expires within TIME (default 7d; TIME\n"
    "                           is seconds, or with an s, m, h or d suffix; 0: off)\n"
    "  upgrade-timeout: TIME    how long pindnsctl upgrade waits for the new pindnsd\n"
    "                           to load its zones and take over before killing it\n"
    "                           (the old one serves on; default 300s; s, m, h, d)\n"
    "  cookies: yes|no          answer DNS cookies (RFC 7873, server cookies as RFC 9018\n"
    "                           makes them; default no)\n"
    "  cookie-secret: HEX [HEX]  the 16-byte SipHash secret (32 hex digits) that makes\n"
    "                           cookies, and one before it still accepted; the same on\n"
    "                           every server of an anycast set (default: a random one,\n"
    "                           kept across upgrades, replaced every\n"
    "                           cookie-secret-lifetime, the one before still accepted)\n"
    "  cookie-secret-lifetime: TIME  how long a random secret is used (default 26h;\n"
    "                           at least 2h)\n"
    "  cookie-require: yes|no   answer BADCOOKIE to UDP queries with a client cookie and\n"
    "                           no valid server cookie (default no)\n"
    "  rate-limit: N            responses per second to one client prefix, per response\n"
    "                           class (answer, NXDOMAIN, referral, error) and zone;\n"
    "                           over UDP only, never to a valid server cookie (default\n"
    "                           0: off)\n"
    "  rate-limit-window: TIME  a quiet prefix may save up rate x TIME (default 1s; at\n"
    "                           most 60s)\n"
    "  rate-limit-slip: N       send every Nth limited response truncated (TC), or as\n"
    "                           BADCOOKIE to a cookie client, so real clients retry\n"
    "                           (default 2; 0: drop them all)\n"
    "  rate-limit-ipv4-prefix: BITS  client prefix length for IPv4 (default 24)\n"
    "  rate-limit-ipv6-prefix: BITS  ... and for IPv6 (default 56)\n"
    "  rate-limit-exempt: PREFIX  never limit these clients (ADDR or ADDR/BITS); repeat\n"
    "  rate-limit-table-size: N  buckets per worker, 16 bytes each (default 65536)\n"
    "  tsig-key: NAME ALGORITHM SECRET  a TSIG key (hmac-sha256, hmac-sha512, ...;\n"
    "                           SECRET in base64), for the lines after it; repeat\n"
    "  secondary: ZONE ADDR[:PORT]... [key NAME] [notify-from PREFIX...]\n"
    "                           keep ZONE as a secondary: transferred from these\n"
    "                           primaries (tried in order; port 53 if none), signed\n"
    "                           with the key; NOTIFY taken from the primaries, or\n"
    "                           from the notify-from prefixes instead; repeat\n"
    "  catalog: ZONE ADDR[:PORT]... [key NAME]  a catalog zone (RFC 9432) kept as a\n"
    "                           secondary: each member zone is kept as a secondary\n"
    "                           too, from the same primaries with the same key\n"
    "  provide-xfr: ZONE|* PREFIX... [key NAME]  who may transfer ZONE (* for every\n"
    "                           zone) by AXFR and IXFR; with key, signed with it;\n"
    "                           repeat (default: nobody)\n"
    "  notify: ZONE|* ADDR[:PORT]... [key NAME]  send these servers NOTIFY when the\n"
    "                           zone's serial changes; repeat\n"
    "  state-dir: DIR           where transferred zones are kept, as ZONE.zone\n"
    "                           (default " PD_DEFAULT_STATE_DIR ")\n"
    "  xfr-max-size: BYTES      most bytes one transfer in may bring (its messages\n"
    "                           whole), K/M/G suffixes allowed (default 1G)\n"
    "  xfr-journal-size: BYTES  changes kept per zone for IXFR out (default 4M; 0: no\n"
    "                           IXFR, always AXFR)\n"
    "  xfr-timeout: TIME        a transfer or SOA query that stalls this long fails\n"
    "                           (default 10s; ms, s, m suffixes)\n";

int pd_config_init(pd_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	pd_listen_parse(&cfg->listen[0], "0.0.0.0:53");
	pd_listen_parse(&cfg->listen[1], "[::]:53");
	cfg->nlisten = 2;
	cfg->listen_is_default = true;
	cfg->udp_size = PD_UDP_DEFAULT;
	cfg->version = strdup("pindns " PD_VERSION);
	/* A few MB absorb bursts at line rate; the kernel default (~208 KiB) overflows. */
	cfg->rcvbuf = 4 * 1024 * 1024;
	cfg->log_level = PD_LOG_INFO;
	cfg->cache_size = PD_CACHE_DEFAULT_SIZE;
	cfg->sig_warn_secs = PD_ZONE_SIG_WARN_DEFAULT;
	cfg->upgrade_timeout_s = 300; /* the successor loads every zone before it takes over */
	pd__guard_defaults(&cfg->guard);
	cfg->user = strdup("pindns");
	int ret = pd__xfr_defaults(&cfg->xfr);
	/* All are used without a check later: a missing user would crash the lookup. */
	return cfg->version && cfg->user && ret == 0 ? 0 : -ENOMEM;
}

void pd_config_free(pd_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nzones; i++) {
		free(cfg->zones[i].origin);
		free(cfg->zones[i].file);
	}
	free(cfg->zones);
	free(cfg->zones_dir);
	free(cfg->identity);
	free(cfg->version);
	free(cfg->pid_file);
	free(cfg->handoff_socket);
	free(cfg->control_socket);
	free(cfg->user);
	free(cfg->group);
	pd__xfr_free(&cfg->xfr);
	memset(cfg, 0, sizeof(*cfg));
}

void pd_config_clear_listen(pd_config_t *cfg)
{
	cfg->nlisten = 0;
	cfg->listen_is_default = false;
}

static int pd__parse_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

static int pd__set_str(char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int pd__parse_size(const char *v, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long bytes = strtoull(v, &end, 10);
	unsigned long long mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1ull << 10;
	else if (*end == 'M' || *end == 'm')
		mult = 1ull << 20;
	else if (*end == 'G' || *end == 'g')
		mult = 1ull << 30;
	if (mult > 1)
		end++;
	if (errno || *end || end == v || v[0] == '-' || bytes > max / mult)
		return -EINVAL;
	*out = bytes * mult;
	return 0;
}

/* A zone line: its origin and file, both owned by cfg from here on. */
static int pd__add_zone(pd_config_t *cfg, const char *value, char *err, size_t cap)
{
	char origin[256], file[PATH_MAX];
	if (sscanf(value, "%255s %4095s", origin, file) != 2) {
		snprintf(err, cap,
		         "zone wants an origin and a file: 'zone: example.com "
		         "example.com.zone'");
		return -EINVAL;
	}
	pd_zone_conf_t *nz = realloc(cfg->zones, (cfg->nzones + 1) * sizeof(*nz));
	if (!nz)
		return -ENOMEM;
	cfg->zones = nz;
	nz[cfg->nzones].origin = strdup(origin);
	nz[cfg->nzones].file = strdup(file);
	if (!nz[cfg->nzones].origin || !nz[cfg->nzones].file) {
		free(nz[cfg->nzones].origin);
		free(nz[cfg->nzones].file);
		return -ENOMEM;
	}
	cfg->nzones++;
	return 0;
}

/* The whole-number options: where each goes, its range, and whether it is a time. */
static const struct pd__int_key {
	const char *key;
	long lo, hi;
	size_t off;
	long unit_ms; /* a time: what a bare number counts (1: ms, 1000: s); 0: a number */
} pd__int_keys[] = {
    {"tcp-threads", 1, 1024, offsetof(pd_config_t, tcp.threads), 0},
    {"tcp-max-clients", 1, 1000000, offsetof(pd_config_t, tcp.max_clients), 0},
    {"tcp-max-per-client", 1, 65535, offsetof(pd_config_t, tcp.max_per_client), 0},
    {"tcp-idle-timeout", 1, 3600000, offsetof(pd_config_t, tcp.idle_timeout_ms), 1},
    {"tcp-io-timeout", 1, 600000, offsetof(pd_config_t, tcp.io_timeout_ms), 1},
    {"tcp-max-queries", 0, 1000000000, offsetof(pd_config_t, tcp.max_queries), 0},
    /* Ten years: RRSIG times are serial numbers, meaningful within 68 years. */
    {"signature-expiry-warning", 0, 3650 * 86400, offsetof(pd_config_t, sig_warn_secs), 1000},
    {"upgrade-timeout", 1, 86400, offsetof(pd_config_t, upgrade_timeout_s), 1000},
    {"rate-limit", 0, PD_RRL_RATE_MAX, offsetof(pd_config_t, guard.rrl.rate), 0},
    {"rate-limit-window", 1, PD_RRL_WINDOW_MAX, offsetof(pd_config_t, guard.rrl.window), 1000},
    {"rate-limit-slip", 0, 10, offsetof(pd_config_t, guard.rrl.slip), 0},
    {"rate-limit-ipv4-prefix", 8, 32, offsetof(pd_config_t, guard.rrl.ipv4_prefix), 0},
    {"rate-limit-ipv6-prefix", 16, 128, offsetof(pd_config_t, guard.rrl.ipv6_prefix), 0},
    {"rate-limit-table-size", 1024, 1 << 24, offsetof(pd_config_t, guard.rrl.table_size), 0},
    {"cookie-secret-lifetime", PD_COOKIE_LIFETIME_MIN, 3650 * 86400,
     offsetof(pd_config_t, guard.cookie.lifetime), 1000},
    {"xfr-timeout", 100, 3600000, offsetof(pd_config_t, xfr.timeout_ms), 1},
};

static const struct {
	const char *suffix;
	long ms;
} pd__time_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

/*
 * A duration in units of unit_ms milliseconds: a bare number counts those units, and
 * one with a suffix (ms, s, m, h, d) says its own; "1500ms" for seconds is refused.
 */
static int pd__parse_time(const char *v, long unit_ms, long lo, long hi, long *out)
{
	char num[32];
	size_t len = strlen(v);
	long mult = unit_ms, n;
	for (size_t i = 0; i < sizeof(pd__time_units) / sizeof(*pd__time_units); i++) {
		size_t sl = strlen(pd__time_units[i].suffix);
		if (len > sl && strcmp(v + len - sl, pd__time_units[i].suffix) == 0) {
			len -= sl;
			mult = pd__time_units[i].ms;
			break;
		}
	}
	if (len >= sizeof(num))
		return -EINVAL;
	memcpy(num, v, len);
	num[len] = '\0';
	if (pd__parse_int(num, 0, LONG_MAX / mult, &n) < 0 || n * mult % unit_ms)
		return -EINVAL;
	n = n * mult / unit_ms;
	if (n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

/* Writes a duration of n units of unit_ms in the largest unit that holds it exactly. */
static const char *pd__time_str(long n, long unit_ms, char *buf, size_t cap)
{
	size_t u = sizeof(pd__time_units) / sizeof(*pd__time_units);
	long ms = n * unit_ms;
	while (u > 1 &&
	       (ms == 0 ? pd__time_units[u - 1].ms != unit_ms : ms % pd__time_units[u - 1].ms != 0))
		u--;
	snprintf(buf, cap, "%ld%s", ms / pd__time_units[u - 1].ms, pd__time_units[u - 1].suffix);
	return buf;
}

/* A whole-number option of pd__int_keys; 1 when key is none of them. */
static int pd__set_int_key(pd_config_t *cfg, const char *key, const char *value, char *err,
                           size_t cap)
{
	for (size_t i = 0; i < sizeof(pd__int_keys) / sizeof(*pd__int_keys); i++) {
		const struct pd__int_key *k = &pd__int_keys[i];
		char lo[24], hi[24];
		long n;
		if (strcmp(key, k->key) != 0)
			continue;
		int ret = k->unit_ms ? pd__parse_time(value, k->unit_ms, k->lo, k->hi, &n)
		                     : pd__parse_int(value, k->lo, k->hi, &n);
		if (ret < 0 && k->unit_ms) {
			snprintf(
			    err, cap,
			    "%s must be a time from %s to %s, in %s or with an ms, s, m, h or d "
			    "suffix, not '%s'",
			    key, pd__time_str(k->lo, k->unit_ms, lo, sizeof(lo)),
			    pd__time_str(k->hi, k->unit_ms, hi, sizeof(hi)),
			    k->unit_ms == 1 ? "ms" : "seconds", value);
			return -EINVAL;
		}
		if (ret < 0) {
			snprintf(err, cap, "%s must be a number from %ld to %ld, not '%s'", key,
			         k->lo, k->hi, value);
			return -EINVAL;
		}
		int v = (int)n; /* every field is int-sized: int or unsigned */
		memcpy((char *)cfg + k->off, &v, sizeof(v));
		return 0;
	}
	return 1;
}

/* nsid: the text as bytes, or 0x and hex digits. */
static int pd__set_nsid(pd_config_t *cfg, const char *value, char *err, size_t cap)
{
	size_t len = strlen(value);
	if (value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
		const char *h = value + 2;
		uint8_t bytes[PD_CONFIG_NSID_MAX];
		size_t n = strlen(h) / 2;
		bool ok = strlen(h) % 2 == 0 && n > 0 && n <= PD_CONFIG_NSID_MAX;
		for (size_t i = 0; ok && i < n; i++) {
			unsigned byte = 0;
			ok = isxdigit((unsigned char)h[2 * i]) &&
			     isxdigit((unsigned char)h[2 * i + 1]) &&
			     sscanf(h + 2 * i, "%2x", &byte) == 1;
			bytes[i] = (uint8_t)byte;
		}
		if (!ok) {
			snprintf(err, cap, "nsid in hex wants 0x and 2 to %d hex digits, not '%s'",
			         2 * PD_CONFIG_NSID_MAX, value);
			return -EINVAL;
		}
		memcpy(cfg->nsid, bytes, n); /* only now: a refused value changes nothing */
		cfg->nsid_len = (uint16_t)n;
		return 0;
	}
	if (len > PD_CONFIG_NSID_MAX) {
		snprintf(err, cap, "nsid is at most %d bytes", PD_CONFIG_NSID_MAX);
		return -EINVAL;
	}
	memcpy(cfg->nsid, value, len);
	cfg->nsid_len = (uint16_t)len;
	return 0;
}

/* pd_config_set() but for the out-of-memory message, which it adds for every option. */
static int pd__config_set(pd_config_t *cfg, const char *key, const char *value, char *err,
                          size_t cap)
{
	long n;
	int ret = pd__set_int_key(cfg, key, value, err, cap);
	if (ret <= 0)
		return ret;
	if ((ret = pd__config_set_guard(&cfg->guard, key, value, err, cap)) <= 0)
		return ret;
	if ((ret = pd__config_set_xfr(&cfg->xfr, key, value, err, cap)) <= 0)
		return ret;
	if (strcmp(key, "nsid") == 0)
		return pd__set_nsid(cfg, value, err, cap);
	if (strcmp(key, "listen") == 0) {
		if (cfg->listen_is_default)
			pd_config_clear_listen(cfg);
		if (cfg->nlisten == PD_LISTEN_MAX) {
			snprintf(err, cap, "more than %d listen addresses", PD_LISTEN_MAX);
			return -EINVAL;
		}
		if (pd_listen_parse(&cfg->listen[cfg->nlisten], value) < 0) {
			snprintf(err, cap,
			         "bad listen address '%s' (want ADDR:PORT, e.g. 127.0.0.1:5300 "
			         "or [::1]:5300)",
			         value);
			return -EINVAL;
		}
		cfg->nlisten++;
		return 0;
	}
	if (strcmp(key, "threads") == 0) {
		if (pd__parse_int(value, 1, 1024, &n) < 0) {
			snprintf(err, cap, "threads must be a number from 1 to 1024, not '%s'",
			         value);
			return -EINVAL;
		}
		cfg->threads = (int)n;
		return 0;
	}
	if (strcmp(key, "udp-payload-size") == 0) {
		if (pd__parse_int(value, PD_UDP_MIN, PD_UDP_MAX, &n) < 0) {
			snprintf(err, cap, "udp-payload-size must be from %d to %d, not '%s'",
			         PD_UDP_MIN, PD_UDP_MAX, value);
			return -EINVAL;
		}
		cfg->udp_size = (uint16_t)n;
		return 0;
	}
	if (strcmp(key, "rcvbuf") == 0) {
		if (pd__parse_int(value, 65536, 1 << 30, &n) < 0) {
			snprintf(err, cap, "rcvbuf must be from 65536 to 1073741824, not '%s'",
			         value);
			return -EINVAL;
		}
		cfg->rcvbuf = (int)n;
		return 0;
	}
	if (strcmp(key, "cache-size") == 0) {
		unsigned long long bytes;
		if (pd__parse_size(value, 64ull << 30, &bytes) < 0) {
			snprintf(err, cap,
			         "cache-size must be bytes with an optional K, M or G, up "
			         "to 64G, not '%s'",
			         value);
			return -EINVAL;
		}
		cfg->cache_size = (size_t)bytes;
		return 0;
	}
	if (strcmp(key, "log") == 0) {
		if (strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0) {
			cfg->log_syslog = value[1] == 'y';
			return 0;
		}
		snprintf(err, cap, "log must be stderr or syslog, not '%s'", value);
		return -EINVAL;
	}
	if (strcmp(key, "query-log") == 0) {
		if (pd__parse_int(value, 0, 1000000000, &n) < 0) {
			snprintf(err, cap,
			         "query-log must be N (log 1 query in N) or 0 for off, not '%s'",
			         value);
			return -EINVAL;
		}
		cfg->query_log = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "log-level") == 0) {
		static const char *const levels[] = {"error", "warning", "info", "debug"};
		for (int i = 0; i < 4; i++)
			if (strcmp(value, levels[i]) == 0) {
				cfg->log_level = i;
				return 0;
			}
		snprintf(err, cap, "log-level must be error, warning, info or debug, not '%s'",
		         value);
		return -EINVAL;
	}
	if (strcmp(key, "foreground") == 0 || strcmp(key, "reuseport-cpu") == 0) {
		bool *flag = key[0] == 'f' ? &cfg->foreground : &cfg->reuseport_cpu;
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			*flag = value[0] == 'y';
			return 0;
		}
		snprintf(err, cap, "%s must be yes or no, not '%s'", key, value);
		return -EINVAL;
	}
	if (strcmp(key, "zones-dir") == 0)
		return pd__set_str(&cfg->zones_dir, value);
	if (strcmp(key, "identity") == 0)
		return pd__set_str(&cfg->identity, value);
	if (strcmp(key, "version") == 0)
		return pd__set_str(&cfg->version, value);
	if (strcmp(key, "pid-file") == 0)
		return pd__set_str(&cfg->pid_file, value);
	if (strcmp(key, "handoff-socket") == 0)
		return pd__set_str(&cfg->handoff_socket, value);
	if (strcmp(key, "control-socket") == 0)
		return pd__set_str(&cfg->control_socket, value);
	if (strcmp(key, "user") == 0)
		return pd__set_str(&cfg->user, value);
	if (strcmp(key, "group") == 0)
		return pd__set_str(&cfg->group, value);
	if (strcmp(key, "metrics-listen") == 0) {
		if (strcmp(value, "no") == 0 || strcmp(value, "off") == 0) {
			cfg->metrics_on = false;
			return 0;
		}
		if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0)
			value = "127.0.0.1:9153"; /* loopback unless told otherwise */
		if (pd_listen_parse(&cfg->metrics, value) < 0) {
			snprintf(err, cap,
			         "bad metrics-listen address '%s' (want ADDR:PORT, e.g. "
			         "127.0.0.1:9153)",
			         value);
			return -EINVAL;
		}
		cfg->metrics_on = true;
		return 0;
	}
	if (strcmp(key, "zone") == 0)
		return pd__add_zone(cfg, value, err, cap);
	snprintf(err, cap, "unknown option '%s'", key);
	return -EINVAL;
}

int pd_config_check(const pd_config_t *cfg, char *err, size_t cap)
{
	int ret = pd__guard_check(&cfg->guard, cfg->reuseport_cpu, err, cap);
	if (ret == 0)
		ret = pd__xfr_check(&cfg->xfr, cfg->zones, cfg->nzones, err, cap);
	return ret;
}

int pd_config_set(pd_config_t *cfg, const char *key, const char *value, char *err, size_t cap)
{
	int ret = pd__config_set(cfg, key, value, err, cap);
	/* The string setters have no message of their own: a caller always gets one. */
	if (ret == -ENOMEM)
		snprintf(err, cap, "out of memory");
	return ret;
}

/* Removes surrounding blanks and one pair of double quotes. */
static char *pd__trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

/*
 * Cuts a '#' comment off line, unless the '#' is inside quotes. A '#' right after other
 * text (127.0.0.1#5300, as dig writes a port) would cut a value short without a word:
 * -EINVAL for it instead.
 */
static int pd__cut_comment(char *line)
{
	bool quoted = false;
	for (char *p = line; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted) {
			if (p > line && !isspace((unsigned char)p[-1]))
				return -EINVAL;
			*p = '\0';
			return 0;
		}
	}
	return 0;
}

/* Splits "key: value", "key value" or "key : value" in place. -EINVAL, s untouched, when
 * there is no value. */
static int pd__split(char *s, char **value)
{
	char *sep = s + strcspn(s, ": \t");
	if (!*sep)
		return -EINVAL;
	char *v = sep + 1;
	bool colon = *sep == ':';
	*sep = '\0';
	if (!colon) {
		v = pd__trim(v);
		if (*v == ':')
			v++;
	}
	*value = pd__trim(v);
	return 0;
}

/*
 * Files named in the configuration are relative to its folder dir: *joined is the value
 * with dir put before a relative file (the caller's to free), or NULL when value holds
 * none. Returns 0 or -ENOMEM.
 */
static int pd__relative(const char *key, const char *value, const char *dir, char **joined)
{
	char origin[256], file[PATH_MAX];
	int n = 0;
	*joined = NULL;
	if (strcmp(key, "zone") == 0 && sscanf(value, "%255s %4095s", origin, file) == 2 &&
	    file[0] != '/')
		n = asprintf(joined, "%s %s/%s", origin, dir, file);
	else if ((strcmp(key, "zones-dir") == 0 || strcmp(key, "state-dir") == 0) && value[0] &&
	         value[0] != '/')
		n = asprintf(joined, "%s/%s", dir, value);
	if (n < 0) {
		*joined = NULL; /* undefined after a failed asprintf */
		return -ENOMEM;
	}
	return 0;
}

/* Applies one line of the file in dir. Returns 0 (also for a blank or comment line), or
 * -errno with what is wrong in msg. */
static int pd__config_line(pd_config_t *cfg, char *line, const char *dir, char *msg, size_t cap)
{
	char *value, *joined;
	if (pd__cut_comment(line) < 0) {
		snprintf(msg, cap,
		         "a '#' starts a comment only at the start of a line or after a space; "
		         "write a port as ADDR:PORT or [ADDR]:PORT, or quote a value holding '#'");
		return -EINVAL;
	}
	char *key = pd__trim(line);
	if (!*key)
		return 0;
	if (pd__split(key, &value) < 0) {
		snprintf(msg, cap, "'%s' has no value (want 'key: value')", key);
		return -EINVAL;
	}
	int ret = pd__relative(key, value, dir, &joined);
	if (ret < 0) {
		snprintf(msg, cap, "out of memory");
		return ret;
	}
	ret = pd_config_set(cfg, key, joined ? joined : value, msg, cap);
	free(joined);
	return ret;
}

int pd_config_load(pd_config_t *cfg, const char *path, char *err, size_t cap)
{
	char line[4096], msg[512] = "";
	int lineno = 0, ret = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		ret = -errno; /* before snprintf, which may change errno */
		snprintf(err, cap, "%s: %s", path, strerror(-ret));
		return ret;
	}
	char *pathcopy = strdup(path); /* dirname() writes into its argument */
	if (!pathcopy) {
		snprintf(err, cap, "%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	const char *dir = dirname(pathcopy);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		ret = pd__config_line(cfg, line, dir, msg, sizeof(msg));
		if (ret < 0) {
			snprintf(err, cap, "%s:%d: %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, cap, "%s: read error", path);
		ret = -EIO;
	}
out:
	free(pathcopy);
	fclose(f);
	return ret;
}
