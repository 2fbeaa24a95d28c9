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
 * The conversation, all on one stream connection (version 2):
 *   new -> old  "PINDNS-TAKEOVER 2\n"
 *   old -> new  "PINDNS-SOCKETS 2 <threads> <tcp-threads> <nlisten> <stats>\n" + one
 *               "<addr>\n" per address, with every bound socket attached (SCM_RIGHTS):
 *               the UDP ones, fds[slot * threads + w], then the TCP listeners,
 *               [slot * tcp-threads + t], and last, when <stats> is 1, the counter segment
 *   new -> old  "GO\n"   (its workers and TCP threads are serving the sockets now)
 *   old -> new  "CONN <unread> <unsent> <closing>\n" + unread + unsent bytes, one per
 *               open TCP connection, its fd attached to the line: what was read from it
 *               and not yet answered, then the answers it is owed; closing 1 says it
 *               is to end once they are sent
 *   old -> new  "BYE\n"  (the old workers have stopped, every connection is handed over)
 * The old side answers a request it cannot serve with "ERR <why>\n". Version 1, spoken
 * by pindnsd before TCP, has no TCP threads in the SOCKETS line and no CONN lines, and
 * closes on a request it does not know without a word: a successor asks for 2 and only
 * then asks again for 1 (its own TCP listeners are then bound anew). A successor that
 * asks for 1 gets the UDP sockets only.
 * One message carries every fd, so a group is at most SCM_MAX_FD (253) sockets.
 */
#define PD_HANDOFF_FDS_MAX 253
#define PD_HANDOFF_TIMEOUT_MS 30000
#define PD_HANDOFF_VERSION 2

/*
 * Reads one line (up to cap-1 bytes) within the timeout; returns its length or -errno.
 * A descriptor passed with it goes to *passed when passed is not NULL (else it is
 * closed); *passed stays -1 without one.
 */
static int pd__read_line_fd(int fd, char *buf, size_t cap, int timeout_ms, int *passed)
{
	size_t n = 0;
	if (passed)
		*passed = -1;
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
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = buf + n, .iov_len = 1};
		struct msghdr msg = {.msg_iov = &iov,
		                     .msg_iovlen = 1,
		                     .msg_control = ctl.buf,
		                     .msg_controllen = sizeof(ctl.buf)};
		ssize_t got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		for (struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c;
		     c = CMSG_NXTHDR(&msg, c)) {
			int in;
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
			    c->cmsg_len != CMSG_LEN(sizeof(int)))
				continue;
			memcpy(&in, CMSG_DATA(c), sizeof(int));
			if (passed && *passed < 0)
				*passed = in;
			else
				close(in);
		}
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

static int pd__read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	return pd__read_line_fd(fd, buf, cap, timeout_ms, NULL);
}

/* Reads exactly len bytes within the timeout. Returns 0 or -errno. */
static int pd__read_all(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	while (n < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, timeout_ms);
		if (rc == 0)
			return -ETIMEDOUT;
		ssize_t got = rc < 0 ? -1 : read(fd, buf + n, len - n);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n += (size_t)got;
	}
	return 0;
}

/* Sends len bytes, however many calls it takes. 0 or -errno. */
static int pd__send_all(int fd, const void *p, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t k = send(fd, (const uint8_t *)p + off, len - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		off += (size_t)k;
	}
	return 0;
}

/* Sends the text s whole. */
static int pd__write_all(int fd, const char *s)
{
	return pd__send_all(fd, s, strlen(s));
}

int pd_handoff_listen(const char *path, char *err, size_t cap)
{
	return pd_unix_listen("handoff socket", path, 4, err, cap);
}

