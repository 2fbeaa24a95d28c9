/* pindnsd: options, start-up, signals, reload and shutdown of the server. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/cache.h"
#include "pindns/config.h"
#include "pindns/engine.h"
#include "pindns/guard.h"
#include "pindns/control.h"
#include "pindns/handoff.h"
#include "metrics.h"
#include "privs.h"
#include "transfers.h"
#include "upgrade.h"
#include "pindns/stats.h"
#include "pindns/systemd.h"
#include "pindns/util.h"
#include "pindns/log.h"
#include "pindns/name.h"
#include "pindns/version.h"
#include "pindns/zonesrc.h"

#define PD_ACTIVATED_MAX 256 /* sockets taken from socket activation */

#ifndef PD_DEFAULT_ZONES_DIR
#define PD_DEFAULT_ZONES_DIR "zones"
#endif

static void pd__usage(FILE *out)
{
	fprintf(out,
	        "Usage: pindnsd [OPTION]...\n"
	        "Authoritative DNS server answering over UDP and TCP from zone files.\n"
	        "\n"
	        "  -c, --config FILE     read options from FILE (see below)\n"
	        "  -l, --listen ADDR:PORT  answer on this address; repeatable; replaces the\n"
	        "                        configured set (default: 0.0.0.0:53 and [::]:53)\n"
	        "                        IPv6 as [::1]:5300\n"
	        "  -t, --threads N       worker threads, one per CPU by default\n"
	        "  -z, --zones DIR       serve every DIR/*.zone (default %s)\n"
	        "  -f, --foreground      stay in the foreground, logging to stderr (default:\n"
	        "                        detach once serving, then log to syslog)\n"
	        "  -p, --pid-file FILE   write the daemon's PID to FILE\n"
	        "      --check-config    load the configuration and zones, report, and exit\n"
	        "      --user NAME       started as root, become NAME once bound (default pindns;\n"
	        "                        root to stay root)\n"
	        "      --control-socket PATH  answer pindnsctl on this Unix socket\n"
	        "      --handoff-socket PATH  let a successor take the bound sockets over here\n"
	        "      --takeover PATH   take the sockets of the pindnsd whose handoff socket is\n"
	        "                        PATH, start serving, then stop it: a restart or binary\n"
	        "                        upgrade that loses no query (pindnsctl upgrade does it\n"
	        "                        for you)\n"
	        "      --upgrade-report FD  internal (pindnsctl upgrade sets it, with\n"
	        "                        --takeover): report errors on the inherited socket FD\n"
	        "                        to the pindnsd that started this one, and take over\n"
	        "                        only if the configuration and every zone load\n"
	        "  -h, --help            show this help and exit\n"
	        "  -V, --version         show the version and exit\n"
	        "\n"
	        "Configuration file options (\"key: value\" lines, # comments; the command\n"
	        "line wins over the file):\n%s"
	        "\n"
	        "Upgrade: 'pindnsctl upgrade' makes the running pindnsd start the binary now at\n"
	        "the path it was started from, with its command line, which takes over as\n"
	        "--takeover does; the old one serves until then, and on if the new one fails.\n"
	        "\n"
	        "Signals: SIGHUP reloads the zones (only files that changed are read, new files\n"
	        "in the zones folder are added, removed ones dropped; a zone that fails to load\n"
	        "keeps serving its old data); SIGINT and SIGTERM stop the server.\n"
	        "While the zones first load, a SIGHUP is kept and applied once serving, and\n"
	        "SIGINT or SIGTERM stop it before it binds (exit 0).\n",
	        PD_DEFAULT_ZONES_DIR, pd_config_help);
}

/* What the workers share read-only, and what each owns: its cache and guard. */
typedef struct pd__server {
	pd_answer_conf_t answer;
	/* With cookies or rate limits: each worker's copy of answer, with its own guard. */
	pd_answer_conf_t *answers;
	pd_guard_t **guards;
	pd_cache_t **caches; /* one per worker, or NULL when the cache is off */
	pd_stats_t *stats;   /* live[worker] is written by that worker only */
	unsigned query_log;  /* 1 in this many queries is logged; 0: none */
	struct {
		_Alignas(64) uint64_t seen; /* a worker's own, on its own cache line */
	} * qlog;
} pd__server_t;

/* One query-log line: client, name, type, class, rcode. Only sampled queries get here. */
static void pd__log_query(const pd_dgram_t *d)
{
	char client[INET6_ADDRSTRLEN + 8] = "?", name[PD_NAME_TXT_MAX] = "?";
	const struct sockaddr *sa = d->peer;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, client, sizeof(client));
		snprintf(client + strlen(client), 8, "#%u", ntohs(s4->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, client, sizeof(client));
		snprintf(client + strlen(client), 8, "#%u", ntohs(s6->sin6_port));
	}
	pd_wire_t w;
	uint8_t wire[PD_NAME_MAX];
	pd_wire_init(&w, d->in, d->in_len);
	pd_wire_skip(&w, 12);
	if (pd_name_parse(&w, wire))
		pd_name_to_str(name, sizeof(name), wire);
	unsigned qtype = pd_wire_u16(&w), qclass = pd_wire_u16(&w);
	if (d->out_len)
		pd_log(PD_LOG_INFO, "query %s %s type %u class %u rcode %u%s", client, name, qtype,
		       qclass, d->rcode, d->truncated ? " TC" : "");
	else
		pd_log(PD_LOG_INFO, "query %s %s type %u class %u dropped", client, name, qtype,
		       qclass);
}

static void pd__handle(void *arg, int worker, const void *data, pd_dgram_t *batch, int n)
{
	const pd__server_t *s = arg;
	pd_worker_stats_t *st = &s->stats->live[worker];
	const pd_answer_conf_t *conf = &s->answer;
	if (s->guards) {
		/* Coarse clocks are read in the vDSO, without a system call: a tick (1-4 ms)
		 * is fine for buckets and cookie timestamps alike. */
		struct timespec wall, steady;
		clock_gettime(CLOCK_REALTIME_COARSE, &wall);
		clock_gettime(CLOCK_MONOTONIC_COARSE, &steady);
		pd_guard_set_time(s->guards[worker], (uint32_t)wall.tv_sec,
		                  (uint64_t)steady.tv_sec * 1000 +
		                      (uint64_t)steady.tv_nsec / 1000000);
		conf = &s->answers[worker];
	}
	if (s->caches)
		pd_cache_answer_batch(s->caches[worker], data, conf, batch, n);
	else
		pd_answer_batch(data, conf, batch, n);
	if (s->query_log) {
		uint64_t *seen = &s->qlog[worker].seen;
		for (int i = 0; i < n; i++)
			if ((*seen)++ % s->query_log == 0)
				pd__log_query(&batch[i]);
	}
	/* What the core said of each reply (pd_dgram_t), not re-read from its bytes: the
	 * header rcode only, the extended bits (BADVERS) are rare enough to skip. */
	uint64_t truncated = 0;
	for (int i = 0; i < n; i++) {
		if (!batch[i].out_len)
			continue;
		pd_counter_add(&st->dns.rcode[batch[i].rcode], 1);
		truncated += batch[i].truncated;
	}
	pd_counter_add(&st->dns.truncated, truncated); /* once: each add is an atomic store */
}

/* What a reload needs, for SIGHUP and pindnsctl alike. */
typedef struct pd__reloader {
	pd_zone_sources_t sources;
	pd_engine_t *engine;
	pd_zoneset_t **zones;
	pd_transfers_t *xfr; /* publishes, and tells the transfer threads what changed */
} pd__reloader_t;

/* What a reload did, in a line for the log and the reply. */
static void pd__reload_str(const pd_zones_report_t *rep, char *msg, size_t cap)
{
	snprintf(msg, cap,
	         "reload done: %zu zone(s) serving, %zu failed; %zu loaded (%zu new), %zu removed, "
	         "%zu unchanged, in %.1f ms",
	         rep->serving, rep->failed, rep->loaded, rep->added, rep->removed, rep->unchanged,
	         rep->ms);
}

