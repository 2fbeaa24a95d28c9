/* Server configuration: defaults, the configuration file, command-line overrides. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pindns/engine.h"
#include "pindns/guard.h"
#include "pindns/listen.h"
#include "pindns/xfrconf.h"
#include "pindns/zonesrc.h"

#define PD_CONFIG_NSID_MAX 128 /* bytes of NSID one may configure */

/** Everything the daemon can be told; pd_config_init() fills in the embedded defaults. */
typedef struct pd_config {
	pd_listen_t listen[PD_LISTEN_MAX];
	int nlisten;
	bool listen_is_default; /* nothing configured: all IPv4 and IPv6 addresses, port 53 */
	int threads;            /* 0: one per CPU this process may run on */
	char *zones_dir;        /* every *.zone in it is served, origin from the file name */
	pd_zone_conf_t *zones;
	size_t nzones;
	uint16_t udp_size;
	char *identity;
	char *version;
	int rcvbuf;         /* SO_RCVBUF per socket, bytes */
	size_t cache_size;  /* response cache per worker, bytes; 0 turns it off */
	bool reuseport_cpu; /* steer packets to the worker on the receiving CPU (cBPF) */
	char *pid_file;
	char *handoff_socket; /* Unix socket where a successor takes the sockets over */
	char *control_socket; /* Unix socket for pindnsctl */
	char *user;           /* who to run as after binding, when started as root */
	char *group;          /* NULL: the user's own group */
	pd_listen_t metrics;  /* Prometheus endpoint; metrics_on says whether to serve it */
	bool metrics_on;
	bool foreground; /* stay attached to the terminal instead of detaching */
	int log_level;
	bool log_syslog;                  /* log: syslog */
	unsigned query_log;               /* log 1 in this many queries per worker; 0: off */
	pd_tcp_conf_t tcp;                /* TCP threads and limits; 0: the engine's default */
	uint8_t nsid[PD_CONFIG_NSID_MAX]; /* NSID (RFC 5001); nsid_len 0: none */
	uint16_t nsid_len;
	uint32_t sig_warn_secs; /* warn of RRSIGs expiring within this, seconds; 0: off */
	int upgrade_timeout_s;  /* pindnsctl upgrade: the successor takes over within this */
	pd_guard_conf_t guard;  /* DNS cookies and response rate limiting; the master secret
	                         * of generated cookie secrets is filled in at start */
	pd_xfr_conf_t xfr;      /* zone transfers: keys, secondaries, who may transfer */
} pd_config_t;

/** The zones cfg names, for pd_zones_build(). */
static inline pd_zone_sources_t pd_config_sources(const pd_config_t *cfg)
{
	return (pd_zone_sources_t){.zones = cfg->zones,
	                           .nzones = cfg->nzones,
	                           .zones_dir = cfg->zones_dir,
	                           .sig_warn_secs = cfg->sig_warn_secs,
	                           .secondaries = cfg->xfr.sources,
	                           .nsecondaries = cfg->xfr.nsecondaries,
	                           .state_dir = cfg->xfr.state_dir};
}

/**
 * Fills cfg with the embedded defaults. Returns 0, or -ENOMEM; cfg is then still safe to
 * give to pd_config_free().
 */
int pd_config_init(pd_config_t *cfg);

/** Frees what cfg owns. */
void pd_config_free(pd_config_t *cfg);

/**
 * Sets one option by name ("listen", "threads", ...) from its text value. Used by the
 * file parser and the command line alike. Returns 0, or -EINVAL or -ENOMEM, always with
 * a message in err.
 */
int pd_config_set(pd_config_t *cfg, const char *key, const char *value, char *err, size_t cap);

/**
 * Reads a configuration file: "key: value" lines, '#' comments. A "listen" in the file
 * replaces the default listen set. Returns 0, or a negative errno with
 * "file:line: what is wrong" in err.
 */
int pd_config_load(pd_config_t *cfg, const char *path, char *err, size_t cap);

/**
 * Checks what no single option can: options that rule each other out, or whose product
 * is out of range. Returns 0, or -EINVAL with the message in err.
 */
int pd_config_check(const pd_config_t *cfg, char *err, size_t cap);

/** Drops the configured listen set, so the next "listen" starts a new one. */
void pd_config_clear_listen(pd_config_t *cfg);

/** Text of the options a configuration file accepts, for --help. */
extern const char pd_config_help[];
