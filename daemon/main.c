/* pindnsd: options, start-up, signals, reload and shutdown of the server. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
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
#include "pindns/control.h"
#include "pindns/handoff.h"
#include "metrics.h"
#include "privs.h"
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
	        "Authoritative DNS server answering over UDP from zone files.\n"
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
	        "                        upgrade that loses no query\n"
	        "  -h, --help            show this help and exit\n"
	        "  -V, --version         show the version and exit\n"
	        "\n"
	        "Configuration file options (\"key: value\" lines, # comments; the command\n"
	        "line wins over the file):\n%s"
	        "\n"
	        "Signals: SIGHUP reloads the zones (unchanged files are skipped; a zone that\n"
	        "fails to load keeps serving its old data); SIGINT and SIGTERM stop the server.\n",
	        PD_DEFAULT_ZONES_DIR, pd_config_help);
}

/* What the workers share read-only, and what each owns: its cache. */
typedef struct pd__server {
	pd_answer_conf_t answer;
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
	if (d->out_len >= 12)
		pd_log(PD_LOG_INFO, "query %s %s type %u class %u rcode %u%s", client, name, qtype,
		       qclass, d->out[3] & 0xF, (d->out[2] & 0x02) ? " TC" : "");
	else
		pd_log(PD_LOG_INFO, "query %s %s type %u class %u dropped", client, name, qtype,
		       qclass);
}

static void pd__handle(void *arg, int worker, const void *data, pd_dgram_t *batch, int n)
{
	const pd__server_t *s = arg;
	pd_worker_stats_t *st = &s->stats->live[worker];
	if (s->caches)
		pd_cache_answer_batch(s->caches[worker], data, &s->answer, batch, n);
	else
		pd_answer_batch(data, &s->answer, batch, n);
	if (s->query_log) {
		uint64_t *seen = &s->qlog[worker].seen;
		for (int i = 0; i < n; i++)
			if ((*seen)++ % s->query_log == 0)
				pd__log_query(&batch[i]);
	}
	uint64_t truncated = 0;
	for (int i = 0; i < n; i++) {
		if (batch[i].out_len < 12)
			continue;
		/* Header rcode only: the extended bits (BADVERS) are rare enough to skip. */
		pd_counter_add(&st->dns.rcode[batch[i].out[3] & 0xF], 1);
		truncated += (batch[i].out[2] & 0x02) != 0;
	}
	pd_counter_add(&st->dns.truncated, truncated); /* once: each add is an atomic store */
}

/* What a reload needs, for SIGHUP and pindnsctl alike. */
typedef struct pd__reloader {
	pd_zone_sources_t sources;
	pd_engine_t *engine;
	pd_zoneset_t **zones;
} pd__reloader_t;