static int pd__reload(void *arg, const char *zone, char *msg, size_t cap)
{
	pd__reloader_t *r = arg;
	pd_zoneset_t *next = NULL;
	pd_zones_report_t rep;
	int found = 1, rc;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pd_systemd_notify("RELOADING=1\nMONOTONIC_USEC=%lld",
	                  (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	if (zone)
		rc = pd_zones_build_one(&r->sources, *r->zones, zone, &next, &rep, &found);
	else
		rc = pd_zones_build(&r->sources, *r->zones, &next, &rep);
	if (rc < 0 || !found) {
		snprintf(msg, cap,
		         rc == -EINVAL ? "'%s' is not a domain name"
		         : !found      ? "no zone %s in the configuration or zones-dir"
		                       : "reload failed: out of memory; old zones kept",
		         zone ? zone : "");
		pd_systemd_notify("READY=1");
		return rc < 0 ? rc : -ENOENT;
	}
	pd_transfers_publish(r->xfr, next);
	/* Only after a large change: trimming walks the whole heap, which with many zones
	 * costs more than a one-zone reload itself. */
	if (rep.loaded + rep.removed > next->count / 16)
		malloc_trim(0);
	pd__reload_str(&rep, msg, cap);
	pd_log(rep.failed ? PD_LOG_WARN : PD_LOG_INFO, "%s", msg);
	pd_systemd_notify("READY=1\nSTATUS=serving %zu zone(s)", next->count);
	return rep.failed ? -EIO : 0;
}

/*
 * Makes a zone path absolute: reload happens after the daemon has left its directory. A
 * path that does not resolve is kept as it is (the load says what is wrong with it).
 * Returns 0 or -ENOMEM.
 */
static int pd__absolute(char **path)
{
	char buf[PATH_MAX];
	if (!*path || (*path)[0] == '/' || !realpath(*path, buf))
		return 0;
	char *abs = strdup(buf);
	if (!abs)
		return -ENOMEM;
	free(*path);
	*path = abs;
	return 0;
}

enum { PD__EXIT_OK = 0, PD__EXIT_FAILED = 1, PD__EXIT_USAGE = 2 };

/*
 * The daemon from start to stop: what each step of main() makes, for the steps after it
 * and for pd__cleanup(). Descriptors are -1 and pointers NULL until made.
 */
typedef struct pd__daemon {
	pd_config_t cfg;
	const char *config_path; /* --config */
	const char *takeover;    /* --takeover: the handoff socket of the pindnsd to replace */
	int report_fd; /* --upgrade-report: to the pindnsd that started us, which we replace */
	bool foreground, check_only;
	bool done;        /* nothing left to do (--help, --check-config): main returns status */
	int status;       /* main's exit status; a failing step leaves PD__EXIT_FAILED */
	bool stopping;    /* the event loop ends */
	bool handed_over; /* a successor owns the sockets, the pid file and the control socket */
	/* Takeover: the pid file and the handoff and control sockets are made at these names
	 * first and put in place only once the predecessor has handed over, so a successor
	 * that fails before leaves the paths to the one still serving. NULL: the path itself. */
	char *staged_pid, *staged_handoff, *staged_control;
	pd_zoneset_t *zones; /* the set being served, replaced by reloads */
	pd_engine_t *engine;
	int nworkers;
	pd__server_t server; /* what the workers share */
	pd_stats_t *stats;
	int stats_fd;
	int handoff_conn;    /* takeover: the connection to the predecessor, until it stops */
	int handoff_version; /* takeover: the protocol the predecessor speaks */
	int old_stats_fd;    /* takeover: the predecessor's counter segment */
	int ready_fd;        /* detached: the pipe to the parent, which waits for our word */
	uid_t uid;           /* whom root becomes once bound; (uid_t)-1: nothing to drop */
	gid_t gid;
	int handoff_fd, control_fd, metrics_fd; /* listening, or -1 when off or failed */
	bool metrics_later;                     /* takeover: bound once the predecessor left */
	sigset_t sigs;                          /* blocked, and read from sig_fd */
	bool startup_hup;                       /* a SIGHUP came while the zones loaded */
	int sig_fd;
	pd__reloader_t reloader;
	pd_control_t control;
	pd_transfers_t xfr;   /* zone transfers in and out, when configured */
	pd_upgrade_t upgrade; /* what a successor is started as; the upgrade under way */
} pd__daemon_t;

static void pd__daemon_init(pd__daemon_t *d)
{
	memset(d, 0, sizeof(*d)); /* a zeroed cfg is safe to free, as is the rest */
	d->status = PD__EXIT_FAILED;
	d->stats_fd = d->handoff_conn = d->old_stats_fd = d->ready_fd = d->report_fd = -1;
	d->handoff_fd = d->control_fd = d->metrics_fd = d->sig_fd = -1;
	d->uid = (uid_t)-1;
	d->gid = (gid_t)-1;
}

enum {
	PD__OPT_CHECK = 256,
	PD__OPT_TAKEOVER,
	PD__OPT_HANDOFF,
	PD__OPT_CONTROL,
	PD__OPT_USER,
	PD__OPT_REPORT
};

static const struct option pd__opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"threads", required_argument, NULL, 't'},
    {"zones", required_argument, NULL, 'z'},
    {"foreground", no_argument, NULL, 'f'},
    {"pid-file", required_argument, NULL, 'p'},
    {"check-config", no_argument, NULL, PD__OPT_CHECK},
    {"takeover", required_argument, NULL, PD__OPT_TAKEOVER},
    {"handoff-socket", required_argument, NULL, PD__OPT_HANDOFF},
    {"control-socket", required_argument, NULL, PD__OPT_CONTROL},
    {"user", required_argument, NULL, PD__OPT_USER},
    {"upgrade-report", required_argument, NULL, PD__OPT_REPORT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

static const char pd__short_opts[] = ":c:l:t:z:fp:hV";

/* An error of start-up that goes to standard error as it is, not as a log line: also to
 * the pindnsd that started us by upgrade, when one did. */
static void pd__start_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pd__start_error(const char *fmt, ...)
{
	char msg[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pindnsd: %s\n", msg);
	pd_log_copy(msg);
}

/* --upgrade-report FD: an inherited stream socket; ours alone from now on (close-on-exec),
 * and every error line is copied to it. */
static int pd__report_open(pd__daemon_t *d, const char *value)
{
	char *end;
	int type = 0;
	socklen_t tl = sizeof(type);
	errno = 0;
	long fd = strtol(value, &end, 10);
	if (errno || *end || end == value || fd < 3 || fd > INT_MAX ||
	    fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
		fprintf(stderr,
		        "pindnsd: --upgrade-report %s: not an inherited stream socket (it is set "
		        "by pindnsctl upgrade, not by hand)\n",
		        value);
		return -EINVAL;
	}
	d->report_fd = (int)fd;
	pd_log_copy_errors(d->report_fd);
	return 0;
}

/*
 * Options are read twice: the file first, then the command line on top of it. This first
 * pass finds the file (--config), the report socket of an upgrade, and what ends the
 * program at once: --help, --version and bad usage (exit 2). A bad option is said once
 * the whole line is read, so that an upgrade's report hears of it.
 */
static int pd__options_scan(pd__daemon_t *d, int argc, char **argv)
{
	char bad[600] = "";
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, pd__short_opts, pd__opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d->config_path = optarg;
			break;
		case PD__OPT_REPORT:
			if (d->report_fd < 0 && pd__report_open(d, optarg) < 0) {
				d->status = PD__EXIT_USAGE;
				return -EINVAL;
			}
			break;
		case 'h':
			pd__usage(stdout);
			d->done = true;
			d->status = PD__EXIT_OK;
			return 0;
		case 'V':
			printf("pindnsd %s\n", PD_VERSION);
			d->done = true;
			d->status = PD__EXIT_OK;
			return 0;
		case '?':
			if (!bad[0])
				snprintf(bad, sizeof(bad),
				         "unknown option '%s'; see pindnsd --help",
				         argv[optind - 1]);
			break;
		case ':':
			if (!bad[0])
				snprintf(bad, sizeof(bad),
				         "option '%s' needs a value; see pindnsd --help",
				         argv[optind - 1]);
			break;
		}
	}
	if (!bad[0])
		return 0;
	pd__start_error("%s", bad);
	d->status = PD__EXIT_USAGE;
	return -EINVAL;
}

/*
 * Zone loading makes and frees millions of small allocations (ldns, per record) while
 * large arrays grow at the top of the heap; with glibc's defaults the heap is trimmed and
 * regrown all the time (brk, page faults, TLB shootdowns): 26 s instead of 2 s for a
 * million records. Trim only after loading (malloc_trim).
 */
static void pd__malloc_tune(void)
{
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	mallopt(M_TOP_PAD, 64 << 20);
}

/* The embedded defaults, and over them the configuration file when there is one. */
static int pd__config_read(pd__daemon_t *d)
{
	char err[1024] = "";
	int ret = pd_config_init(&d->cfg);
	if (ret < 0) {
		fprintf(stderr, "pindnsd: out of memory\n");
		return ret;
	}
	if (!d->config_path)
		return 0;
	ret = pd_config_load(&d->cfg, d->config_path, err, sizeof(err));
	if (ret < 0)
		pd__start_error("%s", err);
	return ret;
}

/* The configuration key a command-line option sets; NULL for the others. */
static const char *pd__option_key(int opt)
{
	switch (opt) {
	case 'l':
		return "listen";
	case 't':
		return "threads";
	case 'z':
		return "zones-dir";
	case 'p':
		return "pid-file";
	case PD__OPT_HANDOFF:
		return "handoff-socket";
	case PD__OPT_CONTROL:
		return "control-socket";
	case PD__OPT_USER:
		return "user";
	default:
		return NULL;
	}
}

/* The second pass: the command line over the configuration file. Bad values exit 2. */
static int pd__options_apply(pd__daemon_t *d, int argc, char **argv)
{
	char err[1024] = "";
	bool cli_listen = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, pd__short_opts, pd__opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			/* The first --listen replaces the configured set, the others add to it. */
			if (!cli_listen)
				pd_config_clear_listen(&d->cfg);
			cli_listen = true;
			break;
		case 'f':
			d->foreground = true;
			break;
		case PD__OPT_CHECK:
			d->check_only = true;
			break;
		case PD__OPT_TAKEOVER:
			d->takeover = optarg;
			break;
		}
		const char *key = pd__option_key(opt);
		int ret = key ? pd_config_set(&d->cfg, key, optarg, err, sizeof(err)) : 0;
		if (ret < 0) {
			pd__start_error("%s: %s", argv[optind - 1], err);
			d->status = PD__EXIT_USAGE;
			return ret;
		}
	}
	if (optind < argc) {
		pd__start_error("unexpected argument '%s'; see pindnsd --help", argv[optind]);
		d->status = PD__EXIT_USAGE;
		return -EINVAL;
	}
	if (d->report_fd >= 0 && !d->takeover) {
		pd__start_error(
		    "--upgrade-report goes with --takeover (pindnsctl upgrade sets both)");
		d->status = PD__EXIT_USAGE;
		return -EINVAL;
	}
	return 0;
}

