/* pindnsctl: commands for a running pindnsd, and offline zone and configuration checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pindns/config.h"
#include "pindns/ctlproto.h"
#include "pindns/loader.h"
#include "pindns/util.h"
#include "pindns/version.h"
#include "pindns/zonesrc.h"

#ifndef PD_DEFAULT_ZONES_DIR
#define PD_DEFAULT_ZONES_DIR "zones"
#endif

/* Exit codes a script can rely on. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void pd__usage(FILE *out)
{
	fprintf(out,
	        "Usage: pindnsctl [-s SOCKET] COMMAND [ARG]\n"
	        "Controls a running pindnsd over its control socket, or checks files offline.\n"
	        "\n"
	        "Commands for the running daemon (its control-socket; default %s):\n"
	        "  status              pid, version, workers and TCP threads, zones, uptime\n"
	        "  reload [ZONE]       reload every zone (only changed files are read) or one\n"
	        "  stats [--json]      counters per worker (udp or tcp), per transport and in\n"
	        "                      total; TCP connections open, accepted, adopted, closed\n"
	        "                      by reason; zone transfers (of this pindnsd, from 0 at\n"
	        "                      its start); and the spread of the load over UDP workers\n"
	        "  zone-list [PATTERN] origin, serial, records and load time of each zone, or of\n"
	        "                      those matching PATTERN (a glob, any case: '*.example'),\n"
	        "                      then a count\n"
	        "  zone-status [ZONE]  of each secondary, catalog member and notified zone, or\n"
	        "                      of ZONE: its role, serial, primaries, last and next\n"
	        "                      refresh, expiry and last error, or its NOTIFY state\n"
	        "  zone-refresh ZONE   a secondary: ask its primaries for their SOA now, and\n"
	        "                      transfer if the serial moved\n"
	        "  zone-retransfer ZONE  a secondary: transfer the whole zone (AXFR) now\n"
	        "  zone-notify ZONE    send NOTIFY to the zone's notify targets now\n"
	        "  upgrade             the daemon starts the pindnsd now installed at its path,\n"
	        "                      with its command line, which takes the sockets over as\n"
	        "                      --takeover does (no query lost); waits for the outcome\n"
	        "                      (the new one loads every zone first; upgrade-timeout):\n"
	        "                      the old process serves on if the new one fails\n"
	        "  stop                stop the daemon\n"
	        "Offline checks (no daemon needed):\n"
	        "  zone-check FILE [ORIGIN]  parse and compile a zone file (ORIGIN defaults to\n"
	        "                            the file name without .zone); errors and warnings\n"
	        "                            (signatures about to expire ...) as file:line\n"
	        "  conf-check [FILE]   load a configuration file and every zone it names\n"
	        "\n"
	        "  -s, --socket PATH   the daemon's control socket\n"
	        "  -w, --warn TIME     with zone-check and conf-check: warn of signatures that\n"
	        "                      expire within TIME (default 7d, or the configuration's\n"
	        "                      signature-expiry-warning; s, m, h, d suffixes; 0: off)\n"
	        "  -h, --help          this help;  -V, --version  the version\n"
	        "\n"
	        "Exit status: 0 done, 1 the command or check failed, 2 bad usage,\n"
	        "3 the daemon could not be reached.\n",
	        PD_CTL_SOCKET_DEFAULT);
}

/* Connects to the daemon's control socket: the fd, or -errno with why printed. */
static int pd__connect(const char *path)
{
	struct sockaddr_un sa;
	if (pd_unix_addr(&sa, path) < 0) {
		fprintf(stderr, "pindnsctl: socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
			        "pindnsctl: pindnsd is not running, or not with control-socket %s "
			        "(%s)\n",
			        path, strerror(e));
		else
			fprintf(stderr, "pindnsctl: cannot reach %s: %s%s\n", path, strerror(e),
			        e == EACCES ? " (run as the service user or root)" : "");
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

/* Prints the reply read from in: text to stdout, the error to stderr. The exit status. */
static int pd__print_reply(FILE *in)
{
	char buf[4096];
	const char *why;
	int status = EXIT_FAILED;
	while (fgets(buf, sizeof(buf), in)) {
		switch (pd_ctl_line_kind(buf, &why)) {
		case PD_CTL_LINE_OK:
			status = EXIT_OK;
			break;
		case PD_CTL_LINE_ERROR:
			fprintf(stderr, "pindnsctl: %s", why);
			status = EXIT_FAILED;
			break;
		case PD_CTL_LINE_TEXT:
			fputs(buf, stdout);
			break;
		}
	}
	return status;
}

/* Sends one command to the daemon at path and prints its reply. The exit status. */
static int pd__remote(const char *path, const char *command)
{
	int fd = pd__connect(path);
	if (fd < 0)
		return fd == -ENAMETOOLONG ? EXIT_USAGE : EXIT_UNREACHABLE;
	char line[PD_CTL_LINE_MAX + 1]; /* the command, its newline and the NUL */
	snprintf(line, sizeof(line), "%s\n", command);
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "pindnsctl: %s: %s\n", path, strerror(errno));
		close(fd);
		return EXIT_UNREACHABLE;
	}
	FILE *in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return EXIT_FAILED; /* as when the reply has no last line */
	}
	int status = pd__print_reply(in);
	fclose(in);
	return status;
}

