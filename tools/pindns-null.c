/* pindns-null: the benchmark floor. recvmmsg, set QR, sendmmsg back: no DNS logic at all.
 * With --tcp, the same over TCP: each framed message is echoed with QR set. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/listen.h"

#define BATCH 32 /* the same batch size as pindnsd, so the floor is comparable */
#define TCP_EVENTS 64
#define TCP_BUF (2 * 65536) /* the largest framed message, and as much again */

static int serve_udp(const pd_listen_t *l)
{
	static unsigned char buf[BATCH][4096];
	static struct sockaddr_storage peer[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int one = 1, rcvbuf = 4 << 20;

	int fd = socket(l->addr.ss_family, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0) {
		fprintf(stderr, "pindns-null: %s: %s\n", l->text, strerror(errno));
		return 1;
	}
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &peer[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(peer[i]);
		}
		int got = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (got <= 0)
			continue;
		for (int i = 0; i < got; i++) {
			buf[i][2] |= 0x80;
			iov[i].iov_len = msgs[i].msg_len;
		}
		sendmmsg(fd, msgs, (unsigned)got, 0);
	}
}

/*
 * A TCP connection. An answer is its query with one bit changed, so the whole messages read
 * are answered in place: buf[0, done) goes back as it is once QR is set, buf[done, len) is
 * the start of a message still arriving. While the client does not take the answers
 * (sent < done) nothing more is read from it.
 */
typedef struct conn {
	int fd;
	size_t len, done, sent;
	uint8_t buf[TCP_BUF];
} conn_t;

static void conn_close(conn_t *c)
{
	close(c->fd); /* which also takes it out of the epoll set */
	free(c);
}

/* Sends what is answered; returns 0 (all sent, or the rest waits for EPOLLOUT) or -1. */
static int conn_flush(int ep, conn_t *c)
{
	while (c->sent < c->done) {
		ssize_t w = send(c->fd, c->buf + c->sent, c->done - c->sent, MSG_NOSIGNAL);
		if (w > 0) {
			c->sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return -1;
	}
	memmove(c->buf, c->buf + c->done, c->len - c->done);
	c->len -= c->done;
	c->done = c->sent = 0;
	return 0;
}

/* Reads what the client sent and answers every whole message in it; -1 when it is over. */
static int conn_read(conn_t *c)
{
	ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (got == 0)
		return -1;
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	c->len += (size_t)got;
	size_t p = 0;
	while (c->len - p >= 2) {
		size_t m = (size_t)c->buf[p] << 8 | c->buf[p + 1];
		if (c->len - p - 2 < m)
			break;
		if (m >= 3)
			c->buf[p + 4] |= 0x80;
		p += 2 + m;
	}
	c->done = p;
	return 0;
}

/* One thread, one epoll set: the listener and every connection, level-triggered. */
static int serve_tcp(const pd_listen_t *l)
{
	struct epoll_event evs[TCP_EVENTS];
	int one = 1;

	int lfd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (const struct sockaddr *)&l->addr, l->addr_len) < 0 ||
	    listen(lfd, SOMAXCONN) < 0) {
		fprintf(stderr, "pindns-null: %s: %s\n", l->text, strerror(errno));
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		fprintf(stderr, "pindns-null: epoll: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		int got = epoll_wait(ep, evs, TCP_EVENTS, -1);
		for (int i = 0; i < got; i++) {
			conn_t *c = evs[i].data.ptr;
			if (!c) {
				/* A full accept queue would be a cost the servers measured do not
				 * have: take everything waiting. */
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
				                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = malloc(sizeof(*c));
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->len = c->done = c->sent = 0;
					/* Answers go out when written, as the servers' do. */
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						conn_close(c);
				}
				continue;
			}
			if (c->sent < c->done) {
				/* Writable again (or failed): the rest of the answers first. */
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
				if (conn_flush(ep, c) < 0 ||
				    (c->done == 0 && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0))
					conn_close(c);
				continue;
			}
			if (conn_read(c) < 0 || conn_flush(ep, c) < 0)
				conn_close(c);
		}
	}
}

int main(int argc, char **argv)
{
	pd_listen_t l;
	int tcp = argc > 1 && strcmp(argv[1], "--tcp") == 0;

	argv += tcp;
	argc -= tcp;
	if (argc < 2 || pd_listen_parse(&l, argv[1]) < 0) {
		fprintf(stderr, "usage: pindns-null [--tcp] ADDR:PORT [CPU]\n");
		return 2;
	}
	if (argc > 2) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[2]), &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	return tcp ? serve_tcp(&l) : serve_udp(&l);
}
