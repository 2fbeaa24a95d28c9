/* xfrd's sockets: one UDP query at a time, and TCP streams, each bounded by a deadline. */
#define _GNU_SOURCE
#include "xfrd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/wire.h"

int64_t pd__xfrd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pd__xfrd_addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, cap, "?");
	}
}

/*
 * Waits until fd is ready for events or deadline_ms: 0, -ETIMEDOUT, or -ECANCELED when
 * cancel_fd became readable first.
 */
static int pd__wait(int fd, short events, int64_t deadline_ms, int cancel_fd)
{
	for (;;) {
		int64_t left = deadline_ms - pd__xfrd_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p[2] = {{.fd = fd, .events = events},
		                      {.fd = cancel_fd, .events = POLLIN}};
		int n = poll(p, 2, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p[1].revents & POLLIN))
			return -ECANCELED;
		if (n > 0 && p[0].revents)
			return 0;
	}
}

ssize_t pd__xfrd_udp(const pd_xfr_remote_t *r, const uint8_t *msg, size_t len, uint8_t *resp,
                     size_t cap, int timeout_ms, int cancel_fd)
{
	int fd = socket(r->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int64_t deadline = pd__xfrd_now_ms() + timeout_ms;
	ssize_t ret;
	if (fd < 0)
		return -errno;
	/* Connected: the kernel drops datagrams from any other address and port. */
	if (connect(fd, (const struct sockaddr *)&r->addr, r->addr_len) < 0 ||
	    send(fd, msg, len, 0) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ret = pd__wait(fd, POLLIN, deadline, cancel_fd);
		if (ret < 0)
			goto out;
		ret = recv(fd, resp, cap, 0);
		if (ret < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (ret < 0) {
			ret = -errno; /* ECONNREFUSED: an ICMP port unreachable */
			goto out;
		}
		if (ret >= 12 && resp[0] == msg[0] && resp[1] == msg[1] && (resp[2] & 0x80))
			goto out;
	}
out:
	close(fd);
	return ret;
}

int pd__xfrd_tcp_connect(const pd_xfr_remote_t *r, int timeout_ms, int cancel_fd)
{
	int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ret = 0, err = 0;
	socklen_t el = sizeof(err);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&r->addr, r->addr_len) < 0) {
		if (errno != EINPROGRESS) {
			ret = -errno;
			goto fail;
		}
		ret = pd__wait(fd, POLLOUT, pd__xfrd_now_ms() + timeout_ms, cancel_fd);
		if (ret < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			ret = err ? -err : -errno;
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return ret;
}

/* Writes or reads exactly n bytes, before the deadline. */
static ssize_t pd__full(int fd, uint8_t *p, size_t n, bool out, int64_t deadline_ms, int cancel_fd)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = out ? send(fd, p + done, n - done, MSG_NOSIGNAL)
		                : recv(fd, p + done, n - done, 0);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k == 0)
			return (ssize_t)done; /* closed */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int ret = pd__wait(fd, out ? POLLOUT : POLLIN, deadline_ms, cancel_fd);
		if (ret < 0)
			return ret;
	}
	return (ssize_t)done;
}

int pd__xfrd_tcp_send(int fd, const uint8_t *msg, size_t len, int64_t deadline_ms, int cancel_fd)
{
	uint8_t buf[2 + 65535];
	if (len > 65535)
		return -EMSGSIZE;
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, msg, len);
	ssize_t k = pd__full(fd, buf, len + 2, true, deadline_ms, cancel_fd);
	return k < 0 ? (int)k : (size_t)k == len + 2 ? 0 : -EPIPE;
}

ssize_t pd__xfrd_tcp_recv(int fd, uint8_t *buf, size_t cap, int64_t deadline_ms, int cancel_fd)
{
	uint8_t hdr[2];
	ssize_t k = pd__full(fd, hdr, 2, false, deadline_ms, cancel_fd);
	if (k <= 0)
		return k;
	if (k < 2)
		return -EPIPE;
	size_t len = (size_t)hdr[0] << 8 | hdr[1];
	if (len > cap)
		return -EMSGSIZE;
	k = pd__full(fd, buf, len, false, deadline_ms, cancel_fd);
	if (k < 0)
		return k;
	return (size_t)k == len && len > 0 ? k : -EPIPE;
}

int pd__xfrd_soa_serial(const uint8_t *resp, size_t len, const uint8_t *origin, uint32_t *serial)
{
	pd_wire_t w;
	uint8_t name[PD_NAME_MAX];
	pd_wire_init(&w, resp, len);
	pd_wire_skip(&w, 4);
	unsigned qd = pd_wire_u16(&w), an = pd_wire_u16(&w);
	pd_wire_skip(&w, 4);
	for (unsigned i = 0; i < qd && !w.err; i++) {
		pd_name_parse(&w, name);
		pd_wire_skip(&w, 4);
	}
	for (unsigned i = 0; i < an && !w.err; i++) {
		pd_name_parse(&w, name);
		uint16_t type = pd_wire_u16(&w);
		pd_wire_skip(&w, 6);
		uint16_t rdlen = pd_wire_u16(&w);
		if (w.err || pd_wire_left(&w) < rdlen)
			break;
		if (type == PD_TYPE_SOA && pd_name_equal(name, origin)) {
			pd_wire_t r = w;
			pd_name_parse(&r, name);
			pd_name_parse(&r, name);
			*serial = pd_wire_u32(&r);
			return r.err ? -EPROTO : 0;
		}
		pd_wire_skip(&w, rdlen);
	}
	return -EPROTO;
}
