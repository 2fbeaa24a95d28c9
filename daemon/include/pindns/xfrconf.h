/* What the configuration says of zone transfers: keys, primaries, secondaries, who may
 * transfer and who is notified. Parsed by config_xfr.c, read by the transfer threads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pindns/name.h"
#include "pindns/tsig.h"
#include "pindns/zonesrc.h"

#define PD_XFR_PORT 53

/** A server we talk to: a primary we transfer from, or a secondary we notify. */
typedef struct pd_xfr_remote {
	struct sockaddr_storage addr; /* with its port (53 unless given) */
	socklen_t addr_len;
	const pd_tsig_key_t *key; /* NULL: unsigned */
} pd_xfr_remote_t;

/** One rule of an access list: a client prefix and the key it must sign with. */
typedef struct pd_xfr_rule {
	int family;       /* AF_INET or AF_INET6 (IPv4-mapped addresses match AF_INET rules) */
	uint8_t addr[16]; /* network byte order; bits past prefix are zero */
	uint8_t prefix;   /* bits that must match */
	const pd_tsig_key_t *key; /* NULL: unsigned is fine (a signed request must verify) */
} pd_xfr_rule_t;

/** An access list: any rule matching lets the request in. Empty: nobody. */
typedef struct pd_xfr_acl {
	pd_xfr_rule_t *rules;
	size_t n;
} pd_xfr_acl_t;

/** A zone pindns keeps as a secondary ("secondary:" or "catalog:"). */
typedef struct pd_xfr_secondary {
	char *origin;               /* presentation form, as configured */
	uint8_t wire[PD_NAME_MAX];  /* lower-cased */
	pd_xfr_remote_t *primaries; /* tried in order */
	size_t nprimaries;
	/* Who may NOTIFY us of it: by default the primaries' addresses (any source port),
	 * with their key. */
	pd_xfr_acl_t notify_from;
	bool catalog; /* a catalog zone (RFC 9432): its members become secondaries too,
	               * from the same primaries and key */
} pd_xfr_secondary_t;

/** Who may transfer zones ("provide-xfr:"): origin NULL for every zone. */
typedef struct pd_xfr_provide {
	char *origin;
	uint8_t wire[PD_NAME_MAX];
	pd_xfr_acl_t acl;
} pd_xfr_provide_t;

/** Who is sent NOTIFY when a zone's serial changes ("notify:"): origin NULL for all. */
typedef struct pd_xfr_notify {
	char *origin;
	uint8_t wire[PD_NAME_MAX];
	pd_xfr_remote_t target;
} pd_xfr_notify_t;

#define PD_XFR_DEFAULT_MAX_SIZE (1ull << 30) /* bytes one transfer in may bring, messages whole */
#define PD_XFR_DEFAULT_JOURNAL (4u << 20)    /* bytes of IXFR history kept per zone */
#define PD_XFR_DEFAULT_TIMEOUT_MS 10000      /* a transfer that stalls this long fails */
#define PD_XFR_DEFAULT_STATE_DIR "/var/lib/pindns/state"

/** Everything about transfers; all empty by default (no secondaries, nobody may transfer). */
typedef struct pd_xfr_conf {
	pd_tsig_key_t *keys; /* "tsig-key:" */
	size_t nkeys;
	pd_xfr_secondary_t *secondaries;
	size_t nsecondaries;
	pd_zone_secondary_t *sources; /* the secondaries for pd_zones_build(), one each */
	pd_xfr_provide_t *provide;
	size_t nprovide;
	pd_xfr_notify_t *notify;
	size_t nnotify;
	char *state_dir;     /* transferred zones are kept here: ORIGIN.zone, written atomically */
	uint64_t max_size;   /* "xfr-max-size" */
	size_t journal_size; /* "xfr-journal-size"; 0: no IXFR out, always AXFR */
	int timeout_ms;      /* "xfr-timeout" */
} pd_xfr_conf_t;

/** The key named name (presentation form, any case), or NULL. */
const pd_tsig_key_t *pd_xfr_key_find(const pd_xfr_conf_t *x, const char *name);

/**
 * Whether a request from addr (IPv4-mapped IPv6 taken as IPv4), signed with key (NULL:
 * unsigned, or not verified), is let in by acl: a rule whose prefix matches and whose key
 * is key (or, for a rule without a key, any).
 */
bool pd_xfr_acl_allows(const pd_xfr_acl_t *acl, const struct sockaddr *addr,
                       const pd_tsig_key_t *key);

/** The secondary configured for origin (lower-cased wire form), or NULL. */
const pd_xfr_secondary_t *pd_xfr_secondary_find(const pd_xfr_conf_t *x, const uint8_t *origin);