/* Appends a copy of s (NULL: out of memory) to the growing list *v of *n. 0 or -ENOMEM. */
static int pd__push(char ***v, size_t *n, char *s)
{
	char **nv = s ? realloc(*v, (*n + 2) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

/* value, or cwd/value when relative and cwd is known; a new string, NULL when out of
 * memory. */
static char *pd__joined(const char *cwd, const char *value)
{
	char *s = NULL;
	if (value[0] == '/' || !cwd)
		return strdup(value);
	return asprintf(&s, "%s/%s", cwd, value) < 0 ? NULL : s;
}

/*
 * The command line of a successor started by upgrade: ours, each option spelt out in full
 * (--takeover and --upgrade-report left out: the upgrade adds its own), the files read
 * before detaching (--config, --zones) made absolute, since the successor starts in the
 * folder we are in now, "/" once detached. The others are used after that, by us as by
 * it, in the same folder. Without memory upgrades are refused, no more.
 */
static char **pd__successor_argv(int argc, char **argv)
{
	char cwd[PATH_MAX], **v = NULL;
	size_t n = 0;
	int opt, ret = pd__push(&v, &n, strdup(argv[0]));
	bool have_cwd = getcwd(cwd, sizeof(cwd)) != NULL;
	optind = 1;
	while (ret == 0 && (opt = getopt_long(argc, argv, pd__short_opts, pd__opts, NULL)) != -1) {
		const struct option *o = pd__opts;
		while (o->name && o->val != opt)
			o++;
		if (!o->name || opt == PD__OPT_TAKEOVER || opt == PD__OPT_REPORT)
			continue;
		char *name = NULL;
		ret = pd__push(&v, &n, asprintf(&name, "--%s", o->name) < 0 ? NULL : name);
		if (ret == 0 && o->has_arg == required_argument)
			ret = pd__push(&v, &n,
			               opt == 'c' || opt == 'z'
			                   ? pd__joined(have_cwd ? cwd : NULL, optarg)
			                   : strdup(optarg));
	}
	if (ret == 0)
		return v;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return NULL;
}

/* What the configuration leaves to be worked out here: defaults that depend on the
 * build and the host, logging, and zone paths that survive leaving the directory. */
static int pd__config_finish(pd__daemon_t *d)
{
	pd_config_t *cfg = &d->cfg;
	int ret = 0;
	if (!cfg->zones_dir && cfg->nzones == 0 && !(cfg->zones_dir = strdup(PD_DEFAULT_ZONES_DIR)))
		ret = -ENOMEM;
	if (ret == 0 && !cfg->identity) {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		if (!(cfg->identity = strdup(host)))
			ret = -ENOMEM;
	}
	d->foreground = d->foreground || cfg->foreground;
	pd_log_set_level(cfg->log_level);
	if (cfg->log_syslog && !d->check_only)
		pd_log_to_syslog();
	if (ret == 0)
		ret = pd__absolute(&cfg->zones_dir);
	for (size_t i = 0; ret == 0 && i < cfg->nzones; i++)
		ret = pd__absolute(&cfg->zones[i].file);
	if (ret < 0) {
		pd_log(PD_LOG_ERR, "cannot complete the configuration: out of memory");
		return ret;
	}
	char err[512];
	if ((ret = pd_config_check(cfg, err, sizeof(err))) < 0)
		pd_log(PD_LOG_ERR, "%s", err);
	return ret;
}

/* The first load of every zone, while the old process (if any) still serves. With
 * --check-config that is all: report and be done. */
static int pd__zones_load(pd__daemon_t *d)
{
	pd_zones_report_t rep;
	pd_zone_sources_t sources = pd_config_sources(&d->cfg);
	sources.watch = !d->check_only; /* reloads then read only the files that changed */
	int ret = pd_zones_build(&sources, NULL, &d->zones, &rep);
	if (ret < 0) {
		pd_log(PD_LOG_ERR, "cannot build the zone set: out of memory");
		return ret;
	}
	pd_log(rep.failed ? PD_LOG_WARN : PD_LOG_INFO,
	       "loaded %zu zone(s), %zu records, %zu failed, in %.2f s", rep.loaded, rep.records,
	       rep.failed, rep.ms / 1e3);
	if (d->check_only) {
		printf("pindnsd: configuration OK, %zu zone(s) loaded, %zu failed\n",
		       d->zones->count, rep.failed);
		d->status = rep.failed ? PD__EXIT_FAILED : PD__EXIT_OK;
		d->done = true;
		return 0;
	}
	/* An upgrade replaces a server that serves: not by one that serves less. The zones'
	 * own errors were logged (and reported) as they failed. */
	if (d->report_fd >= 0 && rep.failed) {
		pd_log(PD_LOG_ERR, "%zu zone(s) failed to load: not taking over", rep.failed);
		return -EINVAL;
	}
	if (d->zones->count == 0)
		pd_log(PD_LOG_WARN, "no zone loaded: every query will be REFUSED");
	return 0;
}

/* The engine on the sockets of the running pindnsd at --takeover, which serves on until
 * pd__takeover_finish(). */
static int pd__engine_take(pd__daemon_t *d, const pd_engine_conf_t *ecfg, char *err, size_t cap)
{
	int conn = pd_handoff_take(d->takeover, ecfg, &d->engine, &d->old_stats_fd,
	                           &d->handoff_version, err, cap);
	if (conn < 0)
		return conn;
	d->handoff_conn = conn;
	int threads = pd_engine_threads(d->engine);
	if (d->cfg.threads && d->cfg.threads != threads)
		pd_log(PD_LOG_WARN,
		       "using the %d worker(s) of the sockets taken over, not %d: "
		       "the socket set stays as it is",
		       threads, d->cfg.threads);
	d->cfg.nlisten = pd_engine_listens(d->engine, d->cfg.listen);
	return 0;
}

/* The engine on the sockets systemd passed (socket activation). */
static int pd__engine_activated(pd__daemon_t *d, const pd_engine_conf_t *ecfg, const int *fds,
                                int nfds, char *err, size_t cap)
{
	int ret = pd_engine_new_from_activation(&d->engine, ecfg, fds, nfds, err, cap);
	if (ret < 0)
		return ret;
	d->cfg.nlisten = pd_engine_listens(d->engine, d->cfg.listen);
	pd_log(PD_LOG_INFO, "using %d socket(s) from socket activation", nfds);
	return 0;
}

/* The folder of a runtime file, in dir (cap bytes): "/" and "." included. False when
 * the path does not fit. */
static bool pd__folder_of(const char *file, char *dir, size_t cap)
{
	if (snprintf(dir, cap, "%s", file) >= (int)cap)
		return false;
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash++;
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, cap, ".");
	return true;
}

/* Whether the folder of a runtime file (socket, pid file) that we shall replace can be
 * written to; a missing one is made later, or says why not then. 0 or -errno. */
static int pd__folder_writable(const char *what, const char *file)
{
	char dir[PATH_MAX];
	struct stat st;
	if (!file || !pd__folder_of(file, dir, sizeof(dir)))
		return 0;
	if (stat(dir, &st) < 0 || faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	int e = errno;
	pd_log(PD_LOG_ERR,
	       "the %s %s cannot be replaced: its folder %s is not writable by uid %u (%s); "
	       "the service user must own it (systemd: RuntimeDirectory= with User=, or "
	       "tmpfiles.d)",
	       what, file, dir, (unsigned)geteuid(), strerror(e));
	return -e;
}

/*
 * A successor started by upgrade runs as the user its predecessor became, without root:
 * what it could not do once it has taken over is found out before, while the old one
 * still serves. It binds nothing (the sockets come by handoff) but the metrics listener,
 * which its predecessor still holds (EADDRINUSE is what we expect then).
 */
static int pd__successor_checks(pd__daemon_t *d)
{
	char err[1024] = "";
	if (d->report_fd < 0)
		return 0;
	int ret = pd__folder_writable("handoff socket", d->cfg.handoff_socket);
	if (ret == 0)
		ret = pd__folder_writable("control socket", d->cfg.control_socket);
	if (ret == 0)
		ret = pd__folder_writable("pid-file", d->cfg.pid_file);
	if (ret < 0 || !d->cfg.metrics_on)
		return ret;
	int fd = pd_metrics_listen(&d->cfg.metrics, err, sizeof(err));
	if (fd >= 0 || fd == -EADDRINUSE) {
		if (fd >= 0)
			close(fd); /* a new address: bound again once serving */
		return 0;
	}
	pd_log(PD_LOG_ERR, "%s%s", err,
	       fd == -EACCES ? " (a port below 1024 needs root, which a pindnsd started by "
	                       "upgrade no longer has: use a port from 1024 on)"
	                     : "");
	return fd;
}

/* The engine and its sockets: taken over, passed by systemd, or bound here. */
static int pd__engine_build(pd__daemon_t *d)
{
	int activated[PD_ACTIVATED_MAX], nactivated, ret;
	char err[1024] = "";
	const pd_engine_conf_t ecfg = {.listen = d->cfg.listen,
	                               .nlisten = d->cfg.nlisten,
	                               .listen_is_default = d->cfg.listen_is_default,
	                               .threads = d->cfg.threads,
	                               .rcvbuf = d->cfg.rcvbuf,
	                               .reuseport_cpu = d->cfg.reuseport_cpu,
	                               /* Rate limits are per worker: each prefix to one. */
	                               .steer_client = d->cfg.guard.rrl.rate != 0,
	                               .steer_ipv4_bits = (uint8_t)d->cfg.guard.rrl.ipv4_prefix,
	                               .steer_ipv6_bits = (uint8_t)d->cfg.guard.rrl.ipv6_prefix,
	                               .tcp = d->cfg.tcp};
	if (d->takeover)
		ret = pd__engine_take(d, &ecfg, err, sizeof(err));
	else if ((nactivated = pd_systemd_listen_fds(activated, PD_ACTIVATED_MAX)) > 0)
		ret = pd__engine_activated(d, &ecfg, activated, nactivated, err, sizeof(err));
	else
		ret = pd_engine_new(&d->engine, &ecfg, err, sizeof(err));
	if (ret < 0)
		pd_log(PD_LOG_ERR, "%s", err);
	return ret;
}

/* The parent of a detaching daemon: exits with the child's verdict, so that scripts see
 * start-up failures: 0 once it says it serves, 1 when it exits first. */
static _Noreturn void pd__wait_ready(pid_t child, int ready_in)
{
	char ok = 0;
	if (read(ready_in, &ok, 1) == 1 && ok == 'R') {
		printf("pindnsd: serving in the background, pid %ld\n", (long)child);
		fflush(stdout); /* _exit() skips stdio's buffers */
		_exit(PD__EXIT_OK);
	}
	int ws;
	waitpid(child, &ws, 0);
	_exit(PD__EXIT_FAILED);
}

/* Detaches, unless told to stay in the foreground, before any thread exists: fork()
 * copies only the calling thread. The child goes on and tells the parent when it serves. */
static int pd__detach(pd__daemon_t *d)
{
	int ready[2], ret;
	if (d->foreground)
		return 0;
	if (pipe(ready) < 0) {
		ret = -errno;
		pd_log(PD_LOG_ERR, "pipe: %s", strerror(-ret));
		return ret;
	}
	pid_t pid = fork();
	if (pid < 0) {
		ret = -errno;
		pd_log(PD_LOG_ERR, "fork: %s", strerror(-ret));
		close(ready[0]);
		close(ready[1]);
		return ret;
	}
	if (pid > 0) {
		close(ready[1]);
		pd__wait_ready(pid, ready[0]);
	}
	close(ready[0]);
	d->ready_fd = ready[1];
	setsid();
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
	if (chdir("/") < 0)
		pd_log(PD_LOG_WARN, "chdir /: %s", strerror(errno));
	return 0;
}

/*
 * A pid file we may not write, in a folder we may: the predecessor made it as root, and
 * we (started by upgrade) are its service user. A new file is put in its place; rename
 * replaces whatever is at path, a link included, and follows nothing.
 */
static int pd__pid_file_replace(const char *path, char *err, size_t cap)
{
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.%ld", path, (long)getpid()) < 0) {
		snprintf(err, cap, "cannot write pid-file %s: out of memory", path);
		return -ENOMEM;
	}
	int ret = pd_write_pid_file(tmp, err, cap);
	if (ret == 0 && rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, cap, "cannot write pid-file %s: %s", path, strerror(-ret));
		unlink(tmp);
	}
	free(tmp);
	return ret;
}

