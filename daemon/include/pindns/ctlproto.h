/* The control protocol, written once for its two ends: the daemon (control.c) and
 * pindnsctl. A client sends one command line; the daemon answers with lines of text, the
 * last of them "OK" or "ERROR <why>", and closes the connection. */
#pragma once

#include <string.h>

/** Where pindnsctl looks when not told (-s): the packaged configuration's control-socket. */
#define PD_CTL_SOCKET_DEFAULT "/run/pindns/control.sock"

/** The longest command line, its newline included; the daemon reads no further. */
#define PD_CTL_LINE_MAX 512

/* The command words; an argument follows a command after one space. */
#define PD_CTL_STATUS "status"
#define PD_CTL_RELOAD "reload"       /* "reload" or "reload ZONE" */
#define PD_CTL_STATS "stats"         /* "stats" or "stats json" */
#define PD_CTL_STATS_JSON "json"     /* the argument of "stats" asking for JSON */
#define PD_CTL_ZONE_LIST "zone-list" /* "zone-list" or "zone-list PATTERN" */
#define PD_CTL_STOP "stop"
/* The daemon starts its successor and answers once it has taken over, or failed to:
 * the reply can take as long as the successor needs to load every zone. */
#define PD_CTL_UPGRADE "upgrade"
/* Zone transfers: a zone's role and transfer state (all zones that transfer or notify,
 * without ZONE); an SOA check now; a full transfer (AXFR) now; NOTIFY to its targets now. */
#define PD_CTL_ZONE_STATUS "zone-status"         /* "zone-status" or "zone-status ZONE" */
#define PD_CTL_ZONE_REFRESH "zone-refresh"       /* "zone-refresh ZONE" */
#define PD_CTL_ZONE_RETRANSFER "zone-retransfer" /* "zone-retransfer ZONE" */
#define PD_CTL_ZONE_NOTIFY "zone-notify"         /* "zone-notify ZONE" */
/* For the daemon's answer to a command it does not know. */
#define PD_CTL_COMMANDS                                                                            \
	"status, reload [ZONE], stats [json], zone-list [PATTERN], zone-status [ZONE], "           \
	"zone-refresh ZONE, zone-retransfer ZONE, zone-notify ZONE, upgrade, stop"

/* The last line of a reply: success, or the failure and why. */
#define PD_CTL_OK "OK"
#define PD_CTL_ERROR "ERROR " /* followed by why */

/** What a line of a reply is. */
typedef enum pd_ctl_line {
	PD_CTL_LINE_TEXT,  /* output of the command, to be shown */
	PD_CTL_LINE_OK,    /* the last line: the command succeeded */
	PD_CTL_LINE_ERROR, /* the last line: it failed; *why is the reason (newline kept) */
} pd_ctl_line_t;

/** Tells the kind of one reply line (as read, newline included); sets *why for an error. */
static inline pd_ctl_line_t pd_ctl_line_kind(const char *line, const char **why)
{
	if (strcmp(line, PD_CTL_OK "\n") == 0)
		return PD_CTL_LINE_OK;
	if (strncmp(line, PD_CTL_ERROR, strlen(PD_CTL_ERROR)) == 0) {
		*why = line + strlen(PD_CTL_ERROR);
		return PD_CTL_LINE_ERROR;
	}
	return PD_CTL_LINE_TEXT;
}
