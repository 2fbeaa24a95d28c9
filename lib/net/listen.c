/* Listen addresses: parsing "ADDR:PORT" and naming a bound socket's address. */
#include "pindns/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address as the operator would write it: "192.0.2.1:53", "[2001:db8::1]:53". */
static void pd__listen_text(pd_listen_t *l, const char *host, unsigned port)
{
	snprintf(l->text, sizeof(l->text), l->addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	         host, port);
}

int pd_listen_parse(pd_listen_t *l, const char *text)
{
	char host[64];
	long port = PD_DEFAULT_PORT;
	const char *colon;

	memset(l, 0, sizeof(*l));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || (size_t)(close - text - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1] != '\0')
			return -EINVAL;
	} else {
		colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		size_t hl = colon ? (size_t)(colon - text) : strlen(text);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hl);
		host[hl] = '\0';
	}
	if (colon) {
		char *end;
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
			return -EINVAL;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->addr;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		l->addr_len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		l->addr_len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	pd__listen_text(l, host, (unsigned)port);
	return 0;
}

int pd_listen_from_sockaddr(pd_listen_t *l, const struct sockaddr *sa, socklen_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	memset(l, 0, sizeof(*l));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		l->addr_len = sizeof(*s4);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		l->addr_len = sizeof(*s6);
	} else {
		return -EAFNOSUPPORT;
	}
	memcpy(&l->addr, sa, l->addr_len);
	pd__listen_text(l, host, port);
	return 0;
}