/*
 * Whether the user we become may rename files in path's folder: one we make is the user's;
 * one root owns (a test's, a hand-made /run/pindns) may not be.
 */
static bool pd__dir_ours(const pd__daemon_t *d, const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	if (d->uid == (uid_t)-1 || geteuid() != 0)
		return true; /* no user to become: as now (an upgrade's successor checked it) */
	if (!pd__folder_of(path, dir, sizeof(dir)))
		return false;
	if (stat(dir, &st) < 0)
		return errno == ENOENT; /* made below, the user's */
	return (st.st_uid == d->uid && (st.st_mode & S_IWUSR)) ||
	       (st.st_gid == d->gid && (st.st_mode & S_IWGRP)) || (st.st_mode & S_IWOTH);
}

/*
 * Where a runtime file is made: path, or on takeover a name beside it (*staged, ours),
 * when the user we become can put it in place after the handoff; else path itself, as
 * before (a failure then leaves the predecessor without that path).
 */
static const char *pd__stage(const pd__daemon_t *d, const char *path, char **staged)
{
	if (!d->takeover || !path || (!*staged && !pd__dir_ours(d, path)))
		return path;
	if (!*staged && asprintf(staged, "%s.new-%ld", path, (long)getpid()) < 0)
		*staged = NULL;
	return *staged ? *staged : path;
}