static int pd__reload(void *arg, const char *zone, char *msg, size_t cap)
{
	pd__reloader_t *r = arg;
	pd_zoneset_t *next = NULL;
	int failed = 0, found = 1, rc;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pd_systemd_notify("RELOADING=1\nMONOTONIC_USEC=%lld",
	                  (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	if (zone)
		rc = pd_zones_build_one(&r->sources, *r->zones, zone, &next, &failed, &found);
	else
		rc = pd_zones_build(&r->sources, *r->zones, &next, &failed);
	if (rc < 0 || !found) {
		pd_zoneset_release(next, *r->zones);
		snprintf(msg, cap,
		         rc == -EINVAL ? "'%s' is not a domain name"
		         : !found      ? "no zone %s in the configuration"
		                       : "reload failed: out of memory; old zones kept",
		         zone ? zone : "");
		pd_systemd_notify("READY=1");
		return rc < 0 ? rc : -ENOENT;
	}
	pd_zoneset_t *old = pd_engine_publish(r->engine, next);
	pd_zoneset_release(old, next);
	malloc_trim(0);
	*r->zones = next;
	snprintf(msg, cap, "reload done: %zu zone(s) serving, %d failed", next->count, failed);
	pd_log(failed ? PD_LOG_WARN : PD_LOG_INFO, "%s", msg);
	pd_systemd_notify("READY=1\nSTATUS=serving %zu zone(s)", next->count);
	return failed ? -EIO : 0;
}

/* Makes zone paths absolute: reload happens after the daemon has left its directory. */
static void pd__absolute(char **path)
{
	char buf[PATH_MAX];
	if (*path && (*path)[0] != '/' && realpath(*path, buf)) {
		free(*path);
		*path = strdup(buf);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_TAKEOVER, OPT_HANDOFF, OPT_CONTROL, OPT_USER };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"threads", required_argument, NULL, 't'},
	    {"zones", required_argument, NULL, 'z'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"pid-file", required_argument, NULL, 'p'},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"takeover", required_argument, NULL, OPT_TAKEOVER},
	    {"handoff-socket", required_argument, NULL, OPT_HANDOFF},
	    {"control-socket", required_argument, NULL, OPT_CONTROL},
	    {"user", required_argument, NULL, OPT_USER},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	pd_config_t cfg;
	const char *config_path = NULL;
	bool foreground = false, check_only = false, handed_over = false;
	const char *takeover = NULL;
	int activated[PD_ACTIVATED_MAX], nactivated = 0;
	int stats_fd = -1, old_stats_fd = -1, control_fd = -1, metrics_fd = -1;
	pd__reloader_t reloader = {0};
	pd_control_t control = {0};
	pd_stats_t *stats = NULL;
	int handoff_conn = -1, handoff_fd = -1, sig_fd = -1;
	char err[1024];
	int opt, status = 1;
	int ready_pipe[2] = {-1, -1};
	pd_engine_t *engine = NULL;
	pd_zoneset_t *zones = NULL;
	pd__server_t server = {0};
	int nworkers = 0;

	/* Options are read twice: the file first, then the command line on top of it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:l:t:z:fp:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			pd__usage(stdout);
			return 0;
		case 'V':
			printf("pindnsd %s\n", PD_VERSION);
			return 0;
		case '?':
			fprintf(stderr, "pindnsd: unknown option '%s'; see pindnsd --help\n",
			        argv[optind - 1]);
			return 2;
		case ':':
			fprintf(stderr, "pindnsd: option '%s' needs a value; see pindnsd --help\n",
			        argv[optind - 1]);
			return 2;
		}
	}
	/*
	 * Zone loading makes and frees millions of small allocations (ldns, per record)
	 * while large arrays grow at the top of the heap; with glibc's defaults the heap is
	 * trimmed and regrown all the time (brk, page faults, TLB shootdowns): 26 s
	 * instead of 2 s for a million records. Trim only after loading (malloc_trim).
	 */
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	mallopt(M_TOP_PAD, 64 << 20);
	pd_config_init(&cfg);
	if (config_path && pd_config_load(&cfg, config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "pindnsd: %s\n", err);
		goto out;
	}
	bool cli_listen = false;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":c:l:t:z:fp:hV", opts, NULL)) != -1) {
		const char *key = NULL;
		switch (opt) {
		case 'l':
			if (!cli_listen)
				pd_config_clear_listen(&cfg);
			cli_listen = true;
			key = "listen";
			break;
		case 't':
			key = "threads";
			break;
		case 'z':
			key = "zones-dir";
			break;
		case 'p':
			key = "pid-file";
			break;
		case 'f':
			foreground = true;
			break;
		case OPT_CHECK:
			check_only = true;
			break;
		case OPT_TAKEOVER:
			takeover = optarg;
			break;
		case OPT_HANDOFF:
			key = "handoff-socket";
			break;
		case OPT_CONTROL:
			key = "control-socket";
			break;
		case OPT_USER:
			key = "user";
			break;
		}
		if (key && pd_config_set(&cfg, key, optarg, err, sizeof(err)) < 0) {
			fprintf(stderr, "pindnsd: %s: %s\n", argv[optind - 1], err);
			status = 2;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pindnsd: unexpected argument '%s'; see pindnsd --help\n",
		        argv[optind]);
		status = 2;
		goto out;
	}
	if (!cfg.zones_dir && cfg.nzones == 0)
		cfg.zones_dir = strdup(PD_DEFAULT_ZONES_DIR);
	if (!cfg.identity) {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		cfg.identity = strdup(host);
	}
	foreground = foreground || cfg.foreground;
	pd_log_set_level(cfg.log_level);
	if (cfg.log_syslog && !check_only)
		pd_log_to_syslog();
	pd__absolute(&cfg.zones_dir);
	for (size_t i = 0; i < cfg.nzones; i++)
		pd__absolute(&cfg.zones[i].file);

	int failed = 0;
	pd_zone_sources_t sources = pd_config_sources(&cfg);
	if (pd_zones_build(&sources, NULL, &zones, &failed) < 0) {
		pd_log(PD_LOG_ERR, "cannot build the zone set: out of memory");
		goto out;
	}
	if (check_only) {
		printf("pindnsd: configuration OK, %zu zone(s) loaded, %d failed\n", zones->count,
		       failed);
		status = failed ? 1 : 0;
		goto out;
	}
	if (zones->count == 0)
		pd_log(PD_LOG_WARN, "no zone loaded: every query will be REFUSED");

	pd_engine_conf_t ecfg = {.listen = cfg.listen,
	                         .nlisten = cfg.nlisten,
	                         .listen_is_default = cfg.listen_is_default,
	                         .threads = cfg.threads,
	                         .rcvbuf = cfg.rcvbuf,
	                         .reuseport_cpu = cfg.reuseport_cpu};
	if (takeover) {
		/* Zones are loaded already: the old process serves until we are ready. */
		handoff_conn = pd_handoff_take(takeover, &engine, &old_stats_fd, err, sizeof(err));
		if (handoff_conn < 0) {
			pd_log(PD_LOG_ERR, "%s", err);
			goto out;
		}
		if (cfg.threads && cfg.threads != pd_engine_threads(engine))
			pd_log(PD_LOG_WARN,
			       "using the %d worker(s) of the sockets taken over, not %d: "
			       "the socket set stays as it is",
			       pd_engine_threads(engine), cfg.threads);
		cfg.nlisten = pd_engine_listens(engine, cfg.listen);
	} else if ((nactivated = pd_systemd_listen_fds(activated, PD_ACTIVATED_MAX)) > 0) {
		if (pd_engine_new_from_activation(&engine, &ecfg, activated, nactivated, err,
		                                  sizeof(err)) < 0) {
			pd_log(PD_LOG_ERR, "%s", err);
			goto out;
		}
		cfg.nlisten = pd_engine_listens(engine, cfg.listen);
		pd_log(PD_LOG_INFO, "using %d socket(s) from socket activation", nactivated);
	} else if (pd_engine_new(&engine, &ecfg, err, sizeof(err)) < 0) {
		pd_log(PD_LOG_ERR, "%s", err);
		goto out;
	}

	/* Detach before any thread exists: fork() copies only the calling thread. */
	if (!foreground) {
		if (pipe(ready_pipe) < 0) {
			pd_log(PD_LOG_ERR, "pipe: %s", strerror(errno));
			goto out;
		}
		pid_t pid = fork();
		if (pid < 0) {
			pd_log(PD_LOG_ERR, "fork: %s", strerror(errno));
			goto out;
		}
		if (pid > 0) {
			char ok = 0;
			close(ready_pipe[1]);
			/* Exit with the child's verdict, so scripts see start-up failures. */
			if (read(ready_pipe[0], &ok, 1) == 1 && ok == 'R') {
				printf("pindnsd: serving in the background, pid %ld\n", (long)pid);
				fflush(stdout); /* _exit() skips stdio's buffers */
				_exit(0);
			}
			int ws;
			waitpid(pid, &ws, 0);
			_exit(1);
		}
		close(ready_pipe[0]);
		setsid();
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			close(devnull);
		}
		if (chdir("/") < 0)
			pd_log(PD_LOG_WARN, "chdir /: %s", strerror(errno));
	}

	/* All that needs root happens here: files and sockets, then root goes. */
	uid_t uid = (uid_t)-1, owner;
	gid_t gid = (gid_t)-1;
	int due = pd_privileges_lookup(cfg.user, cfg.group, &uid, &gid, err, sizeof(err));
	if (due < 0) {
		pd_log(PD_LOG_ERR, "%s", err);
		goto out;
	}
	if (due == 0 && geteuid() == 0)
		pd_log(PD_LOG_WARN, "running as root, as configured (user: root)");
	/* Without systemd's tmpfiles nothing makes /run/pindns: make what is missing, given
	 * to the service user, who removes its files there at stop. */
	owner = due > 0 ? uid : (uid_t)-1;
	if (cfg.pid_file) {
		if (pd_make_file_dir("pid file", cfg.pid_file, owner, gid, err, sizeof(err)) < 0) {
			pd_log(PD_LOG_ERR, "%s", err);
			goto out;
		}
		if (pd_write_pid_file(cfg.pid_file, err, sizeof(err)) < 0) {
			pd_log(PD_LOG_ERR, "%s", err);
			goto out;
		}
	}
	if (cfg.handoff_socket) {
		if (pd_make_file_dir("handoff socket", cfg.handoff_socket, owner, gid, err,
		                     sizeof(err)) == 0)
			handoff_fd = pd_handoff_listen(cfg.handoff_socket, err, sizeof(err));
		if (handoff_fd < 0)
			pd_log(PD_LOG_ERR, "%s; restart by takeover will not work", err);
	}
	if (cfg.control_socket) {
		if (pd_make_file_dir("control socket", cfg.control_socket, owner, gid, err,
		                     sizeof(err)) == 0)
			control_fd = pd_control_listen(cfg.control_socket, err, sizeof(err));
		if (control_fd < 0)
			pd_log(PD_LOG_ERR, "%s; pindnsctl will not reach this daemon", err);
	}
	if (cfg.metrics_on) {
		metrics_fd = pd_metrics_listen(&cfg.metrics, err, sizeof(err));
		if (metrics_fd < 0)
			pd_log(PD_LOG_ERR, "%s", err);
	}
	if (due > 0) {
		/* Its sockets stay the service's: pindnsctl and successors run as it. */
		/* Their folder may be the service user's: given by descriptor, never through a
		 * link put in their place (pd_give_socket). */
		if (handoff_fd >= 0 && pd_give_socket("handoff socket", cfg.handoff_socket, uid,
		                                      gid, err, sizeof(err)) < 0)
			pd_log(PD_LOG_WARN, "%s", err);
		if (control_fd >= 0 && pd_give_socket("control socket", cfg.control_socket, uid,
		                                      gid, err, sizeof(err)) < 0)
			pd_log(PD_LOG_WARN, "%s", err);
		if (pd_privileges_drop(uid, gid, err, sizeof(err)) < 0) {
			pd_log(PD_LOG_ERR, "%s", err);
			goto out;
		}
		pd_log(PD_LOG_INFO, "running as %s (uid %u), without capabilities", cfg.user,
		       (unsigned)uid);
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	/* Workers inherit this mask, so only the main thread ever takes these signals. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	server.answer.udp_size = cfg.udp_size;
	server.answer.identity = cfg.identity;
	server.answer.version = cfg.version;
	nworkers = pd_engine_threads(engine);
	if (cfg.cache_size > 0) {
		server.caches = calloc((size_t)nworkers, sizeof(*server.caches));
		for (int i = 0; server.caches && i < nworkers; i++)
			if (!(server.caches[i] = pd_cache_new(cfg.cache_size)))
				break;
		if (!server.caches || !server.caches[nworkers - 1]) {
			pd_log(PD_LOG_ERR, "cannot allocate %d response caches of %zu bytes",
			       nworkers, cfg.cache_size);
			goto out;
		}
	}
	stats = pd_stats_new(nworkers, &stats_fd);
	if (!stats) {
		pd_log(PD_LOG_ERR, "cannot create the counter segment: %s", strerror(errno));
		goto out;
	}
	server.stats = stats;
	for (int i = 0; server.caches && i < nworkers; i++)
		pd_cache_count_into(server.caches[i], &stats->live[i].dns.cache);
	server.query_log = cfg.query_log;
	if (cfg.query_log) {
		server.qlog = aligned_alloc(64, 64 * (size_t)nworkers);
		if (!server.qlog)
			goto out;
		memset(server.qlog, 0, 64 * (size_t)nworkers);
	}
	for (int i = 0; i < nworkers; i++)
		pd_engine_set_stats(engine, i, &stats->live[i].net);
	if (pd_engine_start(engine, pd__handle, &server, zones) < 0)
		goto out;
	if (handoff_conn >= 0) {
		int rc = pd_handoff_go(handoff_conn);
		handoff_conn = -1;
		if (rc < 0)
			pd_log(PD_LOG_WARN,
			       "takeover: the old pindnsd did not confirm it stopped: %s",
			       strerror(-rc));
		else
			pd_log(PD_LOG_INFO,
			       "took over the sockets from %s; the old pindnsd stopped", takeover);
		/* Its workers have stopped: its totals are final, carry them on. */
		pd_stats_t *old = old_stats_fd >= 0 ? pd_stats_map(old_stats_fd) : NULL;
		if (old) {
			pd_stats_carry(stats, old);
			pd_stats_unmap(old);
		}
	}
	malloc_trim(0); /* hand back what the zone builders freed, now that we answer */
	{
		char addrs[PD_LISTEN_MAX * 81] = "";
		for (int i = 0; i < cfg.nlisten; i++) {
			strcat(addrs, i ? " " : "");
			strcat(addrs, cfg.listen[i].text);
		}
		pd_log(PD_LOG_INFO,
		       "pindnsd %s serving %zu zone(s) on %s with %d worker(s), cache %zu KiB each",
		       PD_VERSION, zones->count, addrs, nworkers, cfg.cache_size / 1024);
	}
	if (ready_pipe[1] >= 0) {
		/* Start-up went to the terminal; from now on a detached daemon uses syslog, and
		 * lets go of the caller's stderr so a capturing shell sees end-of-file. */
		pd_log_to_syslog();
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDERR_FILENO);
			close(devnull);
		}
		if (write(ready_pipe[1], "R", 1) < 0)
			pd_log(PD_LOG_WARN, "cannot tell the parent we are ready: %s",
			       strerror(errno));
		close(ready_pipe[1]);
		ready_pipe[1] = -1;
	}

	pd_systemd_notify("READY=1\nMAINPID=%ld\nSTATUS=serving %zu zone(s)", (long)getpid(),
	                  zones->count);
	reloader.sources = pd_config_sources(&cfg);
	reloader.engine = engine;
	reloader.zones = &zones;
	control.cfg = &cfg;
	control.zones = &zones;
	control.stats = stats;
	control.workers = nworkers;
	control.started_unix = (int64_t)time(NULL);
	control.reload = pd__reload;
	control.arg = &reloader;
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sig_fd < 0) {
		pd_log(PD_LOG_ERR, "signalfd: %s", strerror(errno));
		goto stop;
	}
	for (;;) {
		struct pollfd pfd[4] = {{.fd = sig_fd, .events = POLLIN},
		                        {.fd = handoff_fd, .events = POLLIN},
		                        {.fd = control_fd, .events = POLLIN},
		                        {.fd = metrics_fd, .events = POLLIN}};
		if (poll(pfd, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			pd_log(PD_LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (handoff_fd >= 0 && (pfd[1].revents & POLLIN)) {
			int conn = accept4(handoff_fd, NULL, NULL, SOCK_CLOEXEC);
			if (conn < 0)
				continue;
			pd_log(PD_LOG_INFO, "handoff: a successor asks for the sockets");
			if (pd_handoff_give(conn, engine, stats_fd, err, sizeof(err)) < 0) {
				pd_log(PD_LOG_ERR, "%s", err);
				close(conn);
				continue;
			}
			/* The successor reads the same sockets now: stop ours and leave. Under
			 * systemd it becomes the main process (its PID from the connection). */
			struct ucred cred;
			socklen_t cl = sizeof(cred);
			if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
				pd_systemd_notify("MAINPID=%ld", (long)cred.pid);
			close(handoff_fd);
			handoff_fd = -1;
			pd_engine_stop(engine);
			pd_handoff_done(conn);
			pd_log(PD_LOG_INFO, "handed the sockets over; exiting");
			handed_over = true;
			break;
		}
		if (control_fd >= 0 && (pfd[2].revents & POLLIN)) {
			int conn = accept4(control_fd, NULL, NULL, SOCK_CLOEXEC);
			if (conn >= 0)
				pd_control_serve(conn, &control);
			if (control.stop) {
				pd_log(PD_LOG_INFO, "pindnsctl stop: stopping");
				pd_systemd_notify("STOPPING=1");
				break;
			}
		}
		if (metrics_fd >= 0 && (pfd[3].revents & POLLIN)) {
			int conn = accept4(metrics_fd, NULL, NULL, SOCK_CLOEXEC);
			if (conn >= 0)
				pd_metrics_serve(conn, stats, zones);
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		int sig = (int)si.ssi_signo;
		if (sig == SIGHUP) {
			char msg[300];
			pd_log(PD_LOG_INFO, "SIGHUP: reloading zones");
			pd__reload(&reloader, NULL, msg, sizeof(msg));
			continue;
		}
		pd_log(PD_LOG_INFO, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
		pd_systemd_notify("STOPPING=1");
		break;
	}
	status = 0;
stop:
	pd_engine_stop(engine);
	if (stats && !handed_over) {
		pd_worker_stats_t t;
		pd_stats_total(stats, &t);
		pd_log(
		    PD_LOG_INFO,
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
	/* After a handoff the pid file is the successor's. */
	if (cfg.pid_file && !handed_over)
		unlink(cfg.pid_file);
	if (handoff_fd >= 0) {
		close(handoff_fd);
		unlink(cfg.handoff_socket);
	}
	if (sig_fd >= 0)
		close(sig_fd);
	if (control_fd >= 0) {
		close(control_fd);
		if (!handed_over) /* the path is the successor's socket now */
			unlink(cfg.control_socket);
	}
	if (metrics_fd >= 0)
		close(metrics_fd);
out:
	if (ready_pipe[1] >= 0)
		close(ready_pipe[1]);
	if (handoff_conn >= 0)
		close(handoff_conn);
	pd_engine_free(engine);
	for (int i = 0; server.caches && i < nworkers; i++)
		pd_cache_free(server.caches[i]);
	free(server.caches);
	free(server.qlog);
	pd_stats_unmap(stats);
	if (stats_fd >= 0)
		close(stats_fd);
	if (old_stats_fd >= 0)
		close(old_stats_fd);
	pd_zoneset_free(zones);
	pd_config_free(&cfg);
	return status;
}