/* pd_zone_load_opts_t.warn for zone-check: warnings go to stderr, as errors do. */
static void pd__print_warning(void *arg, const char *text)
{
	(void)arg;
	fprintf(stderr, "%s\n", text);
}

/* Sets cfg's signature-expiry-warning from --warn, when given. The exit status. */
static int pd__set_warn(pd_config_t *cfg, const char *warn)
{
	char err[512];
	if (warn && pd_config_set(cfg, "signature-expiry-warning", warn, err, sizeof(err)) < 0) {
		fprintf(stderr, "pindnsctl: --warn: %s\n", err);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The line zone-check ends with: what was loaded, how it is signed, what to look at. */
static void pd__print_zone(const char *file, const char *origin, const pd_zone_t *z,
                           unsigned warnings)
{
	char when[64];
	int64_t at;
	printf("%s: zone %s OK, %zu records, serial %u", file, origin, z->record_count, z->serial);
	if (pd_zone_dnssec_str(z))
		printf(", signed (%s)", pd_zone_dnssec_str(z));
	if (warnings)
		printf(", %u warning%s", warnings, warnings > 1 ? "s" : "");
	if (pd_zone_sig_expiry(z, (int64_t)time(NULL), &at, when, sizeof(when)))
		printf("; earliest signature expiry %s", when);
	printf("\n");
}

static int pd__zone_check(const char *file, const char *origin_arg, const char *warn)
{
	char origin[PD_NAME_TXT_MAX], err[1024] = "";
	uint8_t wire[PD_NAME_MAX];
	pd_zone_t *z = NULL;
	pd_config_t cfg;
	if (pd_config_init(&cfg) < 0) {
		fprintf(stderr, "pindnsctl: out of memory\n");
		pd_config_free(&cfg);
		return EXIT_FAILED;
	}
	/* The same default and syntax as the daemon's signature-expiry-warning. */
	int status = pd__set_warn(&cfg, warn);
	pd_zone_load_opts_t opts = {.sig_warn_secs = cfg.sig_warn_secs, .warn = pd__print_warning};
	pd_config_free(&cfg);
	if (status != EXIT_OK)
		return status;
	if (origin_arg) {
		snprintf(origin, sizeof(origin), "%s", origin_arg);
	} else {
		char *copy = strdup(file);
		char *base = copy ? basename(copy) : (char *)file;
		size_t len = strlen(base);
		if (len > 5 && strcmp(base + len - 5, ".zone") == 0)
			len -= 5;
		snprintf(origin, sizeof(origin), "%.*s", (int)len, base);
		free(copy);
	}
	if (pd_name_from_str(wire, origin) < 0) {
		fprintf(stderr, "pindnsctl: '%s' is not a domain name; give the origin\n", origin);
		return EXIT_USAGE;
	}
	if (pd_zone_load_ex(file, wire, &z, err, sizeof(err), &opts) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILED;
	}
	pd__print_zone(file, origin, z, opts.warnings);
	pd_zone_free(z);
	return EXIT_OK;
}

static int pd__conf_check(const char *path, const char *warn)
{
	pd_config_t cfg;
	char err[1024] = "";
	pd_zoneset_t *zs = NULL;
	int status = EXIT_OK;
	if (pd_config_init(&cfg) < 0) {
		fprintf(stderr, "pindnsctl: out of memory\n");
		goto fail;
	}
	if (path && pd_config_load(&cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	if (pd__set_warn(&cfg, warn) != EXIT_OK) {
		pd_config_free(&cfg);
		return EXIT_USAGE;
	}
	/* As pindnsd does. */
	if (!cfg.zones_dir && cfg.nzones == 0 && !(cfg.zones_dir = strdup(PD_DEFAULT_ZONES_DIR))) {
		fprintf(stderr, "pindnsctl: out of memory\n");
		goto fail;
	}
	/* What pindnsd would refuse to start with: options that rule each other out. */
	if (pd_config_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", path ? path : "(defaults)", err);
		goto fail;
	}
	pd_zone_sources_t sources = pd_config_sources(&cfg);
	pd_zones_report_t rep = {0};
	if (pd_zones_build(&sources, NULL, &zs, &rep) < 0 || rep.failed)
		status = EXIT_FAILED;
	printf("%s: configuration %s, %zu zone(s) loaded, %zu failed\n", path ? path : "(defaults)",
	       status == EXIT_OK ? "OK" : "has errors", zs ? zs->count : 0, rep.failed);
	pd_zoneset_free(zs);
	pd_config_free(&cfg);
	return status;
fail:
	pd_config_free(&cfg);
	return EXIT_FAILED;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {"json", no_argument, NULL, 'j'},
	    {"warn", required_argument, NULL, 'w'},   {NULL, 0, NULL, 0}};
	const char *sock = PD_CTL_SOCKET_DEFAULT, *warn = NULL;
	int opt, json = 0;
	while ((opt = getopt_long(argc, argv, "s:hVw:", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'w':
			warn = optarg;
			break;
		case 'h':
			pd__usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("pindnsctl %s\n", PD_VERSION);
			return EXIT_OK;
		case 'j':
			json = 1;
			break;
		default:
			pd__usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		pd__usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	int extra = argc - optind - 1;
	char line[PD_CTL_LINE_MAX];
	bool offline = strcmp(cmd, "zone-check") == 0 || strcmp(cmd, "conf-check") == 0;
	if (warn && !offline)
		goto usage; /* the daemon has its own setting */
	/* No time limit on the reply: an upgrade's comes when the new pindnsd has loaded its
	 * zones, or when the daemon's own upgrade-timeout has passed. */
	if (strcmp(cmd, PD_CTL_STATUS) == 0 || strcmp(cmd, PD_CTL_STOP) == 0 ||
	    strcmp(cmd, PD_CTL_UPGRADE) == 0) {
		if (extra)
			goto usage;
		return pd__remote(sock, cmd);
	}
	if (strcmp(cmd, PD_CTL_ZONE_LIST) == 0) {
		if (extra > 1)
			goto usage;
		snprintf(line, sizeof(line), PD_CTL_ZONE_LIST "%s%s", arg ? " " : "",
		         arg ? arg : "");
		return pd__remote(sock, line);
	}
	if (strcmp(cmd, PD_CTL_STATS) == 0) {
		if (extra > 1 || (arg && strcmp(arg, "--json") != 0))
			goto usage;
		return pd__remote(sock,
		                  json || arg ? PD_CTL_STATS " " PD_CTL_STATS_JSON : PD_CTL_STATS);
	}
	/* The zone is the daemon's to check: it knows which ones it has. */
	if (strcmp(cmd, PD_CTL_ZONE_STATUS) == 0 || strcmp(cmd, PD_CTL_ZONE_REFRESH) == 0 ||
	    strcmp(cmd, PD_CTL_ZONE_RETRANSFER) == 0 || strcmp(cmd, PD_CTL_ZONE_NOTIFY) == 0) {
		bool optional = strcmp(cmd, PD_CTL_ZONE_STATUS) == 0;
		if (extra > 1 || (extra == 0 && !optional))
			goto usage;
		snprintf(line, sizeof(line), "%s%s%s", cmd, arg ? " " : "", arg ? arg : "");
		return pd__remote(sock, line);
	}
	if (strcmp(cmd, PD_CTL_RELOAD) == 0) {
		if (extra > 1)
			goto usage;
		snprintf(line, sizeof(line), PD_CTL_RELOAD "%s%s", arg ? " " : "", arg ? arg : "");
		return pd__remote(sock, line);
	}
	if (strcmp(cmd, "zone-check") == 0) {
		if (extra < 1 || extra > 2)
			goto usage;
		return pd__zone_check(arg, extra == 2 ? argv[optind + 2] : NULL, warn);
	}
	if (strcmp(cmd, "conf-check") == 0) {
		if (extra > 1)
			goto usage;
		return pd__conf_check(arg, warn);
	}
usage:
	fprintf(stderr, "pindnsctl: bad command line '%s'; see pindnsctl --help\n", cmd);
	return EXIT_USAGE;
}