int pd_handoff_give(int conn, const pd_engine_t *e, int stats_fd, int *version, char *err,
                    size_t cap)
{
	char line[128];
	int ret = pd__read_line(conn, line, sizeof(line), 5000);
	*version = ret < 0                                  ? 0
	           : strcmp(line, "PINDNS-TAKEOVER 2") == 0 ? 2
	           : strcmp(line, "PINDNS-TAKEOVER 1") == 0 ? 1
	                                                    : 0;
	if (*version == 0) {
		snprintf(err, cap, "handoff: no valid takeover request (%s)",
		         ret < 0 ? strerror(-ret) : line);
		pd__write_all(conn, "ERR not a takeover request this pindnsd knows\n");
		return ret < 0 ? ret : -EPROTO;
	}
	int fds[PD_HANDOFF_FDS_MAX];
	pd_listen_t listen[PD_LISTEN_MAX];
	int threads = pd_engine_threads(e);
	int ntcp = *version >= 2 ? pd_engine_tcp_threads(e) : 0;
	int nlisten = pd_engine_listens(e, listen);
	if ((threads + ntcp) * nlisten + 1 > PD_HANDOFF_FDS_MAX) {
		snprintf(err, cap, "handoff: %d sockets are more than one message can carry (%d)",
		         (threads + ntcp) * nlisten, PD_HANDOFF_FDS_MAX);
		pd__write_all(conn, "ERR more sockets than one message can carry\n");
		return -E2BIG;
	}
	/* Version 1 takes the UDP sockets only: they come first. */
	int nfds = pd_engine_fds(e, fds, (threads + ntcp) * nlisten);
	if (stats_fd >= 0)
		fds[nfds++] = stats_fd; /* the counters ride along, last */

	char text[PD_LISTEN_MAX * 96 + 64];
	size_t n = *version >= 2
	               ? (size_t)snprintf(text, sizeof(text), "PINDNS-SOCKETS 2 %d %d %d %d\n",
	                                  threads, ntcp, nlisten, stats_fd >= 0)
	               : (size_t)snprintf(text, sizeof(text), "PINDNS-SOCKETS 1 %d %d %d\n",
	                                  threads, nlisten, stats_fd >= 0);
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

/* Sends one connection: its line with the fd attached, then its unread and unsent bytes. */
static int pd__send_conn(void *arg, const pd_engine_conn_t *hc)
{
	int conn = *(int *)arg;
	size_t unsent = 0;
	for (int i = 0; i < hc->nunsent; i++)
		unsent += hc->unsent[i].iov_len;
	char line[64];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	int n =
	    snprintf(line, sizeof(line), "CONN %zu %zu %d\n", hc->unread_len, unsent, hc->closing);
	/* The fd goes with the line's first byte, in a message of its own. */
	struct iovec iov = {.iov_base = line, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &hc->fd, sizeof(int));
	ssize_t sent;
	do
		sent = sendmsg(conn, &msg, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	int ret = pd__send_all(conn, line + 1, (size_t)n - 1);
	if (ret == 0)
		ret = pd__send_all(conn, hc->unread, hc->unread_len);
	for (int i = 0; ret == 0 && i < hc->nunsent; i++)
		ret = pd__send_all(conn, hc->unsent[i].iov_base, hc->unsent[i].iov_len);
	return ret;
}

int pd_handoff_done(int conn, pd_engine_t *e, int version)
{
	int handed = version >= 2 ? pd_engine_conns(e, pd__send_conn, &conn) : 0;
	pd__write_all(conn, "BYE\n");
	close(conn);
	return handed;
}

/* Asks the pindnsd at path for its sockets in the given protocol version. Returns the
 * connection, with the reply in text and its fds, or -errno with err set. */
static int pd__request(const char *path, int version, char *text, size_t tcap, int *fds, int *nfds,
                       int *flags, char *err, size_t cap)
{
	struct sockaddr_un sa;
	char req[32];
	int ret = pd_unix_addr(&sa, path);
	if (ret < 0) {
		snprintf(err, cap, "takeover from %s: %s", path, strerror(-ret));
		return ret;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, cap, "takeover: cannot reach a running pindnsd at %s: %s", path,
		         strerror(-ret));
		goto fail;
	}
	snprintf(req, sizeof(req), "PINDNS-TAKEOVER %d\n", version);
	union {
		char buf[CMSG_SPACE(sizeof(int) * PD_HANDOFF_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = text, .iov_len = tcap - 1};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = sizeof(ctl)};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ret = pd__write_all(fd, req);
	if (ret == 0 && poll(&p, 1, PD_HANDOFF_TIMEOUT_MS) <= 0)
		ret = -ETIMEDOUT;
	ssize_t got = ret < 0 ? 0 : recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (ret == 0 && got <= 0)
		ret = got == 0 ? -ECONNRESET : -errno;
	if (ret < 0) {
		snprintf(err, cap, "takeover from %s: %s", path, strerror(-ret));
		goto fail;
	}
	text[got] = '\0';
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)*nfds);
		}
	*flags = msg.msg_flags;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The addresses of a SOCKETS reply, one per line from line on. 0 or -EPROTO. */
static int pd__parse_listens(char *line, int nlisten, pd_listen_t *listen)
{
	for (int i = 0; i < nlisten; i++) {
		char *nl = strchr(line, '\n');
		if (!nl)
			return -EPROTO;
		*nl = '\0';
		if (pd_listen_parse(&listen[i], line) < 0)
			return -EPROTO;
		line = nl + 1;
	}
	return 0;
}

