/* Listen addresses: an address and port to answer on, as written and as a sockaddr. */
#pragma once

#include <sys/socket.h>

#define PD_LISTEN_MAX 32
#define PD_DEFAULT_PORT 53

/** One address to answer on. */
typedef struct pd_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[80]; /* as the operator wrote it, normalised: "127.0.0.1:53", "[::1]:53" */
} pd_listen_t;

/**
 * Parses "ADDR:PORT", "[ADDR6]:PORT", "ADDR" or "ADDR6" (port 53) into l.
 * Returns 0 or -EINVAL.
 */
int pd_listen_parse(pd_listen_t *l, const char *text);

/** Fills l from a socket address (IPv4 or IPv6). Returns 0 or -EAFNOSUPPORT. */
int pd_listen_from_sockaddr(pd_listen_t *l, const struct sockaddr *sa, socklen_t len);