/* Takeover done: each staged file takes the place of the predecessor's. */
static void pd__unstage(char **staged, const char *path)
{
	if (!*staged)
		return;
	if (rename(*staged, path) < 0) {
		pd_log(PD_LOG_ERR, "cannot put %s in place of %s: %s", *staged, path,
		       strerror(errno));
		unlink(*staged);
	}
	free(*staged);
	*staged = NULL;
}

/* A takeover that did not happen: the staged files go, the paths stay the predecessor's. */
static void pd__unstage_drop(char **staged)
{
	if (*staged)
		unlink(*staged);
	free(*staged);
	*staged = NULL;
}

/* The pid file, and its folder when missing (below). */
static int pd__pid_file(pd__daemon_t *d)
{
	char err[1024] = "";
	if (!d->cfg.pid_file)
		return 0;
	const char *path = pd__stage(d, d->cfg.pid_file, &d->staged_pid);
	int ret = pd_make_file_dir("pid file", path, d->uid, d->gid, err, sizeof(err));
	if (ret == 0)
		ret = pd_write_pid_file(path, err, sizeof(err));
	if (ret == -EACCES && geteuid() != 0)
		ret = pd__pid_file_replace(path, err, sizeof(err));
	if (ret < 0)
		pd_log(PD_LOG_ERR, "%s", err);
	return ret;
}

/*
 * A Unix socket, and its folder when missing: *fd listens there, or is -1. Failing is not
 * fatal, we serve without it, and the log says what will not work. Returns 0 or -errno.
 */
static int pd__unix_socket(const pd__daemon_t *d, const char *what, const char *path,
                           int (*listen_at)(const char *path, char *err, size_t cap),
                           const char *without, int *fd)
{
	char err[1024] = "";
	int ret = pd_make_file_dir(what, path, d->uid, d->gid, err, sizeof(err));
	if (ret == 0)
		ret = listen_at(path, err, sizeof(err)); /* the fd */
	*fd = ret >= 0 ? ret : -1;
	if (ret >= 0)
		return 0;
	pd_log(PD_LOG_ERR, "%s; %s", err, without);
	return ret;
}

/* The handoff and control sockets, and the metrics listener: each is optional, and one
 * that fails leaves the daemon serving without it. Returns 0, or the first failure of a
 * Unix socket (-errno), which stops a successor started by upgrade: the old one serves
 * on, and can be reached. */
static int pd__listeners(pd__daemon_t *d)
{
	char err[1024] = "";
	int ret = 0;
	if (d->cfg.handoff_socket)
		ret = pd__unix_socket(
		    d, "handoff socket", pd__stage(d, d->cfg.handoff_socket, &d->staged_handoff),
		    pd_handoff_listen, "restart by takeover will not work", &d->handoff_fd);
	/* A successor started by upgrade stops at the first: the old one keeps the other. */
	if (d->cfg.control_socket && (ret == 0 || d->report_fd < 0)) {
		int r = pd__unix_socket(
		    d, "control socket", pd__stage(d, d->cfg.control_socket, &d->staged_control),
		    pd_control_listen, "pindnsctl will not reach this daemon", &d->control_fd);
		ret = ret ? ret : r;
	}
	/* The predecessor listens there until it hands over: then ours (pd__metrics_late). */
	if (d->cfg.metrics_on && d->takeover)
		d->metrics_later = true;
	else if (d->cfg.metrics_on) {
		int fd = pd_metrics_listen(&d->cfg.metrics, err, sizeof(err));
		if (fd < 0)
			pd_log(PD_LOG_ERR, "%s", err);
		d->metrics_fd = fd < 0 ? -1 : fd;
	}
	return ret;
}

/* Root goes: the sockets are given to the service user first, since pindnsctl and
 * successors run as it. */
static int pd__drop_root(pd__daemon_t *d)
{
	char err[1024] = "";
	/* Their folder may be the service user's: given by descriptor, never through a link
	 * put in their place (pd_give_socket). */
	const char *handoff = d->staged_handoff ? d->staged_handoff : d->cfg.handoff_socket;
	const char *control = d->staged_control ? d->staged_control : d->cfg.control_socket;
	if (d->handoff_fd >= 0 &&
	    pd_give_socket("handoff socket", handoff, d->uid, d->gid, err, sizeof(err)) < 0)
		pd_log(PD_LOG_WARN, "%s", err);
	if (d->control_fd >= 0 &&
	    pd_give_socket("control socket", control, d->uid, d->gid, err, sizeof(err)) < 0)
		pd_log(PD_LOG_WARN, "%s", err);
	int ret = pd_privileges_drop(d->uid, d->gid, err, sizeof(err));
	if (ret < 0) {
		pd_log(PD_LOG_ERR, "%s", err);
		return ret;
	}
	pd_log(PD_LOG_INFO, "running as %s (uid %u), without capabilities", d->cfg.user,
	       (unsigned)d->uid);
	return 0;
}

/*
 * All that needs root happens here: files and sockets, then root goes. Without systemd's
 * tmpfiles nothing makes /run/pindns: what is missing of their folders is made, given to
 * the service user, who removes its files there at stop.
 */
/*
 * The folder transferred zones are kept in, made when missing (and given to the user we
 * become, which writes it from then on), so a developer build's default serves at once.
 */
static int pd__state_dir(const pd__daemon_t *d)
{
	const char *dir = d->cfg.xfr.state_dir;
	if (!d->cfg.xfr.nsecondaries || !dir)
		return 0;
	if (mkdir(dir, 0750) < 0) {
		if (errno == EEXIST)
			return 0;
		int ret = -errno;
		pd_log(PD_LOG_ERR, "cannot make the state-dir %s for transferred zones: %s", dir,
		       strerror(-ret));
		return ret;
	}
	if (d->uid != (uid_t)-1 && chown(dir, d->uid, d->gid) < 0) {
		int ret = -errno;
		pd_log(PD_LOG_ERR, "cannot give the state-dir %s to uid %u: %s", dir,
		       (unsigned)d->uid, strerror(-ret));
		return ret;
	}
	return 0;
}

static int pd__as_root(pd__daemon_t *d)
{
	char err[1024] = "";
	int ret =
	    pd_privileges_lookup(d->cfg.user, d->cfg.group, &d->uid, &d->gid, err, sizeof(err));
	if (ret < 0) {
		pd_log(PD_LOG_ERR, "%s", err);
		return ret;
	}
	if (d->uid == (uid_t)-1 && geteuid() == 0)
		pd_log(PD_LOG_WARN, "running as root, as configured (user: root)");
	if ((ret = pd__state_dir(d)) < 0)
		return ret;
	ret = pd__pid_file(d);
	if (ret < 0)
		return ret;
	if (pd__listeners(d) < 0 && d->report_fd >= 0)
		return -EIO;
	return d->uid == (uid_t)-1 ? 0 : pd__drop_root(d);
}

/*
 * Blocks the signals the event loop reads from a signalfd, from the first moment: one
 * that comes while the zones load waits (pd__startup_signals()) instead of killing the
 * daemon. Workers inherit this mask, so only the main thread ever takes these signals.
 * A --check-config run serves nothing and keeps the default actions: Ctrl-C stops it.
 */
