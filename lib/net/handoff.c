/* The socket handoff between an old pindnsd and its successor over a Unix socket. */
#define _GNU_SOURCE
#include "pindns/handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pindns/util.h"

/*
 * The conversation, all on one stream connection:
 *   new -> old  "PINDNS-TAKEOVER 1\n"
 *   old -> new  "PINDNS-SOCKETS 1 <threads> <nlisten> <stats>\n" + one "<addr>\n" per
 *               address, with every bound socket attached (SCM_RIGHTS),
 *               fds[slot * threads + w], and last, when <stats> is 1, the counter segment
 *   new -> old  "GO\n"   (its workers are reading the sockets now)
 *   old -> new  "BYE\n"  (the old workers have stopped)
 * One message carries every fd, so a group is at most SCM_MAX_FD (253) sockets.
 */
#define PD_HANDOFF_FDS_MAX 253
#define PD_HANDOFF_TIMEOUT_MS 30000

/* Reads one line (up to cap-1 bytes) within the timeout; returns its length or -errno. */
static int pd__read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, timeout_ms);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ssize_t got = read(fd, buf + n, 1);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		n++;
	}
	return -EMSGSIZE;
}

static int pd__write_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

int pd_handoff_listen(const char *path, char *err, size_t cap)
{
	return pd_unix_listen("handoff socket", path, 4, err, cap);
}

int pd_handoff_give(int conn, const pd_engine_t *e, int stats_fd, char *err, size_t cap)
{
	char line[128];
	int ret = pd__read_line(conn, line, sizeof(line), 5000);
	if (ret < 0 || strcmp(line, "PINDNS-TAKEOVER 1") != 0) {
		snprintf(err, cap, "handoff: no valid takeover request (%s)",
		         ret < 0 ? strerror(-ret) : line);
		return ret < 0 ? ret : -EPROTO;
	}
	int fds[PD_HANDOFF_FDS_MAX];
	pd_listen_t listen[PD_LISTEN_MAX];
	int threads = pd_engine_threads(e);
	int nlisten = pd_engine_listens(e, listen);
	if (threads * nlisten + 1 > PD_HANDOFF_FDS_MAX) {
		snprintf(err, cap, "handoff: %d sockets are more than one message can carry (%d)",
		         threads * nlisten, PD_HANDOFF_FDS_MAX);
		return -E2BIG;
	}
	int nfds = pd_engine_fds(e, fds, PD_HANDOFF_FDS_MAX);
	if (stats_fd >= 0)
		fds[nfds++] = stats_fd; /* the counters ride along, last */

	char text[PD_LISTEN_MAX * 96 + 64];
	size_t n = (size_t)snprintf(text, sizeof(text), "PINDNS-SOCKETS 1 %d %d %d\n", threads,
	                            nlisten, stats_fd >= 0);
	for (int i = 0; i < nlisten; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n", listen[i].text);

	union {
		char buf[CMSG_SPACE(sizeof(int) * PD_HANDOFF_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = text, .iov_len = n};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	ssize_t sent = sendmsg(conn, &msg, MSG_NOSIGNAL);
	if (sent != (ssize_t)n) {
		/* A short send leaves errno as it was: the successor got a cut message. */
		ret = sent < 0 ? -errno : -EIO;
		snprintf(err, cap, "handoff: sending the sockets: %s", strerror(-ret));
		return ret;
	}
	ret = pd__read_line(conn, line, sizeof(line), PD_HANDOFF_TIMEOUT_MS);
	if (ret < 0 || strcmp(line, "GO") != 0) {
		snprintf(err, cap, "handoff: the successor did not start (%s); still serving",
		         ret < 0 ? strerror(-ret) : line);
		return ret < 0 ? ret : -EPROTO;
	}
	return 0;
}

void pd_handoff_done(int conn)
{
	pd__write_all(conn, "BYE\n");
	close(conn);
}

int pd_handoff_take(const char *path, pd_engine_t **out, int *stats_fd, char *err, size_t cap)
{
	struct sockaddr_un sa;
	int fd = -1, ret = pd_unix_addr(&sa, path);
	int fds[PD_HANDOFF_FDS_MAX], nfds = 0;

	*out = NULL;
	*stats_fd = -1;
	if (ret < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, cap, "takeover: cannot reach a running pindnsd at %s: %s", path,
		         strerror(-ret));
		goto out;
	}
	ret = pd__write_all(fd, "PINDNS-TAKEOVER 1\n");
	if (ret < 0)
		goto fail;

	char text[PD_LISTEN_MAX * 96 + 64];
	union {
		char buf[CMSG_SPACE(sizeof(int) * PD_HANDOFF_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = text, .iov_len = sizeof(text) - 1};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = sizeof(ctl)};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, PD_HANDOFF_TIMEOUT_MS) <= 0) {
		ret = -ETIMEDOUT;
		goto fail;
	}
	ssize_t got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (got <= 0) {
		ret = got == 0 ? -ECONNRESET : -errno;
		goto fail;
	}
	text[got] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)nfds);
		}
	int threads = 0, nlisten = 0, with_stats = 0, pos = 0;
	pd_listen_t listen[PD_LISTEN_MAX];
	if (sscanf(text, "PINDNS-SOCKETS 1 %d %d %d\n%n", &threads, &nlisten, &with_stats, &pos) !=
	        3 ||
	    threads < 1 || nlisten < 1 || nlisten > PD_LISTEN_MAX ||
	    threads * nlisten + (with_stats ? 1 : 0) != nfds ||
	    (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		snprintf(err, cap, "takeover: the running pindnsd sent something unexpected");
		ret = -EPROTO;
		goto out;
	}
	if (with_stats)
		*stats_fd = fds[--nfds];
	char *line = text + pos;
	for (int i = 0; i < nlisten; i++) {
		char *nl = strchr(line, '\n');
		if (!nl) {
			ret = -EPROTO;
			goto fail;
		}
		*nl = '\0';
		if (pd_listen_parse(&listen[i], line) < 0) {
			ret = -EPROTO;
			goto fail;
		}
		line = nl + 1;
	}
	ret = pd_engine_new_from_fds(out, threads, nlisten, listen, fds, err, cap);
	nfds = 0; /* the engine owns them now, also on failure */
	if (ret < 0)
		goto out;
	return fd;
fail:
	snprintf(err, cap, "takeover from %s: %s", path, strerror(-ret));
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (fd >= 0)
		close(fd);
	return ret;
}

int pd_handoff_go(int conn)
{
	char line[32];
	int ret = pd__write_all(conn, "GO\n");
	if (ret == 0) {
		ret = pd__read_line(conn, line, sizeof(line), PD_HANDOFF_TIMEOUT_MS);
		if (ret >= 0)
			ret = strcmp(line, "BYE") == 0 ? 0 : -EPROTO;
	}
	close(conn);
	return ret;
}