int pd_handoff_take(const char *path, const pd_engine_conf_t *cfg, pd_engine_t **out, int *stats_fd,
                    int *version, char *err, size_t cap)
{
	char text[PD_LISTEN_MAX * 96 + 64];
	int fds[PD_HANDOFF_FDS_MAX], nfds = 0, flags = 0;
	int threads = 0, ntcp = 0, nlisten = 0, with_stats = 0, pos = 0, ret;

	*out = NULL;
	*stats_fd = -1;
	*version = PD_HANDOFF_VERSION;
	int fd = pd__request(path, *version, text, sizeof(text), fds, &nfds, &flags, err, cap);
	if (fd == -ECONNRESET) { /* closed without a byte: not an "ERR" */
		/* A pindnsd from before TCP closes on a request it does not know. */
		*version = 1;
		fd = pd__request(path, 1, text, sizeof(text), fds, &nfds, &flags, err, cap);
	}
	if (fd < 0)
		return fd;
	if (strncmp(text, "ERR ", 4) == 0) {
		text[strcspn(text, "\n")] = '\0';
		snprintf(err, cap, "takeover: the running pindnsd refused: %s", text + 4);
		ret = -EPROTO;
		goto out;
	}
	bool ok = *version == 2 ? sscanf(text, "PINDNS-SOCKETS 2 %d %d %d %d\n%n", &threads, &ntcp,
	                                 &nlisten, &with_stats, &pos) == 4
	                        : sscanf(text, "PINDNS-SOCKETS 1 %d %d %d\n%n", &threads, &nlisten,
	                                 &with_stats, &pos) == 3;
	if (!ok || threads < 1 || ntcp < 0 || nlisten < 1 || nlisten > PD_LISTEN_MAX ||
	    (threads + ntcp) * nlisten + (with_stats ? 1 : 0) != nfds ||
	    (flags & (MSG_TRUNC | MSG_CTRUNC))) {
		snprintf(err, cap, "takeover: the running pindnsd sent something unexpected");
		ret = -EPROTO;
		goto out;
	}
	if (with_stats)
		*stats_fd = fds[--nfds];
	pd_listen_t listen[PD_LISTEN_MAX];
	if ((ret = pd__parse_listens(text + pos, nlisten, listen)) < 0) {
		snprintf(err, cap, "takeover: the running pindnsd sent a bad address list");
		goto out;
	}
	ret = pd_engine_new_from_fds(out, cfg, threads, ntcp, nlisten, listen, fds, err, cap);
	nfds = 0; /* the engine owns them now, also on failure */
	if (ret < 0)
		goto out;
	return fd;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (*stats_fd >= 0)
		close(*stats_fd);
	*stats_fd = -1;
	close(fd);
	return ret;
}

#define PD__UNSENT_MAX (64u << 20) /* more owed to one connection is not believed */

/*
 * Takes the connections the old pindnsd sends until its BYE. One whose descriptor did
 * not arrive (we were out of descriptors) is skipped, the rest still taken. Returns how
 * many were taken, or -errno when the stream itself broke.
 */
static int pd__take_conns(int conn, pd_engine_t *e)
{
	char line[96];
	int taken = 0;
	for (;;) {
		int cfd, closing = 0;
		size_t len = 0, unsent = 0;
		char extra;
		int ret = pd__read_line_fd(conn, line, sizeof(line), PD_HANDOFF_TIMEOUT_MS, &cfd);
		if (ret >= 0 && strcmp(line, "BYE") == 0 && cfd < 0)
			return taken;
		if (ret >= 0 &&
		    (sscanf(line, "CONN %zu %zu %d%c", &len, &unsent, &closing, &extra) != 3 ||
		     len > 2 + 65535 || unsent > PD__UNSENT_MAX))
			ret = -EPROTO;
		uint8_t *data = ret >= 0 ? malloc(len + unsent + 1) : NULL;
		if (ret >= 0 && !data)
			ret = -ENOMEM;
		if (ret >= 0)
			ret = pd__read_all(conn, data, len + unsent, PD_HANDOFF_TIMEOUT_MS);
		if (ret < 0) {
			free(data);
			if (cfd >= 0)
				close(cfd);
			return ret;
		}
		struct iovec iov = {.iov_base = data + len, .iov_len = unsent};
		pd_engine_conn_t hc = {.fd = cfd,
		                       .unread = data,
		                       .unread_len = len,
		                       .unsent = &iov,
		                       .nunsent = 1,
		                       .closing = closing != 0};
		if (cfd >= 0 && pd_engine_adopt(e, &hc) == 0)
			taken++;
		free(data);
	}
}

int pd_handoff_go(int conn, pd_engine_t *e, int version, int *taken)
{
	char line[32];
	int ret = pd__write_all(conn, "GO\n");
	*taken = 0;
	if (ret == 0 && version >= 2) {
		ret = pd__take_conns(conn, e);
		*taken = ret > 0 ? ret : 0;
		ret = ret < 0 ? ret : 0;
	} else if (ret == 0) {
		ret = pd__read_line(conn, line, sizeof(line), PD_HANDOFF_TIMEOUT_MS);
		if (ret >= 0)
			ret = strcmp(line, "BYE") == 0 ? 0 : -EPROTO;
	}
	close(conn);
	return ret;
}