static void pd__signals_block(pd__daemon_t *d)
{
	sigemptyset(&d->sigs);
	sigaddset(&d->sigs, SIGINT);
	sigaddset(&d->sigs, SIGTERM);
	sigaddset(&d->sigs, SIGHUP);
	sigaddset(&d->sigs, SIGCHLD); /* a successor started by upgrade ended */
	if (!d->check_only)
		pthread_sigmask(SIG_BLOCK, &d->sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The signals that came while starting, before fork() (whose child would not inherit
 * them): SIGINT or SIGTERM stops here, before anything is bound (returns false);
 * SIGHUP is kept in d->startup_hup, to be raised again once the loop can reload.
 */
static bool pd__startup_signals(pd__daemon_t *d)
{
	const struct timespec now = {0, 0};
	int sig, stop = 0;
	while ((sig = sigtimedwait(&d->sigs, NULL, &now)) > 0) {
		if (sig == SIGHUP)
			d->startup_hup = true;
		else if (sig != SIGCHLD)
			stop = sig;
	}
	if (!stop)
		return true;
	pd_log(PD_LOG_INFO, "%s during start-up: stopping", stop == SIGINT ? "SIGINT" : "SIGTERM");
	d->status = PD__EXIT_OK;
	return false;
}

/* One response cache per worker, unless cache-size is 0. */
static int pd__caches_new(pd__daemon_t *d)
{
	pd__server_t *s = &d->server;
	if (d->cfg.cache_size == 0)
		return 0;
	s->caches = calloc((size_t)d->nworkers, sizeof(*s->caches));
	for (int i = 0; s->caches && i < d->nworkers; i++)
		if (!(s->caches[i] = pd_cache_new(d->cfg.cache_size)))
			break;
	if (!s->caches || !s->caches[d->nworkers - 1]) {
		pd_log(PD_LOG_ERR, "cannot allocate %d response caches of %zu bytes", d->nworkers,
		       d->cfg.cache_size);
		return -ENOMEM;
	}
	return 0;
}

/* The counter segment, counted into by the engine, the caches and pd__handle. */
static int pd__counters_new(pd__daemon_t *d)
{
	int udp = pd_engine_threads(d->engine);
	d->stats = pd_stats_new(udp, d->nworkers - udp, &d->stats_fd);
	if (!d->stats) {
		int ret = errno ? -errno : -ENOMEM;
		pd_log(PD_LOG_ERR, "cannot create the counter segment: %s", strerror(-ret));
		return ret;
	}
	d->server.stats = d->stats;
	for (int i = 0; d->server.caches && i < d->nworkers; i++)
		pd_cache_count_into(d->server.caches[i], &d->stats->live[i].dns.cache);
	for (int i = 0; i < d->nworkers; i++)
		pd_engine_set_stats(d->engine, i, &d->stats->live[i].net);
	for (int i = udp; i < d->nworkers; i++)
		pd_engine_set_tcp_stats(d->engine, i - udp, &d->stats->live[i].tcp);
	return 0;
}

/* Each worker's count of queries seen, for the query log's sampling. */
static int pd__query_log_new(pd__daemon_t *d)
{
	pd__server_t *s = &d->server;
	s->query_log = d->cfg.query_log;
	if (!s->query_log)
		return 0;
	s->qlog = aligned_alloc(64, 64 * (size_t)d->nworkers);
	if (!s->qlog) {
		pd_log(PD_LOG_ERR, "cannot allocate the query log: out of memory");
		return -ENOMEM;
	}
	memset(s->qlog, 0, 64 * (size_t)d->nworkers);
	return 0;
}

/*
 * The secret of generated cookie secrets: the predecessor's, so that the cookies it gave
 * stay valid through an upgrade, or a new random one; kept in our counter segment for our
 * own successor. With cookie-secret configured, nothing to do.
 */
static int pd__cookie_master(pd__daemon_t *d)
{
	pd_cookie_conf_t *c = &d->cfg.guard.cookie;
	pd_stats_t *old = d->old_stats_fd >= 0 ? pd_stats_map(d->old_stats_fd) : NULL;
	bool inherited = old && old->version >= 4 && old->cookie_master_set == 1;
	if (inherited)
		memcpy(c->master, old->cookie_master, sizeof(c->master));
	pd_stats_unmap(old);
	if (!inherited && getrandom(c->master, sizeof(c->master), 0) != sizeof(c->master)) {
		pd_log(PD_LOG_ERR, "cannot make a cookie secret: getrandom: %s", strerror(errno));
		return -EIO;
	}
	memcpy(d->stats->cookie_master, c->master, sizeof(c->master));
	d->stats->cookie_master_set = 1;
	if (c->enabled && c->nsecrets == 0)
		pd_log(PD_LOG_INFO, "cookies: %s secret, replaced every %u s",
		       inherited ? "the predecessor's" : "a new random", c->lifetime);
	return 0;
}

/* Each worker's guard (cookies, rate limits) and its copy of the answer settings. */
static int pd__guards_new(pd__daemon_t *d)
{
	pd__server_t *s = &d->server;
	pd_guard_conf_t *g = &d->cfg.guard;
	int ret = pd__cookie_master(d);
	if (ret < 0 || (!g->cookie.enabled && !g->rrl.rate))
		return ret;
	if (getrandom(&g->rrl.seed, sizeof(g->rrl.seed), 0) != sizeof(g->rrl.seed))
		g->rrl.seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	s->guards = calloc((size_t)d->nworkers, sizeof(*s->guards));
	s->answers = calloc((size_t)d->nworkers, sizeof(*s->answers));
	if (!s->guards || !s->answers) {
		pd_log(PD_LOG_ERR, "cannot allocate the guards: out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < d->nworkers; i++) {
		if ((ret = pd_guard_new(&s->guards[i], g)) < 0) {
			pd_log(PD_LOG_ERR, "cannot set up cookies and rate limits: %s",
			       ret == -ENOMEM ? "out of memory" : "no SipHash in libcrypto");
			return ret;
		}
		pd_guard_count_into(s->guards[i], &d->stats->live[i].guard);
		s->answers[i] = s->answer;
		s->answers[i].guard = s->guards[i];
	}
	if (g->rrl.rate)
		pd_log(PD_LOG_INFO,
		       "rate limit: %u responses/s per /%u (IPv4) or /%u (IPv6) prefix, class and "
		       "zone, window %u s, slip %u, %u exempt prefix(es)",
		       g->rrl.rate, g->rrl.ipv4_prefix, g->rrl.ipv6_prefix, g->rrl.window,
		       g->rrl.slip, g->rrl.nexempt);
	return 0;
}

/* What the workers share beside the engine: how to answer, caches, counters. */
static int pd__server_new(pd__daemon_t *d)
{
	d->server.answer.udp_size = d->cfg.udp_size;
	d->server.answer.identity = d->cfg.identity;
	d->server.answer.version = d->cfg.version;
	d->server.answer.nsid = d->cfg.nsid_len ? d->cfg.nsid : NULL;
	d->server.answer.nsid_len = d->cfg.nsid_len;
	/* RFC 7828 counts in 100 ms: the idle timeout, as the engine applies it. */
	int idle = d->cfg.tcp.idle_timeout_ms ? d->cfg.tcp.idle_timeout_ms : PD_TCP_DEFAULT_IDLE_MS;
	int units = idle / 100 > 65535 ? 65535 : idle / 100;
	d->server.answer.tcp_keepalive = (uint16_t)(units ? units : 1); /* 0 says: close now */
	/* The handler's workers: the UDP ones, then the TCP threads. */
	d->nworkers = pd_engine_threads(d->engine) + pd_engine_tcp_threads(d->engine);
	/* Before the guards copy the answer settings for each worker. */
	int ret = pd_transfers_new(&d->xfr, &d->cfg, d->engine, &d->zones);
	if (ret < 0)
		return ret;
	pd_transfers_attach(&d->xfr, &d->server.answer);
	ret = pd__caches_new(d);
	if (ret == 0)
		ret = pd__counters_new(d);
	if (ret == 0)
		ret = pd__guards_new(d);
	if (ret == 0)
		ret = pd__query_log_new(d);
	return ret;
}

/* Takeover, once our workers read the sockets: the predecessor stops, and its totals,
 * final now, are carried on. */
static void pd__takeover_finish(pd__daemon_t *d)
{
	int taken = 0;
	int ret = pd_handoff_go(d->handoff_conn, d->engine, d->handoff_version, &taken);
	d->handoff_conn = -1; /* closed by pd_handoff_go */
	/* We serve now, whatever the predecessor said: the paths are ours. */
	pd__unstage(&d->staged_pid, d->cfg.pid_file);
	pd__unstage(&d->staged_handoff, d->cfg.handoff_socket);
	pd__unstage(&d->staged_control, d->cfg.control_socket);
	if (ret < 0)
		pd_log(PD_LOG_WARN, "takeover: the old pindnsd did not confirm it stopped: %s",
		       strerror(-ret));
	else
		pd_log(PD_LOG_INFO,
		       "took over the sockets from %s, with %d open TCP connection(s); the old "
		       "pindnsd stopped",
		       d->takeover, taken);
	pd_stats_t *old = d->old_stats_fd >= 0 ? pd_stats_map(d->old_stats_fd) : NULL;
	if (old) {
		pd_stats_carry(d->stats, old);
		pd_stats_unmap(old);
	}
}

/*
 * Takeover: the metrics listener, once the predecessor has closed its own (it does when
 * we say GO; one from before that change closes it as it exits, soon after). Scrapes in
 * between are refused: Prometheus tries again at its next interval.
 */
static void pd__metrics_late(pd__daemon_t *d)
{
	char err[1024] = "";
	int fd = -EADDRINUSE;
	if (!d->metrics_later)
		return;
	for (int i = 0; i < 40 && fd == -EADDRINUSE; i++) {
		if (i)
			usleep(25 * 1000);
		fd = pd_metrics_listen(&d->cfg.metrics, err, sizeof(err));
	}
	if (fd < 0)
		pd_log(PD_LOG_ERR, "%s; serving without metrics", err);
	d->metrics_fd = fd < 0 ? -1 : fd;
}

/*
 * Started by pindnsctl upgrade: leaves the pindnsd that started us at once, so that by the
 * time it names us to systemd as the main process (MAINPID=, at the handoff) we are PID
 * 1's child, not its. systemd 252 takes a main process that is not its own child for one
 * it cannot wait for: a stop then sends SIGKILL right after SIGTERM. The parent says
 * which process goes on, then exits 0.
 */
static int pd__upgrade_leave_parent(pd__daemon_t *d)
{
	if (d->report_fd < 0)
		return 0;
	pid_t kid = fork();
	if (kid < 0) {
		pd_log(PD_LOG_ERR, "upgrade: cannot fork: %s", strerror(errno));
		d->status = PD__EXIT_FAILED;
		return -errno;
	}
	if (kid > 0) {
		dprintf(d->report_fd, "pid %ld version %s\n", (long)kid, PD_VERSION);
		_exit(0);
	}
	return 0;
}

/* The report of an upgrade: the process that will serve, once it has detached. */
static void pd__report_hello(const pd__daemon_t *d)
{
	if (d->report_fd >= 0)
		dprintf(d->report_fd, "pid %ld version %s\n", (long)getpid(), PD_VERSION);
}

/* Taken over: the report is done. The descriptor is kept, on /dev/null, until the
 * workers are gone: one of them that logs an error meanwhile writes nowhere. */
static void pd__report_close(pd__daemon_t *d)
{
	if (d->report_fd < 0)
		return;
	pd_log_copy_errors(-1);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0 || dup3(devnull, d->report_fd, O_CLOEXEC) < 0) {
		close(d->report_fd); /* the predecessor must see the end anyway */
		d->report_fd = -1;
	}
	if (devnull >= 0)
		close(devnull);
}

/* Starts the workers (on takeover, then the predecessor stops). */
static int pd__start(pd__daemon_t *d)
{
	int ret = pd_engine_start(d->engine, pd__handle, &d->server, d->zones);
	if (ret < 0)
		return ret; /* the engine said why */
	if (d->handoff_conn >= 0)
		pd__takeover_finish(d);
	if ((ret = pd_transfers_start(&d->xfr)) < 0)
		return ret;
	pd__report_close(d);
	pd__metrics_late(d);
	malloc_trim(0); /* hand back what the zone builders freed, now that we answer */
	return 0;
}

/* Tells the parent of a detached daemon that it serves. Start-up went to the terminal;
 * from now on it uses syslog, and lets go of the caller's stderr so a capturing shell
 * sees end-of-file. */
static void pd__tell_parent(pd__daemon_t *d)
{
	pd_log_to_syslog();
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
	if (write(d->ready_fd, "R", 1) < 0)
		pd_log(PD_LOG_WARN, "cannot tell the parent we are ready: %s", strerror(errno));
	close(d->ready_fd);
	d->ready_fd = -1;
}

/* Says we serve: in the log, to the parent of a detached daemon, and to systemd. */
static void pd__announce(pd__daemon_t *d)
{
	char addrs[PD_LISTEN_MAX * 81] = "";
	for (int i = 0; i < d->cfg.nlisten; i++) {
		strcat(addrs, i ? " " : "");
		strcat(addrs, d->cfg.listen[i].text);
	}
	pd_log(PD_LOG_INFO,
	       "pindnsd %s serving %zu zone(s) on %s (UDP and TCP) with %d worker(s) and %d "
	       "TCP thread(s), cache %zu KiB each",
	       PD_VERSION, d->zones->count, addrs, pd_engine_threads(d->engine),
	       pd_engine_tcp_threads(d->engine), d->cfg.cache_size / 1024);
	if (d->ready_fd >= 0)
		pd__tell_parent(d);
	pd_systemd_notify("READY=1\nMAINPID=%ld\nSTATUS=serving %zu zone(s)", (long)getpid(),
	                  d->zones->count);
}

/* A successor asks for the sockets. Once it serves on them, we stop and leave. */
static void pd__on_handoff(pd__daemon_t *d)
{
	char err[1024] = "";
	int conn = accept4(d->handoff_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return;
	pd_log(PD_LOG_INFO, "handoff: a successor asks for the sockets");
	int version;
	if (pd_handoff_give(conn, d->engine, d->stats_fd, &version, err, sizeof(err)) < 0) {
		pd_log(PD_LOG_ERR, "%s", err);
		close(conn);
		return;
	}
	/* The successor reads the same sockets now: stop ours and leave. Under systemd it
	 * becomes the main process (its PID from the connection, or, when it is the one
	 * upgrade started and it detached since, the PID it serves as). */
	struct ucred cred = {.pid = 0};
	socklen_t cl = sizeof(cred);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		pd_systemd_notify("MAINPID=%ld", (long)pd_upgrade_main_pid(&d->upgrade, cred.pid));
	close(d->handoff_fd);
	d->handoff_fd = -1;
	/* Its metrics listener is bound once we say BYE: ours goes first. */
	if (d->metrics_fd >= 0) {
		close(d->metrics_fd);
		d->metrics_fd = -1;
	}
	pd_engine_stop(d->engine);
	int handed = pd_handoff_done(conn, d->engine, version);
	pd_log(PD_LOG_INFO, "handed the sockets over, with %d open TCP connection(s); exiting",
	       handed);
	pd_upgrade_handed_over(&d->upgrade, cred.pid);
	d->handed_over = true;
	d->stopping = true;
}

/* pindnsctl upgrade (pd_control_t.upgrade): our successor is started, and conn answered
 * once it has taken over or failed to. */
static int pd__upgrade_start(void *arg, int conn, char *msg, size_t cap)
{
	pd__daemon_t *d = arg;
	if (!d->cfg.handoff_socket) {
		snprintf(msg, cap,
		         "upgrade needs a handoff socket, and this pindnsd has none: set "
		         "handoff-socket (the packaged configuration has /run/pindns/handoff.sock) "
		         "and restart it once");
		return -EINVAL;
	}
	if (d->handoff_fd < 0) {
		snprintf(
		    msg, cap,
		    "upgrade needs the handoff socket %s, which this pindnsd could not make at "
		    "start-up (see its log): restart it once",
		    d->cfg.handoff_socket);
		return -EINVAL;
	}
	return pd_upgrade_start(&d->upgrade, d->cfg.handoff_socket, d->cfg.upgrade_timeout_s, conn,
	                        msg, cap);
}

/* A pindnsctl command. */
static void pd__on_control(pd__daemon_t *d)
{
	int conn = accept4(d->control_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn >= 0)
		pd_control_serve(conn, &d->control);
	if (d->control.stop) {
		pd_log(PD_LOG_INFO, "pindnsctl stop: stopping");
		pd_systemd_notify("STOPPING=1");
		d->stopping = true;
	}
}

/* A Prometheus scrape. */
static void pd__on_metrics(pd__daemon_t *d)
{
	int conn = accept4(d->metrics_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn >= 0)
		pd_metrics_serve(conn, d->stats, d->zones, &d->xfr.stats);
}

/* SIGHUP reloads the zones; SIGINT and SIGTERM stop; SIGCHLD: a successor ended. */
static void pd__on_signal(pd__daemon_t *d)
{
	struct signalfd_siginfo si;
	if (read(d->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	int sig = (int)si.ssi_signo;
	if (sig == SIGCHLD) {
		pd_upgrade_on_child(&d->upgrade);
		return;
	}
	if (sig == SIGHUP) {
		char msg[300];
		pd_log(PD_LOG_INFO, "SIGHUP: reloading zones");
		pd__reload(&d->reloader, NULL, msg, sizeof(msg));
		return;
	}
	pd_log(PD_LOG_INFO, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	pd_systemd_notify("STOPPING=1");
	d->stopping = true;
}

/* What the event loop works with besides the listeners: the signals, and what reloads
 * and control commands act on. */
static int pd__loop_prepare(pd__daemon_t *d)
{
	d->reloader = (pd__reloader_t){.sources = pd_config_sources(&d->cfg),
	                               .engine = d->engine,
	                               .zones = &d->zones,
	                               .xfr = &d->xfr};
	d->reloader.sources.watch = true;
	d->control = (pd_control_t){.cfg = &d->cfg,
	                            .zones = &d->zones,
	                            .stats = d->stats,
	                            .started_unix = (int64_t)time(NULL),
	                            .reload = pd__reload,
	                            .arg = &d->reloader,
	                            .upgrade = pd__upgrade_start,
	                            .upgrade_arg = d,
	                            .xfr_stats = &d->xfr.stats};
	if (d->xfr.xfrd) {
		d->control.xfr = pd_transfers_command;
		d->control.xfr_arg = &d->xfr;
	}
	d->sig_fd = signalfd(-1, &d->sigs, SFD_CLOEXEC);
	if (d->sig_fd < 0) {
		int ret = -errno;
		pd_log(PD_LOG_ERR, "signalfd: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* The main thread's life while the workers answer: one event at a time until told to
 * stop (0), or until it cannot wait for events (-errno). */
static int pd__loop(pd__daemon_t *d)
{
	int ret = pd__loop_prepare(d);
	while (ret == 0 && !d->stopping) {
		/* A descriptor of -1 (off, or handed over) is skipped by poll. */
		struct pollfd pfd[6] = {{.fd = d->sig_fd, .events = POLLIN},
		                        {.fd = d->handoff_fd, .events = POLLIN},
		                        {.fd = d->control_fd, .events = POLLIN},
		                        {.fd = d->metrics_fd, .events = POLLIN},
		                        {.fd = pd_upgrade_fd(&d->upgrade), .events = POLLIN},
		                        {.fd = d->xfr.event_fd, .events = POLLIN}};
		if (poll(pfd, 6, pd_upgrade_wait_ms(&d->upgrade)) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pd_log(PD_LOG_ERR, "poll: %s", strerror(-ret));
			break;
		}
		if (pfd[1].revents & POLLIN)
			pd__on_handoff(d);
		if (!d->stopping && (pfd[2].revents & POLLIN))
			pd__on_control(d);
		if (d->stopping)
			break; /* what else is ready is left: the sockets may be another's now */
		if (pfd[3].revents & POLLIN)
			pd__on_metrics(d);
		if (pfd[0].revents & POLLIN)
			pd__on_signal(d);
		if (pfd[4].revents)
			pd_upgrade_on_report(&d->upgrade);
		if (pfd[5].revents & POLLIN)
			pd_transfers_on_event(&d->xfr);
		pd_upgrade_on_time(&d->upgrade);
	}
	return ret;
}

/* The counters' totals, in the log of a daemon that stops for good. */
static void pd__log_totals(const pd_stats_t *stats)
{
	pd_worker_stats_t t;
	pd_stats_total(stats, &t);
	pd_log(PD_LOG_INFO,
	       "totals (carried over restarts): queries %llu, responses %llu, dropped %llu, "
	       "truncated %llu, NOERROR %llu, NXDOMAIN %llu, REFUSED %llu, FORMERR %llu, "
	       "cache hits %llu, misses %llu, not cacheable %llu",
	       (unsigned long long)t.net.queries, (unsigned long long)t.net.responses,
	       (unsigned long long)t.net.dropped, (unsigned long long)t.dns.truncated,
	       (unsigned long long)t.dns.rcode[0], (unsigned long long)t.dns.rcode[3],
	       (unsigned long long)t.dns.rcode[5], (unsigned long long)t.dns.rcode[1],
	       (unsigned long long)t.dns.cache.hits, (unsigned long long)t.dns.cache.misses,
	       (unsigned long long)t.dns.cache.uncacheable);
}

/* Stops the workers and removes the runtime files that are still ours: after a handoff,
 * the pid file and the control socket's path are the successor's. */
static void pd__stop(pd__daemon_t *d)
{
	pd_engine_stop(d->engine);
	pd_transfers_free(&d->xfr); /* after the TCP threads, which hand it connections */
	if (!d->handed_over)
		pd__log_totals(d->stats);
	if (d->cfg.pid_file && !d->handed_over)
		unlink(d->cfg.pid_file);
	if (d->handoff_fd >= 0) {
		close(d->handoff_fd);
		d->handoff_fd = -1;
		unlink(d->cfg.handoff_socket);
	}
	if (d->control_fd >= 0) {
		close(d->control_fd);
		d->control_fd = -1;
		if (!d->handed_over)
			unlink(d->cfg.control_socket);
	}
}

/* Frees and closes whatever the steps made, however far they got. */
static void pd__cleanup(pd__daemon_t *d)
{
	const int fds[] = {d->ready_fd,   d->handoff_conn, d->handoff_fd,
	                   d->control_fd, d->metrics_fd,   d->sig_fd,
	                   d->stats_fd,   d->old_stats_fd, d->report_fd};
	pd_upgrade_free(&d->upgrade);
	pd__unstage_drop(&d->staged_pid);
	pd__unstage_drop(&d->staged_handoff);
	pd__unstage_drop(&d->staged_control);
	for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pd_engine_stop(d->engine);
	pd_transfers_free(&d->xfr);
	pd_engine_free(d->engine);
	for (int i = 0; d->server.caches && i < d->nworkers; i++)
		pd_cache_free(d->server.caches[i]);
	free(d->server.caches);
	for (int i = 0; d->server.guards && i < d->nworkers; i++)
		pd_guard_free(d->server.guards[i]);
	free(d->server.guards);
	free(d->server.answers);
	free(d->server.qlog);
	pd_stats_unmap(d->stats);
	pd_zoneset_free(d->zones);
	pd_config_free(&d->cfg);
}

int main(int argc, char **argv)
{
	pd__daemon_t d;
	pd__daemon_init(&d);
	/* First of all, while the binary at our path is surely the one running. */
	pd_upgrade_init(&d.upgrade, NULL);
	if (pd__options_scan(&d, argc, argv) < 0 || d.done)
		goto out;
	if (pd__upgrade_leave_parent(&d) < 0)
		goto out;
	pd__signals_block(&d);
	pd__malloc_tune();
	if (pd__config_read(&d) < 0 || pd__options_apply(&d, argc, argv) < 0 ||
	    pd__config_finish(&d) < 0 || pd__zones_load(&d) < 0 || d.done)
		goto out;
	d.upgrade.argv = pd__successor_argv(argc, argv);
	if (!pd__startup_signals(&d) || pd__successor_checks(&d) < 0 || pd__engine_build(&d) < 0 ||
	    pd__detach(&d) < 0)
		goto out;
	pd__report_hello(&d);
	if (pd__as_root(&d) < 0)
		goto out;
	if (d.startup_hup) {
		pd_log(PD_LOG_INFO, "SIGHUP during start-up: the zones are reloaded once serving");
		raise(SIGHUP); /* pending, blocked: the loop's signalfd reads it */
	}
	if (pd__server_new(&d) < 0 || pd__start(&d) < 0)
		goto out;
	pd__announce(&d);
	if (pd__loop(&d) == 0)
		d.status = PD__EXIT_OK;
	pd__stop(&d);
out:
	pd__cleanup(&d);
	return d.status;
}
